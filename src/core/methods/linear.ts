import type { MergeMethod, ParamSpec } from './types.ts';
import { checkInputs, globalBoolean, modelNumbers, outputArray, type MethodContext } from './params.ts';
import { weightedSumTiles } from '../simd/merge-tiles.ts';

const params: ParamSpec[] = [
  { name: 'normalize', scope: 'global', kind: 'boolean', default: true, description: 'Divide by the sum of the weights (a weighted mean).' },
  { name: 'weight', scope: 'model', kind: 'number', required: true, description: 'Weight of this model in the weighted sum.' },
];

/** Below this |sum of weights| normalizing is skipped (same guard as task arithmetic). */
const ZERO_WEIGHT_SUM = 1e-8;

export const linear: MergeMethod = {
  name: 'linear',
  description: 'Linear (model soup): the weighted sum, or weighted mean, of the models (arXiv 2203.05482).',
  base: 'none',
  elementwise: true,
  params,
  mergeCpu(input) {
    const ctx: MethodContext = { method: 'linear', params, input };
    const n = checkInputs(ctx, { base: 'none', minModels: 1 });
    const out = outputArray(ctx, n);
    weightedSumTiles({ values: out }, input.models.map((values) => ({ values })), undefined, coefficients(ctx), n);
    return out;
  },
  mergeTiles(input, models, _base, elements, out) {
    weightedSumTiles(out, models, undefined, coefficients({ method: 'linear', params, input }), elements);
  },
};

/** Each model's weight, divided by the weight sum when normalizing. */
function coefficients(ctx: MethodContext): number[] {
  const normalize = globalBoolean(ctx, 'normalize');
  const weights = modelNumbers(ctx, 'weight').map(Math.fround);
  const sum = weights.reduce((a, b) => a + b, 0);
  // mergekit divides by a zero weight sum and returns inf/NaN; we leave such sums unnormalized.
  const factor = normalize && Math.abs(sum) >= ZERO_WEIGHT_SUM ? 1 / sum : 1;
  return weights.map((w) => w * factor);
}
