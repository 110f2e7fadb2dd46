/** A quick end-to-end check that the GPU path agrees with the CPU: every one of the 65536 bf16 bit
 * patterns through the unpack kernel, compared bit for bit with the CPU decoder. The studio runs it
 * on demand and the browser tests assert it. */
import type { KernelRunner } from './runner.ts';
import { decode16OnGpu } from './convert.ts';
import { decodeToF32 } from '../dtype.ts';

export interface GpuSelfTestResult {
  passed: boolean;
  checked: number;
  mismatches: number;
  /** First differing pattern, as hex bits (GPU vs CPU), when any. */
  firstMismatch?: { pattern: number; gpuBits: number; cpuBits: number };
  milliseconds: number;
}

export async function runBf16SelfTest(runner: KernelRunner): Promise<GpuSelfTestResult> {
  const started = performance.now();
  const patterns = new Uint16Array(65536).map((_, i) => i);
  const bytes = new Uint8Array(patterns.buffer);
  const gpu = new Uint32Array((await decode16OnGpu(runner, bytes, 'BF16')).buffer);
  const cpu = new Uint32Array(decodeToF32(bytes, 'BF16').buffer);
  let mismatches = 0;
  let firstMismatch: GpuSelfTestResult['firstMismatch'];
  for (let i = 0; i < cpu.length; i++) {
    if (gpu[i] === cpu[i]) continue;
    mismatches++;
    firstMismatch ??= { pattern: i, gpuBits: gpu[i], cpuBits: cpu[i] };
  }
  return { passed: mismatches === 0 && gpu.length === cpu.length, checked: cpu.length, mismatches, firstMismatch, milliseconds: performance.now() - started };
}
