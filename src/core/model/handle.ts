// A model as the engine sees it before any weight is read: config.json, the tensor index from the
// safetensors headers, the tokenizer files present, and the architecture that names its layers.
import { MergeStudioError } from '../errors.ts';
import type { FileTree } from '../io/types.ts';
import { throwIfAborted } from '../progress.ts';
import { openSafetensorsModel, type TensorInfo } from '../safetensors/index.ts';
import { architectureOf, tensorRole, type Architecture, type TensorRole } from './architecture.ts';

/** config.json as parsed; the fields the engine reads are typed, the rest kept as is. */
export type ModelConfig = Record<string, unknown> & {
  architectures?: string[];
  model_type?: string;
  num_hidden_layers?: number;
  vocab_size?: number;
  tie_word_embeddings?: boolean;
  torch_dtype?: string;
};

export interface ModelHandle {
  /** The reference the model was opened by (folder path, Hub id). */
  id: string;
  tree: FileTree;
  config: ModelConfig;
  tensors: Map<string, TensorInfo>;
  /** Tokenizer and generation files present in the tree, copied into an export. */
  tokenizerFiles: string[];
  architecture: Architecture;
  /** Decoder layers: config's num_hidden_layers, else one more than the highest layer index. */
  numLayers: number;
  /** Things worth telling the user (unknown architecture, shard warnings). */
  notices: string[];
  layerOf(name: string): number | null;
  roleOf(name: string): TensorRole;
}

/** Files that travel with a tokenizer (the set mergekit copies, plus vocab.json). */
export const TOKENIZER_FILES = [
  'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer.model', 'added_tokens.json',
  'merges.txt', 'vocab.json', 'chat_template.jinja', 'chat_template.json', 'generation_config.json',
];

async function readJson(tree: FileTree, path: string, signal?: AbortSignal): Promise<unknown> {
  const source = await tree.open(path, signal);
  const bytes = await source.read(0, source.size, signal);
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new MergeStudioError('model-config-invalid', `${tree.name}/${path}: not valid JSON (${err instanceof Error ? err.message : String(err)})`, { file: `${tree.name}/${path}` });
  }
}

/** Opens a model: reads config.json and every safetensors header, no tensor data. */
export async function openModel(tree: FileTree, signal?: AbortSignal, id = tree.name): Promise<ModelHandle> {
  throwIfAborted(signal);
  const files = await tree.list(signal);
  if (!files.includes('config.json')) {
    throw new MergeStudioError('model-no-config', `${tree.name}: no config.json; a model folder needs config.json next to its .safetensors files`, { file: tree.name });
  }
  const config = await readJson(tree, 'config.json', signal);
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new MergeStudioError('model-config-invalid', `${tree.name}/config.json: expected a JSON object`, { file: `${tree.name}/config.json` });
  }
  const st = await openSafetensorsModel(tree, signal);
  const { architecture, notice } = architectureOf(config as Record<string, unknown>);
  const notices = [...(notice ? [`${id}: ${notice}`] : []), ...st.warnings.map((w) => `${id}: ${w}`)];
  const cfg = config as ModelConfig;
  // Layers the tensors hold: one more than the highest layer index in their names.
  let tensorLayers = 0;
  for (const name of st.tensors.keys()) tensorLayers = Math.max(tensorLayers, (tensorRole(architecture, name).layer ?? -1) + 1);
  const key = architecture.numLayersKey;
  const stated = cfg[key];
  let numLayers = tensorLayers;
  if (stated !== undefined && stated !== null) {
    if (typeof stated !== 'number' || !Number.isSafeInteger(stated) || stated < 0) {
      throw new MergeStudioError('model-config-invalid', `${tree.name}/config.json: '${key}' must be a non-negative integer, found ${JSON.stringify(stated)}`, { file: `${tree.name}/config.json`, field: key });
    }
    // Checked against the tensors before anything is sized by it (a config claiming 1e9 layers
    // would otherwise plan a billion layers).
    if (stated > tensorLayers) {
      throw new MergeStudioError(
        'model-config-implausible',
        `${tree.name}/config.json: '${key}' is ${stated}, but the safetensors files hold ${tensorLayers === 0 ? 'no layer tensors' : `${tensorLayers} layer(s) (layer indices 0 to ${tensorLayers - 1})`}`,
        { file: `${tree.name}/config.json`, field: key, found: stated, tensors: tensorLayers },
      );
    }
    numLayers = stated;
  }
  const roles = new Map<string, TensorRole>();
  const roleOf = (name: string): TensorRole => {
    let r = roles.get(name);
    if (!r) roles.set(name, (r = tensorRole(architecture, name)));
    return r;
  };
  return {
    id,
    tree,
    config: cfg,
    tensors: st.tensors,
    tokenizerFiles: TOKENIZER_FILES.filter((f) => files.includes(f)),
    architecture,
    numLayers,
    notices,
    layerOf: (name) => roleOf(name).layer,
    roleOf,
  };
}
