// The three real model families the generator imitates: the tensor list in the order
// transformers builds its state dict (which decides the Hub's sharding), the config.json and
// generation_config.json of the real repos, how the real repo is sharded, and where the tokenizer
// files come from (npm devDependencies, read from node_modules at generation time, never copied
// into this repo). Values are those of the public repos Qwen/Qwen2.5-0.5B, meta-llama/Llama-3.2-1B
// and mistralai/Mistral-7B-v0.1 (config.json, generation_config.json, model.safetensors.index.json).

export type FamilyName = 'qwen2.5-0.5b' | 'llama-3.2-1b' | 'mistral-7b';
export const FAMILY_NAMES: readonly FamilyName[] = ['qwen2.5-0.5b', 'llama-3.2-1b', 'mistral-7b'];

export function isFamilyName(s: string): s is FamilyName {
  return (FAMILY_NAMES as readonly string[]).includes(s);
}

/** Where a tokenizer comes from and how it is adapted to the family (see README.md). */
export type TokenizerSource = 'qwen2.5-from-qwen3' | 'llama-3.2-from-llama3' | 'mistral-from-llama2';

export interface FamilySpec {
  name: FamilyName;
  /** The Hub repo this imitates. */
  hubRepo: string;
  config: Record<string, unknown>;
  generationConfig: Record<string, unknown>;
  /** transformers' `max_shard_size` the real repo was saved with (decimal bytes); the real
   * repo's files follow from it (one model.safetensors when everything fits). */
  maxShardBytes: number;
  tokenizer: TokenizerSource;
  /** Layer count of the real model. */
  layers: number;
  /** Parameters of the real model (all tensors in the real checkpoint), for checks. */
  realParameters: number;
}

export interface TensorEntry {
  name: string;
  shape: number[];
  /** What the values look like: weight matrix / embedding, RMSNorm scale, bias. */
  kind: 'matrix' | 'norm' | 'bias';
}

const QWEN25_05B: FamilySpec = {
  name: 'qwen2.5-0.5b',
  hubRepo: 'Qwen/Qwen2.5-0.5B',
  config: {
    architectures: ['Qwen2ForCausalLM'],
    attention_dropout: 0.0,
    bos_token_id: 151643,
    eos_token_id: 151643,
    hidden_act: 'silu',
    hidden_size: 896,
    initializer_range: 0.02,
    intermediate_size: 4864,
    max_position_embeddings: 32768,
    max_window_layers: 24,
    model_type: 'qwen2',
    num_attention_heads: 14,
    num_hidden_layers: 24,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000.0,
    sliding_window: 32768,
    tie_word_embeddings: true,
    torch_dtype: 'bfloat16',
    transformers_version: '4.40.1',
    use_cache: true,
    use_mrope: false,
    use_sliding_window: false,
    vocab_size: 151936,
  },
  generationConfig: { bos_token_id: 151643, do_sample: false, eos_token_id: 151643, max_new_tokens: 2048, transformers_version: '4.37.0' },
  maxShardBytes: 5e9,
  tokenizer: 'qwen2.5-from-qwen3',
  layers: 24,
  realParameters: 494_032_768,
};

const LLAMA32_1B: FamilySpec = {
  name: 'llama-3.2-1b',
  hubRepo: 'meta-llama/Llama-3.2-1B',
  config: {
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: 128000,
    eos_token_id: 128001,
    head_dim: 64,
    hidden_act: 'silu',
    hidden_size: 2048,
    initializer_range: 0.02,
    intermediate_size: 8192,
    max_position_embeddings: 131072,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: 32,
    num_hidden_layers: 16,
    num_key_value_heads: 8,
    pretraining_tp: 1,
    rms_norm_eps: 1e-5,
    rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
    rope_theta: 500000.0,
    tie_word_embeddings: true,
    torch_dtype: 'bfloat16',
    transformers_version: '4.45.0.dev0',
    use_cache: true,
    vocab_size: 128256,
  },
  generationConfig: { _from_model_config: true, bos_token_id: 128000, do_sample: true, eos_token_id: 128001, temperature: 0.6, top_p: 0.9, transformers_version: '4.45.0.dev0' },
  maxShardBytes: 5e9,
  tokenizer: 'llama-3.2-from-llama3',
  layers: 16,
  realParameters: 1_235_814_400,
};

const MISTRAL_7B: FamilySpec = {
  name: 'mistral-7b',
  hubRepo: 'mistralai/Mistral-7B-v0.1',
  config: {
    architectures: ['MistralForCausalLM'],
    bos_token_id: 1,
    eos_token_id: 2,
    hidden_act: 'silu',
    hidden_size: 4096,
    initializer_range: 0.02,
    intermediate_size: 14336,
    max_position_embeddings: 32768,
    model_type: 'mistral',
    num_attention_heads: 32,
    num_hidden_layers: 32,
    num_key_value_heads: 8,
    rms_norm_eps: 1e-5,
    rope_theta: 10000.0,
    sliding_window: 4096,
    tie_word_embeddings: false,
    torch_dtype: 'bfloat16',
    transformers_version: '4.34.0.dev0',
    use_cache: true,
    vocab_size: 32000,
  },
  generationConfig: { _from_model_config: true, bos_token_id: 1, eos_token_id: 2, transformers_version: '4.34.0.dev0' },
  // Saved with the old 10 GB default: 9.94 GB + 4.54 GB, layer 22 split across the two shards.
  maxShardBytes: 10e9,
  tokenizer: 'mistral-from-llama2',
  layers: 32,
  realParameters: 7_241_732_096,
};

export const FAMILIES: Record<FamilyName, FamilySpec> = { 'qwen2.5-0.5b': QWEN25_05B, 'llama-3.2-1b': LLAMA32_1B, 'mistral-7b': MISTRAL_7B };

/** The family's config.json with the layer count cut to `layers`. */
export function configFor(spec: FamilySpec, layers: number): Record<string, unknown> {
  return { ...spec.config, num_hidden_layers: layers };
}

/** Tensors in state-dict order (module registration order in transformers' modeling code). */
export function tensorList(spec: FamilySpec, layers: number): TensorEntry[] {
  const c = spec.config as { hidden_size: number; intermediate_size: number; num_attention_heads: number; num_key_value_heads: number; vocab_size: number; tie_word_embeddings: boolean; head_dim?: number };
  const hidden = c.hidden_size;
  const headDim = c.head_dim ?? hidden / c.num_attention_heads;
  const q = c.num_attention_heads * headDim;
  const kv = c.num_key_value_heads * headDim;
  const bias = spec.config.model_type === 'qwen2';
  const out: TensorEntry[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocab_size, hidden], kind: 'matrix' }];
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    const proj = (name: string, rows: number, withBias: boolean) => {
      out.push({ name: `${p}self_attn.${name}.weight`, shape: [rows, hidden], kind: 'matrix' });
      if (withBias) out.push({ name: `${p}self_attn.${name}.bias`, shape: [rows], kind: 'bias' });
    };
    proj('q_proj', q, bias);
    proj('k_proj', kv, bias);
    proj('v_proj', kv, bias);
    out.push({ name: `${p}self_attn.o_proj.weight`, shape: [hidden, q], kind: 'matrix' });
    out.push({ name: `${p}mlp.gate_proj.weight`, shape: [c.intermediate_size, hidden], kind: 'matrix' });
    out.push({ name: `${p}mlp.up_proj.weight`, shape: [c.intermediate_size, hidden], kind: 'matrix' });
    out.push({ name: `${p}mlp.down_proj.weight`, shape: [hidden, c.intermediate_size], kind: 'matrix' });
    out.push({ name: `${p}input_layernorm.weight`, shape: [hidden], kind: 'norm' });
    out.push({ name: `${p}post_attention_layernorm.weight`, shape: [hidden], kind: 'norm' });
  }
  out.push({ name: 'model.norm.weight', shape: [hidden], kind: 'norm' });
  if (!c.tie_word_embeddings) out.push({ name: 'lm_head.weight', shape: [c.vocab_size, hidden], kind: 'matrix' });
  return out;
}
