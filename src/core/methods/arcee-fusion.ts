import type { MergeMethod, ParamSpec } from './types.ts';
import { checkInputs,outputArray, type MethodContext } from './params.ts';
import { valueAtAscendingRank } from './select.ts';

const params: ParamSpec[] = [];

const PROB_EPS = 1e-8;

/** Per-row KL(softmax(model) || softmax(base)) over the last dim (1-D tensors are one row). */
function rowDivergence(model: Float32Array, base: Float32Array, start: number, length: number): number {
  let maxP = -Infinity;
  let maxQ = -Infinity;
  for (let j = start; j < start + length; j++) {
    maxP = Math.max(maxP, model[j]);
    maxQ = Math.max(maxQ, base[j]);
  }
  let sumP = 0;
  let sumQ = 0;
  for (let j = start; j < start + length; j++) {
    sumP += Math.exp(model[j] - maxP);
    sumQ += Math.exp(base[j] - maxQ);
  }
  let kl = 0;
  for (let j = start; j < start + length; j++) {
    const p = Math.exp(model[j] - maxP) / sumP + PROB_EPS;
    const q = Math.exp(base[j] - maxQ) / sumQ + PROB_EPS;
    kl += p * Math.log(p / q);
  }
  return kl;
}

export const arceeFusion: MergeMethod = {
  name: 'arcee_fusion',
  description: 'Arcee Fusion: takes the other model\'s change only where |change| x row KL divergence is an upper outlier (>= median + 1.5 IQR).',
  base: 'required',
  params,
  mergeCpu(input) {
    const ctx: MethodContext = { method: 'arcee_fusion', params, input };
    const n = checkInputs(ctx, { base: 'required', minModels: 1, maxModels: 1 });
    const base = input.base!;
    const model = input.models[0];
    const rowLength = input.shape.length === 0 ? 1 : input.shape[input.shape.length - 1];
    const importance = new Float32Array(n);
    for (let start = 0; start < n; start += rowLength) {
      const kl = rowDivergence(model, base, start, rowLength);
      for (let j = start; j < start + rowLength; j++) importance[j] = Math.abs(Math.fround(model[j] - base[j])) * kl;
    }
    // Exact quantiles over every element. mergekit samples 1e6 random elements on larger tensors,
    // which makes its output seed-dependent there; below that both are the same element.
    const quantile = (q: number) => valueAtAscendingRank(importance, Math.trunc(q * (n - 1)));
    const median = quantile(0.5);
    const iqr = Math.fround(quantile(0.75) - quantile(0.25));
    const threshold = Math.fround(median + Math.fround(1.5 * iqr));
    const out = outputArray(ctx, n);
    for (let j = 0; j < n; j++) out[j] = importance[j] >= threshold ? base[j] + Math.fround(model[j] - base[j]) : base[j];
    return out;
  },
};
