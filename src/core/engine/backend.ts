// Where one tensor's merge runs. The CPU backend calls the method's reference implementation; the
// WebGPU backend implements the same interface, so planning and streaming do not care which runs.
import type { MergeMethod, MergeTensorInput } from '../methods/types.ts';
import type { StreamedTensor } from '../gpu/merge/tensors.ts';
import { throwIfAborted } from '../progress.ts';

export type { StreamedTensor } from '../gpu/merge/tensors.ts';

/** One tensor's merge with inputs read slice by slice on demand (no whole-tensor host copies). */
export interface StreamedMergeInput extends Omit<MergeTensorInput, 'models' | 'base' | 'out' | 'scratch'> {
  models: StreamedTensor[];
  base?: StreamedTensor;
}

export interface MergeBackend {
  readonly kind: 'cpu' | 'webgpu';
  /** Merges one tensor; the result has the element count of `input.shape`. */
  merge(method: MergeMethod, input: MergeTensorInput, signal?: AbortSignal): Promise<Float32Array>;
  /** Merges one tensor whose inputs are read slice by slice, yielding the output encoded as
   * `outDType` in order, slice by slice (each valid until the next is asked for); host memory
   * stays near `chunkBytes` whatever the tensor's size. Exports use it when present. */
  mergeStreamed?(method: MergeMethod, input: StreamedMergeInput, outDType: 'F32' | 'BF16' | 'F16', options: { chunkBytes: number; signal?: AbortSignal }): AsyncIterable<Uint8Array>;
  /** Releases device resources (GPU buffers); the backend is unusable afterwards. */
  dispose?(): void;
}

export const cpuBackend: MergeBackend = {
  kind: 'cpu',
  async merge(method, input, signal) {
    throwIfAborted(signal);
    return method.mergeCpu(input);
  },
};
