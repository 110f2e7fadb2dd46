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

/** Decodes a tensor, or rows [start, end) of its first dimension, to float32. */
export async function readTensorF32(info: TensorInfo, opts: { rows?: [start: number, end: number] } = {}, signal?: AbortSignal): Promise<Float32Array> {
  if (!opts.rows) return decodeToF32(await readTensorBytes(info, signal), info.dtype);
  const [start, end] = opts.rows;
  const rows = info.shape[0];
  if (info.shape.length === 0 || !Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > rows) {
    throw new MergeStudioError('tensor-row-range', `${info.file}: tensor '${info.name}' ${JSON.stringify(info.shape)}: rows [${start}, ${end}) are outside [0, ${rows ?? 0})`, { tensor: info.name, file: info.file });
  }
  const perRow = rowBytes(info);
  if (!Number.isInteger(perRow) || (perRow * 8) % dtypeBits(info.dtype) !== 0) {
    throw new MergeStudioError('tensor-row-range', `${info.file}: tensor '${info.name}': rows of ${info.dtype} are not byte-aligned`, { tensor: info.name, file: info.file });
  }
  const bytes = await info.source.read(info.offset + start * perRow, (end - start) * perRow, signal);
  return decodeToF32(bytes, info.dtype);
}
