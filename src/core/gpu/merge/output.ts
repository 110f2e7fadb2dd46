/** Collects a merged tensor chunk by chunk from the GPU: f32, or packed to BF16/F16 on the GPU. */
import type { KernelRunner } from '../runner.ts';
import { packOnGpu, type PackedDType } from '../convert.ts';
import type { Chunk } from './tensors.ts';

export type OutputDType = 'F32' | PackedDType;

export type GpuMergeOutput = { dtype: 'F32'; values: Float32Array } | { dtype: PackedDType; bytes: Uint8Array };

export class MergedOutput {
  private readonly values?: Float32Array;
  private readonly bytes?: Uint8Array;

  /** `target`: a caller's preallocated f32 array to fill instead of a new one (F32 only). */
  constructor(private readonly runner: KernelRunner, elements: number, readonly dtype: OutputDType, target?: Float32Array) {
    if (dtype === 'F32') this.values = target ?? new Float32Array(elements);
    else this.bytes = new Uint8Array(elements * 2);
  }

  /** Takes ownership of `merged` (f32, chunk.count values) and releases it. */
  async put(chunk: Chunk, merged: GPUBuffer): Promise<void> {
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

  result(): GpuMergeOutput {
    return this.values ? { dtype: 'F32', values: this.values } : { dtype: this.dtype as PackedDType, bytes: this.bytes! };
  }
}
