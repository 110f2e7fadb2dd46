// Small (~100-200 KB, larger than the safetensors reader's first 64 KiB read) Hugging Face style model folders for tests that must not depend on the trained demo zoo:
// the same file set and tensor names as public/zoo (Llama without biases and with an lm_head;
// Qwen2 with q/k/v biases and tied embeddings), random bf16 weights from a seeded generator.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { serializeSafetensors } from '../../src/core/safetensors/serialize.ts';

export interface FixtureArch {
  family: 'llama' | 'qwen2';
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: string[];
}

export const FIXTURE_VOCAB = ['<pad>', '<s>', '</s>', '<unk>', ...'abcdefghijklmnopqrstuvwxyz0123456789 =+\n'.split('')];

/** Tensor names and shapes the way transformers names them. */
export function fixtureTensorShapes(a: FixtureArch): [string, number[]][] {
  const headDim = a.hidden / a.heads;
  const out: [string, number[]][] = [['model.embed_tokens.weight', [a.vocab.length, a.hidden]]];
  for (let l = 0; l < a.layers; l++) {
    const p = `model.layers.${l}`;
    out.push([`${p}.input_layernorm.weight`, [a.hidden]]);
    for (const [proj, rows] of [['q_proj', a.heads * headDim], ['k_proj', a.kvHeads * headDim], ['v_proj', a.kvHeads * headDim]] as const) {
      out.push([`${p}.self_attn.${proj}.weight`, [rows, a.hidden]]);
      if (a.family === 'qwen2') out.push([`${p}.self_attn.${proj}.bias`, [rows]]);
    }
    out.push([`${p}.self_attn.o_proj.weight`, [a.hidden, a.heads * headDim]]);
    out.push([`${p}.post_attention_layernorm.weight`, [a.hidden]]);
    out.push([`${p}.mlp.gate_proj.weight`, [a.intermediate, a.hidden]]);
    out.push([`${p}.mlp.up_proj.weight`, [a.intermediate, a.hidden]]);
    out.push([`${p}.mlp.down_proj.weight`, [a.hidden, a.intermediate]]);
  }
  out.push(['model.norm.weight', [a.hidden]]);
  if (a.family === 'llama') out.push(['lm_head.weight', [a.vocab.length, a.hidden]]);
  return out.sort(([x], [y]) => (x < y ? -1 : 1));
}

function randomBf16(count: number, seed: number): Uint8Array {
  // xorshift32: deterministic and dependency-free; values in [-0.1, 0.1).
  let s = seed >>> 0 || 1;
  const out = new Uint8Array(count * 2);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    f[0] = (s / 2 ** 32 - 0.5) * 0.2;
    const bits = u[0] >>> 16; // truncation is fine for random test weights
    out[2 * i] = bits & 0xff;
    out[2 * i + 1] = bits >>> 8;
  }
  return out;
}

function configJson(a: FixtureArch): Record<string, unknown> {
  return {
    architectures: [a.family === 'llama' ? 'LlamaForCausalLM' : 'Qwen2ForCausalLM'],
    model_type: a.family,
    hidden_size: a.hidden,
    intermediate_size: a.intermediate,
    num_attention_heads: a.heads,
    num_key_value_heads: a.kvHeads,
    num_hidden_layers: a.layers,
    head_dim: a.hidden / a.heads,
    vocab_size: a.vocab.length,
    tie_word_embeddings: a.family === 'qwen2',
    torch_dtype: 'bfloat16',
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    max_position_embeddings: 64,
  };
}

function tokenizerJson(vocab: string[]): Record<string, unknown> {
  return {
    version: '1.0',
    added_tokens: vocab.slice(0, 4).map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: null,
    // BOS + text, as the demo zoo's post-processor.
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [vocab.indexOf('<s>')], tokens: ['<s>'] } },
    },
    decoder: { type: 'Fuse' },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', vocab: Object.fromEntries(vocab.map((t, i) => [t, i])), merges: [] },
  };
}

/** Writes one model folder (config, tokenizer, model card, one model.safetensors). */
export async function writeFixtureModel(dir: string, arch: FixtureArch, seed: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tensors = fixtureTensorShapes(arch).map(([name, shape], i) => ({ name, dtype: 'BF16' as const, shape, data: randomBf16(shape.reduce((a, b) => a * b, 1), seed * 7919 + i) }));
  await writeFile(join(dir, 'model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }));
  await writeFile(join(dir, 'config.json'), JSON.stringify(configJson(arch), null, 2));
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson(arch.vocab), null, 2));
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>', pad_token: '<pad>', unk_token: '<unk>', tokenizer_class: 'PreTrainedTokenizerFast' }, null, 2));
  await writeFile(join(dir, 'README.md'), `# ${arch.family} test fixture (seed ${seed})\n`);
}

export const FIXTURE_LLAMA: FixtureArch = { family: 'llama', hidden: 64, intermediate: 128, layers: 2, heads: 4, kvHeads: 2, vocab: FIXTURE_VOCAB };
export const FIXTURE_QWEN2: FixtureArch = { family: 'qwen2', hidden: 48, intermediate: 96, layers: 2, heads: 4, kvHeads: 2, vocab: FIXTURE_VOCAB };

/** root/tiny-llama/{base,add,reverse} and root/tiny-qwen2/base: the shape of public/zoo, tiny. */
export async function writeFixtureZoo(root: string): Promise<void> {
  await writeFixtureModel(join(root, 'tiny-llama', 'base'), FIXTURE_LLAMA, 1);
  await writeFixtureModel(join(root, 'tiny-llama', 'add'), FIXTURE_LLAMA, 2);
  await writeFixtureModel(join(root, 'tiny-llama', 'reverse'), FIXTURE_LLAMA, 3);
  await writeFixtureModel(join(root, 'tiny-qwen2', 'base'), FIXTURE_QWEN2, 4);
}
