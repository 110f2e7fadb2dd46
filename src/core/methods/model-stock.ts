import type { MergeMethod, ParamSpec } from './types.ts';
import { checkInputs, globalBoolean,outputArray, type MethodContext } from './params.ts';

const params: ParamSpec[] = [
  { name: 'filter_wise', scope: 'global', kind: 'boolean', default: false, description: 'One interpolation ratio per row (filter) instead of one per tensor.' },
];

/** At cos = -1/(N-1) the ratio N cos / (1 + (N-1) cos) has its pole. */
const POLE_GUARD = 1e-12;

export const modelStock: MergeMethod = {
  name: 'model_stock',
  description: 'Model Stock: moves from the base toward the models\' average by a ratio set by the mean angle between their offsets (arXiv 2403.19522).',
  base: 'required',
  params,
  mergeCpu(input) {
    const ctx: MethodContext = { method: 'model_stock', params, input };
    const n = checkInputs(ctx, { base: 'required', minModels: 2 });
    const filterWise = globalBoolean(ctx, 'filter_wise');
    const base = input.base!;
    const models = input.models;
    const count = models.length;
    // filter_wise: one ratio per row (last dim; 1-D tensors are one row), else one per tensor.
    const rowLength = filterWise ? input.shape[input.shape.length - 1] ?? n : n;
    const rows = rowLength === 0 ? 0 : n / rowLength;
    const offsets = models.map((m) => {
      const d = new Float32Array(n);
      for (let j = 0; j < n; j++) d[j] = m[j] - base[j];
      return d;
    });
    const out = outputArray(ctx, n);
    for (let r = 0; r < rows; r++) {
      const start = r * rowLength;
      const end = start + rowLength;
      const norms = offsets.map((d) => {
        let s = 0;
        for (let j = start; j < end; j++) s += d[j] * d[j];
        return Math.sqrt(s);
      });
      let cosSum = 0;
      let pairs = 0;
      for (let a = 0; a < count; a++) {
        for (let b = a + 1; b < count; b++) {
          let s = 0;
          for (let j = start; j < end; j++) s += offsets[a][j] * offsets[b][j];
          cosSum += Math.min(1, Math.max(-1, s / Math.max(norms[a] * norms[b], 1e-6)));
          pairs++;
        }
      }
      const cos = cosSum / pairs;
      const denominator = 1 + (count - 1) * cos;
      // mergekit divides by zero at the pole (e.g. two exactly opposite offsets) and returns NaN;
      // offsets that cancel out carry no direction, so we keep the base (t = 0).
      const t = denominator <= POLE_GUARD ? 0 : (count * cos) / denominator;
      for (let j = start; j < end; j++) {
        let sum = 0;
        for (let i = 0; i < count; i++) sum += models[i][j];
        out[j] = t * (sum / count) + (1 - t) * base[j];
      }
    }
    return out;
  },
};
