// Where one tensor's merge runs. The CPU backend calls the method's reference implementation; the
// WebGPU backend implements the same interface, so planning and streaming do not care which runs.
import type { MergeMethod, MergeTensorInput } from '../methods/types.ts';
import { throwIfAborted } from '../progress.ts';

export interface MergeBackend {
  readonly kind: 'cpu' | 'webgpu';
  /** Merges one tensor; the result has the element count of `input.shape`. */
  merge(method: MergeMethod, input: MergeTensorInput, signal?: AbortSignal): Promise<Float32Array>;
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
