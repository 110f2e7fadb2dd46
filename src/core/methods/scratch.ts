/** Reusable float32 buffers by slot: each grows to the largest size asked for and is handed out as
 * a view of the requested length. Fresh full-size arrays per tensor cost more in first-touch page
 * faults than the merge arithmetic itself. */
import type { ChunkedMerge, MergeTensorInput, ScratchArrays, TensorChunk } from './types.ts';
import { decodeToF32, encodeFromF32 } from '../dtype.ts';
import type { TileSink } from '../simd/merge-tiles.ts';
import type { TileSource } from '../simd/tiles.ts';

export class ReusableArrays implements ScratchArrays {
  private readonly slots = new Map<string, Float32Array>();

  get(slot: string, elements: number): Float32Array {
    let buffer = this.slots.get(slot);
    if (!buffer || buffer.length < elements) this.slots.set(slot, (buffer = new Float32Array(elements)));
    return buffer.subarray(0, elements);
  }

  /** Drops every buffer (e.g. after the largest tensor, when memory matters more than speed). */
  clear(): void {
    this.slots.clear();
  }
}

/** A scratch slot when the caller gave scratch buffers, else a fresh array. */
export function workArray(scratch: ScratchArrays | undefined, slot: string, elements: number): Float32Array {
  return scratch ? scratch.get(slot, elements) : new Float32Array(elements);
}

/** A chunk's input as float32 values: the array itself, or its stored bytes decoded into a
 * scratch slot (valid until the slot is asked again). */
export function chunkValues(source: TileSource, scratch: ScratchArrays | undefined, slot: string, elements: number): Float32Array {
  if ('values' in source) return source.values;
  return decodeToF32(source.bytes, source.dtype, workArray(scratch, slot, elements));
}

/** Writes a chunk's output through float32 values: `fill` writes them, straight into `out` when it
 * takes values, else into a scratch slot that is then encoded into `out`'s bytes. */
export function writeChunk(out: TileSink, scratch: ScratchArrays | undefined, elements: number, fill: (values: Float32Array) => void): void {
  if ('values' in out) {
    fill(out.values);
    return;
  }
  const values = workArray(scratch, 'chunkOutput', elements);
  fill(values);
  encodeFromF32(values, out.dtype, out.bytes);
}

/** Runs a chunked merge over the whole tensor as its one chunk: every pass's scan, then the output
 * into `out` (the float32 path of the methods whose statistics span the tensor). */
export function mergeAsOneChunk(merge: ChunkedMerge, input: MergeTensorInput, elements: number, out: Float32Array): Float32Array {
  const chunk: TensorChunk = { start: 0, elements, rows: input.shape[0] ?? 1, models: input.models.map((values) => ({ values })), ...(input.base ? { base: { values: input.base } } : {}) };
  for (let pass = 0; pass < merge.passes; pass++) {
    merge.scan(pass, chunk);
    merge.endPass(pass);
  }
  merge.emit(chunk, { values: out });
  return out;
}

/** Adds each point's sum of squares over its first `elements` values to `squares[i]` (float64, in
 * index order, so chunk after chunk gives the whole tensor's sum). */
export function addSquares(points: Float32Array[], elements: number, squares: Float64Array): void {
  points.forEach((p, i) => {
    let s = squares[i];
    for (let j = 0; j < elements; j++) s += p[j] * p[j];
    squares[i] = s;
  });
}
