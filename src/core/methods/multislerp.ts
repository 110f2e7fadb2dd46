import { MergeStudioError } from '../errors.ts';
import type { ChunkedMerge, MergeMethod, ParamSpec, TensorChunk } from './types.ts';
import { checkInputs, globalBoolean, globalNumber, modelNumbers, outputArray, type MethodContext } from './params.ts';
import { addSquares, chunkValues, workArray, writeChunk, mergeAsOneChunk } from './scratch.ts';

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
    const out = outputArray(ctx, n);
    // The whole tensor is one chunk of the chunked merge.
    return mergeAsOneChunk(chunked(ctx), input, n, out);
  },
  mergeChunks(input) {
    const ctx: MethodContext = { method: 'multislerp', params, input };
    checkInputs(ctx, { base: 'optional', minModels: 1, placeholders: true });
    return chunked(ctx);
  },
};

/** Four scans, each a whole-tensor sum in index order: the points' norms, the norm of their
 * weighted mean direction, each point's dot with it, the norm of the tangent combination; every
 * per-entry quantity (mean, tangent) is recomputed from the inputs in each chunk, by the same
 * operations in the same order, so nothing full-size is kept. */
function chunked(ctx: MethodContext): ChunkedMerge {
  const { input } = ctx;
  const normalizeWeights = globalBoolean(ctx, 'normalize_weights');
  const eps = globalNumber(ctx, 'eps');
  let weights = modelNumbers(ctx, 'weight').map(Math.fround);
  const count = input.models.length;
  if (count === 1) {
    return { passes: 0, scan() {}, endPass() {}, emit: (chunk, out) => writeChunk(out, input.scratch, chunk.elements, (values) => values.set(chunkValues(chunk.models[0], input.scratch, 'chunkModel0', chunk.elements))) };
  }
  if (normalizeWeights) {
    const sum = weights.reduce((a, b) => a + b, 0);
    if (sum === 0) {
      // mergekit divides by zero here and returns NaN everywhere.
      throw new MergeStudioError('invalid-parameter', `multislerp: the weights of tensor '${input.tensorName}' sum to 0, so normalize_weights cannot scale them to 1`, { tensor: input.tensorName, weights });
    }
    weights = weights.map((w) => w / sum);
  }
  const squares = new Float64Array(count);
  let norms: number[] = [];
  let unitScale: number[] = [];
  let meanSquares = 0;
  let meanNorm = 0;
  const dots = new Float64Array(count);
  let tangentSquares = 0;
  let cm = 0;
  let ct = 0;
  let mean = new Float64Array(0);
  let tangent = new Float64Array(0);

  /** The points of a chunk: the models, or their task vectors fround(m - base). */
  const pointsOf = (chunk: TensorChunk): Float32Array[] => {
    const base = chunk.base ? chunkValues(chunk.base, input.scratch, 'chunkBase', chunk.elements) : undefined;
    return chunk.models.map((m, i) => {
      const model = chunkValues(m, input.scratch, `chunkModel${i}`, chunk.elements);
      if (!base) return model;
      const d = workArray(input.scratch, `chunkPoint${i}`, chunk.elements);
      for (let j = 0; j < d.length; j++) d[j] = model[j] - base[j];
      return d;
    });
  };
  /** The weighted mean of the unit vectors over the chunk (divided by its norm when `unit`). */
  const meanOf = (points: Float32Array[], elements: number, unit: boolean): Float64Array => {
    if (mean.length < elements) mean = new Float64Array(elements);
    const m = mean.subarray(0, elements).fill(0);
    for (let i = 0; i < count; i++) {
      const c = weights[i] * unitScale[i];
      const p = points[i];
      for (let j = 0; j < elements; j++) m[j] += c * p[j];
    }
    if (unit) for (let j = 0; j < elements; j++) m[j] /= meanNorm;
    return m;
  };
  /** Tangent vectors u_i - <u_i, mean> mean, combined with the weights, over the chunk. */
  const tangentOf = (points: Float32Array[], m: Float64Array, elements: number): Float64Array => {
    if (tangent.length < elements) tangent = new Float64Array(elements);
    const t = tangent.subarray(0, elements).fill(0);
    for (let i = 0; i < count; i++) {
      const p = points[i];
      const c = weights[i] * unitScale[i];
      const cmi = weights[i] * dots[i];
      for (let j = 0; j < elements; j++) t[j] += c * p[j] - cmi * m[j];
    }
    return t;
  };
  const degenerate = () => meanNorm < eps;
  return {
    passes: 4,
    scan(pass, chunk) {
      if (pass >= 2 && degenerate()) return;
      const points = pointsOf(chunk);
      const elements = chunk.elements;
      if (pass === 0) {
        addSquares(points, elements, squares);
      } else if (pass === 1) {
        const m = meanOf(points, elements, false);
        for (let j = 0; j < elements; j++) meanSquares += m[j] * m[j];
      } else if (pass === 2) {
        const m = meanOf(points, elements, true);
        points.forEach((p, i) => {
          let s = dots[i];
          for (let j = 0; j < elements; j++) s += p[j] * unitScale[i] * m[j];
          dots[i] = s;
        });
      } else {
        const t = tangentOf(points, meanOf(points, elements, true), elements);
        for (let j = 0; j < elements; j++) tangentSquares += t[j] * t[j];
      }
    },
    endPass(pass) {
      if (pass === 0) {
        norms = Array.from(squares, Math.sqrt);
        unitScale = norms.map((nm) => 1 / (nm + eps));
      } else if (pass === 1) {
        meanNorm = Math.sqrt(meanSquares);
        if (degenerate() && count !== 2) {
          throw new MergeStudioError('degenerate-input', `multislerp: the weighted mean direction of tensor '${input.tensorName}' is zero (antipodal models with balancing weights); change the weights`, { tensor: input.tensorName });
        }
      } else if (pass === 3 && !degenerate()) {
        const tangentNorm = Math.sqrt(tangentSquares) + eps;
        const averageNorm = norms.reduce((s, nm, i) => s + nm * weights[i], 0);
        cm = Math.cos(tangentNorm) * averageNorm;
        ct = (Math.sin(tangentNorm) / tangentNorm) * averageNorm;
      }
    },
    emit(chunk, out) {
      const points = pointsOf(chunk);
      const elements = chunk.elements;
      const base = chunk.base ? chunkValues(chunk.base, input.scratch, 'chunkBase', elements) : undefined;
      writeChunk(out, input.scratch, elements, (values) => {
        if (degenerate()) {
          for (let j = 0; j < elements; j++) values[j] = points[0][j] * weights[0] + points[1][j] * weights[1] + (base ? base[j] : 0);
          return;
        }
        const m = meanOf(points, elements, true);
        const t = tangentOf(points, m, elements);
        for (let j = 0; j < elements; j++) values[j] = cm * m[j] + ct * t[j] + (base ? base[j] : 0);
      });
    },
  };
}
