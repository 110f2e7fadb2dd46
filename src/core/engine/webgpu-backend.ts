// The engine's MergeBackend on WebGPU: a thin adapter over the GPU merge code (src/core/gpu/merge),
// so exports and in-memory merges run on the GPU exactly as they do on the CPU.
import { decodeToF32 } from '../dtype.ts';
import { requireGpu, type AcquireOptions } from '../gpu/device.ts';
import { WebGpuMergeBackend } from '../gpu/merge/backend.ts';
import { KernelRunner } from '../gpu/runner.ts';
import type { MergeBackend } from './backend.ts';

/** Acquires a device (browser or Dawn in Node); fails with GpuUnavailableError naming the reason. */
export async function createWebGpuBackend(options: AcquireOptions = {}): Promise<MergeBackend> {
  const runner = new KernelRunner(await requireGpu(options));
  const gpu = new WebGpuMergeBackend(runner);
  return {
    kind: 'webgpu',
    async merge(method, input, signal) {
      const out = await gpu.mergeTensor(method.name, input, { signal });
      return out.dtype === 'F32' ? out.values : decodeToF32(out.bytes, out.dtype);
    },
    dispose: () => runner.dispose(),
  };
}
