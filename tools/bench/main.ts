// `npm run bench`: speed and memory tables for the merge engine and the evaluator, measured side by
// side in one run on this machine (CPU path, and WebGPU through Dawn when an adapter is found).
// Options: --quick (small tensors, short runs), --skip-cli, --skip-memory, --skip-gpu, --skip-eval, --skip-search, --skip-all-methods,
// --size N (merge tensors N x N), --methods a,b (merge-throughput rows), --skip-finite-check (merge rows without the
// engine's NaN/Inf check of each merged tensor, to measure what it costs).
// --skip-e2e skips the "CLI end to end" section (tools/bench/e2e.ts: merges of the real-shaped families where they are
// already generated; its own options are listed there), --only-e2e runs only it.
// --only-live runs only the "live loop" section (tools/bench/live.ts; --live-realshape adds a reduced
// Qwen2.5-0.5B-shaped family, --live-layers N its layers), --skip-live skips it. --live-studio adds the same loop in
// the studio in Chromium (tools/bench/studio-live.ts as a child: --live-studio-layers N|all, --live-items N; needs
// `npm run build`).
// --real-size runs only the real-size section (tools/bench/realsize.ts: GBs of generated models, never by default).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { benchMemcpy, benchMethods, type MethodBenchRow } from '../../src/core/methods/bench.ts';
import { METHODS } from '../../src/core/methods/index.ts';
import { ReusableArrays } from '../../src/core/methods/scratch.ts';
import { mix32 } from '../../src/core/methods/random.ts';
import type { ParamValue } from '../../src/core/methods/types.ts';
import type { TileSource } from '../../src/core/simd/tiles.ts';
import type { TileSink } from '../../src/core/simd/merge-tiles.ts';
import { decodeToF32, encodeFromF32 } from '../../src/core/dtype.ts';
import { acquireGpu, describeAdapter, type GpuContext } from '../../src/core/gpu/device.ts';
import { KernelRunner } from '../../src/core/gpu/runner.ts';
import { WebGpuMergeBackend, type TensorData } from '../../src/core/gpu/merge/backend.ts';
import { benchStreamingMerge } from '../../src/core/engine/bench.ts';
import { mergeElementwiseSlices, type StoredSlice } from '../../src/core/engine/elementwise.ts';
import { bytesAreFinite, valuesAreFinite } from '../../src/core/engine/finite.ts';
import { benchEvalThroughput, benchMatmul } from '../../src/core/eval/bench.ts';
import { benchSearchThroughput } from './search.ts';
import { benchCliStartup } from './cli.ts';
import { realSizeSection } from './realsize.ts';
import { e2eSection } from './e2e.ts';
import { liveLoopSection } from './live.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const sizeArg = args.indexOf('--size');
const size = sizeArg >= 0 ? Number(args[sizeArg + 1]) : quick ? 1024 : 4096;
const log = (line: string) => process.stderr.write(`${line}\n`);
/** The engine checks every merged tensor for NaN/Inf; --skip-finite-check measures what that costs. */
const finiteCheck = !args.includes('--skip-finite-check');

/** mergekit's own math on this machine class (shared/golden/README.md, idle run): input GB/s over
 * WALL seconds of `task.execute()` with torch.set_num_threads(2) on the 2-core box. Its CPU time
 * was not recorded; with two threads it lies between 1x and 2x the wall time. */
const MERGEKIT_GBPS: Record<string, { f32: number; bf16: number }> = {
  task_arithmetic: { f32: 1.13, bf16: 0.89 },
  ties: { f32: 0.036, bf16: 0.036 },
  dare_ties: { f32: 0.12, bf16: 0.089 },
  slerp: { f32: 1.44, bf16: 0.46 },
  linear: { f32: 1.31, bf16: 0.99 },
};

const BENCH_METHODS = ['linear', 'task_arithmetic', 'ties', 'dare_ties', 'slerp', 'model_stock'];
const methodsArg = args.indexOf('--methods');
const methodsToBench = methodsArg >= 0 ? args[methodsArg + 1].split(',') : BENCH_METHODS;
const SETUPS: Record<string, { models: number; global?: Record<string, ParamValue>; model?: Record<string, ParamValue> }> = {
  linear: { models: 3, model: { weight: 0.5 } },
  task_arithmetic: { models: 3, model: { weight: 0.5 } },
  ties: { models: 3, model: { weight: 0.5, density: 0.5 } },
  dare_ties: { models: 3, model: { weight: 0.5, density: 0.5 } },
  slerp: { models: 1, global: { t: 0.5 } },
  model_stock: { models: 3 },
};

function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => r[c].length)));
  const line = (r: string[]) => `| ${r.map((v, c) => v.padEnd(widths[c])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

function syntheticF32(n: number, stream: number, base?: Float32Array): Float32Array {
  const t = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const noise = (mix32(stream ^ mix32(i)) / 2 ** 32 - 0.5) * 3.46;
    t[i] = base ? base[i] + 0.3 * noise : noise;
  }
  return t;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

type CpuClock = () => number;
/** Seconds of CPU this process used: on a shared machine it does not count time spent waiting for a core. */
const cpuSeconds: CpuClock = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

interface Rate {
  /** Input GB/s over median wall seconds. */
  wall: number;
  /** Input GB/s over median CPU seconds of this process. */
  cpu: number;
}

async function timeRate(run: () => Promise<void> | void, repeats: number, inputBytes: number): Promise<Rate> {
  await run();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const c0 = cpuSeconds();
    const t0 = performance.now();
    await run();
    wall.push((performance.now() - t0) / 1000);
    cpu.push(cpuSeconds() - c0);
  }
  return { wall: inputBytes / median(wall) / 1e9, cpu: inputBytes / median(cpu) / 1e9 };
}

/** One method over (models + base) tensors of n elements, stored as `dtype`, on the CPU path or the
 * WebGPU backend. The CPU path does what the engine's streaming export does per tensor (minus
 * disk I/O): elementwise methods run the engine's tile loop straight from the stored bytes;
 * methods with a tile path (mergeTiles) read the stored bytes whole-tensor, tile by tile, into a
 * reused output; the others view f32 inputs in place or decode bf16 into reused buffers. Both
 * use reused scratch and encode bf16 into reused bytes. */
async function benchOne(method: string, n: number, dtype: 'F32' | 'BF16', backend: 'cpu' | WebGpuMergeBackend, repeats: number): Promise<Rate> {
  const setup = SETUPS[method];
  const withBase = METHODS[method].base !== 'none';
  const base = syntheticF32(n, 0x51ed);
  const models = Array.from({ length: setup.models }, (_, m) => syntheticF32(n, mix32(m + 7), base));
  const stored = (t: Float32Array): TensorData => (dtype === 'F32' ? t : { dtype: 'BF16', bytes: encodeFromF32(t, 'BF16') });
  const inputs = { models: models.map(stored), base: withBase ? stored(base) : undefined };
  const shape = [n / size, size];
  const common = {
    tensorName: 'model.layers.0.mlp.down_proj.weight',
    shape,
    modelParams: models.map(() => ({ ...setup.model })),
    modelIndices: models.map((_, i) => i),
    global: { ...setup.global },
    seed: 0,
  };
  const inputBytes = (models.length + (withBase ? 1 : 0)) * n * (dtype === 'F32' ? 4 : 2);
  if (backend !== 'cpu') {
    return timeRate(async () => {
      await backend.mergeTensor(method, { ...common, ...inputs }, { outDType: dtype });
    }, repeats, inputBytes);
  }
  const buffers = new ReusableArrays();
  const scratch = new ReusableArrays();
  const encoded = new Uint8Array(n * (dtype === 'F32' ? 4 : 2));
  const bytesOf = (t: TensorData | undefined) => (t as { bytes: Uint8Array }).bytes;
  if (METHODS[method].elementwise) {
    const slice = (t: TensorData): StoredSlice => (t instanceof Float32Array ? { bytes: new Uint8Array(t.buffer, t.byteOffset, t.byteLength), dtype: 'F32' } : { bytes: bytesOf(t), dtype: 'BF16' });
    const models = inputs.models.map(slice);
    const base = inputs.base ? slice(inputs.base) : undefined;
    return timeRate(() => {
      const out = mergeElementwiseSlices(METHODS[method], common, models, base, n, dtype, encoded, buffers);
      if (finiteCheck && !bytesAreFinite(out, dtype)) throw new Error(`${method}: non-finite output`);
    }, repeats, inputBytes);
  }
  const tiled = METHODS[method].mergeTiles;
  if (tiled) {
    // As the engine does for whole F32/BF16 tensors: the method reads the stored bytes tile by tile.
    const sources: TileSource[] = inputs.models.map((t) => (t instanceof Float32Array ? { values: t } : { bytes: bytesOf(t), dtype: 'BF16' }));
    const baseSource: TileSource | undefined = inputs.base ? (inputs.base instanceof Float32Array ? { values: inputs.base } : { bytes: bytesOf(inputs.base), dtype: 'BF16' }) : undefined;
    const placeholders = models.map(() => new Float32Array(0));
    // F32 out: into a reused output array (the engine writes its bytes); BF16: encoded tile by tile.
    const out: TileSink = dtype === 'F32' ? { values: buffers.get('output', n) } : { bytes: encoded, dtype: 'BF16' };
    return timeRate(() => {
      tiled({ ...common, models: placeholders, scratch }, sources, baseSource, n, out);
      if (finiteCheck && !('values' in out ? valuesAreFinite(out.values) : bytesAreFinite(out.bytes, out.dtype))) throw new Error(`${method}: non-finite output`);
    }, repeats, inputBytes);
  }
  return timeRate(() => {
    let decoded = models;
    let decodedBase = withBase ? base : undefined;
    if (dtype === 'BF16') {
      decoded = inputs.models.map((t, i) => decodeToF32(bytesOf(t), 'BF16', buffers.get(`model${i}`, n)));
      decodedBase = withBase ? decodeToF32(bytesOf(inputs.base), 'BF16', buffers.get('base', n)) : undefined;
    }
    const values = METHODS[method].mergeCpu({ ...common, models: decoded, base: decodedBase, out: buffers.get('output', n), scratch });
    if (finiteCheck && !valuesAreFinite(values)) throw new Error(`${method}: non-finite output`);
    if (dtype === 'BF16') encodeFromF32(values, 'BF16', encoded);
  }, repeats, inputBytes);
}

async function mergeSection(gpu: GpuContext | null): Promise<void> {
  const n = size * size;
  log(`merge methods: 3 models + base of ${size}x${size} (slerp: base + 1 model)`);
  const memcpy = benchMemcpy(size, size, 5);
  const memcpyCpu = memcpy.inputBytes / (memcpy.medianCpuSeconds ?? memcpy.medianSeconds) / 1e9;
  const gpuBackend = gpu ? new WebGpuMergeBackend(new KernelRunner(gpu)) : null;
  const rows: (string | number)[][] = [];
  const fmt = (x: number | undefined) => (x === undefined ? '—' : x < 0.1 ? x.toFixed(3) : x.toFixed(2));
  for (const method of methodsToBench) {
    for (const dtype of ['F32', 'BF16'] as const) {
      log(`  ${method} ${dtype} ...`);
      const cpu = await benchOne(method, n, dtype, 'cpu', 3);
      const gpuRate = gpuBackend ? await benchOne(method, n, dtype, gpuBackend, 1) : undefined;
      const mk = MERGEKIT_GBPS[method]?.[dtype === 'F32' ? 'f32' : 'bf16'];
      // Like for like: our wall against mergekit's wall; per CPU-second, mergekit's figure is
      // between its wall figure (one thread busy) and twice it (both threads busy), so ours over
      // it is a range.
      const cpuRange = mk ? `${(cpu.cpu / (2 * mk)).toFixed(1)}-${(cpu.cpu / mk).toFixed(1)}x` : '—';
      rows.push([method, dtype.toLowerCase(), fmt(cpu.cpu), fmt(cpu.wall), fmt(gpuRate?.wall), mk === undefined ? '—' : mk.toFixed(3), mk ? `${(cpu.wall / mk).toFixed(1)}x` : '—', cpuRange, `${((100 * cpu.cpu) / memcpyCpu).toFixed(0)}%`]);
    }
  }
  console.log(`\n### Merge throughput (input GB/s; ${size}x${size}; memcpy on this machine: ${memcpyCpu.toFixed(2)} GB/s per CPU-second, ${memcpy.inputGBps.toFixed(2)} wall)\n`);
  console.log(table(['method', 'dtype', 'CPU path (CPU time, 1 thread)', 'CPU path (wall, 1 thread)', gpu ? 'WebGPU (wall)' : 'WebGPU (none)', 'mergekit (wall, 2 threads, idle; golden README)', 'wall vs mergekit wall', 'CPU time vs mergekit CPU time (range)', 'of memcpy'], rows));
  console.log(`\n(every CPU-path run includes the finite-output check on the merged tensor${finiteCheck ? '' : ': OFF in this run (--skip-finite-check)'})`);
  if (gpu) console.log(`\nWebGPU adapter: ${describeAdapter(gpu.capabilities)}`);
}

async function allMethodsSection(): Promise<void> {
  const rows = benchMethods({ rows: quick ? 512 : 2048, cols: quick ? 512 : 2048, repeats: quick ? 1 : 3 });
  console.log(`\n### Every method's CPU reference (f32, ${quick ? 512 : 2048}x${quick ? 512 : 2048}, input GB/s)\n`);
  const perCpuSecond = (r: MethodBenchRow) => (r.medianCpuSeconds ? (r.inputBytes / r.medianCpuSeconds / 1e9).toFixed(3) : '—');
  console.log(table(['method', 'models', 'base', 'median wall s', 'input GB/s (wall)', 'input GB/s (CPU time)'], rows.map((r: MethodBenchRow) => [r.method, r.models, r.withBase ? 'yes' : 'no', r.medianSeconds.toFixed(4), r.inputGBps.toFixed(3), perCpuSecond(r)])));
}

async function memorySection(): Promise<void> {
  // A 1B-class Llama shape: lm_head and embeddings are 262 MB each as f32.
  const r = await benchStreamingMerge({ inputGB: quick ? 0.3 : 2.2, hidden: 2048, intermediate: 5632, vocab: 32000, log });
  const MB = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
  console.log('\n### Streaming export memory (task_arithmetic of 3 synthetic bf16 Llama models, disk to disk)\n');
  console.log(table(['input', 'seconds (wall)', 'input GB/s', 'largest tensor (f32)', '(models+1) x largest', 'RSS before merge', 'peak RSS'], [[`${(r.inputBytes / 1e9).toFixed(2)} GB`, r.seconds.toFixed(1), r.inputGBps.toFixed(3), MB(r.largestTensorBytesF32), MB(r.streamingBoundBytes), MB(r.baselineRssBytes), MB(r.peakRssBytes)]]));
}

async function searchSection(): Promise<void> {
  const zoo = join(process.cwd(), 'public', 'zoo');
  if (!existsSync(join(zoo, 'tiny-llama', 'base'))) {
    log('search throughput: public/zoo/tiny-llama missing, skipped');
    return;
  }
  const trials = quick ? 12 : 40;
  const rows = await benchSearchThroughput(zoo, trials, log);
  console.log(`\n### Search throughput (tiny-llama reverse + caesar, two exact-match tasks, forest optimizer, Hyperband; CPU merge + CPU evaluation; ${trials} trials per space)\n`);
  console.log(table(['space', 'fidelity', 'trials', 'seconds', 'trials/min'], rows.map((r) => [r.space, r.fidelity, r.trials, r.seconds.toFixed(1), r.trialsPerMinute.toFixed(1)])));
}

async function evalSection(gpu: GpuContext | null): Promise<void> {
  const zoo = join(process.cwd(), 'public', 'zoo');
  const dirs: string[] = [];
  for (const family of ['tiny-llama', 'tiny-qwen2']) {
    const dir = join(zoo, family);
    if (existsSync(dir)) {
      const models = readdirSync(dir).filter((m) => existsSync(join(dir, m, 'config.json')));
      if (models.length) dirs.push(join(dir, models.includes('base') ? 'base' : models[0]));
    }
  }
  if (existsSync(join(zoo, 'stories260K'))) dirs.push(join(zoo, 'stories260K'));
  const rows = await benchEvalThroughput(dirs, { gpu, minSeconds: quick ? 0.5 : 2, log });
  console.log('\n### Evaluation throughput (tokens/s)\n');
  console.log(table(['model', 'backend', 'scoring tok/s', 'generation tok/s'], rows.map((r) => [r.model.replace(`${process.cwd()}/`, ''), r.backend, r.scoringTokensPerSecond.toFixed(0), r.generationTokensPerSecond.toFixed(0)])));
  if (gpu) {
    const m = await benchMatmul({ gpu });
    if (m) {
      console.log('\n### Matmul kernel (GFLOP/s)\n');
      console.log(table(['device', 'shape (rows x in x out)', 'tiled WGSL', 'naive WGSL', 'CPU (TS)'], [[m.device, m.shape.join(' x '), m.tiledGflops.toFixed(2), m.naiveGflops.toFixed(2), m.cpuGflops.toFixed(2)]]));
    }
  }
}

function cliSection(): void {
  console.log('\n## CLI start-up: `merge-studio inspect public/zoo/tiny-llama/base`, fresh process each run (target < 0.3 s)\n');
  const rows = benchCliStartup(process.cwd());
  console.log(table(['CLI from', 'runs', 'median s', 'min s'], rows.map((r) => [r.mode, r.runs, r.medianSeconds.toFixed(3), r.minSeconds.toFixed(3)])));
}

/** "CLI end to end", with the merge-math bound from this file's CPU-path code (bf16, size x size). */
async function endToEndSection(): Promise<void> {
  await e2eSection({ root: process.cwd(), args, log, table, mathGBps: async (method) => (await benchOne(method, size * size, 'BF16', 'cpu', 3)).wall });
}

if (args.includes('--only-e2e')) {
  console.log(`# Merge Studio bench, CLI end to end — ${new Date().toISOString()}, ${process.platform}/${process.arch}, node ${process.version}`);
  await endToEndSection();
  process.exit(0);
}
if (args.includes('--real-size')) {
  console.log(`# Merge Studio bench, real size — ${new Date().toISOString()}, ${process.platform}/${process.arch}, node ${process.version}`);
  await realSizeSection({ root: process.cwd(), args, log, table });
  process.exit(0);
}
const acquired = args.includes('--skip-gpu') ? null : await acquireGpu();
const gpu = acquired && acquired.ok ? acquired.gpu : null;
if (acquired && !acquired.ok) log(`no WebGPU adapter (${acquired.reason}); GPU columns stay empty`);
/** The live loop in the studio (Chromium), run as a child: its table goes straight to stdout. */
async function studioLiveSection(): Promise<void> {
  const { spawn } = await import('node:child_process');
  const pass = (flag: string, as: string) => (args.includes(flag) ? [as, args[args.indexOf(flag) + 1]] : []);
  const argv = ['--import', 'tsx', join(process.cwd(), 'tools/bench/studio-live.ts'), '--studio-live', ...pass('--live-studio-layers', '--layers'), ...pass('--live-items', '--items')];
  const code = await new Promise<number | null>((resolve) => spawn(process.execPath, argv, { stdio: 'inherit' }).on('exit', resolve));
  if (code !== 0) log(`live loop in the studio: the Chromium run failed (exit ${code})`);
}

if (args.includes('--only-live')) {
  console.log(`# Merge Studio bench, live loop — ${new Date().toISOString()}, ${process.platform}/${process.arch}, node ${process.version}`);
  if (!gpu) throw new Error('the live loop section needs a WebGPU adapter');
  await liveLoopSection({ root: process.cwd(), args, gpu, log, table });
  if (args.includes('--live-studio')) await studioLiveSection();
  process.exit(0);
}
console.log(`# Merge Studio bench — ${new Date().toISOString()}, ${process.platform}/${process.arch}, node ${process.version}`);
// Memory first: peak RSS is the process's lifetime maximum, which the other sections' full-size
// test tensors would otherwise set.
if (!args.includes('--skip-memory')) await memorySection();
await mergeSection(gpu);
if (!args.includes('--skip-all-methods')) await allMethodsSection();
if (!args.includes('--skip-eval')) await evalSection(gpu);
if (!args.includes('--skip-search')) await searchSection();
if (!args.includes('--skip-cli')) cliSection();
if (gpu && !args.includes('--skip-live')) await liveLoopSection({ root: process.cwd(), args, gpu, log, table });
if (args.includes('--live-studio')) await studioLiveSection();
if (!args.includes('--skip-e2e')) await endToEndSection();
gpu?.device.destroy();
