/** GPU binding of arcee_fusion: per-row softmax normalizers and KL divergence of the model against
 * the base (segmented reductions, combined across chunks on the host), importance |change| x KL in
 * a scratch row, its exact quartiles by radix select in signed order, then one selection kernel. */
import { methodContext, stackRows, type GpuMethodImpl } from './job.ts';
import { segmentRange, type VectorLayout } from './reduce.ts';
import { valuesAtAscendingRanks } from './rank-select.ts';
import type { ChunkView, StackedTensors } from './tensors.ts';
import type { KernelRunner } from '../runner.ts';

const IMPORTANCE_ROW = 2;

/** Runs a per-row-piece kernel over every chunk and hands each row's partial values to `add`. */
async function perRowPass(runner: KernelRunner, tensors: StackedTensors, layout: VectorLayout, kernel: string, valuesPerRow: number, extra: GPUBuffer[], add: (row: number, values: Float32Array) => void): Promise<void> {
  await tensors.forEachChunk(async ({ chunk, stacked }) => {
    const { first, count } = segmentRange(layout, chunk);
    const partials = runner.zeros(count * valuesPerRow * 4, `${kernel} partials`);
    const params = runner.params([['u32', chunk.count], ['u32', chunk.stride], ['u32', chunk.start], ['u32', layout.length], ['u32', first], ['u32', count]]);
    runner.dispatch(kernel, [params, stacked, ...extra, partials], count);
    params.destroy();
    const values = await runner.readF32(partials, count * valuesPerRow);
    runner.release(partials);
    for (let r = 0; r < count; r++) add(first + r, values.subarray(r * valuesPerRow, (r + 1) * valuesPerRow));
  });
}

export const arceeFusionGpu: GpuMethodImpl = async (job) => {
  const { elements: n } = methodContext(job, { base: 'required', minModels: 1, maxModels: 1 });
  const { runner, input } = job;
  const rowLength = input.shape.length === 0 ? 1 : input.shape[input.shape.length - 1];
  const rows = rowLength === 0 ? 0 : n / rowLength;
  const layout: VectorLayout = { count: rows, length: rowLength, stride: 1, startStep: rowLength };
  const tensors = stackRows(job, [input.models[0], input.base!], n, { extraRows: 1 });
  const toRelease: GPUBuffer[] = [];
  try {
    // Softmax normalizers (max, sum of exp) of model and base per row, merged across chunks.
    const stats = new Float64Array(rows * 4);
    for (let r = 0; r < rows; r++) stats.set([-Infinity, 0, -Infinity, 0], r * 4);
    await perRowPass(runner, tensors, layout, 'row_softmax_stats', 4, [], (row, v) => {
      for (const k of [0, 2]) {
        const m = Math.max(stats[row * 4 + k], v[k]);
        stats[row * 4 + k + 1] = stats[row * 4 + k + 1] * Math.exp(stats[row * 4 + k] - m) + v[k + 1] * Math.exp(v[k] - m);
        stats[row * 4 + k] = m;
      }
    });
    const normalizers = runner.upload(Float32Array.from(stats), 'softmax normalizers');
    toRelease.push(normalizers);
    const divergence = new Float64Array(rows);
    await perRowPass(runner, tensors, layout, 'row_divergence', 1, [normalizers], (row, v) => (divergence[row] += v[0]));
    const rowDivergence = runner.upload(Float32Array.from(divergence), 'row divergence');
    const unused = runner.allocate(4, 'unused output');
    toRelease.push(rowDivergence, unused);

    // Importance is (re)computed on each freshly uploaded chunk; a resident chunk keeps it.
    let importanceResident = false;
    const importance = (view: ChunkView) => {
      if (importanceResident && !view.fresh) return;
      const { chunk, stacked } = view;
      const params = runner.params([['u32', chunk.count], ['u32', chunk.stride], ['u32', chunk.start], ['u32', rowLength], ['u32', 0], ['f32', 0]]);
      runner.dispatchItems('arcee_fusion', [params, stacked, rowDivergence, unused], chunk.count);
      params.destroy();
      if (tensors.chunks.length === 1) importanceResident = true;
    };
    const quartileRanks = [0.25, 0.5, 0.75].map((q) => Math.trunc(q * (n - 1)));
    const [q1, median, q3] = n > 0 ? await valuesAtAscendingRanks(runner, tensors, IMPORTANCE_ROW, quartileRanks, importance) : [0, 0, 0];
    const iqr = Math.fround(q3 - q1);
    const threshold = Math.fround(median + Math.fround(1.5 * iqr));

    await tensors.forEachChunk(async (view) => {
      importance(view);
      const { chunk, stacked } = view;
      const merged = runner.allocate(Math.max(1, chunk.count) * 4, 'merged');
      const params = runner.params([['u32', chunk.count], ['u32', chunk.stride], ['u32', chunk.start], ['u32', rowLength], ['u32', 1], ['f32', threshold]]);
      runner.dispatchItems('arcee_fusion', [params, stacked, rowDivergence, merged], chunk.count);
      params.destroy();
      await job.output.put(chunk, merged);
    });
  } finally {
    runner.release(...toRelease);
    tensors.dispose();
  }
};
