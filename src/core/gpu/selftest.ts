/** Quick end-to-end checks that the GPU path agrees with the CPU, for the studio's "GPU self-test"
 * and the browser tests: every one of the 65536 bf16 bit patterns through the unpack kernel (bit
 * for bit), and a few merge methods on synthetic tensors against their CPU references. */
import type { KernelRunner } from './runner.ts';
import { decode16OnGpu } from './convert.ts';
import { WebGpuMergeBackend } from './merge/backend.ts';
import { decodeToF32 } from '../dtype.ts';
import { getMethod } from '../methods/index.ts';
import type { MergeTensorInput } from '../methods/types.ts';

export interface SelfTestCheck {
  name: string;
  passed: boolean;
  detail: string;
}

export interface GpuSelfTestResult {
  passed: boolean;
  checks: SelfTestCheck[];
  milliseconds: number;
}

async function bf16UnpackCheck(runner: KernelRunner): Promise<SelfTestCheck> {
  const patterns = new Uint16Array(65536).map((_, i) => i);
  const bytes = new Uint8Array(patterns.buffer);
  const gpu = new Uint32Array((await decode16OnGpu(runner, bytes, 'BF16')).buffer);
  const cpu = new Uint32Array(decodeToF32(bytes, 'BF16').buffer);
  let mismatches = 0;
  let first = -1;
  for (let i = 0; i < cpu.length; i++) {
    if (gpu[i] === cpu[i]) continue;
    mismatches++;
    if (first < 0) first = i;
  }
  const passed = mismatches === 0 && gpu.length === cpu.length;
  return {
    name: 'bf16 unpack',
    passed,
    detail: passed ? `${cpu.length} bf16 patterns identical to the CPU` : `${mismatches} of ${cpu.length} patterns differ (first 0x${first.toString(16)})`,
  };
}

/** Deterministic pseudo-random normal-ish values (sum of uniforms), so runs are reproducible. */
function syntheticTensor(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
  return Float32Array.from({ length: n }, () => next() + next() + next() - 1.5);
}

async function mergeCheck(backend: WebGpuMergeBackend, method: string, input: MergeTensorInput): Promise<SelfTestCheck> {
  const cpu = getMethod(method).mergeCpu(input);
  const out = await backend.mergeTensor(method, input);
  const gpu = out.dtype === 'F32' ? out.values : new Float32Array(0);
  let worst = gpu.length === cpu.length ? 0 : Infinity;
  let scale = 1;
  for (let j = 0; j < cpu.length && worst !== Infinity; j++) {
    const d = Math.abs(gpu[j] - cpu[j]);
    if (!(d <= worst)) worst = d;
    scale = Math.max(scale, Math.abs(cpu[j]));
  }
  const passed = worst <= 1e-5 * scale;
  return { name: `${method} merge`, passed, detail: `max |GPU - CPU| = ${worst.toExponential(2)} on ${cpu.length} values` };
}

export async function runGpuSelfTest(runner: KernelRunner): Promise<GpuSelfTestResult> {
  const started = performance.now();
  const backend = new WebGpuMergeBackend(runner);
  const shape = [96, 80];
  const n = shape[0] * shape[1];
  const base = syntheticTensor(n, 1);
  const models = [2, 3, 4].map((seed) => {
    const noise = syntheticTensor(n, seed);
    return base.map((b, j) => b + 0.3 * noise[j]);
  });
  const common = { tensorName: 'selftest.weight', shape, base, seed: 7 };
  const checks = [
    await bf16UnpackCheck(runner),
    await mergeCheck(backend, 'ties', {
      ...common, models, modelIndices: [0, 1, 2], global: { normalize: true },
      modelParams: [{ weight: 0.5, density: 0.4 }, { weight: 0.3, density: 0.6 }, { weight: 0.2, density: 0.5 }],
    }),
    await mergeCheck(backend, 'dare_linear', {
      ...common, models: models.slice(0, 2), modelIndices: [0, 1], global: {},
      modelParams: [{ weight: 0.6, density: 0.5 }, { weight: 0.4, density: 0.5 }],
    }),
    await mergeCheck(backend, 'slerp', { ...common, models: [models[0]], modelIndices: [0], global: { t: 0.3 }, modelParams: [{}] }),
  ];
  return { passed: checks.every((c) => c.passed), checks, milliseconds: performance.now() - started };
}
