// Architecture knowledge as data: for each supported family, the tensors it has before, inside and
// after its decoder layers. Everything else (unknown families, extra tensors) is classified
// generically by name, so unknown models still merge tensor by tensor.

export type ModuleKind = 'attention' | 'mlp' | 'norm' | 'embedding' | 'head' | 'other';

/** What one tensor is, as far as merging cares. */
export interface TensorRole {
  /** Decoder layer index, or null outside the layers. */
  layer: number | null;
  /** 'pre' = before the layers (embeddings), 'post' = after them (final norm, lm_head). */
  position: 'pre' | 'layer' | 'post';
  module: ModuleKind;
  /** Dimension 0 is the vocabulary (embeddings, lm_head): inputs may differ in size there. */
  embedLike: boolean;
}

export interface WeightTemplate {
  /** Tensor name; `{layer}` stands for the layer index. */
  name: string;
  module: ModuleKind;
  embedLike?: boolean;
  /** May be absent (a tied lm_head); then `tiedTo` names the tensor that stands in for it. */
  optional?: boolean;
  tiedTo?: string;
}

export interface Architecture {
  /** 'llama', 'mistral', 'qwen2', 'qwen3', or 'generic' for unknown families. */
  name: string;
  known: boolean;
  /** config.json keys naming this family (`architectures[0]` and `model_type`). */
  architectures: string[];
  modelTypes: string[];
  numLayersKey: string;
  preWeights: WeightTemplate[];
  layerWeights: WeightTemplate[];
  postWeights: WeightTemplate[];
}

const EMBED = 'model.embed_tokens.weight';
const PRE: WeightTemplate[] = [{ name: EMBED, module: 'embedding', embedLike: true }];
const POST: WeightTemplate[] = [
  { name: 'model.norm.weight', module: 'norm' },
  { name: 'lm_head.weight', module: 'head', embedLike: true, optional: true, tiedTo: EMBED },
];
const layer = (suffix: string, module: ModuleKind): WeightTemplate => ({ name: `model.layers.{layer}.${suffix}`, module });
const LLAMA_LAYER: WeightTemplate[] = [
  layer('input_layernorm.weight', 'norm'),
  layer('self_attn.q_proj.weight', 'attention'),
  layer('self_attn.k_proj.weight', 'attention'),
  layer('self_attn.v_proj.weight', 'attention'),
  layer('self_attn.o_proj.weight', 'attention'),
  layer('post_attention_layernorm.weight', 'norm'),
  layer('mlp.gate_proj.weight', 'mlp'),
  layer('mlp.up_proj.weight', 'mlp'),
  layer('mlp.down_proj.weight', 'mlp'),
];

function family(name: string, architectures: string[], modelTypes: string[], layerWeights: WeightTemplate[]): Architecture {
  return { name, known: true, architectures, modelTypes, numLayersKey: 'num_hidden_layers', preWeights: PRE, layerWeights, postWeights: POST };
}

/** Supported families. SmolLM checkpoints are LlamaForCausalLM and use the llama entry. */
export const ARCHITECTURES: Architecture[] = [
  family('llama', ['LlamaForCausalLM', 'LLaMaForCausalLM'], ['llama'], LLAMA_LAYER),
  family('mistral', ['MistralForCausalLM'], ['mistral'], LLAMA_LAYER),
  family('qwen2', ['Qwen2ForCausalLM'], ['qwen2'], [
    ...LLAMA_LAYER,
    layer('self_attn.q_proj.bias', 'attention'),
    layer('self_attn.k_proj.bias', 'attention'),
    layer('self_attn.v_proj.bias', 'attention'),
  ]),
  family('qwen3', ['Qwen3ForCausalLM'], ['qwen3'], [
    ...LLAMA_LAYER,
    layer('self_attn.q_norm.weight', 'attention'),
    layer('self_attn.k_norm.weight', 'attention'),
  ]),
];

const GENERIC: Architecture = {
  name: 'generic', known: false, architectures: [], modelTypes: [], numLayersKey: 'num_hidden_layers', preWeights: [], layerWeights: [], postWeights: [],
};

/** The family of a model from its config.json; unknown families get the generic, by-name one and
 * a notice saying so. */
export function architectureOf(config: Record<string, unknown>): { architecture: Architecture; notice?: string } {
  const archs = Array.isArray(config.architectures) ? config.architectures.filter((a): a is string => typeof a === 'string') : [];
  const modelType = typeof config.model_type === 'string' ? config.model_type : undefined;
  const found = ARCHITECTURES.find((a) => archs.some((x) => a.architectures.includes(x))) ?? ARCHITECTURES.find((a) => modelType !== undefined && a.modelTypes.includes(modelType));
  if (found) return { architecture: found };
  const what = archs[0] ?? modelType ?? 'an unnamed architecture';
  return { architecture: GENERIC, notice: `${what} is not a known architecture: layers are found by the '.layers.N.' pattern and tensors are merged by name` };
}

const LAYER_PATTERN = /(^|\.)layers\.(\d+)\./;

/** Layer index in a tensor name (`...layers.N....`), or null. */
export function layerIndexOf(name: string): number | null {
  const m = LAYER_PATTERN.exec(name);
  return m ? Number(m[2]) : null;
}

/** The same tensor name at another layer index. */
export function withLayerIndex(name: string, layerIndex: number): string {
  return name.replace(LAYER_PATTERN, (_, lead: string) => `${lead}layers.${layerIndex}.`);
}

function moduleByName(name: string): ModuleKind {
  if (/lm_head|(^|\.)output\.weight$/.test(name)) return 'head';
  if (/embed|wte|wpe/.test(name)) return 'embedding';
  if (/attn|attention/.test(name)) return 'attention';
  if (/mlp|feed_forward|ffn/.test(name)) return 'mlp';
  if (/norm|ln_/.test(name)) return 'norm';
  return 'other';
}

function templateFor(arch: Architecture, name: string, layerIdx: number | null): WeightTemplate | undefined {
  if (layerIdx === null) return [...arch.preWeights, ...arch.postWeights].find((w) => w.name === name);
  const template = withLayerIndex(name, 0).replace(LAYER_PATTERN, (_, lead: string) => `${lead}layers.{layer}.`);
  return arch.layerWeights.find((w) => w.name === template);
}

/** Role of a tensor: from the family's templates when it has one, else from its name. */
export function tensorRole(arch: Architecture, name: string): TensorRole {
  const layerIdx = layerIndexOf(name);
  const template = templateFor(arch, name, layerIdx);
  const module = template?.module ?? moduleByName(name);
  const embedLike = template?.embedLike ?? (module === 'embedding' || module === 'head');
  let position: TensorRole['position'] = 'layer';
  if (layerIdx === null) {
    const pre = template ? arch.preWeights.includes(template) : module === 'embedding';
    position = pre ? 'pre' : 'post';
  }
  return { layer: layerIdx, position, module, embedLike };
}

/** The family's template for a non-layer tensor name (e.g. to learn that lm_head may be tied). */
export function weightTemplate(arch: Architecture, name: string): WeightTemplate | undefined {
  return templateFor(arch, name, layerIndexOf(name));
}

/** Tensors a model of this family must have in layer `index` (empty for unknown families). */
export function expectedLayerTensors(arch: Architecture, index: number): string[] {
  return arch.layerWeights.map((w) => w.name.replace('{layer}', String(index)));
}
