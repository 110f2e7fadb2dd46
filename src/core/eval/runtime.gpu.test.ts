// The WebGPU runtime against llama2.c's run.c (stories260K) and against the CPU runtime, plus the
// tiled matmul against the naive kernel and against the CPU matmul.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFromF32 } from '../dtype.ts';
import { requireGpu, type GpuContext } from '../gpu/device.ts';
import { nodeFolderTree } from '../io/node-file.ts';
import { CpuCausalLM, matmulRows } from './cpu.ts';
import { GpuCausalLM } from './gpu.ts';
import { loadArchFixture, maxDiffToRows } from './fixtures/arch-fixtures.ts';
import { openEvalModel, type EvalModelFiles } from './load.ts';
import { hostTensorToF32, readHostTensors, type HostTensor } from './weights.ts';

const DIR = 'public/zoo/stories260K';
const ref = JSON.parse(readFileSync(`${DIR}/reference.json`, 'utf8')) as {
  prompts: { prompt: string; input_ids: number[]; greedy_ids: number[]; logits_first_step: number[] }[];
  ppl: { input_ids: number[]; perplexity: number };
};

let gpu: GpuContext;
let files: EvalModelFiles;
let host: Map<string, HostTensor>;
let model: GpuCausalLM;
beforeAll(async () => {
  gpu = await requireGpu();
  files = await openEvalModel(nodeFolderTree(DIR));
  host = await readHostTensors(files.config, files.tensors, DIR);
  model = new GpuCausalLM(gpu, files.config, host);
});
afterAll(() => model?.dispose());

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('stories260K on WebGPU vs llama2.c run.c', () => {
  it('first-step logits agree within 1e-4 for every prompt', async () => {
    for (const p of ref.prompts) {
      const all = await model.logits(Int32Array.from(p.input_ids));
      expect(maxDiff(all.subarray((p.input_ids.length - 1) * 512), p.logits_first_step), p.prompt).toBeLessThan(1e-4);
    }
  });

  it('greedy generation with the GPU KV cache reproduces run.c (all 50 tokens of the first prompt)', async () => {
    const p = ref.prompts[0];
    const out = await model.generate(Int32Array.from(p.input_ids), { maxNewTokens: 50, stopIds: [1, 2] });
    expect(out).toEqual(p.greedy_ids);
  });

  it('batched generation (three prompts of different lengths in cache slots side by side) gives run.c ids', async () => {
    const outs = await model.generateMany(ref.prompts.map((p) => Int32Array.from(p.input_ids)), { maxNewTokens: 12, stopIds: [1, 2] });
    expect(outs).toEqual(ref.prompts.map((p) => p.greedy_ids.slice(0, 12)));
  });

  it('concurrent calls are serialised over the shared GPU KV cache', async () => {
    const [a, b] = ref.prompts.map((p) => Int32Array.from(p.input_ids));
    const [gen, logits] = await Promise.all([model.generate(a, { maxNewTokens: 6 }), model.logits(b)]);
    expect(gen).toEqual(ref.prompts[0].greedy_ids.slice(0, 6));
    expect(maxDiff(logits.subarray((b.length - 1) * 512), ref.prompts[1].logits_first_step)).toBeLessThan(1e-4);
  });

  it('perplexity from the GPU log-softmax kernel matches run.c within 0.1%', async () => {
    const ids = Int32Array.from(ref.ppl.input_ids);
    const [lp] = await model.continuationLogProbs(ids.subarray(0, 1), [ids.subarray(1)]);
    const ppl = Math.exp(-lp.reduce((a, b) => a + b, 0) / lp.length);
    expect(Math.abs(ppl / ref.ppl.perplexity - 1)).toBeLessThan(1e-3);
  });

  it('batched perplexity (sequenceLogProbs: ragged sequences in cache slots side by side) equals scoring each alone and the CPU runtime', async () => {
    const cpu = new CpuCausalLM(files.config, host);
    const seqs = [
      Int32Array.from(ref.ppl.input_ids),
      ...ref.prompts.map((p) => Int32Array.from([...p.input_ids, ...p.greedy_ids])),
      Int32Array.from([1]),
      Int32Array.from([1, 403]),
    ];
    const [g, c] = [await model.sequenceLogProbs(seqs), await cpu.sequenceLogProbs(seqs)];
    for (let i = 0; i < seqs.length; i++) {
      const [alone] = await model.continuationLogProbs(seqs[i].subarray(0, 1), [seqs[i].subarray(1)]);
      expect(g[i].length, `sequence ${i}`).toBe(seqs[i].length - 1);
      expect(maxDiff(g[i], alone), `sequence ${i}`).toBeLessThan(1e-4);
      expect(maxDiff(g[i], c[i]), `sequence ${i}`).toBeLessThan(1e-4);
    }
  });

  it('agrees with the CPU runtime on shared-prefix continuations and after an in-place weight update', async () => {
    const cpu = new CpuCausalLM(files.config, host);
    const prefix = Int32Array.from(ref.prompts[1].input_ids);
    const conts = [Int32Array.from([300, 270, 261]), Int32Array.from([410]), Int32Array.from(ref.prompts[0].greedy_ids.slice(0, 6))];
    const [g, c] = [await model.continuationLogProbs(prefix, conts), await cpu.continuationLogProbs(prefix, conts)];
    for (let i = 0; i < conts.length; i++) expect(maxDiff(g[i], c[i])).toBeLessThan(1e-4);

    // Replace two weights (one from a host array, one from a GPU buffer) on both backends.
    const name1 = 'model.layers.2.mlp.down_proj.weight', name2 = 'model.layers.0.self_attn.q_proj.weight';
    const w1 = hostTensorToF32(host.get(name1)!).map((v, i) => v * (1 + 0.5 * Math.sin(i)));
    const w2 = hostTensorToF32(host.get(name2)!).map((v, i) => -v + 0.01 * Math.cos(i));
    const buf = gpu.device.createBuffer({ size: w2.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    gpu.device.queue.writeBuffer(buf, 0, w2);
    const before = await model.logits(prefix);
    await model.updateWeights(new Map<string, Float32Array | GPUBuffer>([[name1, w1], [name2, buf]]));
    await cpu.updateWeights(new Map([[name1, w1], [name2, w2]]));
    const [ga, ca] = [await model.logits(prefix), await cpu.logits(prefix)];
    expect(maxDiff(ga, ca)).toBeLessThan(1e-4);
    expect(maxDiff(ga, before)).toBeGreaterThan(0.01);
    buf.destroy();
  });
});

describe('weights over the storage binding budget are used in row slices (budget lowered on stories260K)', () => {
  // 25600 bytes: the 512 x 64 embedding becomes 6 slices of 100 rows (as float32), the 172 x 64 and
  // 64 x 172 MLP matrices 2 slices each, and a forward pass returns at most 12 logit rows per pass.
  const BUDGET = 25600;
  let sliced: GpuCausalLM;
  let whole: GpuCausalLM;
  let cpu: CpuCausalLM;
  beforeAll(() => {
    sliced = new GpuCausalLM({ ...gpu, capabilities: { ...gpu.capabilities, bindingBudget: BUDGET } }, files.config, host);
    whole = new GpuCausalLM(gpu, files.config, host);
    cpu = new CpuCausalLM(files.config, host);
  });
  afterAll(() => { sliced?.dispose(); whole?.dispose(); });

  it('logits, perplexity and greedy ids equal the unsliced runtime; CPU agrees within 1e-4', async () => {
    const p = ref.prompts[0];
    const ids = Int32Array.from([...p.input_ids, ...p.greedy_ids.slice(0, 20)]);
    expect(ids.length).toBeGreaterThan(12); // more rows than one pass of logits holds
    const [s, w, c] = [await sliced.logits(ids), await whole.logits(ids), await cpu.logits(ids)];
    expect(s.length).toBe(ids.length * 512);
    expect(maxDiff(s, w)).toBeLessThan(1e-5);
    expect(maxDiff(s, c)).toBeLessThan(1e-4);
    const ppl = Int32Array.from(ref.ppl.input_ids);
    const [[ls], [lw]] = [await sliced.continuationLogProbs(ppl.subarray(0, 1), [ppl.subarray(1)]), await whole.continuationLogProbs(ppl.subarray(0, 1), [ppl.subarray(1)])];
    expect(maxDiff(ls, lw)).toBeLessThan(1e-5);
    expect(await sliced.generate(Int32Array.from(p.input_ids), { maxNewTokens: 12, stopIds: [1, 2] })).toEqual(p.greedy_ids.slice(0, 12));
  });

  it('an in-place update of a sliced weight (embedding from a GPU buffer, MLP from a host array) matches the CPU', async () => {
    const embedName = 'model.embed_tokens.weight', mlpName = 'model.layers.1.mlp.up_proj.weight';
    const e = hostTensorToF32(host.get(embedName)!).map((v, i) => v * (1 + 0.3 * Math.sin(i)));
    const m = hostTensorToF32(host.get(mlpName)!).map((v, i) => -v + 0.02 * Math.cos(i));
    const buf = gpu.device.createBuffer({ size: e.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    gpu.device.queue.writeBuffer(buf, 0, e);
    await sliced.updateWeights(new Map<string, Float32Array | GPUBuffer>([[embedName, buf], [mlpName, m]]));
    await cpu.updateWeights(new Map([[embedName, e], [mlpName, m]]));
    const ids = Int32Array.from(ref.prompts[1].input_ids);
    expect(maxDiff(await sliced.logits(ids), await cpu.logits(ids))).toBeLessThan(1e-4);
    buf.destroy();
  });

  it('a bf16 update of a sliced weight (as remergeInto passes it) is held packed in the same slices and matches the CPU', async () => {
    const name = 'model.embed_tokens.weight';
    const values = hostTensorToF32(host.get(name)!).map((v, i) => v * (1 - 0.4 * Math.cos(i)));
    const update: HostTensor = { dtype: 'BF16', shape: host.get(name)!.shape, data: new Uint16Array(encodeFromF32(values, 'BF16').buffer) };
    const lm = new GpuCausalLM({ ...gpu, capabilities: { ...gpu.capabilities, bindingBudget: BUDGET } }, files.config, host);
    const reference = new CpuCausalLM(files.config, host);
    try {
      const bytes = lm.weightBytes;
      await lm.updateWeights(new Map([[name, update]]));
      await reference.updateWeights(new Map([[name, update]]));
      // 512 x 64 values at two bytes instead of four (stories260K is stored float32).
      expect(lm.weightBytes).toBe(bytes - 512 * 64 * 2);
      const ids = Int32Array.from(ref.prompts[0].input_ids);
      expect(maxDiff(await lm.logits(ids), await reference.logits(ids))).toBeLessThan(1e-4);
      expect(maxDiff(await lm.logits(ids), await whole.logits(ids))).toBeGreaterThan(1e-3);
    } finally {
      lm.dispose();
    }
  });

  it('q/k/v biases of a sliced projection are offset with its rows (qwen2-bias-f32)', async () => {
    const f = await loadArchFixture('qwen2-bias-f32');
    const lm = new GpuCausalLM({ ...gpu, capabilities: { ...gpu.capabilities, bindingBudget: f.config.intermediateSize * 4 * 3 } }, f.config, f.weights);
    try {
      expect(maxDiffToRows(await lm.logits(f.ids), f.config.vocabSize, f.logits)).toBeLessThan(1e-4);
    } finally {
      lm.dispose();
    }
  });
});

describe('matmul kernels', () => {
  it('tiled and naive WGSL matmuls equal the CPU matmul on ragged sizes', async () => {
    const rows = 19, inDim = 37, outDim = 45;
    const x = Float32Array.from({ length: rows * inDim }, (_, i) => Math.sin(i * 1.3));
    const w = Float32Array.from({ length: outDim * inDim }, (_, i) => Math.cos(i * 0.7));
    const want = new Float32Array(rows * outDim);
    matmulRows(want, x, rows, inDim, w, outDim);
    const tiled = await model.matmul(x, w, rows, inDim, outDim, 'matmul_tiled');
    const naive = await model.matmul(x, w, rows, inDim, outDim, 'matmul_naive');
    expect(maxDiff(tiled.y, want)).toBeLessThan(1e-4);
    expect(maxDiff(naive.y, want)).toBeLessThan(1e-4);
  });
});

describe('WebGPU runtime vs PyTorch on each architecture variant', () => {
  for (const [name, kernel] of [['qwen3-qknorm-bf16', 'tiled'], ['llama3-ropescaling-f16', 'tiled'], ['qwen3-qknorm-bf16', 'naive'], ['qwen2-bias-f32', 'naive']] as const) {
    it(`${name}: GPU logits (weights kept packed, ${kernel} matmul) agree with PyTorch within 1e-4`, async () => {
      const f = await loadArchFixture(name);
      const lm = new GpuCausalLM(gpu, f.config, f.weights, { matmulKernel: kernel });
      try {
        expect(maxDiffToRows(await lm.logits(f.ids), f.config.vocabSize, f.logits)).toBeLessThan(1e-4);
      } finally {
        lm.dispose();
      }
    });
  }
});
