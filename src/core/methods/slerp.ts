import type { MergeMethod, ParamSpec } from './types.ts';
import { checkInputs, globalNumber,outputArray, type MethodContext } from './params.ts';

const params: ParamSpec[] = [
  { name: 't', scope: 'global', kind: 'number', required: true, min: 0, max: 1, description: 'Interpolation factor: 0 gives the base model, 1 the other model.' },
];

/** mergekit treats |cos| above this as colinear (parallel OR antiparallel) and lerps instead. */
const DOT_THRESHOLD = 0.9995;
const NORM_EPS = 1e-8;

/** |v0|^2, |v1|^2 and v0.v1 in one pass over both inputs (each sum in index order, as three
 * separate loops would give), into `sums`. */
function normsAndDot(v0: Float32Array, v1: Float32Array, sums: Float64Array): void {
  let s00 = 0;
  let s11 = 0;
  let s01 = 0;
  for (let j = 0; j < v0.length; j++) {
    const a = v0[j];
    const b = v1[j];
    s00 += a * a;
    s11 += b * b;
    s01 += a * b;
  }
  sums[0] = s00;
  sums[1] = s11;
  sums[2] = s01;
}

function interpolate(out: Float32Array, v0: Float32Array, v1: Float32Array, c0: number, c1: number): void {
  for (let j = 0; j < out.length; j++) out[j] = c0 * v0[j] + c1 * v1[j];
}

export const slerp: MergeMethod = {
  name: 'slerp',
  description: 'SLERP: spherical interpolation between the base model and one other model, over the whole flattened tensor.',
  base: 'required',
  params,
  mergeCpu(input) {
    const ctx: MethodContext = { method: 'slerp', params, input };
    const n = checkInputs(ctx, { base: 'required', minModels: 1, maxModels: 1 });
    const t = globalNumber(ctx, 't');
    const v0 = input.base!;
    const v1 = input.models[0];
    // Vectors are normalized only when their norm exceeds eps (as mergekit does).
    const sums = new Float64Array(3);
    normsAndDot(v0, v1, sums);
    const n0 = Math.sqrt(sums[0]);
    const n1 = Math.sqrt(sums[1]);
    const s0n = n0 > NORM_EPS ? 1 / n0 : 1;
    const s1n = n1 > NORM_EPS ? 1 / n1 : 1;
    const dot = sums[2] * (s0n * s1n);
    let c0: number;
    let c1: number;
    if (Math.abs(dot) > DOT_THRESHOLD) {
      c0 = 1 - t;
      c1 = t;
    } else {
      const theta = Math.acos(dot);
      const sinTheta = Math.sin(theta);
      c0 = Math.sin(theta * (1 - t)) / sinTheta;
      c1 = Math.sin(theta * t) / sinTheta;
    }
    const out = outputArray(ctx, n);
    interpolate(out, v0, v1, c0, c1);
    return out;
  },
};
