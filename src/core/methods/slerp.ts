import type { ChunkedMerge, MergeMethod, ParamSpec } from './types.ts';
import { checkInputs, globalNumber, outputArray, type MethodContext } from './params.ts';
import { normsAndDotTiles, weightedSumTiles, type TileSink } from '../simd/merge-tiles.ts';
import type { TileSource } from '../simd/tiles.ts';
import { MergeStudioError } from '../errors.ts';

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
    const out = outputArray(ctx, n);
    interpolate(ctx, { values: input.base! }, { values: input.models[0] }, n, { values: out });
    return out;
  },
  mergeTiles(input, models, base, elements, out) {
    const ctx: MethodContext = { method: 'slerp', params, input };
    if (!base || models.length !== 1) {
      throw new MergeStudioError('model-count', `slerp merges exactly 1 non-base model and a base_model; tensor '${input.tensorName}' has ${models.length} and ${base ? 'a' : 'no'} base`, { method: 'slerp', tensor: input.tensorName });
    }
    interpolate(ctx, base, models[0], elements, out);
  },
  mergeChunks(input): ChunkedMerge {
    const ctx: MethodContext = { method: 'slerp', params, input };
    checkInputs(ctx, { base: 'required', minModels: 1, maxModels: 1, placeholders: true });
    // The f64 lanes of the norms and dot continue from chunk to chunk: the sums of one pass.
    const lanes = new Float64Array(12);
    let sums: [number, number, number] = [0, 0, 0];
    let c: [number, number] = [0, 0];
    return {
      passes: 1,
      scan(_pass, chunk) {
        sums = normsAndDotTiles(chunk.base!, chunk.models[0], chunk.elements, lanes);
      },
      endPass() {
        c = coefficients(ctx, ...sums);
      },
      emit(chunk, out) {
        weightedSumTiles(out, [chunk.base!, chunk.models[0]], undefined, c, chunk.elements);
      },
    };
  },
};

/** Spherical interpolation from v0 (the base) toward v1 by the global `t`. */
function interpolate(ctx: MethodContext, v0: TileSource, v1: TileSource, n: number, out: TileSink): void {
  // One pass over both inputs (f64 sums over four index lanes, SIMD or its JS twin).
  const [s00, s11, s01] = normsAndDotTiles(v0, v1, n);
  // float32 c0 * v0 + c1 * v1, tile by tile.
  weightedSumTiles(out, [v0, v1], undefined, coefficients(ctx, s00, s11, s01), n);
}

/** The weights of v0 and v1 from |v0|^2, |v1|^2 and v0.v1. */
function coefficients(ctx: MethodContext, s00: number, s11: number, s01: number): [number, number] {
  const t = globalNumber(ctx, 't');
  // Vectors are normalized only when their norm exceeds eps (as mergekit does).
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
  return [c0, c1];
}
