/** 16-bit float packing on the GPU: bf16/f16 values live two per u32 word (no shader-f16 needed).
 * Bit-identical to decodeToF32/encodeFromF32 in src/core/dtype.ts. */
import type { KernelRunner } from './runner.ts';
import { elementChunks } from './runner.ts';
import { MergeStudioError } from '../errors.ts';

export type PackedDType = 'BF16' | 'F16';

const UNPACK_KERNEL: Record<PackedDType, string> = { BF16: 'bf16_unpack', F16: 'f16_unpack' };
const PACK_KERNEL: Record<PackedDType, string> = { BF16: 'bf16_pack', F16: 'f16_pack' };

/** Bytes of `count` 16-bit elements padded to whole u32 words. */
export function packedBytes(count: number): number {
  return Math.ceil(count / 2) * 4;
}

function checkDType(dtype: string): asserts dtype is PackedDType {
  if (dtype !== 'BF16' && dtype !== 'F16') {
    throw new MergeStudioError('gpu_dtype_unsupported', `GPU 16-bit packing handles BF16 and F16, not ${dtype}`, { dtype });
  }
}

/** Unpacks `count` packed 16-bit values into a new f32 buffer (stays on the GPU). */
export function unpackOnGpu(runner: KernelRunner, packed: GPUBuffer, count: number, dtype: PackedDType): GPUBuffer {
  const out = runner.allocate(count * 4, `${dtype} unpacked`);
  unpackInto(runner, packed, count, dtype, out);
  return out;
}

/** Unpacks into an existing f32 binding (e.g. one row of a stacked chunk; offset 256-aligned). */
export function unpackInto(runner: KernelRunner, packed: GPUBuffer, count: number, dtype: PackedDType, target: GPUBuffer | GPUBufferBinding): void {
  checkDType(dtype);
  const params = runner.params([['u32', count]]);
  runner.dispatchItems(UNPACK_KERNEL[dtype], [params, packed, target], Math.ceil(count / 2));
  params.destroy();
}

/** Packs `count` f32 values into a new buffer of 16-bit values, two per word (stays on the GPU). */
export function packOnGpu(runner: KernelRunner, values: GPUBuffer, count: number, dtype: PackedDType): GPUBuffer {
  checkDType(dtype);
  const out = runner.allocate(packedBytes(count), `${dtype} packed`);
  const params = runner.params([['u32', count]]);
  runner.dispatchItems(PACK_KERNEL[dtype], [params, values, out], Math.ceil(count / 2));
  params.destroy();
  return out;
}

/** Decodes little-endian BF16/F16 bytes to f32 on the GPU, in chunks that fit one binding. */
export async function decode16OnGpu(runner: KernelRunner, bytes: Uint8Array, dtype: PackedDType): Promise<Float32Array> {
  checkDType(dtype);
  if (bytes.byteLength % 2 !== 0) {
    throw new MergeStudioError('dtype-byte-length', `${bytes.byteLength} bytes is not a whole number of ${dtype} elements (2 bytes each)`, { dtype });
  }
  const count = bytes.byteLength / 2;
  const out = new Float32Array(count);
  // The f32 output is the larger side: 4 bytes per element.
  for (const { start, count: n } of elementChunks(count, 0, 4, runner.bindingBudget)) {
    if (n === 0) continue;
    const packed = runner.upload(bytes.subarray(start * 2, (start + n) * 2));
    const unpacked = unpackOnGpu(runner, packed, n, dtype);
    out.set(await runner.readF32(unpacked, n), start);
    runner.release(packed, unpacked);
  }
  return out;
}

/** Encodes f32 values as little-endian BF16/F16 bytes on the GPU (round to nearest even). */
export async function encode16OnGpu(runner: KernelRunner, values: Float32Array, dtype: PackedDType): Promise<Uint8Array> {
  checkDType(dtype);
  const out = new Uint8Array(values.length * 2);
  for (const { start, count: n } of elementChunks(values.length, 0, 4, runner.bindingBudget)) {
    if (n === 0) continue;
    const input = runner.upload(values.subarray(start, start + n));
    const packed = packOnGpu(runner, input, n, dtype);
    out.set(new Uint8Array(await runner.read(packed, n * 2)), start * 2);
    runner.release(input, packed);
  }
  return out;
}
