import type { MergeMethod, ParamSpec } from './types.ts';
import { checkInputs, globalNumber, outputArray, type MethodContext } from './params.ts';
import { normsAndDotTiles, weightedSumTiles } from '../simd/merge-tiles.ts';

const params: ParamSpec[] = [
  { name: 't', scope: 'global', kind: 'number', required: true, min: 0, max: 1, description: 'Interpolation factor: 0 gives the base model, 1 the other model.' },
];

/** mergekit treats |cos| above this as colinear (parallel OR antiparallel) and lerps instead. */
const DOT_THRESHOLD = 0.9995;
const NORM_EPS = 1e-8;

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
    // One pass over both inputs (f64 sums over four index lanes, SIMD or its JS twin).
    const [s00, s11, s01] = normsAndDotTiles({ values: v0 }, { values: v1 }, n);
    const n0 = Math.sqrt(s00);
    const n1 = Math.sqrt(s11);
    const s0n = n0 > NORM_EPS ? 1 / n0 : 1;
    const s1n = n1 > NORM_EPS ? 1 / n1 : 1;
    const dot = s01 * (s0n * s1n);
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
    // float32 c0 * v0 + c1 * v1, tile by tile.
    weightedSumTiles({ values: out }, [{ values: v0 }, { values: v1 }], undefined, [c0, c1], n);
    return out;
  },
};
