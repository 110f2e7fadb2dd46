// The real-shaped generator against the public facts of the three real repos (hand-typed below from
// their config.json and model.safetensors.index.json, independent of families.ts), and a reduced
// Qwen2.5-0.5B family generated for real and read back by our loader and `merge-studio inspect`.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFolderTree } from '../../src/core/io/node-file.ts';
import { openSafetensorsModel, readTensorBytes, readTensorF32, type SafetensorsModel } from '../../src/core/safetensors/index.ts';
import { FAMILY_NAMES, type FamilyName } from './families.ts';
import { familyLayout, generateFamily, type GeneratedFamily } from './generate.ts';

interface RealFacts {
  vocab: number;
  hidden: number;
  layers: number;
  intermediate: number;
  heads: number;
  kvHeads: number;
  qkvBias: boolean;
  tied: boolean;
  parameters: number;
  /** Files of the real repo and their tensor bytes (from the index's shard sizes). */
  files: Record<string, [minBytes: number, maxBytes: number]>;
  config: Record<string, unknown>;
}

const FACTS: Record<FamilyName, RealFacts> = {
  'qwen2.5-0.5b': {
    vocab: 151936, hidden: 896, layers: 24, intermediate: 4864, heads: 14, kvHeads: 2, qkvBias: true, tied: true, parameters: 494_032_768,
    files: { 'model.safetensors': [0.98e9, 0.99e9] },
    config: { architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', rope_theta: 1e6, rms_norm_eps: 1e-6, max_position_embeddings: 32768, bos_token_id: 151643, eos_token_id: 151643, torch_dtype: 'bfloat16' },
  },
  'llama-3.2-1b': {
    vocab: 128256, hidden: 2048, layers: 16, intermediate: 8192, heads: 32, kvHeads: 8, qkvBias: false, tied: true, parameters: 1_235_814_400,
    files: { 'model.safetensors': [2.47e9, 2.48e9] },
    config: {
      architectures: ['LlamaForCausalLM'], model_type: 'llama', rope_theta: 500000, rms_norm_eps: 1e-5, max_position_embeddings: 131072, bos_token_id: 128000, eos_token_id: 128001, torch_dtype: 'bfloat16', head_dim: 64,
      rope_scaling: { factor: 32, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192, rope_type: 'llama3' },
    },
  },
  'mistral-7b': {
    vocab: 32000, hidden: 4096, layers: 32, intermediate: 14336, heads: 32, kvHeads: 8, qkvBias: false, tied: false, parameters: 7_241_732_096,
    files: { 'model-00001-of-00002.safetensors': [9.94e9, 9.95e9], 'model-00002-of-00002.safetensors': [4.54e9, 4.55e9] },
    config: { architectures: ['MistralForCausalLM'], model_type: 'mistral', rope_theta: 10000, rms_norm_eps: 1e-5, max_position_embeddings: 32768, sliding_window: 4096, bos_token_id: 1, eos_token_id: 2, torch_dtype: 'bfloat16' },
  },
};

/** name -> shape of layer `l` as the real checkpoints have it. */
function realLayerShapes(f: RealFacts, l: number): Record<string, number[]> {
  const d = f.hidden / f.heads;
  const p = `model.layers.${l}.`;
  const out: Record<string, number[]> = {
    [`${p}input_layernorm.weight`]: [f.hidden],
    [`${p}post_attention_layernorm.weight`]: [f.hidden],
    [`${p}self_attn.q_proj.weight`]: [f.heads * d, f.hidden],
    [`${p}self_attn.k_proj.weight`]: [f.kvHeads * d, f.hidden],
    [`${p}self_attn.v_proj.weight`]: [f.kvHeads * d, f.hidden],
    [`${p}self_attn.o_proj.weight`]: [f.hidden, f.heads * d],
    [`${p}mlp.gate_proj.weight`]: [f.intermediate, f.hidden],
    [`${p}mlp.up_proj.weight`]: [f.intermediate, f.hidden],
    [`${p}mlp.down_proj.weight`]: [f.hidden, f.intermediate],
  };
  if (f.qkvBias) Object.assign(out, { [`${p}self_attn.q_proj.bias`]: [f.heads * d], [`${p}self_attn.k_proj.bias`]: [f.kvHeads * d], [`${p}self_attn.v_proj.bias`]: [f.kvHeads * d] });
  return out;
}

function realShapes(f: RealFacts, layers: number): Record<string, number[]> {
  const out: Record<string, number[]> = { 'model.embed_tokens.weight': [f.vocab, f.hidden], 'model.norm.weight': [f.hidden] };
  if (!f.tied) out['lm_head.weight'] = [f.vocab, f.hidden];
  for (let l = 0; l < layers; l++) Object.assign(out, realLayerShapes(f, l));
  return out;
}

describe('real-shaped family layouts at full size', () => {
  for (const family of FAMILY_NAMES) {
    it(`${family}: tensor names, shapes, parameter count, files and config match the real repo`, () => {
      const f = FACTS[family];
      const layout = familyLayout(family);
      const shapes = Object.fromEntries(layout.tensors.map((t) => [t.name, t.shape]));
      expect(shapes).toEqual(realShapes(f, f.layers));
      expect(layout.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0)).toBe(f.parameters);
      expect(layout.dataBytes).toBe(2 * f.parameters);
      expect(layout.shards.map((s) => s.file)).toEqual(Object.keys(f.files));
      for (const s of layout.shards) {
        const [lo, hi] = f.files[s.file];
        expect(s.dataBytes).toBeGreaterThanOrEqual(lo);
        expect(s.dataBytes).toBeLessThan(hi);
      }
      expect(layout.config).toMatchObject({ ...f.config, vocab_size: f.vocab, hidden_size: f.hidden, num_hidden_layers: f.layers, intermediate_size: f.intermediate, num_attention_heads: f.heads, num_key_value_heads: f.kvHeads, tie_word_embeddings: f.tied });
    });
  }
});

describe('a generated Qwen2.5-0.5B-shaped family cut to 2 layers', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  let dir = '';
  let family: GeneratedFamily;
  const models: SafetensorsModel[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ms-realshape-'));
    family = await generateFamily({ family: 'qwen2.5-0.5b', layers: 2, experts: 2, out: join(dir, 'q2'), seed: 7 });
    for (const m of family.models) models.push(await openSafetensorsModel(nodeFolderTree(m.path)));
  }, 120_000);
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('has the real names, shapes, dtypes, files and config with the layer count cut', async () => {
    const f = FACTS['qwen2.5-0.5b'];
    expect(family.models.map((m) => m.name)).toEqual(['base', 'expert-1', 'expert-2']);
    for (const [i, m] of models.entries()) {
      expect(Object.fromEntries([...m.tensors].map(([n, t]) => [n, t.shape]))).toEqual(realShapes(f, 2));
      expect(new Set([...m.tensors.values()].map((t) => t.dtype))).toEqual(new Set(['BF16']));
      expect(m.files).toEqual(['model.safetensors']);
      const files = (await readdir(family.models[i].path)).sort();
      expect(files).toEqual(['config.json', 'generation_config.json', 'merges.txt', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'vocab.json']);
      const config = JSON.parse(await readFile(join(family.models[i].path, 'config.json'), 'utf8'));
      expect(config).toMatchObject({ ...f.config, vocab_size: f.vocab, hidden_size: f.hidden, num_hidden_layers: 2, tie_word_embeddings: true });
    }
    const tok = JSON.parse(await readFile(join(family.models[0].path, 'tokenizer.json'), 'utf8'));
    expect(Object.keys(tok.model.vocab)).toHaveLength(151643);
    expect(tok.added_tokens.map((t: { id: number }) => t.id)).toEqual(Array.from({ length: 22 }, (_, i) => 151643 + i));
  });

  it('has realistic scales, and experts whose deltas differ in sign and magnitude', async () => {
    const rows: [number, number] = [0, 2000];
    const read = (m: number, name: string, r?: [number, number]) => readTensorF32(models[m].tensors.get(name)!, r ? { rows: r } : {});
    const base = await read(0, 'model.embed_tokens.weight', rows);
    const mean = base.reduce((a, v) => a + v, 0) / base.length;
    const std = Math.sqrt(base.reduce((a, v) => a + (v - mean) ** 2, 0) / base.length);
    expect(Math.abs(mean)).toBeLessThan(0.001);
    expect(std).toBeGreaterThan(0.018);
    expect(std).toBeLessThan(0.022);
    const norm = await read(0, 'model.layers.1.input_layernorm.weight');
    expect(norm.reduce((a, v) => a + v, 0) / norm.length).toBeCloseTo(1, 1);

    const d1 = (await read(1, 'model.embed_tokens.weight', rows)).map((v, i) => v - base[i]);
    const d2 = (await read(2, 'model.embed_tokens.weight', rows)).map((v, i) => v - base[i]);
    const rms = (d: Float32Array) => Math.sqrt(d.reduce((a, v) => a + v * v, 0) / d.length);
    // Dense deltas of a few % of the weights' scale, the second expert's larger than the first's.
    const rms1 = rms(d1);
    expect(rms1 / std).toBeGreaterThan(0.02);
    expect(rms1 / std).toBeLessThan(0.2);
    expect(rms(d2)).toBeGreaterThan(1.2 * rms1);
    // Sparse spikes far above the dense part (what TIES keeps), about 1% of entries.
    const spikes = d1.filter((v) => Math.abs(v) > 2.5 * rms1).length / d1.length;
    expect(spikes).toBeGreaterThan(0.003);
    expect(spikes).toBeLessThan(0.03);
    // Sign conflicts between the experts on a good share of entries (TIES' sign election matters).
    let conflicts = 0;
    for (let i = 0; i < d1.length; i++) if (d1[i] * d2[i] < 0) conflicts++;
    expect(conflicts / d1.length).toBeGreaterThan(0.2);
    expect(conflicts / d1.length).toBeLessThan(0.8);
  });

  it('is deterministic, skips a complete family, and a cut keeps the first layers of a longer one', async () => {
    expect((await generateFamily({ family: 'qwen2.5-0.5b', layers: 2, experts: 2, out: join(dir, 'q2'), seed: 7 })).skipped).toBe(true);
    const one = await generateFamily({ family: 'qwen2.5-0.5b', layers: 1, experts: 0, out: join(dir, 'q1'), seed: 7 });
    expect(one.skipped).toBe(false);
    const m1 = await openSafetensorsModel(nodeFolderTree(one.models[0].path));
    for (const name of ['model.embed_tokens.weight', 'model.layers.0.mlp.down_proj.weight', 'model.layers.0.self_attn.k_proj.bias']) {
      expect(Buffer.from(await readTensorBytes(m1.tensors.get(name)!)).equals(Buffer.from(await readTensorBytes(models[0].tensors.get(name)!)))).toBe(true);
    }
  }, 60_000);

  it('is accepted by `merge-studio inspect` as three compatible Qwen2 models', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(root, 'bin/merge-studio.mjs'), 'inspect', ...family.models.map((m) => m.path)], { cwd: root });
    expect(stdout).toContain('Qwen2ForCausalLM (qwen2), 2 layers, hidden 896, vocabulary 151936, lm_head tied to the embedding');
    expect(stdout).toMatch(/Compatibility \(reference: .*base\): COMPATIBLE/);
    expect(stdout).toContain('identical tokenizer files in every model');
  });
});
