// Test support: tiny model folders (config.json + safetensors) written to disk or kept in memory.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeFromF32, type DType } from '../dtype.ts';
import { memoryTree } from '../io/memory.ts';
import type { FileTree } from '../io/types.ts';
import { serializeSafetensors } from '../safetensors/index.ts';

export interface TestTensor {
  shape: number[];
  values: Float32Array;
  dtype?: DType;
  /** Raw data for dtypes encodeFromF32 cannot write (integers). */
  bytes?: Uint8Array;
}

/** config.json + model.safetensors (+ extra files) as a file map. */
export function modelFiles(config: Record<string, unknown>, tensors: Record<string, TestTensor>, extra: Record<string, string> = {}): Map<string, Uint8Array> {
  const st = serializeSafetensors(
    Object.entries(tensors).map(([name, t]) => ({ name, dtype: t.dtype ?? 'F32', shape: t.shape, data: t.bytes ?? encodeFromF32(t.values, t.dtype ?? 'F32') })),
  );
  const files = new Map<string, Uint8Array>([['config.json', new TextEncoder().encode(JSON.stringify(config))], ['model.safetensors', st]]);
  for (const [name, text] of Object.entries(extra)) files.set(name, new TextEncoder().encode(text));
  return files;
}

export function memoryModel(name: string, config: Record<string, unknown>, tensors: Record<string, TestTensor>, extra: Record<string, string> = {}): FileTree {
  return memoryTree(modelFiles(config, tensors, extra), name);
}

export async function writeModelFolder(dir: string, config: Record<string, unknown>, tensors: Record<string, TestTensor>, extra: Record<string, string> = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, bytes] of modelFiles(config, tensors, extra)) await writeFile(join(dir, name), bytes);
}

/** Deterministic values: a small LCG, so tests need no fixtures for synthetic models. */
export function seededValues(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** A Llama-shaped model: embeddings, `layers` decoder layers, final norm, optional lm_head. */
export function llamaTensors(opts: { layers: number; hidden: number; vocab: number; seed: number; lmHead?: boolean }): Record<string, TestTensor> {
  const { layers, hidden: h, vocab, seed } = opts;
  const t: Record<string, TestTensor> = {};
  let k = 0;
  const add = (name: string, shape: number[]) => {
    t[name] = { shape, values: seededValues(shape.reduce((a, b) => a * b, 1), seed * 1000 + k++) };
  };
  add('model.embed_tokens.weight', [vocab, h]);
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    add(`${p}input_layernorm.weight`, [h]);
    for (const m of ['q', 'k', 'v', 'o']) add(`${p}self_attn.${m}_proj.weight`, [h, h]);
    add(`${p}post_attention_layernorm.weight`, [h]);
    add(`${p}mlp.gate_proj.weight`, [2 * h, h]);
    add(`${p}mlp.up_proj.weight`, [2 * h, h]);
    add(`${p}mlp.down_proj.weight`, [h, 2 * h]);
  }
  add('model.norm.weight', [h]);
  if (opts.lmHead !== false) add('lm_head.weight', [vocab, h]);
  return t;
}

export function llamaConfig(layers: number, vocab: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { architectures: ['LlamaForCausalLM'], model_type: 'llama', num_hidden_layers: layers, vocab_size: vocab, torch_dtype: 'float32', tie_word_embeddings: false, ...extra };
}

/** A minimal BPE tokenizer.json: `tokens` are the vocabulary by id (ids 0..), `added` the added
 * tokens appended after them (special unless said otherwise). */
export function tokenizerJson(tokens: string[], added: (string | { content: string; special?: boolean })[] = []): string {
  const vocab = Object.fromEntries(tokens.map((t, i) => [t, i]));
  const addedTokens = added.map((a, i) => {
    const { content, special = true } = typeof a === 'string' ? { content: a } : a;
    return { id: tokens.length + i, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special };
  });
  return JSON.stringify({ version: '1.0', truncation: null, padding: null, added_tokens: addedTokens, normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, model: { type: 'BPE', dropout: null, unk_token: null, vocab, merges: [] } });
}
