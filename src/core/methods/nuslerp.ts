import type { MergeMethod, ParamSpec } from './types.ts';
import { checkInputs, globalBoolean, modelNumbers,outputArray, type MethodContext } from './params.ts';

const params: ParamSpec[] = [
  { name: 'nuslerp_row_wise', scope: 'global', kind: 'boolean', default: false, description: 'Without flatten: slerp each column (vectors along dim 0) instead of each row (last dim).' },
  { name: 'nuslerp_flatten', scope: 'global', kind: 'boolean', default: true, description: 'Slerp the whole tensor as one vector.' },
  { name: 'weight', scope: 'model', kind: 'number', required: true, description: 'Relative weight; t = w1 / (w0 + w1).' },
];

/** Below this |sin theta| the two vectors count as exactly colinear and are lerped. */
const COLINEAR_SIN = 1e-8;
const NORM_FLOOR = 1e-7;

/** One family of vectors inside a flat tensor: vector v, component k sits at start(v) + k*stride. */
interface VectorLayout {
  count: number;
  length: number;
  stride: number;
  /** Flat index of vector v's first component. */
  startStep: number;
}

function layoutOf(shape: number[], flatten: boolean, rowWise: boolean): VectorLayout {
  const n = shape.reduce((a, b) => a * b, 1);
  if (flatten || shape.length < 2) return { count: 1, length: n, stride: 1, startStep: 0 };
  if (!rowWise) {
    const length = shape[shape.length - 1];
    return { count: n / length, length, stride: 1, startStep: length };
  }
  // mergekit transposes dim 0 with the last dim, so vectors run along dim 0.
  const rest = n / shape[0];
  return { count: rest, length: shape[0], stride: rest, startStep: 1 };
}

export const nuslerp: MergeMethod = {
  name: 'nuslerp',
  description: 'NuSLERP: slerp of two models (or of their task vectors when a base is given), per tensor, row or column.',
  base: 'optional',
  params,
  mergeCpu(input) {
    const ctx: MethodContext = { method: 'nuslerp', params, input };
    const n = checkInputs(ctx, { base: 'optional', minModels: 2, maxModels: 2 });
    const rowWise = globalBoolean(ctx, 'nuslerp_row_wise');
    const flatten = globalBoolean(ctx, 'nuslerp_flatten');
    const [w0, w1] = modelNumbers(ctx, 'weight');
    const t = Math.abs(w0 + w1) < 1e-6 ? 0.5 : w1 / (w0 + w1);
    const base = input.base;
    let [v0, v1] = input.models;
    if (base) {
      const d0 = new Float32Array(n);
      const d1 = new Float32Array(n);
      for (let j = 0; j < n; j++) {
        d0[j] = v0[j] - base[j];
        d1[j] = v1[j] - base[j];
      }
      [v0, v1] = [d0, d1];
    }
    const out = outputArray(ctx, n);
    const { count, length, stride, startStep } = layoutOf(input.shape, flatten, rowWise);
    for (let v = 0; v < count; v++) {
      const start = v * startStep;
      let s00 = 0;
      let s11 = 0;
      let s01 = 0;
      for (let k = 0, j = start; k < length; k++, j += stride) {
        s00 += v0[j] * v0[j];
        s11 += v1[j] * v1[j];
        s01 += v0[j] * v1[j];
      }
      const cos = s01 / (Math.max(Math.sqrt(s00), NORM_FLOOR) * Math.max(Math.sqrt(s11), NORM_FLOOR));
      const theta = Math.acos(Math.min(1, Math.max(-1, cos)));
      const sinTheta = Math.sin(theta);
      const colinear = Math.abs(sinTheta) < COLINEAR_SIN;
      const c0 = colinear ? 1 - t : Math.sin((1 - t) * theta) / sinTheta;
      const c1 = colinear ? t : Math.sin(t * theta) / sinTheta;
      for (let k = 0, j = start; k < length; k++, j += stride) {
        const mixed = c0 * v0[j] + c1 * v1[j];
        out[j] = base ? base[j] + Math.fround(mixed) : mixed;
      }
    }
    return out;
  },
};
