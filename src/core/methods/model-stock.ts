import type { ChunkedMerge, MergeMethod, MergeTensorInput, ParamSpec } from './types.ts';
import { checkInputs, globalBoolean, outputArray, type MethodContext } from './params.ts';
import { chunkValues, writeChunk } from './scratch.ts';
import type { TileSource } from '../simd/tiles.ts';

const params: ParamSpec[] = [
  { name: 'filter_wise', scope: 'global', kind: 'boolean', default: false, description: 'One interpolation ratio per row (filter) instead of one per tensor.' },
];

/** At cos = -1/(N-1) the ratio N cos / (1 + (N-1) cos) has its pole. */
const POLE_GUARD = 1e-12;

export const modelStock: MergeMethod = {
  name: 'model_stock',
  description: 'Model Stock: moves from the base toward the models\' average by a ratio set by the mean angle between their offsets (arXiv 2403.19522).',
  base: 'required',
  params,
  mergeCpu(input) {
    const ctx: MethodContext = { method: 'model_stock', params, input };
    const n = checkInputs(ctx, { base: 'required', minModels: 2 });
    const filterWise = globalBoolean(ctx, 'filter_wise');
    const base = input.base!;
    const models = input.models;
    const count = models.length;
    // filter_wise: one ratio per row (last dim; 1-D tensors are one row), else one per tensor.
    const rowLength = filterWise ? input.shape[input.shape.length - 1] ?? n : n;
    const rows = rowLength === 0 ? 0 : n / rowLength;
    const out = outputArray(ctx, n);
    const sums = new Float64Array(Math.max(6, count * count));
    for (let r = 0; r < rows; r++) {
      const start = r * rowLength;
      const end = start + rowLength;
      sums.fill(0);
      offsetGram(models, base, start, end, sums);
      mixTowardMean(out, models, base, interpolationRatio(sums, count), start, end);
    }
    return out;
  },
  mergeChunks(input: MergeTensorInput): ChunkedMerge {
    const ctx: MethodContext = { method: 'model_stock', params, input };
    checkInputs(ctx, { base: 'required', minModels: 2, placeholders: true });
    const count = input.models.length;
    const sums = new Float64Array(Math.max(6, count * count));
    const arrays = (chunk: { models: TileSource[]; base?: TileSource; elements: number }) => ({
      models: chunk.models.map((m, i) => chunkValues(m, input.scratch, `chunkModel${i}`, chunk.elements)),
      base: chunkValues(chunk.base!, input.scratch, 'chunkBase', chunk.elements),
    });
    if (globalBoolean(ctx, 'filter_wise') && input.shape.length >= 2) {
      // One ratio per row: every chunk holds whole rows, so it merges on its own.
      const rowLength = input.shape[input.shape.length - 1];
      return {
        passes: 0,
        scan() {},
        endPass() {},
        emit(chunk, out) {
          const { models, base } = arrays(chunk);
          writeChunk(out, input.scratch, chunk.elements, (values) => {
            for (let start = 0; start < chunk.elements; start += rowLength) {
              sums.fill(0);
              offsetGram(models, base, start, start + rowLength, sums);
              mixTowardMean(values, models, base, interpolationRatio(sums, count), start, start + rowLength);
            }
          });
        },
      };
    }
    // One ratio per tensor: the Gram sums run on from chunk to chunk in index order.
    let t = 0;
    return {
      passes: 1,
      scan(_pass, chunk) {
        const { models, base } = arrays(chunk);
        offsetGram(models, base, 0, chunk.elements, sums);
      },
      endPass() {
        t = interpolationRatio(sums, count);
      },
      emit(chunk, out) {
        const { models, base } = arrays(chunk);
        writeChunk(out, input.scratch, chunk.elements, (values) => mixTowardMean(values, models, base, t, 0, chunk.elements));
      },
    };
  },
};

/** Adds the Gram sums of the offsets fround(m - base) over [start, end) to `sums`, straight from
 * the inputs (no full-size offset arrays); up to three models share one unrolled pass. */
function offsetGram(models: Float32Array[], base: Float32Array, start: number, end: number, sums: Float64Array): void {
  if (models.length <= 3) offsetGram3(models[0], models[1], models[2] ?? models[0], base, start, end, sums);
  else offsetGramMany(models, base, start, end, sums);
}

/** The ratio t toward the models' mean from the mean cosine of their offsets. */
function interpolationRatio(sums: Float64Array, count: number): number {
  let cosSum = 0;
  let pairs = 0;
  for (let a = 0; a < count; a++) {
    for (let b = a + 1; b < count; b++) {
      const norms = Math.sqrt(sums[gramSlot(a, a, count)]) * Math.sqrt(sums[gramSlot(b, b, count)]);
      cosSum += Math.min(1, Math.max(-1, sums[gramSlot(a, b, count)] / Math.max(norms, 1e-6)));
      pairs++;
    }
  }
  const cos = cosSum / pairs;
  const denominator = 1 + (count - 1) * cos;
  // mergekit divides by zero at the pole (e.g. two exactly opposite offsets) and returns NaN;
  // offsets that cancel out carry no direction, so we keep the base (t = 0).
  return denominator <= POLE_GUARD ? 0 : (count * cos) / denominator;
}

function mixTowardMean(out: Float32Array, models: Float32Array[], base: Float32Array, t: number, start: number, end: number): void {
  if (models.length === 2) mixTowardMean2(out, models[0], models[1], base, t, start, end);
  else if (models.length === 3) mixTowardMean3(out, models[0], models[1], models[2], base, t, start, end);
  else mixTowardMeanMany(out, models, base, t, start, end);
}

/** Slot of Gram entry (a, b), a <= b: unrolled layout for up to three offsets, else row-major. */
function gramSlot(a: number, b: number, count: number): number {
  return count <= 3 ? GRAM3[a * 3 + b] : a * count + b;
}
// 0: |a|^2, 1: |b|^2, 2: |c|^2, 3: a.b, 4: a.c, 5: b.c
const GRAM3 = [0, 3, 4, 3, 1, 5, 4, 5, 2];

/** Adds the Gram sums of the offsets of a, b, c (c ignored by the caller when only two models). */
function offsetGram3(a: Float32Array, b: Float32Array, c: Float32Array, base: Float32Array, start: number, end: number, sums: Float64Array): void {
  let aa = sums[0], bb = sums[1], cc = sums[2], ab = sums[3], ac = sums[4], bc = sums[5];
  for (let j = start; j < end; j++) {
    const x = base[j];
    const da = Math.fround(a[j] - x);
    const db = Math.fround(b[j] - x);
    const dc = Math.fround(c[j] - x);
    aa += da * da;
    bb += db * db;
    cc += dc * dc;
    ab += da * db;
    ac += da * dc;
    bc += db * dc;
  }
  sums[0] = aa;
  sums[1] = bb;
  sums[2] = cc;
  sums[3] = ab;
  sums[4] = ac;
  sums[5] = bc;
}

function offsetGramMany(models: Float32Array[], base: Float32Array, start: number, end: number, sums: Float64Array): void {
  const count = models.length;
  const d = new Float64Array(count);
  for (let j = start; j < end; j++) {
    for (let i = 0; i < count; i++) d[i] = Math.fround(models[i][j] - base[j]);
    for (let a = 0; a < count; a++) for (let b = a; b < count; b++) sums[a * count + b] += d[a] * d[b];
  }
}

// t * mean + (1 - t) * base, summing the models in order as the general loop does.
function mixTowardMean2(out: Float32Array, a: Float32Array, b: Float32Array, base: Float32Array, t: number, start: number, end: number): void {
  const u = 1 - t;
  for (let j = start; j < end; j++) out[j] = t * ((a[j] + b[j]) / 2) + u * base[j];
}

function mixTowardMean3(out: Float32Array, a: Float32Array, b: Float32Array, c: Float32Array, base: Float32Array, t: number, start: number, end: number): void {
  const u = 1 - t;
  for (let j = start; j < end; j++) out[j] = t * ((a[j] + b[j] + c[j]) / 3) + u * base[j];
}

function mixTowardMeanMany(out: Float32Array, models: Float32Array[], base: Float32Array, t: number, start: number, end: number): void {
  const count = models.length;
  for (let j = start; j < end; j++) {
    let sum = 0;
    for (let i = 0; i < count; i++) sum += models[i][j];
    out[j] = t * (sum / count) + (1 - t) * base[j];
  }
}
