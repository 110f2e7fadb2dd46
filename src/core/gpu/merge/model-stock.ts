/** GPU binding of model_stock: Gram matrix of the task vectors (per tensor or per row), the
 * interpolation ratio on the host, then one combine pass. */
import { globalBoolean } from '../../methods/params.ts';
import { rowGram, wholeTensor } from './reduce.ts';
import { combineToOutput, methodContext, stackRows, type GpuMethodImpl } from './job.ts';

export const modelStockGpu: GpuMethodImpl = async (job) => {
  const { ctx, elements } = methodContext(job, { base: 'required', minModels: 2 });
  const filterWise = globalBoolean(ctx, 'filter_wise');
  const { models, base, shape } = job.input;
  const count = models.length;
  const rowLength = filterWise ? shape[shape.length - 1] ?? elements : elements;
  const layout = rowLength === elements ? wholeTensor(elements) : { count: elements / rowLength, length: rowLength, stride: 1, startStep: rowLength };
  const tensors = stackRows(job, [...models, base!], elements, { taskVectorsOf: count });
  try {
    const gram = await rowGram(job.runner, tensors, count, layout);
    const coefficients = new Float64Array(layout.count * (count + 1));
    for (let v = 0; v < layout.count; v++) {
      const norms = models.map((_, i) => Math.sqrt(gram(i, i)[v]));
      let cosSum = 0;
      let pairs = 0;
      for (let a = 0; a < count; a++) {
        for (let b = a + 1; b < count; b++) {
          cosSum += Math.min(1, Math.max(-1, gram(a, b)[v] / Math.max(norms[a] * norms[b], 1e-6)));
          pairs++;
        }
      }
      const cos = cosSum / pairs;
      const denominator = 1 + (count - 1) * cos;
      // Same pole guard as the CPU reference: offsets that cancel out keep the base.
      const t = denominator <= 1e-12 ? 0 : (count * cos) / denominator;
      // On task vectors: t * mean(models) + (1 - t) * base = base + sum_i (t / count) * delta_i.
      for (let i = 0; i < count; i++) coefficients[v * (count + 1) + i] = t / count;
      coefficients[v * (count + 1) + count] = 1;
    }
    await combineToOutput(job, tensors, coefficients, layout);
  } finally {
    tensors.dispose();
  }
};
