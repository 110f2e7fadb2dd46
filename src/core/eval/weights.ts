// Which tensors a Llama-family causal LM needs, under their Hugging Face names, with their shapes;
// and reading them from safetensors as host arrays (f32 decoded, or raw 16-bit words for the GPU).
import type { DType } from '../dtype.ts';
import { decodeToF32 } from '../dtype.ts';
import { MergeStudioError } from '../errors.ts';
import { throwIfAborted, type ProgressCallback } from '../progress.ts';
import { readTensorBytes, type TensorInfo } from '../safetensors/index.ts';
import type { CausalLMConfig } from './config.ts';

/** Role of a tensor inside one decoder layer; the name template is data, not code. */
export type LayerTensorRole =
  | 'inputNorm' | 'q' | 'k' | 'v' | 'o' | 'qBias' | 'kBias' | 'vBias' | 'oBias' | 'qNorm' | 'kNorm'
  | 'postNorm' | 'gate' | 'up' | 'down';

const LAYER_TEMPLATES: Record<LayerTensorRole, string> = {
  inputNorm: 'model.layers.{i}.input_layernorm.weight',
  q: 'model.layers.{i}.self_attn.q_proj.weight',
  k: 'model.layers.{i}.self_attn.k_proj.weight',
  v: 'model.layers.{i}.self_attn.v_proj.weight',
  o: 'model.layers.{i}.self_attn.o_proj.weight',
  qBias: 'model.layers.{i}.self_attn.q_proj.bias',
  kBias: 'model.layers.{i}.self_attn.k_proj.bias',
  vBias: 'model.layers.{i}.self_attn.v_proj.bias',
  oBias: 'model.layers.{i}.self_attn.o_proj.bias',
  qNorm: 'model.layers.{i}.self_attn.q_norm.weight',
  kNorm: 'model.layers.{i}.self_attn.k_norm.weight',
  postNorm: 'model.layers.{i}.post_attention_layernorm.weight',
  gate: 'model.layers.{i}.mlp.gate_proj.weight',
  up: 'model.layers.{i}.mlp.up_proj.weight',
  down: 'model.layers.{i}.mlp.down_proj.weight',
};

export const EMBED_TENSOR = 'model.embed_tokens.weight';
export const FINAL_NORM_TENSOR = 'model.norm.weight';
export const LM_HEAD_TENSOR = 'lm_head.weight';

export function layerTensorName(role: LayerTensorRole, layer: number): string {
  return LAYER_TEMPLATES[role].replace('{i}', String(layer));
}

/** Every tensor the forward pass reads, with its expected shape, for this configuration. */
export function expectedTensors(c: CausalLMConfig): Map<string, number[]> {
  const H = c.hiddenSize, qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim, I = c.intermediateSize;
  const out = new Map<string, number[]>([[EMBED_TENSOR, [c.vocabSize, H]]]);
  for (let i = 0; i < c.numLayers; i++) {
    const shapes: Partial<Record<LayerTensorRole, number[]>> = {
      inputNorm: [H], q: [qDim, H], k: [kvDim, H], v: [kvDim, H], o: [H, qDim], postNorm: [H], gate: [I, H], up: [I, H], down: [H, I],
    };
    if (c.qkvBias) Object.assign(shapes, { qBias: [qDim], kBias: [kvDim], vBias: [kvDim] });
    if (c.outputBias) shapes.oBias = [H];
    if (c.qkNorm) Object.assign(shapes, { qNorm: [c.headDim], kNorm: [c.headDim] });
    for (const [role, shape] of Object.entries(shapes)) out.set(layerTensorName(role as LayerTensorRole, i), shape);
  }
  out.set(FINAL_NORM_TENSOR, [H]);
  if (!c.tiedEmbeddings) out.set(LM_HEAD_TENSOR, [c.vocabSize, H]);
  return out;
}

/** A tensor in host memory: float32 values, or the raw little-endian 16-bit words of bf16/f16. */
export type HostTensor =
  | { dtype: 'F32'; shape: number[]; data: Float32Array }
  | { dtype: 'BF16' | 'F16'; shape: number[]; data: Uint16Array };

export function hostTensorToF32(t: HostTensor): Float32Array {
  if (t.dtype === 'F32') return t.data;
  return decodeToF32(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), t.dtype);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

const LAYER_INDEX = /^model\.layers\.(\d+)\./;

/** The config's sizes against the tensors actually present, before anything is sized by them
 * (a config.json claiming 1e9 layers or a vocabulary of 1e12 must not allocate): each key that
 * disagrees is named with what the tensors say. */
export function checkConfigPlausible(c: CausalLMConfig, tensors: Map<string, { shape: number[] }>, where: string, configFile = `${where}/config.json`): void {
  const file = configFile;
  const fail = (key: string, message: string): never => {
    throw new MergeStudioError('eval-config-implausible', `${file}: ${message}`, { file, field: key });
  };
  let layers = 0;
  for (const name of tensors.keys()) {
    const m = LAYER_INDEX.exec(name);
    if (m) layers = Math.max(layers, Number(m[1]) + 1);
  }
  if (c.numLayers > layers) fail('num_hidden_layers', `num_hidden_layers is ${c.numLayers}, but the tensors hold ${layers === 0 ? 'no decoder layers' : `${layers} layer(s) (model.layers.0 to model.layers.${layers - 1})`}`);
  const embed = tensors.get(EMBED_TENSOR)?.shape;
  if (embed?.length === 2) {
    if (c.vocabSize !== embed[0]) fail('vocab_size', `vocab_size is ${c.vocabSize}, but ${EMBED_TENSOR} has ${embed[0]} rows (shape ${JSON.stringify(embed)})`);
    if (c.hiddenSize !== embed[1]) fail('hidden_size', `hidden_size is ${c.hiddenSize}, but ${EMBED_TENSOR} has ${embed[1]} columns (shape ${JSON.stringify(embed)})`);
  }
  const gate = tensors.get(layerTensorName('gate', 0))?.shape;
  if (gate?.length === 2 && c.intermediateSize !== gate[0]) fail('intermediate_size', `intermediate_size is ${c.intermediateSize}, but ${layerTensorName('gate', 0)} has ${gate[0]} rows (shape ${JSON.stringify(gate)})`);
  const q = tensors.get(layerTensorName('q', 0))?.shape;
  if (q?.length === 2 && c.numHeads * c.headDim !== q[0]) {
    fail('num_attention_heads', `num_attention_heads ${c.numHeads} x head_dim ${c.headDim} is ${c.numHeads * c.headDim}, but ${layerTensorName('q', 0)} has ${q[0]} rows (shape ${JSON.stringify(q)})`);
  }
  const k = tensors.get(layerTensorName('k', 0))?.shape;
  if (k?.length === 2 && c.numKvHeads * c.headDim !== k[0]) {
    fail('num_key_value_heads', `num_key_value_heads ${c.numKvHeads} x head_dim ${c.headDim} is ${c.numKvHeads * c.headDim}, but ${layerTensorName('k', 0)} has ${k[0]} rows (shape ${JSON.stringify(k)})`);
  }
}

/** Checks that every needed tensor is present with the right shape and a float dtype we read. */
export function checkTensorInventory(c: CausalLMConfig, tensors: Map<string, { shape: number[]; dtype: DType; file?: string }>, where: string, configFile?: string): void {
  checkConfigPlausible(c, tensors, where, configFile);
  for (const [name, shape] of expectedTensors(c)) {
    const t = tensors.get(name);
    if (!t) {
      const hint = name === LM_HEAD_TENSOR ? ' (tie_word_embeddings is false in config.json)' : '';
      throw new MergeStudioError('eval-tensor-missing', `${where}: tensor '${name}' is missing${hint}`, { tensor: name, file: where });
    }
    if (!sameShape(t.shape, shape)) {
      throw new MergeStudioError('eval-tensor-shape', `${where}: tensor '${name}' has shape ${JSON.stringify(t.shape)}, config.json implies ${JSON.stringify(shape)}`, { tensor: name, file: t.file ?? where, expected: shape, found: t.shape });
    }
    if (t.dtype !== 'F32' && t.dtype !== 'BF16' && t.dtype !== 'F16') {
      throw new MergeStudioError('eval-tensor-dtype', `${where}: tensor '${name}' is ${t.dtype}; the runtime reads F32, BF16 or F16`, { tensor: name, file: t.file ?? where, found: t.dtype });
    }
  }
}

/** Reads every tensor the forward pass needs, keeping 16-bit weights as raw words. */
export async function readHostTensors(
  c: CausalLMConfig,
  tensors: Map<string, TensorInfo>,
  where: string,
  opts: { signal?: AbortSignal; onProgress?: ProgressCallback } = {},
): Promise<Map<string, HostTensor>> {
  checkTensorInventory(c, tensors, where);
  const names = [...expectedTensors(c).keys()];
  const out = new Map<string, HostTensor>();
  let done = 0;
  for (const name of names) {
    throwIfAborted(opts.signal);
    const info = tensors.get(name)!;
    const bytes = await readTensorBytes(info, opts.signal);
    // Copy into an aligned buffer: a tensor's offset inside the file need not be 4-byte aligned.
    const aligned = new Uint8Array(bytes.byteLength);
    aligned.set(bytes);
    out.set(name, info.dtype === 'F32'
      ? { dtype: 'F32', shape: info.shape, data: new Float32Array(aligned.buffer) }
      : { dtype: info.dtype as 'BF16' | 'F16', shape: info.shape, data: new Uint16Array(aligned.buffer) });
    done++;
    opts.onProgress?.({ phase: 'read-weights', done, total: names.length, message: name });
  }
  return out;
}
