/** Throughput of each method's CPU reference on synthetic tensors (for `npm run bench`).
 * Input GB/s = bytes of the tensors the method reads / median seconds, like the golden README's
 * table of mergekit's speed, so the two can be compared side by side. */
import { METHODS } from './index.ts';
import type { MergeTensorInput, ParamValue } from './types.ts';
import { mix32 } from './random.ts';
import { throwIfAborted, type ProgressCallback } from '../progress.ts';

export interface MethodBenchOptions {
  rows?: number;
  cols?: number;
  /** Non-base models for methods that take any number (default 3). */
  models?: number;
  methods?: string[];
  /** Timed runs per method after one warm-up; the median is reported. */
  repeats?: number;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
}

export interface MethodBenchRow {
  method: string;
  models: number;
  withBase: boolean;
  inputBytes: number;
  medianSeconds: number;
  inputGBps: number;
  /** Median CPU seconds of this process (Node only): unlike wall time, it does not count time the
   * thread waited for a core on a shared machine. */
  medianCpuSeconds?: number;
}

/** How many non-base models each method is benchmarked with, when fixed, and its parameters. */
const SETUPS: Record<string, { models?: number; global?: Record<string, ParamValue>; model?: Record<string, ParamValue> }> = {
  linear: { model: { weight: 0.5 } },
  task_arithmetic: { model: { weight: 0.5 } },
  ties: { model: { weight: 0.5, density: 0.5 } },
  dare_ties: { model: { weight: 0.5, density: 0.5 } },
  dare_linear: { model: { weight: 0.5, density: 0.5 } },
  breadcrumbs: { model: { weight: 0.5, density: 0.5, gamma: 0.01 } },
  breadcrumbs_ties: { model: { weight: 0.5, density: 0.5, gamma: 0.01 } },
  della: { model: { weight: 0.5, density: 0.5, epsilon: 0.1 } },
  della_linear: { model: { weight: 0.5, density: 0.5, epsilon: 0.1 } },
  slerp: { models: 1, global: { t: 0.5 } },
  nuslerp: { models: 2, model: { weight: 0.5 } },
  multislerp: { model: { weight: 0.5 } },
  karcher: {},
  model_stock: {},
  nearswap: { models: 1, global: { t: 0.01 } },
  sce: { global: { select_topk: 0.5 } },
  arcee_fusion: { models: 1 },
  ram: {},
  ramplus_tl: {},
  passthrough: { models: 1 },
};

/** Deterministic correlated test tensors: m_i = base + 0.3 shared + 0.3 noise_i (uniform noise). */
function syntheticTensors(n: number, count: number): { base: Float32Array; models: Float32Array[] } {
  const noise = (stream: number, i: number) => (mix32(stream ^ i) / 2 ** 32 - 0.5) * 3.46;
  const base = new Float32Array(n);
  for (let i = 0; i < n; i++) base[i] = noise(0x1234567, i);
  const models = Array.from({ length: count }, (_, m) => {
    const t = new Float32Array(n);
    const stream = mix32(m + 1);
    for (let i = 0; i < n; i++) t[i] = base[i] + 0.3 * noise(0x7654321, i) + 0.3 * noise(stream, i);
    return t;
  });
  return { base, models };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

type CpuClock = () => number;
const cpuClock: CpuClock | undefined = (() => {
  const usage = (globalThis as { process?: { cpuUsage?: () => { user: number; system: number } } }).process?.cpuUsage;
  return usage ? () => { const u = usage(); return (u.user + u.system) / 1e6; } : undefined;
})();

/** Median wall and CPU seconds of `run` over `repeats` timed runs after one warm-up. */
function timeIt(run: () => void, repeats: number): { wall: number; cpu?: number } {
  run();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const cpuStart = cpuClock?.() ?? 0;
    const start = performance.now();
    run();
    wall.push((performance.now() - start) / 1000);
    if (cpuClock) cpu.push(cpuClock() - cpuStart);
  }
  return { wall: median(wall), cpu: cpuClock ? median(cpu) : undefined };
}

function row(method: string, models: number, withBase: boolean, inputBytes: number, t: { wall: number; cpu?: number }): MethodBenchRow {
  return { method, models, withBase, inputBytes, medianSeconds: t.wall, inputGBps: inputBytes / t.wall / 1e9, medianCpuSeconds: t.cpu };
}

/** Memory bandwidth reference: copying one tensor into a preallocated one. */
export function benchMemcpy(rows = 4096, cols = 4096, repeats = 3): MethodBenchRow {
  const src = new Float32Array(rows * cols).fill(1);
  const dst = new Float32Array(rows * cols);
  return row('memcpy', 1, false, src.byteLength, timeIt(() => dst.set(src), repeats));
}

export function benchMethods(options: MethodBenchOptions = {}): MethodBenchRow[] {
  const { rows = 4096, cols = 4096, models: modelCount = 3, repeats = 3, signal, onProgress } = options;
  const names = options.methods ?? Object.keys(METHODS);
  const n = rows * cols;
  const data = syntheticTensors(n, modelCount);
  const results: MethodBenchRow[] = [];
  names.forEach((name, done) => {
    throwIfAborted(signal);
    onProgress?.({ phase: 'bench methods', done, total: names.length, message: name });
    const method = METHODS[name];
    const setup = SETUPS[name] ?? {};
    const count = setup.models ?? modelCount;
    const withBase = method.base !== 'none';
    const input: MergeTensorInput = {
      tensorName: 'model.layers.0.mlp.down_proj.weight',
      shape: [rows, cols],
      models: data.models.slice(0, count),
      modelParams: Array.from({ length: count }, () => ({ ...setup.model })),
      modelIndices: Array.from({ length: count }, (_, i) => i),
      base: withBase ? data.base : undefined,
      global: { ...setup.global },
      seed: 0,
    };
    const inputBytes = (count + (withBase ? 1 : 0)) * n * 4;
    // Into a preallocated output, as the engine does when streaming tensor after tensor.
    const out = new Float32Array(n);
    results.push(row(name, count, withBase, inputBytes, timeIt(() => method.mergeCpu({ ...input, out }), repeats)));
  });
  onProgress?.({ phase: 'bench methods', done: names.length, total: names.length });
  return results;
}
