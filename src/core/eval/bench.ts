// Evaluation speed (Node): tokens per second for scoring (batched prefill) and for greedy
// generation (KV cache) per backend, and the WGSL tiled matmul's GFLOP/s against the naive kernel
// on the same device. Run alone: `npx tsx src/core/eval/bench.ts [MODEL_DIR...]`; `npm run bench`
// can call benchEvalThroughput and benchMatmul.
import { acquireGpu, describeAdapter, type GpuContext } from '../gpu/device.ts';
import { nodeFolderTree } from '../io/node-file.ts';
import { matmulRows } from './cpu.ts';
import { GpuCausalLM } from './gpu.ts';
import { createRuntime, openEvalModel } from './load.ts';
import type { CausalLM, EvalBackend } from './runtime.ts';
import { readHostTensors } from './weights.ts';

export interface ThroughputRow {
  model: string;
  backend: EvalBackend;
  /** Tokens scored per second (prefill over whole texts, log-probabilities of every token). */
  scoringTokensPerSecond: number;
  /** New tokens per second of greedy generation with the KV cache. */
  generationTokensPerSecond: number;
}

export interface MatmulRow {
  device: string;
  shape: [rows: number, inDim: number, outDim: number];
  tiledGflops: number;
  naiveGflops: number;
  cpuGflops: number;
}

const SAMPLE_TEXT = 'Once upon a time, there was a little dog named Max. Max liked to run in the park with his friend Sam.';

async function timeIt(fn: () => Promise<number>, minSeconds: number): Promise<number> {
  let units = 0;
  const started = performance.now();
  do units += await fn(); while ((performance.now() - started) / 1000 < minSeconds);
  return units / ((performance.now() - started) / 1000);
}

async function measure(model: CausalLM, ids: Int32Array, minSeconds: number): Promise<Pick<ThroughputRow, 'scoringTokensPerSecond' | 'generationTokensPerSecond'>> {
  await model.continuationLogProbs(ids.subarray(0, 1), [ids.subarray(1)]); // warm-up (pipelines, caches)
  const scoring = await timeIt(async () => (await model.continuationLogProbs(ids.subarray(0, 1), [ids.subarray(1)]))[0].length, minSeconds);
  const prompt = ids.subarray(0, Math.min(8, ids.length));
  const generation = await timeIt(async () => (await model.generate(prompt, { maxNewTokens: 32 })).length, minSeconds);
  return { scoringTokensPerSecond: scoring, generationTokensPerSecond: generation };
}

/** Scoring and generation throughput of each model on the CPU and (when one is found) the GPU. */
export async function benchEvalThroughput(modelDirs: string[], opts: { minSeconds?: number; gpu?: GpuContext | null; log?: (line: string) => void } = {}): Promise<ThroughputRow[]> {
  const gpu = opts.gpu === undefined ? await acquireGpu().then((r) => (r.ok ? r.gpu : null)) : opts.gpu;
  const rows: ThroughputRow[] = [];
  for (const dir of modelDirs) {
    const files = await openEvalModel(nodeFolderTree(dir));
    const weights = await readHostTensors(files.config, files.tensors, dir);
    const ids = files.tokenizer.encodePrompt(SAMPLE_TEXT).subarray(0, Math.min(64, files.config.maxPositions));
    const backends: [EvalBackend, () => Promise<CausalLM>][] = [['cpu', () => createRuntime(files.config, weights, 'cpu')]];
    if (gpu) backends.push(['webgpu', async () => new GpuCausalLM(gpu, files.config, weights)]);
    for (const [backend, make] of backends) {
      const model = await make();
      try {
        const row = { model: dir, backend, ...(await measure(model, ids, opts.minSeconds ?? 2)) };
        rows.push(row);
        opts.log?.(`${dir} [${backend}] scoring ${row.scoringTokensPerSecond.toFixed(0)} tok/s, generation ${row.generationTokensPerSecond.toFixed(1)} tok/s`);
      } finally {
        model.dispose();
      }
    }
  }
  return rows;
}

/** GFLOP/s of the tiled and naive WGSL matmuls (and the CPU matmul) on one problem size. */
export async function benchMatmul(opts: { rows?: number; inDim?: number; outDim?: number; gpu?: GpuContext; repeats?: number } = {}): Promise<MatmulRow | null> {
  const rows = opts.rows ?? 128, inDim = opts.inDim ?? 256, outDim = opts.outDim ?? 256;
  const gpu = opts.gpu ?? (await acquireGpu().then((r) => (r.ok ? r.gpu : null)));
  const x = Float32Array.from({ length: rows * inDim }, (_, i) => Math.sin(i));
  const w = Float32Array.from({ length: outDim * inDim }, (_, i) => Math.cos(i));
  const flops = 2 * rows * inDim * outDim;
  const y = new Float32Array(rows * outDim);
  const cpuSeconds = await timeIt(async () => { matmulRows(y, x, rows, inDim, w, outDim); return 1; }, 0.5);
  if (!gpu) return null;
  // A throwaway model-less runtime gives access to the same pipelines the forward pass uses.
  const host = new GpuCausalLM(gpu, { modelType: 'llama', hiddenSize: 2, intermediateSize: 2, numLayers: 0, numHeads: 1, numKvHeads: 1, headDim: 2, vocabSize: 1, rmsNormEps: 1e-6, ropeTheta: 10000, ropeScaling: null, maxPositions: 1, tiedEmbeddings: true, qkvBias: false, outputBias: false, qkNorm: false, bosTokenId: null, eosTokenIds: [], slidingWindow: null },
    new Map([['model.embed_tokens.weight', new Float32Array(2)], ['model.norm.weight', new Float32Array(2)]]));
  try {
    const tiled = await host.matmul(x, w, rows, inDim, outDim, 'matmul_tiled', opts.repeats ?? 3);
    const naive = await host.matmul(x, w, rows, inDim, outDim, 'matmul_naive', opts.repeats ?? 3);
    return {
      device: describeAdapter(gpu.capabilities),
      shape: [rows, inDim, outDim],
      tiledGflops: flops / tiled.seconds / 1e9,
      naiveGflops: flops / naive.seconds / 1e9,
      cpuGflops: (flops * cpuSeconds) / 1e9,
    };
  } finally {
    host.dispose();
  }
}

const isMain = typeof process !== 'undefined' && process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const dirs = process.argv.slice(2);
  const log = (line: string) => process.stdout.write(`${line}\n`);
  await benchEvalThroughput(dirs.length > 0 ? dirs : ['public/zoo/stories260K'], { log });
  const mm = await benchMatmul();
  log(mm ? `matmul ${mm.shape.join('x')} on ${mm.device}: tiled ${mm.tiledGflops.toFixed(3)} GFLOP/s, naive ${mm.naiveGflops.toFixed(3)} GFLOP/s (CPU TypeScript ${mm.cpuGflops.toFixed(3)} GFLOP/s)` : 'matmul: no WebGPU device');
  process.exit(0);
}
