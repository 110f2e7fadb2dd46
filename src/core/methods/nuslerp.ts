import type { ChunkedMerge, MergeMethod, ParamSpec, TensorChunk } from './types.ts';
import { checkInputs, globalBoolean, modelNumbers, outputArray, type MethodContext } from './params.ts';
import { chunkValues, workArray, writeChunk, mergeAsOneChunk } from './scratch.ts';

const params: ParamSpec[] = [
  { name: 'nuslerp_row_wise', scope: 'global', kind: 'boolean', default: false, description: 'Without flatten: slerp each column (vectors along dim 0) instead of each row (last dim).' },
  { name: 'nuslerp_flatten', scope: 'global', kind: 'boolean', default: true, description: 'Slerp the whole tensor as one vector.' },
  { name: 'weight', scope: 'model', kind: 'number', required: true, description: 'Relative weight; t = w1 / (w0 + w1).' },
];

/** Below this |sin theta| the two vectors count as exactly colinear and are lerped. */
const COLINEAR_SIN = 1e-8;
const NORM_FLOOR = 1e-7;

/** How a tensor splits into the vectors that are slerped: one (flattened or 1-D), rows along the
 * last dim, or (row_wise; mergekit transposes dim 0 with the last) columns along dim 0. */
interface VectorLayout {
  kind: 'one' | 'rows' | 'columns';
  count: number;
  /** Row length (rows) or elements per dim-0 row (columns). */
  width: number;
}

function layoutOf(shape: number[], flatten: boolean, rowWise: boolean): VectorLayout {
  const n = shape.reduce((a, b) => a * b, 1);
  if (flatten || shape.length < 2) return { kind: 'one', count: 1, width: n };
  if (!rowWise) {
    const width = shape[shape.length - 1];
    return { kind: 'rows', count: width === 0 ? 0 : n / width, width };
  }
  const width = n / shape[0];
  return { kind: 'columns', count: width, width };
}

export const nuslerp: MergeMethod = {
  name: 'nuslerp',
  description: 'NuSLERP: slerp of two models (or of their task vectors when a base is given), per tensor, row or column.',
  base: 'optional',
  params,
  mergeCpu(input) {
    const ctx: MethodContext = { method: 'nuslerp', params, input };
    const n = checkInputs(ctx, { base: 'optional', minModels: 2, maxModels: 2 });
    const out = outputArray(ctx, n);
    // The whole tensor is one chunk of the chunked merge.
    return mergeAsOneChunk(chunked(ctx), input, n, out);
  },
  mergeChunks(input) {
    const ctx: MethodContext = { method: 'nuslerp', params, input };
    checkInputs(ctx, { base: 'optional', minModels: 2, maxModels: 2, placeholders: true });
    return chunked(ctx);
  },
};

/** One scan sums |v0|^2, |v1|^2 and v0.v1 of every vector (each in its component order, which is
 * index order), then each chunk is mixed with its vectors' coefficients. */
function chunked(ctx: MethodContext): ChunkedMerge {
  const { input } = ctx;
  const rowWise = globalBoolean(ctx, 'nuslerp_row_wise');
  const flatten = globalBoolean(ctx, 'nuslerp_flatten');
  const [w0, w1] = modelNumbers(ctx, 'weight');
  const t = Math.abs(w0 + w1) < 1e-6 ? 0.5 : w1 / (w0 + w1);
  const layout = layoutOf(input.shape, flatten, rowWise);
  const s00 = new Float64Array(layout.count);
  const s11 = new Float64Array(layout.count);
  const s01 = new Float64Array(layout.count);
  const c0 = new Float64Array(layout.count);
  const c1 = new Float64Array(layout.count);
  /** The chunk's two vectors: the models, or their task vectors fround(m - base). */
  const vectors = (chunk: TensorChunk): [Float32Array, Float32Array] => {
    const [a, b] = chunk.models.map((m, i) => chunkValues(m, input.scratch, `chunkModel${i}`, chunk.elements));
    if (!chunk.base) return [a, b];
    const base = chunkValues(chunk.base, input.scratch, 'chunkBase', chunk.elements);
    const d0 = workArray(input.scratch, 'chunkDelta0', chunk.elements);
    const d1 = workArray(input.scratch, 'chunkDelta1', chunk.elements);
    for (let j = 0; j < chunk.elements; j++) {
      d0[j] = a[j] - base[j];
      d1[j] = b[j] - base[j];
    }
    return [d0, d1];
  };
  return {
    passes: 1,
    scan(_pass, chunk) {
      const [v0, v1] = vectors(chunk);
      if (layout.kind === 'one') sumsOfOne(v0, v1, s00, s11, s01);
      else sumsByVector(v0, v1, chunk.start, layout, s00, s11, s01);
    },
    endPass() {
      for (let v = 0; v < layout.count; v++) {
        const cos = s01[v] / (Math.max(Math.sqrt(s00[v]), NORM_FLOOR) * Math.max(Math.sqrt(s11[v]), NORM_FLOOR));
        const theta = Math.acos(Math.min(1, Math.max(-1, cos)));
        const sinTheta = Math.sin(theta);
        const colinear = Math.abs(sinTheta) < COLINEAR_SIN;
        c0[v] = colinear ? 1 - t : Math.sin((1 - t) * theta) / sinTheta;
        c1[v] = colinear ? t : Math.sin(t * theta) / sinTheta;
      }
    },
    emit(chunk, out) {
      const [v0, v1] = vectors(chunk);
      const base = chunk.base ? chunkValues(chunk.base, input.scratch, 'chunkBase', chunk.elements) : undefined;
      writeChunk(out, input.scratch, chunk.elements, (values) => {
        for (let j = 0; j < chunk.elements; j++) {
          const v = vectorOf(layout, chunk.start + j);
          const mixed = c0[v] * v0[j] + c1[v] * v1[j];
          values[j] = base ? base[j] + Math.fround(mixed) : mixed;
        }
      });
    },
  };
}

function vectorOf(layout: VectorLayout, index: number): number {
  if (layout.kind === 'one') return 0;
  return layout.kind === 'rows' ? Math.floor(index / layout.width) : index % layout.width;
}

/** Adds to the sums of the one vector (a loop of its own: the common, flattened case). */
function sumsOfOne(v0: Float32Array, v1: Float32Array, s00: Float64Array, s11: Float64Array, s01: Float64Array): void {
  let a = s00[0];
  let b = s11[0];
  let c = s01[0];
  for (let j = 0; j < v0.length; j++) {
    a += v0[j] * v0[j];
    b += v1[j] * v1[j];
    c += v0[j] * v1[j];
  }
  s00[0] = a;
  s11[0] = b;
  s01[0] = c;
}

/** Adds to each vector's sums the components in this chunk (tensor indices from `first`). */
function sumsByVector(v0: Float32Array, v1: Float32Array, first: number, layout: VectorLayout, s00: Float64Array, s11: Float64Array, s01: Float64Array): void {
  for (let j = 0; j < v0.length; j++) {
    const v = vectorOf(layout, first + j);
    s00[v] += v0[j] * v0[j];
    s11[v] += v1[j] * v1[j];
    s01[v] += v0[j] * v1[j];
  }
}
