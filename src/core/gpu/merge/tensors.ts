/** Input tensors of a GPU merge and their trip to the GPU: every chunk of the flat tensor is
 * uploaded as one "stacked" f32 buffer (row r = input r, element j at r * stride + j), 16-bit
 * inputs unpacked on the GPU. A tensor that fits one binding is uploaded once and stays resident
 * across passes; larger ones are re-streamed chunk by chunk on every pass. */
import type { KernelRunner } from '../runner.ts';
import { elementChunks } from '../runner.ts';
import { unpackInto, type PackedDType } from '../convert.ts';
import { MergeStudioError } from '../../errors.ts';
import { throwIfAborted } from '../../progress.ts';
import { decodeToF32 } from '../../dtype.ts';

/** A tensor read on demand, slice by slice (e.g. row ranges of a stored model), so no
 * whole-tensor host copy exists: `read` gives elements [start, start + count) as f32 values
 * (dtype F32) or raw little-endian 16-bit bytes (BF16/F16, unpacked on the GPU). A returned array
 * may be a scratch buffer the source reuses: it is only valid until the source's next read. */
export interface StreamedTensor {
  readonly elements: number;
  readonly dtype: 'F32' | PackedDType;
  read(start: number, count: number, signal?: AbortSignal): Promise<Float32Array | Uint8Array>;
}

/** A tensor kept on the GPU in its stored form (the live loop's resident inputs): f32 words or
 * 16-bit values two per u32 word, in one or more buffers of consecutive elements (`slices`, each
 * starting on an even element), so a tensor larger than one buffer or binding still fits. Chunks
 * are copied out of it on the device: nothing crosses the bus per merge. */
export interface ResidentTensor {
  readonly elements: number;
  readonly dtype: 'F32' | PackedDType;
  readonly slices: readonly { start: number; count: number; buffer: GPUBuffer }[];
}

/** A tensor's values: f32, raw little-endian BF16/F16 bytes (unpacked on the GPU), a source
 * read slice by slice on each pass, or words already resident on the GPU. */
export type TensorData = Float32Array | { dtype: PackedDType; bytes: Uint8Array } | StreamedTensor | ResidentTensor;

export function isStreamed(t: TensorData): t is StreamedTensor {
  return !(t instanceof Float32Array) && 'read' in t;
}

export function isResident(t: TensorData): t is ResidentTensor {
  return !(t instanceof Float32Array) && 'slices' in t;
}

export function elementsOf(t: TensorData): number {
  if (t instanceof Float32Array) return t.length;
  return isStreamed(t) || isResident(t) ? t.elements : t.bytes.byteLength / 2;
}

/** Copies the stored words of elements [start, start + count) of a resident tensor (start even)
 * into `target` at byte `offset`, on the device; returns the bytes copied (16-bit values padded to
 * whole words). */
export function copyResidentRange(encoder: GPUCommandEncoder, t: ResidentTensor, start: number, count: number, target: GPUBuffer, offset: number): number {
  const size = t.dtype === 'F32' ? 4 : 2;
  let copied = 0;
  for (const slice of t.slices) {
    const from = Math.max(start, slice.start);
    const to = Math.min(start + count, slice.start + slice.count);
    if (from >= to) continue;
    // Word-aligned: slices and ranges start on even elements; a 16-bit tail rounds up to its word.
    const bytes = Math.ceil(((to - from) * size) / 4) * 4;
    encoder.copyBufferToBuffer(slice.buffer, (from - slice.start) * size, target, offset + (from - start) * size, bytes);
    copied += bytes;
  }
  return copied;
}

/** Stacked rows start on 256-byte boundaries (the storage binding offset alignment). */
const ROW_ALIGN_ELEMENTS = 64;

export interface Chunk {
  index: number;
  /** Global flat index of the chunk's first element. */
  start: number;
  count: number;
  /** Elements between consecutive stacked rows (count rounded up to 64). */
  stride: number;
}

export interface ChunkView {
  chunk: Chunk;
  stacked: GPUBuffer;
  /** True when the rows were just uploaded (in-place transforms must be redone). */
  fresh: boolean;
}

export class StackedTensors {
  readonly chunks: Chunk[];
  private resident?: GPUBuffer;

  /**
   * @param rows the inputs in row order
   * @param prepare runs on each freshly uploaded chunk (e.g. forming task vectors in place)
   * @param extraRows scratch rows reserved after the inputs
   * @param budget bytes of one stacked chunk (default and at most the runner's binding budget):
   *   callers bounding host memory (and a CPU adapter's "GPU" memory) pass less
   */
  constructor(
    private readonly runner: KernelRunner,
    private readonly rows: TensorData[],
    readonly elements: number,
    private readonly prepare?: (view: ChunkView) => void,
    readonly extraRows = 0,
    private readonly signal?: AbortSignal,
    alignElements = 0,
    budget = runner.bindingBudget,
  ) {
    const stackedRows = rows.length + extraRows;
    // Never below what one 64-element unit per row needs, never above one binding.
    const chunkBytes = Math.min(runner.bindingBudget, Math.max(budget, 2 * stackedRows * ROW_ALIGN_ELEMENTS * 4));
    // Room for the padding of each row to 64 elements, then whole 64-element units.
    const room = chunkBytes - stackedRows * ROW_ALIGN_ELEMENTS * 4;
    const perChunk = Math.floor(room / (4 * stackedRows) / ROW_ALIGN_ELEMENTS) * ROW_ALIGN_ELEMENTS;
    if (perChunk < ROW_ALIGN_ELEMENTS) {
      throw new MergeStudioError('gpu_binding_too_small', `A binding budget of ${runner.bindingBudget} bytes cannot hold ${stackedRows} stacked rows of ${ROW_ALIGN_ELEMENTS} elements`, { rows: stackedRows });
    }
    this.chunks = elementChunks(elements, alignElements, 4, perChunk * 4).map(({ start, count }, index) => ({
      index, start, count, stride: Math.max(ROW_ALIGN_ELEMENTS, Math.ceil(count / ROW_ALIGN_ELEMENTS) * ROW_ALIGN_ELEMENTS),
    }));
  }

  get rowCount(): number {
    return this.rows.length + this.extraRows;
  }

  /** Visits every chunk in order with its stacked rows on the GPU. */
  async forEachChunk(visit: (view: ChunkView) => void | Promise<void>): Promise<void> {
    for (const chunk of this.chunks) {
      throwIfAborted(this.signal);
      let stacked = this.resident;
      const fresh = !stacked;
      if (!stacked) stacked = await this.upload(chunk);
      const view = { chunk, stacked, fresh };
      if (fresh) this.prepare?.(view);
      await visit(view);
      if (this.chunks.length === 1) this.resident = stacked;
      else this.runner.release(stacked);
    }
  }

  private async upload(chunk: Chunk): Promise<GPUBuffer> {
    const { start, count, stride } = chunk;
    const stacked = this.runner.allocate(this.rowCount * stride * 4, 'stacked chunk');
    try {
      for (const [r, row] of this.rows.entries()) {
        // queue.writeBuffer copies at once, so a streamed source's scratch is free again right after.
        let values: Float32Array | undefined;
        let packed: { dtype: PackedDType; bytes: Uint8Array } | undefined;
        if (isResident(row)) {
          this.fromResident(row, start, count, stacked, r * stride * 4);
          continue;
        }
        if (row instanceof Float32Array) values = row.subarray(start, start + count);
        else if (isStreamed(row)) {
          const data = await row.read(start, count, this.signal);
          const expected = row.dtype === 'F32' ? count : count * 2;
          if (data.length !== expected) throw new MergeStudioError('gpu_stream_short_read', `A streamed tensor gave ${data.length} ${row.dtype === 'F32' ? 'values' : 'bytes'} for elements [${start}, ${start + count}), expected ${expected}`, { start, count });
          if (row.dtype === 'F32') values = data as Float32Array;
          else packed = { dtype: row.dtype, bytes: data as Uint8Array };
        } else packed = { dtype: row.dtype, bytes: row.bytes.subarray(start * 2, (start + count) * 2) };
        if (values) {
          this.runner.write(stacked, values, r * stride * 4);
          continue;
        }
        const onGpu = this.runner.upload(packed!.bytes, `${packed!.dtype} chunk`);
        unpackInto(this.runner, onGpu, count, packed!.dtype, { buffer: stacked, offset: r * stride * 4, size: count * 4 });
        this.runner.release(onGpu);
      }
    } catch (err) {
      this.runner.release(stacked);
      throw err;
    }
    return stacked;
  }

  /** A resident row: f32 words copied straight into the stacked row, 16-bit words copied to a
   * scratch buffer and unpacked into it. */
  private fromResident(row: ResidentTensor, start: number, count: number, stacked: GPUBuffer, offset: number): void {
    const runner = this.runner;
    const encoder = runner.device.createCommandEncoder();
    if (row.dtype === 'F32') {
      copyResidentRange(encoder, row, start, count, stacked, offset);
      runner.device.queue.submit([encoder.finish()]);
      return;
    }
    const words = runner.allocate(Math.max(4, Math.ceil(count / 2) * 4), `${row.dtype} resident chunk`);
    copyResidentRange(encoder, row, start, count, words, 0);
    runner.device.queue.submit([encoder.finish()]);
    unpackInto(runner, words, count, row.dtype, { buffer: stacked, offset, size: count * 4 });
    runner.release(words);
  }

  dispose(): void {
    this.runner.release(this.resident);
    this.resident = undefined;
  }
}

/** Decoded f32 values of a whole tensor (for the steps that run on the CPU; a streamed tensor is
 * read whole here, so these steps are not bounded by the chunk budget). */
export async function tensorToF32(t: TensorData, signal?: AbortSignal, runner?: KernelRunner): Promise<Float32Array> {
  if (t instanceof Float32Array) return t;
  if (isResident(t)) {
    if (!runner) throw new MergeStudioError('gpu_resident_without_device', 'A GPU-resident tensor can only be read back with its device', {});
    const size = t.dtype === 'F32' ? 4 : 2;
    const bytes = new Uint8Array(t.elements * size);
    for (const slice of t.slices) bytes.set(new Uint8Array(await runner.read(slice.buffer, slice.count * size)), slice.start * size);
    return t.dtype === 'F32' ? new Float32Array(bytes.buffer) : decodeToF32(bytes, t.dtype);
  }
  if (!isStreamed(t)) return decodeToF32(t.bytes, t.dtype);
  const data = await t.read(0, t.elements, signal);
  return t.dtype === 'F32' ? (data as Float32Array).slice() : decodeToF32(data as Uint8Array, t.dtype);
}
