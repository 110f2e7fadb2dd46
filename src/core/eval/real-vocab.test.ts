// Perplexity of tiny models that carry real tokenizer files (Qwen2.5-style: no BOS; Llama-2-format:
// one <s>) against an independent evaluator following transformers' convention:
// tools/eval-reference/real_vocab_ppl.py tokenizes with its own BPE over the same tokenizer.json,
// adds special tokens as transformers' tokenizer class does, and runs the forward pass in PyTorch;
// its output is fixtures/real-vocab-ppl.json. The weights are an integer hash both sides compute.
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFolderTree } from '../io/node-file.ts';
import { serializeSafetensors } from '../safetensors/serialize.ts';
import { parseCausalLMConfig } from './config.ts';
import { loadCausalLM } from './load.ts';
import { evaluateTask } from './metrics.ts';
import { parseTaskJsonl } from './tasks.ts';
import { expectedTensors } from './weights.ts';

interface RefModel { package: string; family: 'qwen2' | 'llama'; vocab_size: number; config_extra: Record<string, unknown>; items: { ids: number[]; nll: number; tokens: number }[]; perplexity: number; tokens: number }
const ref = JSON.parse(readFileSync('src/core/eval/fixtures/real-vocab-ppl.json', 'utf8')) as { arch: Record<string, number>; texts: string[]; models: Record<string, RefModel> };

/** The generator's hash_values: exact float32 numbers from a 32-bit mix of (seed * 2^20 + i). */
function hashValues(seed: number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let x = (i + seed * 2 ** 20) >>> 0;
    x = Math.imul(x, 0x9e3779b1) >>> 0;
    x = (x ^ (x >>> 15)) >>> 0;
    x = Math.imul(x, 0x85ebca77) >>> 0;
    x = (x ^ (x >>> 13)) >>> 0;
    out[i] = ((x >>> 8) / 2 ** 24 - 0.5) * 0.25;
  }
  return out;
}

async function writeModel(dir: string, name: string, m: RefModel): Promise<void> {
  const a = ref.arch;
  const config = {
    architectures: [m.family === 'qwen2' ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'], model_type: m.family,
    hidden_size: a.hidden_size, intermediate_size: a.intermediate_size, num_hidden_layers: a.num_hidden_layers,
    num_attention_heads: a.num_attention_heads, num_key_value_heads: a.num_key_value_heads, head_dim: a.hidden_size / a.num_attention_heads,
    max_position_embeddings: a.max_position_embeddings, rms_norm_eps: a.rms_norm_eps, rope_theta: a.rope_theta,
    vocab_size: m.vocab_size, tie_word_embeddings: m.family === 'qwen2', torch_dtype: 'float32', ...m.config_extra,
  };
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  const names = [...expectedTensors(parseCausalLMConfig(config, name)).entries()].sort(([x], [y]) => (x < y ? -1 : 1));
  const tensors = names.map(([tensor, shape], seed) => {
    const n = shape.reduce((p, q) => p * q, 1);
    const data = /(layernorm|norm)\.weight$/.test(tensor) ? new Float32Array(n).fill(1) : hashValues(seed, n);
    return { name: tensor, dtype: 'F32' as const, shape, data: new Uint8Array(data.buffer) };
  });
  await writeFile(join(dir, 'model.safetensors'), serializeSafetensors(tensors));
  const pkg = `node_modules/${m.package}/models`;
  await copyFile(join(pkg, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  const tokenizerConfig = JSON.parse(readFileSync(join(pkg, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  if (name === 'qwen2.5') {
    // As Qwen2.5 ships it: bos_token null and no add_bos_token (config.json still says bos_token_id 151643).
    delete tokenizerConfig.add_bos_token;
    tokenizerConfig.bos_token = null;
  }
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'real-vocab-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('perplexity with real tokenizer files equals the independent PyTorch evaluator (transformers convention)', () => {
  for (const [name, m] of Object.entries(ref.models)) {
    it(`${name}: same ids (${m.items[0].ids[0] === 1 ? 'one <s>' : 'no BOS'}), same token count and perplexity within 1e-4`, async () => {
      const dir = join(root, name);
      await mkdir(dir);
      await writeModel(dir, name, m);
      const { files, model } = await loadCausalLM(nodeFolderTree(dir));
      try {
        ref.texts.forEach((text, k) => expect(Array.from(files.tokenizer.encodePrompt(text)), text).toEqual(m.items[k].ids));
        const r = await evaluateTask(model, files.tokenizer, { name: 'ppl', kind: 'perplexity', items: ref.texts.map((text) => ({ text })) });
        expect(r.metrics.tokens).toBe(m.tokens);
        expect(Math.abs(r.metrics.perplexity / m.perplexity - 1)).toBeLessThan(1e-4);
        r.perItem.forEach((p, k) => expect(Math.abs(p.score - m.items[k].nll) / m.items[k].nll, `item ${k}`).toBeLessThan(1e-4));
      } finally {
        model.dispose();
      }
    }, 120_000);
  }
});

describe('chat tasks read from JSONL and evaluated with the real Qwen3 chat template', () => {
  it('a chat multiple-choice item scores as the plain item whose prompt is the rendered template', async () => {
    const dir = join(root, 'qwen-chat');
    await mkdir(dir);
    await writeModel(dir, 'qwen2.5', ref.models['qwen2.5']);
    const messages = [{ role: 'system', content: 'Answer with one word.' }, { role: 'user', content: 'Sky colour?' }];
    const rendered = '<|im_start|>system\nAnswer with one word.<|im_end|>\n<|im_start|>user\nSky colour?<|im_end|>\n<|im_start|>assistant\n';
    const choices = ['Blue', 'Green', 'Purple'];
    const chatTask = parseTaskJsonl(`${JSON.stringify({ messages, choices, label: 0 })}\n`, 'sky.mc.jsonl');
    const plainTask = parseTaskJsonl(`${JSON.stringify({ prompt: rendered, choices, label: 0 })}\n`, 'sky.mc.jsonl');
    const { files, model } = await loadCausalLM(nodeFolderTree(dir));
    const [chat, plain] = [await evaluateTask(model, files.tokenizer, chatTask), await evaluateTask(model, files.tokenizer, plainTask)];
    model.dispose();
    expect(chat.perItem).toEqual(plain.perItem);
    expect(chat.metrics).toEqual(plain.metrics);
  }, 120_000);
});
