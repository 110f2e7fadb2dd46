// The engine's MergeBackend on WebGPU: a thin adapter over the GPU merge code (src/core/gpu/merge),
// so exports and in-memory merges run on the GPU exactly as they do on the CPU. Exports stream:
// inputs are read slice by slice as the GPU's chunks need them and the output leaves chunk by
// chunk, so no whole-tensor host buffer exists (see mergeStreamed).
import { decodeToF32 } from '../dtype.ts';
import { requireGpu, type AcquireOptions } from '../gpu/device.ts';
import { WebGpuMergeBackend } from '../gpu/merge/backend.ts';
import { KernelRunner } from '../gpu/runner.ts';
import type { MergeBackend } from './backend.ts';

/** Turns a producer that pushes values (awaiting each push) into an async iterable that pulls
 * them: the producer waits until the consumer asks for the next value, so at most one value is in
 * flight. Ending the iteration early (an error downstream) makes the pending push reject, which
 * ends the producer. */
export async function* pulled<T>(produce: (push: (value: T) => Promise<void>) => Promise<void>): AsyncGenerator<T> {
  let waiting: { value: T; taken: () => void; dropped: (err: Error) => void } | undefined;
  let wake: (() => void) | undefined;
  let finished = false;
  let failure: { error: unknown } | undefined;
  let closed = false;
  const push = (value: T) =>
    new Promise<void>((taken, dropped) => {
      if (closed) return dropped(new Error('the consumer stopped reading'));
      waiting = { value, taken, dropped };
      wake?.();
    });
  const running = produce(push).then(
    () => void (finished = true),
    (error: unknown) => void ((failure = { error }), (finished = true)),
  ).finally(() => wake?.());
  try {
    for (;;) {
      if (!waiting && !finished) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      if (waiting) {
        const item = waiting;
        waiting = undefined;
        yield item.value;
        item.taken();
        continue;
      }
      if (failure) throw failure.error;
      return;
    }
  } finally {
    closed = true;
    waiting?.dropped(new Error('the consumer stopped reading'));
    // Let the producer unwind (release its GPU buffers) before the caller goes on.
    await running;
  }
}

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
    mergeStreamed(method, input, outDType, { chunkBytes, signal }) {
      return pulled<Uint8Array>((push) =>
        gpu.mergeTensorInto(method.name, input, (_start, data) => push(data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)), { outDType, signal, chunkBytes }),
      );
    },
    dispose: () => runner.dispose(),
  };
}
