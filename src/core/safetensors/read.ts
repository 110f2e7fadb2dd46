// Reading tensor data: raw bytes, or float32 values for a range of rows (dimension 0).
import { decodeToF32, dtypeBits } from '../dtype.ts';
import { MergeStudioError } from '../errors.ts';
import type { TensorInfo } from './header.ts';

export async function readTensorBytes(info: TensorInfo, signal?: AbortSignal): Promise<Uint8Array> {
  return info.source.read(info.offset, info.bytes, signal);
}

/** Bytes of one row along dimension 0 (the whole tensor for a scalar). */
export function rowBytes(info: TensorInfo): number {
  const rows = info.shape.length === 0 ? 1 : info.shape[0];
  return rows === 0 ? 0 : info.bytes / rows;
}

/** The raw bytes of rows [start, end) of dimension 0: one range read of exactly those rows, so a
 * chunked reader never holds more of a tensor than it asked for, whatever the source (disk, Hub). */
export async function readTensorRows(info: TensorInfo, start: number, end: number, signal?: AbortSignal): Promise<Uint8Array> {
  const rows = info.shape[0];
  if (info.shape.length === 0 || !Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > rows) {
    throw new MergeStudioError('tensor-row-range', `${info.file}: tensor '${info.name}' ${JSON.stringify(info.shape)}: rows [${start}, ${end}) are outside [0, ${rows ?? 0})`, { tensor: info.name, file: info.file });
  }
  const perRow = rowBytes(info);
  if (!Number.isInteger(perRow) || (perRow * 8) % dtypeBits(info.dtype) !== 0) {
    throw new MergeStudioError('tensor-row-range', `${info.file}: tensor '${info.name}': rows of ${info.dtype} are not byte-aligned`, { tensor: info.name, file: info.file });
  }
  return info.source.read(info.offset + start * perRow, (end - start) * perRow, signal);
}

/** Decodes a tensor, or rows [start, end) of its first dimension, to float32. */
export async function readTensorF32(info: TensorInfo, opts: { rows?: [start: number, end: number] } = {}, signal?: AbortSignal): Promise<Float32Array> {
  if (!opts.rows) return decodeToF32(await readTensorBytes(info, signal), info.dtype);
  return decodeToF32(await readTensorRows(info, opts.rows[0], opts.rows[1], signal), info.dtype);
}

export interface RowBlock {
  /** Rows [start, end) of dimension 0. */
  start: number;
  end: number;
  bytes: Uint8Array;
}

/** A tensor as consecutive blocks of whole rows of at most `maxBytes` each (at least one row).
 * The next block's read is started when a block is handed out, so a slow source (the Hub)
 * transfers while the caller computes; at most two blocks are held at once. */
export async function* tensorRowBlocks(info: TensorInfo, maxBytes: number, signal?: AbortSignal): AsyncGenerator<RowBlock> {
  const rows = info.shape.length === 0 ? 1 : info.shape[0];
  if (rows === 0) return;
  const perRow = rowBytes(info);
  const step = Math.max(1, Math.floor(maxBytes / Math.max(1, perRow)));
  const read = (start: number): Promise<RowBlock> => {
    const end = Math.min(rows, start + step);
    const bytes = info.shape.length === 0 ? readTensorBytes(info, signal) : readTensorRows(info, start, end, signal);
    return bytes.then((b) => ({ start, end, bytes: b }));
  };
  let next: Promise<RowBlock> | null = read(0);
  try {
    while (next) {
      const block: RowBlock = await next;
      next = block.end < rows ? read(block.end) : null;
      yield block;
    }
  } finally {
    // A consumer that stops early leaves no read-ahead to fail unobserved.
    next?.catch(() => undefined);
  }
}
