/** Collects a merged tensor chunk by chunk from the GPU: f32, or packed to BF16/F16 on the GPU;
 * into one host array, or handed slice by slice to a sink (no whole-tensor host copy). */
import type { KernelRunner } from '../runner.ts';
import { packOnGpu, type PackedDType } from '../convert.ts';
import { MergeStudioError } from '../../errors.ts';
import type { Chunk } from './tensors.ts';

/** Receives the merged tensor in order, slice by slice: elements [start, start + n) as f32 values
 * (F32) or packed 16-bit bytes; the array belongs to the caller only until the promise settles. */
export type OutputSink = (start: number, data: Float32Array | Uint8Array) => Promise<void>;

export type OutputDType = 'F32' | PackedDType;

/** Receives each merged chunk where it was computed, on the GPU (the live loop packs it straight
 * into the evaluator's weights): the f32 `merged` buffer (chunk.count values) is the sink's to
 * release. Chunks arrive in order, each once. */
export interface GpuOutputSink {
  gpu(chunk: Chunk, merged: GPUBuffer): Promise<void>;
}

export type GpuMergeOutput = { dtype: 'F32'; values: Float32Array } | { dtype: PackedDType; bytes: Uint8Array };

export class MergedOutput {
  private readonly values?: Float32Array;
  private readonly bytes?: Uint8Array;
  private readonly sink?: OutputSink;
  private readonly gpuSink?: GpuOutputSink;
  /** Elements handed to the sink so far. */
  private written = 0;

  /** `target`: a caller's preallocated f32 array to fill instead of a new one (F32 only), or a sink
   * that takes each chunk as it is merged. */
  constructor(private readonly runner: KernelRunner, readonly elements: number, readonly dtype: OutputDType, target?: Float32Array | OutputSink | GpuOutputSink) {
    if (typeof target === 'function') this.sink = target;
    else if (target && !(target instanceof Float32Array)) this.gpuSink = target;
    else if (dtype === 'F32') this.values = target ?? new Float32Array(elements);
    else this.bytes = new Uint8Array(elements * 2);
  }

  /** Takes ownership of `merged` (f32, chunk.count values) and releases it. */
  async put(chunk: Chunk, merged: GPUBuffer): Promise<void> {
    if (this.gpuSink) {
      if (chunk.start !== this.written) {
        this.runner.release(merged);
        throw new MergeStudioError('gpu_output_order', `GPU merge output chunk at element ${chunk.start} arrived when ${this.written} elements were written`, { start: chunk.start, written: this.written });
      }
      this.written += chunk.count;
      await this.gpuSink.gpu(chunk, merged);
      return;
    }
    if (this.sink) {
      try {
        // Every GPU method writes each chunk once, in order; a sink relies on it.
        if (chunk.start !== this.written) throw new MergeStudioError('gpu_output_order', `GPU merge output chunk at element ${chunk.start} arrived when ${this.written} elements were written`, { start: chunk.start, written: this.written });
        let data: Float32Array | Uint8Array;
        if (this.dtype === 'F32') data = await this.runner.readF32(merged, chunk.count);
        else {
          const packed = packOnGpu(this.runner, merged, chunk.count, this.dtype);
          data = new Uint8Array(await this.runner.read(packed, chunk.count * 2));
          this.runner.release(packed);
        }
        this.written += chunk.count;
        await this.sink(chunk.start, data);
      } finally {
        this.runner.release(merged);
      }
      return;
    }
    if (this.values) {
      this.values.set(await this.runner.readF32(merged, chunk.count), chunk.start);
    } else {
      // Chunks start on even elements, so packed words never straddle two chunks.
      const packed = packOnGpu(this.runner, merged, chunk.count, this.dtype as PackedDType);
      this.bytes!.set(new Uint8Array(await this.runner.read(packed, chunk.count * 2)), chunk.start * 2);
      this.runner.release(packed);
    }
    this.runner.release(merged);
  }

  /** Throws unless a sink received every element. */
  checkComplete(): void {
    if ((this.sink || this.gpuSink) && this.written !== this.elements) throw new MergeStudioError('gpu_output_incomplete', `GPU merge wrote ${this.written} of ${this.elements} elements`, { written: this.written, elements: this.elements });
  }

  result(): GpuMergeOutput {
    if (this.sink || this.gpuSink) throw new MergeStudioError('gpu_output_streamed', 'A GPU merge into a sink has no collected result', {});
    return this.values ? { dtype: 'F32', values: this.values } : { dtype: this.dtype as PackedDType, bytes: this.bytes! };
  }
}
