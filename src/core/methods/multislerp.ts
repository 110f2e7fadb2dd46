import { MergeStudioError } from '../errors.ts';
import type { MergeMethod, ParamSpec } from './types.ts';
import { checkInputs, globalBoolean, globalNumber, modelNumbers,copyInto, outputArray, type MethodContext } from './params.ts';

const params: ParamSpec[] = [
  { name: 'normalize_weights', scope: 'global', kind: 'boolean', default: true, description: 'Scale the weights to sum to 1.' },
  { name: 'eps', scope: 'global', kind: 'number', default: 1e-8, min: 0, description: 'Numerical floor for norms.' },
  { name: 'weight', scope: 'model', kind: 'number', required: true, description: 'Barycentric weight of this model on the hypersphere.' },
];

export const multislerp: MergeMethod = {
  name: 'multislerp',
  description: 'Multi-SLERP: weighted spherical interpolation of any number of models (or task vectors when a base is given) through the tangent space at their mean direction.',
  base: 'optional',
  params,
  mergeCpu(input) {
    const ctx: MethodContext = { method: 'multislerp', params, input };
    const n = checkInputs(ctx, { base: 'optional', minModels: 1 });
    const normalizeWeights = globalBoolean(ctx, 'normalize_weights');
    const eps = globalNumber(ctx, 'eps');
    let weights = modelNumbers(ctx, 'weight').map(Math.fround);
    const base = input.base;
    const count = input.models.length;
    if (count === 1) return copyInto(outputArray(ctx, n), input.models[0]);
    if (normalizeWeights) {
      const sum = weights.reduce((a, b) => a + b, 0);
      if (sum === 0) {
        // mergekit divides by zero here and returns NaN everywhere.
        throw new MergeStudioError('invalid-parameter', `multislerp: the weights of tensor '${input.tensorName}' sum to 0, so normalize_weights cannot scale them to 1`, { tensor: input.tensorName, weights });
      }
      weights = weights.map((w) => w / sum);
    }
    const points = base
      ? input.models.map((m) => {
          const d = new Float32Array(n);
          for (let j = 0; j < n; j++) d[j] = m[j] - base[j];
          return d;
        })
      : input.models;
    const norms = points.map((p) => {
      let s = 0;
      for (let j = 0; j < n; j++) s += p[j] * p[j];
      return Math.sqrt(s);
    });
    const unitScale = norms.map((nm) => 1 / (nm + eps));
    // Weighted mean of the unit vectors.
    const mean = new Float64Array(n);
    for (let i = 0; i < count; i++) {
      const c = weights[i] * unitScale[i];
      const p = points[i];
      for (let j = 0; j < n; j++) mean[j] += c * p[j];
    }
    let meanNorm = 0;
    for (let j = 0; j < n; j++) meanNorm += mean[j] * mean[j];
    meanNorm = Math.sqrt(meanNorm);
    const out = outputArray(ctx, n);
    if (meanNorm < eps) {
      if (count !== 2) {
        throw new MergeStudioError('degenerate-input', `multislerp: the weighted mean direction of tensor '${input.tensorName}' is zero (antipodal models with balancing weights); change the weights`, { tensor: input.tensorName });
      }
      for (let j = 0; j < n; j++) out[j] = points[0][j] * weights[0] + points[1][j] * weights[1] + (base ? base[j] : 0);
      return out;
    }
    for (let j = 0; j < n; j++) mean[j] /= meanNorm;
    // Tangent vectors u_i - <u_i, mean> mean, combined with the weights.
    const dots = points.map((p, i) => {
      let s = 0;
      for (let j = 0; j < n; j++) s += p[j] * unitScale[i] * mean[j];
      return s;
    });
    const tangent = new Float64Array(n);
    for (let i = 0; i < count; i++) {
      const p = points[i];
      const c = weights[i] * unitScale[i];
      const cm = weights[i] * dots[i];
      for (let j = 0; j < n; j++) tangent[j] += c * p[j] - cm * mean[j];
    }
    let tangentNorm = 0;
    for (let j = 0; j < n; j++) tangentNorm += tangent[j] * tangent[j];
    tangentNorm = Math.sqrt(tangentNorm) + eps;
    const averageNorm = norms.reduce((s, nm, i) => s + nm * weights[i], 0);
    const cm = Math.cos(tangentNorm) * averageNorm;
    const ct = (Math.sin(tangentNorm) / tangentNorm) * averageNorm;
    for (let j = 0; j < n; j++) out[j] = cm * mean[j] + ct * tangent[j] + (base ? base[j] : 0);
    return out;
  },
};
