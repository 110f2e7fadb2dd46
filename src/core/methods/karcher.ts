import type { MergeMethod, ParamSpec } from './types.ts';
import { checkInputs, globalNumber,copyInto, outputArray, type MethodContext } from './params.ts';

const params: ParamSpec[] = [
  { name: 'max_iter', scope: 'global', kind: 'integer', default: 10, min: 0, description: 'Maximum iterations of the Riemannian mean.' },
  { name: 'tol', scope: 'global', kind: 'number', default: 1e-5, min: 0, description: 'Convergence tolerance (also the norm below which a model is ignored).' },
];

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += a[j] * b[j];
  return s;
}

export const karcher: MergeMethod = {
  name: 'karcher',
  description: 'Karcher mean: equal-weight Riemannian mean of the models\' directions on the hypersphere, scaled by their mean norm.',
  // mergekit gives no base role: a base_model is one more point of the mean (appended last).
  base: 'optional',
  params,
  mergeCpu(input) {
    const ctx: MethodContext = { method: 'karcher', params, input };
    const n = checkInputs(ctx, { base: 'optional', minModels: 1 });
    const maxIter = globalNumber(ctx, 'max_iter');
    const tol = globalNumber(ctx, 'tol');
    const points = input.base ? [...input.models, input.base] : input.models;
    if (points.length === 1) return copyInto(outputArray(ctx, n), points[0]);
    const alpha = 1 / points.length;
    const norms = points.map((p) => Math.sqrt(dot(p, p)));
    // Unit directions of the models whose norm exceeds tol; the weights renormalize over them.
    const valid = points.map((_, i) => i).filter((i) => norms[i] > tol);
    if (valid.length === 0) return outputArray(ctx, n).fill(0);
    const units = valid.map((i) => {
      const u = new Float32Array(n);
      const p = points[i];
      for (let j = 0; j < n; j++) u[j] = p[j] / norms[i];
      return u;
    });
    const weight = 1 / valid.length;
    let u = new Float64Array(n);
    for (const ui of units) for (let j = 0; j < n; j++) u[j] += weight * ui[j];
    const initialNorm = Math.sqrt(dot(u, u));
    if (initialNorm < tol) u = Float64Array.from(units[0]);
    else for (let j = 0; j < n; j++) u[j] /= initialNorm;
    const tangent = new Float64Array(n);
    for (let iter = 0; iter < maxIter; iter++) {
      tangent.fill(0);
      for (const ui of units) {
        const c = Math.min(1, Math.max(-1, dot(u, ui)));
        const theta = Math.acos(c);
        if (theta < tol) continue;
        const k = (weight * theta) / Math.sin(theta);
        for (let j = 0; j < n; j++) tangent[j] += k * (ui[j] - c * u[j]);
      }
      const tangentNorm = Math.sqrt(dot(tangent, tangent));
      if (tangentNorm < tol) break;
      const cu = Math.cos(tangentNorm);
      const ct = Math.sin(tangentNorm) / tangentNorm;
      for (let j = 0; j < n; j++) u[j] = cu * u[j] + ct * tangent[j];
      const uNorm = Math.sqrt(dot(u, u));
      if (uNorm > tol) for (let j = 0; j < n; j++) u[j] /= uNorm;
    }
    // Global scale: alpha-weighted norms of ALL points, zero-norm ones included (as mergekit).
    const scale = norms.reduce((s, nm) => s + alpha * nm, 0);
    const out = outputArray(ctx, n);
    for (let j = 0; j < n; j++) out[j] = scale * u[j];
    return out;
  },
};
