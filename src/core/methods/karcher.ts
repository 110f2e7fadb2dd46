import type { ChunkedMerge, MergeMethod, ParamSpec, TensorChunk } from './types.ts';
import { checkInputs, globalNumber, outputArray, type MethodContext } from './params.ts';
import { addSquares, chunkValues, workArray, writeChunk, mergeAsOneChunk } from './scratch.ts';

const params: ParamSpec[] = [
  { name: 'max_iter', scope: 'global', kind: 'integer', default: 10, min: 0, description: 'Maximum iterations of the Riemannian mean.' },
  { name: 'tol', scope: 'global', kind: 'number', default: 1e-5, min: 0, description: 'Convergence tolerance (also the norm below which a model is ignored).' },
];

export const karcher: MergeMethod = {
  name: 'karcher',
  description: 'Karcher mean: equal-weight Riemannian mean of the models\' directions on the hypersphere, scaled by their mean norm.',
  // mergekit gives no base role: a base_model is one more point of the mean (appended last).
  base: 'optional',
  params,
  mergeCpu(input) {
    const ctx: MethodContext = { method: 'karcher', params, input };
    const n = checkInputs(ctx, { base: 'optional', minModels: 1 });
    const out = outputArray(ctx, n);
    // The whole tensor is one chunk of the chunked merge.
    return mergeAsOneChunk(chunked(ctx), input, n, out);
  },
  mergeChunks(input) {
    const ctx: MethodContext = { method: 'karcher', params, input };
    checkInputs(ctx, { base: 'optional', minModels: 1, placeholders: true });
    return chunked(ctx);
  },
};

/** One iteration of the Riemannian mean, as scalars: each unit's clamped dot with u and its
 * tangent factor (undefined: skipped, theta < tol), the step's cos/sin factors and u's new norm. */
interface Step {
  c: number[];
  k: (number | undefined)[];
  cu: number;
  ct: number;
  uNorm: number;
}

/** Scans: the points' norms, the initial mean's norm, then per iteration the units' dots with u,
 * the tangent's norm and the new u's norm (fewer once it converges). The per-entry iterate u is
 * never stored: each chunk replays the iterations so far from its inputs, by the same operations
 * in the same order as one whole-tensor pass (costly: O(iterations^2) per entry, but bounded memory). */
function chunked(ctx: MethodContext): ChunkedMerge {
  const { input } = ctx;
  const maxIter = globalNumber(ctx, 'max_iter');
  const tol = globalNumber(ctx, 'tol');
  const pointCount = input.models.length + (input.base ? 1 : 0);
  const alpha = 1 / pointCount;
  const squares = new Float64Array(pointCount);
  let norms: number[] = [];
  let valid: number[] = [];
  let weight = 0;
  let initialSquares = 0;
  let initialNorm = 0;
  const steps: Step[] = [];
  // The iteration being gathered: its dots, then its tangent's squares, then its u's squares.
  let dots: number[] = [];
  let tangentSquares = 0;
  let uSquares = 0;
  let current: Omit<Step, 'uNorm'> | undefined;
  let passes = pointCount === 1 ? 0 : 2 + 3 * maxIter;
  let u = new Float64Array(0);
  let tangent = new Float64Array(0);

  const pointsOf = (chunk: TensorChunk): Float32Array[] => {
    const models = chunk.models.map((m, i) => chunkValues(m, input.scratch, `chunkModel${i}`, chunk.elements));
    return chunk.base ? [...models, chunkValues(chunk.base, input.scratch, 'chunkBase', chunk.elements)] : models;
  };
  /** Unit directions of the valid points over the chunk. */
  const unitsOf = (points: Float32Array[], elements: number): Float32Array[] =>
    valid.map((i, v) => {
      const unit = workArray(input.scratch, `chunkUnit${v}`, elements);
      const p = points[i];
      for (let j = 0; j < elements; j++) unit[j] = p[j] / norms[i];
      return unit;
    });
  /** tangent = sum of k_i (u_i - c_i u) over the units a step did not skip. */
  const tangentOf = (units: Float32Array[], uChunk: Float64Array, step: Omit<Step, 'uNorm'>): Float64Array => {
    const t = tangent.subarray(0, uChunk.length).fill(0);
    units.forEach((ui, v) => {
      const k = step.k[v];
      if (k === undefined) return;
      const c = step.c[v];
      for (let j = 0; j < t.length; j++) t[j] += k * (ui[j] - c * uChunk[j]);
    });
    return t;
  };
  /** u over the chunk after `iterations` steps (the initial mean when 0); `normalize` false
   * stops the initial mean before its division. */
  const uOf = (units: Float32Array[], elements: number, iterations: number, normalize = true): Float64Array => {
    if (u.length < elements) {
      u = new Float64Array(elements);
      tangent = new Float64Array(elements);
    }
    const uChunk = u.subarray(0, elements).fill(0);
    if (normalize && initialNorm < tol) uChunk.set(units[0]);
    else {
      for (const ui of units) for (let j = 0; j < elements; j++) uChunk[j] += weight * ui[j];
      if (normalize) for (let j = 0; j < elements; j++) uChunk[j] /= initialNorm;
    }
    for (let s = 0; s < iterations; s++) advance(units, uChunk, steps[s]);
    return uChunk;
  };
  const advance = (units: Float32Array[], uChunk: Float64Array, step: Step | Omit<Step, 'uNorm'>): void => {
    const t = tangentOf(units, uChunk, step);
    for (let j = 0; j < uChunk.length; j++) uChunk[j] = step.cu * uChunk[j] + step.ct * t[j];
    if ('uNorm' in step && step.uNorm > tol) for (let j = 0; j < uChunk.length; j++) uChunk[j] /= step.uNorm;
  };
  return {
    get passes() {
      return passes;
    },
    scan(pass, chunk) {
      const points = pointsOf(chunk);
      const elements = chunk.elements;
      if (pass === 0) {
        addSquares(points, elements, squares);
        return;
      }
      const units = unitsOf(points, elements);
      if (pass === 1) {
        initialSquares = continueSquares(initialSquares, uOf(units, elements, 0, false));
        return;
      }
      const phase = (pass - 2) % 3;
      const uChunk = uOf(units, elements, steps.length);
      if (phase === 0) {
        units.forEach((ui, v) => {
          let s = dots[v];
          for (let j = 0; j < elements; j++) s += uChunk[j] * ui[j];
          dots[v] = s;
        });
      } else if (phase === 1) tangentSquares = continueSquares(tangentSquares, tangentOf(units, uChunk, current!));
      else {
        advance(units, uChunk, current!);
        uSquares = continueSquares(uSquares, uChunk);
      }
    },
    endPass(pass) {
      if (pass === 0) {
        norms = Array.from(squares, Math.sqrt);
        // Unit directions of the models whose norm exceeds tol; the weights renormalize over them.
        valid = norms.flatMap((nm, i) => (nm > tol ? [i] : []));
        weight = 1 / valid.length;
        if (valid.length === 0) passes = 1;
        dots = valid.map(() => 0);
        return;
      }
      if (pass === 1) {
        initialNorm = Math.sqrt(initialSquares);
        return;
      }
      const phase = (pass - 2) % 3;
      if (phase === 0) {
        const c = dots.map((d) => Math.min(1, Math.max(-1, d)));
        const k = c.map((cv) => {
          const theta = Math.acos(cv);
          return theta < tol ? undefined : (weight * theta) / Math.sin(theta);
        });
        current = { c, k, cu: 0, ct: 0 };
        tangentSquares = 0;
      } else if (phase === 1) {
        const tangentNorm = Math.sqrt(tangentSquares);
        // Converged: u stays as it is.
        if (tangentNorm < tol) passes = pass + 1;
        else {
          current!.cu = Math.cos(tangentNorm);
          current!.ct = Math.sin(tangentNorm) / tangentNorm;
          uSquares = 0;
        }
      } else {
        steps.push({ ...current!, uNorm: Math.sqrt(uSquares) });
        dots = valid.map(() => 0);
      }
    },
    emit(chunk, out) {
      const points = pointsOf(chunk);
      const elements = chunk.elements;
      writeChunk(out, input.scratch, elements, (values) => {
        if (pointCount === 1) values.set(points[0]);
        else if (valid.length === 0) values.fill(0);
        else {
          const uChunk = uOf(unitsOf(points, elements), elements, steps.length);
          // Global scale: alpha-weighted norms of ALL points, zero-norm ones included (as mergekit).
          const scale = norms.reduce((s, nm) => s + alpha * nm, 0);
          for (let j = 0; j < elements; j++) values[j] = scale * uChunk[j];
        }
      });
    },
  };
}

/** A sum of squares in index order, continued from `from` (earlier chunks). */
function continueSquares(from: number, values: Float64Array): number {
  let s = from;
  for (let j = 0; j < values.length; j++) s += values[j] * values[j];
  return s;
}
