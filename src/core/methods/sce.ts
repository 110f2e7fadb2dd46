import type { MergeMethod, ParamSpec } from './types.ts';
import { checkInputs, globalBoolean, globalNumber,outputArray, type MethodContext } from './params.ts';
import { descendingRankCut, f32Bits } from './select.ts';

const params: ParamSpec[] = [
  { name: 'int8_mask', scope: 'global', kind: 'boolean', default: false, description: 'Accepted for mergekit compatibility; it has no effect on the result.' },
  { name: 'select_topk', scope: 'global', kind: 'number', default: 1, min: 0, max: 1, description: 'Fraction of entries, by variance across models, whose task vectors are kept.' },
];

/** Keeps the entries whose variance across task vectors is in the top `selectTopk` share; zeroes
 * the rest in every task vector. */
function selectByVariance(vectors: Float32Array[], selectTopk: number): void {
  const n = vectors[0].length;
  const count = vectors.length;
  if (selectTopk >= 1) return;
  const variance = new Float32Array(n);
  let nonzero = 0;
  if (selectTopk > 0) {
    for (let j = 0; j < n; j++) {
      let mean = 0;
      for (let i = 0; i < count; i++) mean += vectors[i][j];
      mean /= count;
      let s = 0;
      for (let i = 0; i < count; i++) s += (vectors[i][j] - mean) ** 2;
      variance[j] = s / count;
      if (variance[j] !== 0) nonzero++;
    }
  }
  // mergekit multiplies an int64 count by a Python float inside torch: a float32 product, so
  // k = trunc(fround(fround(nonzero) * fround(select_topk))) (0.7 x 90 gives 63, not 62).
  const k = Math.trunc(Math.fround(Math.fround(nonzero) * Math.fround(selectTopk)));
  const bits = f32Bits(variance);
  const cut = descendingRankCut(bits, k, 0x7fffffff);
  let tied = 0;
  for (let j = 0; j < n; j++) {
    const key = bits[j] & 0x7fffffff;
    const keep = key > cut.threshold || (key === cut.threshold && tied < cut.tiedInside);
    if (key === cut.threshold) tied++;
    if (!keep) for (let i = 0; i < count; i++) vectors[i][j] = 0;
  }
}

export const sce: MergeMethod = {
  name: 'sce',
  description: 'SCE: select high-variance entries, weight each task vector by its mean square, erase entries against the majority sign (arXiv 2408.07990).',
  base: 'required',
  params,
  mergeCpu(input) {
    const ctx: MethodContext = { method: 'sce', params, input };
    const n = checkInputs(ctx, { base: 'required', minModels: 1 });
    globalBoolean(ctx, 'int8_mask');
    const selectTopk = globalNumber(ctx, 'select_topk');
    const base = input.base!;
    const count = input.models.length;
    const vectors = input.models.map((m) => {
      const d = new Float32Array(n);
      for (let j = 0; j < n; j++) d[j] = m[j] - base[j];
      return d;
    });
    selectByVariance(vectors, selectTopk);
    // Per-model weight: mean square of its (selected) task vector, normalized to sum 1.
    let weights = vectors.map((d) => {
      let s = 0;
      for (let j = 0; j < n; j++) s += d[j] * d[j];
      return s / n;
    });
    const total = weights.reduce((a, b) => a + b, 0);
    weights = Math.abs(total) < 1e-6 ? weights.map(() => 1 / count) : weights.map((w) => w / total);
    const out = outputArray(ctx, n);
    for (let j = 0; j < n; j++) {
      let vote = 0;
      for (let i = 0; i < count; i++) vote += vectors[i][j];
      const positive = vote >= 0;
      let mixed = 0;
      let weightSum = 0;
      for (let i = 0; i < count; i++) {
        const tau = vectors[i][j];
        if (positive ? tau > 0 : tau < 0) {
          mixed += weights[i] * tau;
          weightSum += weights[i];
        }
      }
      out[j] = base[j] + mixed / Math.max(weightSum, 1e-6);
    }
    return out;
  },
};
