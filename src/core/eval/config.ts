// The causal-LM configuration the evaluation runtime understands: the Llama family (Llama, Mistral,
// SmolLM), Qwen2 (q/k/v biases) and Qwen3 (q/k RMSNorm). Anything else is refused here, once, with
// a message naming the file and what was found, so the kernels never meet an unknown layout.
import { MergeStudioError } from '../errors.ts';

/** Llama-3 style frequency-dependent RoPE scaling (rope_type "llama3"), or a plain linear factor. */
export type RopeScaling =
  | { kind: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number }
  | { kind: 'linear'; factor: number };

export interface CausalLMConfig {
  /** config.json `model_type` (llama, mistral, qwen2, qwen3). */
  modelType: string;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  maxPositions: number;
  tiedEmbeddings: boolean;
  /** Biases on q_proj, k_proj and v_proj (Qwen2, Llama with attention_bias). */
  qkvBias: boolean;
  /** Bias on o_proj too (Llama attention_bias=true). */
  outputBias: boolean;
  /** Per-head RMSNorm of queries and keys before RoPE (Qwen3). */
  qkNorm: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
  /** Mistral / Qwen2 sliding-window attention span; longer sequences are refused (not implemented). */
  slidingWindow: number | null;
}

const SUPPORTED = new Map<string, { qkvBias: boolean; qkNorm: boolean }>([
  ['llama', { qkvBias: false, qkNorm: false }],
  ['mistral', { qkvBias: false, qkNorm: false }],
  ['qwen2', { qkvBias: true, qkNorm: false }],
  ['qwen3', { qkvBias: false, qkNorm: true }],
]);

function fail(where: string, message: string, details: Record<string, unknown> = {}): never {
  throw new MergeStudioError('eval-config-invalid', `${where}: ${message}`, { file: where, ...details });
}

function positiveInt(cfg: Record<string, unknown>, key: string, where: string, fallback?: number): number {
  const v = cfg[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) fail(where, `'${key}' must be a positive integer, found ${JSON.stringify(cfg[key])}`, { field: key });
  return v;
}

function positiveNumber(cfg: Record<string, unknown>, key: string, where: string, fallback: number): number {
  const v = cfg[key] ?? fallback;
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) fail(where, `'${key}' must be a positive number, found ${JSON.stringify(cfg[key])}`, { field: key });
  return v;
}

function parseRopeScaling(raw: unknown, where: string): RopeScaling | null {
  if (raw === null || raw === undefined) return null;
  if (typeof raw !== 'object' || Array.isArray(raw)) fail(where, `'rope_scaling' must be an object or null, found ${JSON.stringify(raw)}`, { field: 'rope_scaling' });
  const r = raw as Record<string, unknown>;
  const type = r.rope_type ?? r.type;
  if (type === 'default') return null;
  if (type === 'linear') return { kind: 'linear', factor: positiveNumber(r, 'factor', `${where} rope_scaling`, NaN) };
  if (type === 'llama3') {
    const w = `${where} rope_scaling`;
    return {
      kind: 'llama3',
      factor: positiveNumber(r, 'factor', w, NaN),
      lowFreqFactor: positiveNumber(r, 'low_freq_factor', w, NaN),
      highFreqFactor: positiveNumber(r, 'high_freq_factor', w, NaN),
      originalMaxPositions: positiveInt(r, 'original_max_position_embeddings', w),
    };
  }
  throw new MergeStudioError('eval-unsupported-architecture', `${where}: rope_scaling type ${JSON.stringify(type)} is not supported (supported: default, linear, llama3)`, { file: where, field: 'rope_scaling' });
}

function tokenIds(v: unknown): number[] {
  if (typeof v === 'number' && Number.isInteger(v)) return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number' && Number.isInteger(x));
  return [];
}

/** Parses config.json. `where` names the file in messages. */
export function parseCausalLMConfig(json: unknown, where: string): CausalLMConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(where, 'expected a JSON object');
  const cfg = json as Record<string, unknown>;
  const modelType = String(cfg.model_type ?? '');
  const family = SUPPORTED.get(modelType);
  if (!family) {
    const arch = Array.isArray(cfg.architectures) ? ` (${cfg.architectures.join(', ')})` : '';
    throw new MergeStudioError(
      'eval-unsupported-architecture',
      `${where}: model_type '${modelType || '(missing)'}'${arch} is outside the Llama family this runtime evaluates; supported: ${[...SUPPORTED.keys()].join(', ')} (SmolLM is 'llama')`,
      { file: where, field: 'model_type', found: modelType },
    );
  }
  const act = cfg.hidden_act ?? 'silu';
  if (act !== 'silu') throw new MergeStudioError('eval-unsupported-architecture', `${where}: hidden_act '${String(act)}' is not supported (the runtime implements SwiGLU with silu)`, { file: where, field: 'hidden_act' });
  if (cfg.mlp_bias === true) throw new MergeStudioError('eval-unsupported-architecture', `${where}: mlp_bias=true is not supported`, { file: where, field: 'mlp_bias' });

  const hiddenSize = positiveInt(cfg, 'hidden_size', where);
  const numHeads = positiveInt(cfg, 'num_attention_heads', where);
  const numKvHeads = positiveInt(cfg, 'num_key_value_heads', where, numHeads);
  if (numHeads % numKvHeads !== 0) fail(where, `num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`, { field: 'num_key_value_heads' });
  const headDim = cfg.head_dim == null ? hiddenSize / numHeads : positiveInt(cfg, 'head_dim', where);
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) fail(where, `head_dim must be an even integer, found ${headDim}`, { field: 'head_dim' });
  const attentionBias = cfg.attention_bias === true;
  return {
    modelType,
    hiddenSize,
    intermediateSize: positiveInt(cfg, 'intermediate_size', where),
    numLayers: positiveInt(cfg, 'num_hidden_layers', where),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: positiveInt(cfg, 'vocab_size', where),
    rmsNormEps: positiveNumber(cfg, 'rms_norm_eps', where, 1e-6),
    ropeTheta: positiveNumber(cfg, 'rope_theta', where, 10000),
    ropeScaling: parseRopeScaling(cfg.rope_scaling, where),
    maxPositions: positiveInt(cfg, 'max_position_embeddings', where, 2048),
    tiedEmbeddings: cfg.tie_word_embeddings === true,
    qkvBias: family.qkvBias || attentionBias,
    outputBias: attentionBias,
    qkNorm: family.qkNorm,
    bosTokenId: tokenIds(cfg.bos_token_id)[0] ?? null,
    eosTokenIds: tokenIds(cfg.eos_token_id),
    // Qwen2 configs carry a sliding_window that only applies with use_sliding_window.
    slidingWindow: typeof cfg.sliding_window === 'number' && cfg.sliding_window > 0 && (modelType !== 'qwen2' || cfg.use_sliding_window === true) ? cfg.sliding_window : null,
  };
}
