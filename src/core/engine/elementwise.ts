// Merging an elementwise method (linear, task_arithmetic, passthrough, nearswap) slice by slice
// straight from the stored bytes: each tile of a few ten thousand elements is decoded, merged and
// encoded while it is still in cache, and no full-size float32 copy of any input ever exists. The
// engine streams large tensors this way; the bench times the same function.
import { decodeToF32, encodeFromF32, dtypeBits, type DType } from '../dtype.ts';
import type { MergeMethod, MergeTensorInput } from '../methods/types.ts';
import { ReusableArrays } from '../methods/scratch.ts';

const NO_VALUES = new Float32Array(0);

/** Elements per tile: the decoded inputs and the output of one tile stay in the core's L2 cache. */
export const TILE_ELEMENTS = 1 << 15;

/** Stored bytes of one input over the same element range as the other inputs. */
export interface StoredSlice {
  bytes: Uint8Array;
  dtype: DType;
}

/** Everything of a MergeTensorInput but the arrays, which come slice by slice. */
export type TileTemplate = Omit<MergeTensorInput, 'models' | 'base' | 'out' | 'shape'>;

/** Float32 values of elements [start, start + length) of a stored slice: a view of aligned F32
 * bytes, else decoded into `into`. */
function tileValues(slice: StoredSlice, start: number, length: number, into: Float32Array): Float32Array {
  const size = dtypeBits(slice.dtype) / 8;
  const { bytes } = slice;
  const at = bytes.byteOffset + start * size;
  if (slice.dtype === 'F32' && at % 4 === 0 && bytes.buffer instanceof ArrayBuffer) return new Float32Array(bytes.buffer, at, length);
  return decodeToF32(bytes.subarray(start * size, (start + length) * size), slice.dtype, into.subarray(0, length));
}

/** Merges `elements` elements given as stored slices of each model (and the base) with an
 * elementwise method, writing `outDType` bytes into `out` (which must hold them, 4-byte aligned);
 * returns the filled view of `out`. `buffers` holds the per-tile arrays between calls. */
export function mergeElementwiseSlices(
  method: MergeMethod,
  template: TileTemplate,
  models: StoredSlice[],
  base: StoredSlice | undefined,
  elements: number,
  outDType: DType,
  out: Uint8Array,
  buffers: ReusableArrays,
): Uint8Array {
  if (!method.elementwise) throw new Error(`${method.name} is not elementwise; it cannot be merged in slices`);
  const tileable = (d: DType): d is 'F32' | 'BF16' => d === 'F32' || d === 'BF16';
  if (method.mergeTiles && tileable(outDType) && models.every((m) => tileable(m.dtype)) && (!base || tileable(base.dtype))) {
    // Fused: each tile is decoded, merged and encoded in the kernels' memory, in one pass.
    const source = (s: StoredSlice) => ({ bytes: s.bytes, dtype: s.dtype as 'F32' | 'BF16' });
    const placeholders = { ...template, shape: [elements], models: models.map(() => NO_VALUES) };
    const filled = out.subarray(0, elements * (dtypeBits(outDType) / 8));
    method.mergeTiles(placeholders, models.map(source), base ? source(base) : undefined, elements, { bytes: filled, dtype: outDType });
    return filled;
  }
  const outSize = dtypeBits(outDType) / 8;
  const tile = Math.min(TILE_ELEMENTS, elements);
  const modelTiles = models.map((_, i) => buffers.get(`tile-model${i}`, tile));
  const baseTile = base ? buffers.get('tile-base', tile) : undefined;
  const outTile = buffers.get('tile-output', tile);
  for (let start = 0; start < elements; start += tile) {
    const length = Math.min(tile, elements - start);
    const outBytes = out.subarray(start * outSize, (start + length) * outSize);
    // F32 output: the method writes straight into the output bytes.
    const direct = outDType === 'F32' && outBytes.byteOffset % 4 === 0 && outBytes.buffer instanceof ArrayBuffer;
    const merged = method.mergeCpu({
      ...template,
      shape: [length],
      models: models.map((m, i) => tileValues(m, start, length, modelTiles[i])),
      ...(base && baseTile ? { base: tileValues(base, start, length, baseTile) } : {}),
      out: direct ? new Float32Array(outBytes.buffer, outBytes.byteOffset, length) : outTile.subarray(0, length),
    });
    if (!direct) encodeFromF32(merged, outDType, outBytes);
  }
  return out.subarray(0, elements * outSize);
}
