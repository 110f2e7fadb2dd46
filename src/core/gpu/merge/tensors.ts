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

/** A tensor's values: f32, or raw little-endian BF16/F16 bytes (unpacked on the GPU). */
export type TensorData = Float32Array | { dtype: PackedDType; bytes: Uint8Array };

export function elementsOf(t: TensorData): number {
  return t instanceof Float32Array ? t.length : t.bytes.byteLength / 2;
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
   */
  constructor(
    private readonly runner: KernelRunner,
    private readonly rows: TensorData[],
    readonly elements: number,
    private readonly prepare?: (view: ChunkView) => void,
    readonly extraRows = 0,
    private readonly signal?: AbortSignal,
    alignElements = 0,
  ) {
    const stackedRows = rows.length + extraRows;
    // Room for the padding of each row to 64 elements, then whole 64-element units.
    const budget = runner.bindingBudget - stackedRows * ROW_ALIGN_ELEMENTS * 4;
    const perChunk = Math.floor(budget / (4 * stackedRows) / ROW_ALIGN_ELEMENTS) * ROW_ALIGN_ELEMENTS;
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
      if (!stacked) stacked = this.upload(chunk);
      const view = { chunk, stacked, fresh };
      if (fresh) this.prepare?.(view);
      await visit(view);
      if (this.chunks.length === 1) this.resident = stacked;
      else this.runner.release(stacked);
    }
  }

  private upload(chunk: Chunk): GPUBuffer {
    const { start, count, stride } = chunk;
    const stacked = this.runner.allocate(this.rowCount * stride * 4, 'stacked chunk');
    this.rows.forEach((row, r) => {
      if (row instanceof Float32Array) {
        this.runner.write(stacked, row.subarray(start, start + count), r * stride * 4);
      } else {
        const packed = this.runner.upload(row.bytes.subarray(start * 2, (start + count) * 2), `${row.dtype} chunk`);
        unpackInto(this.runner, packed, count, row.dtype, { buffer: stacked, offset: r * stride * 4, size: count * 4 });
        this.runner.release(packed);
      }
    });
    return stacked;
  }

  dispose(): void {
    this.runner.release(this.resident);
    this.resident = undefined;
  }
}

/** Decoded f32 values of a tensor (for the steps that run on the CPU). */
export function tensorToF32(t: TensorData): Float32Array {
  return t instanceof Float32Array ? t : decodeToF32(t.bytes, t.dtype);
}
