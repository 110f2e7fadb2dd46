import type { MergeMethod, ParamSpec } from './types.ts';
import { checkInputs, globalBoolean, modelNumbers,outputArray, type MethodContext } from './params.ts';

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
    const normalize = globalBoolean(ctx, 'normalize');
    const weights = modelNumbers(ctx, 'weight').map(Math.fround);
    const sum = weights.reduce((a, b) => a + b, 0);
    // mergekit divides by a zero weight sum and returns inf/NaN; we leave such sums unnormalized.
    const factor = normalize && Math.abs(sum) >= ZERO_WEIGHT_SUM ? 1 / sum : 1;
    const coefficients = weights.map((w) => w * factor);
    const out = outputArray(ctx, n);
    const models = input.models;
    if (models.length <= 3) {
      // Unrolled for up to three models (absent ones get coefficient 0): several times faster
      // than looping over an array of arrays per element.
      const [a, b = a, c = a] = models;
      const [ca, cb = 0, cc = 0] = coefficients;
      for (let j = 0; j < n; j++) out[j] = ca * a[j] + cb * b[j] + cc * c[j];
    } else {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let i = 0; i < models.length; i++) s += coefficients[i] * models[i][j];
        out[j] = s;
      }
    }
    return out;
  },
};
