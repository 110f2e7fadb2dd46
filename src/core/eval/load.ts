// Opening a model folder / repo for evaluation: config.json, tokenizer and weights, then a runtime
// on the chosen backend.
import { MergeStudioError } from '../errors.ts';
import type { FileTree } from '../io/types.ts';
import type { ProgressCallback } from '../progress.ts';
import { openSafetensorsModel, type TensorInfo } from '../safetensors/index.ts';
import { parseCausalLMConfig, type CausalLMConfig } from './config.ts';
import { CpuCausalLM } from './cpu.ts';
import type { CausalLM, EvalBackend } from './runtime.ts';
import { loadTokenizer, readOptionalJson, readTreeJson, type TextTokenizer } from './tokenizer.ts';
import { checkTensorInventory, readHostTensors, type HostTensor } from './weights.ts';

export interface EvalModelFiles {
  name: string;
  config: CausalLMConfig;
  tokenizer: TextTokenizer;
  tensors: Map<string, TensorInfo>;
  /** generation_config.json's max_new_tokens, the default length of exact-match generations. */
  maxNewTokens?: number;
}

/** max_new_tokens of a tree's generation_config.json, when it states one. */
export async function generationLimit(tree: FileTree, signal?: AbortSignal): Promise<number | undefined> {
  const gen = await readOptionalJson(tree, 'generation_config.json', await tree.list(signal), signal) as Record<string, unknown> | undefined;
  const n = gen?.max_new_tokens;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Reads config.json, the tokenizer and the safetensors headers, and checks the tensor inventory. */
export async function openEvalModel(tree: FileTree, signal?: AbortSignal): Promise<EvalModelFiles> {
  const files = await tree.list(signal);
  if (!files.includes('config.json')) throw new MergeStudioError('eval-config-missing', `${tree.name}: no config.json`, { file: tree.name });
  const config = parseCausalLMConfig(await readTreeJson(tree, 'config.json', signal), `${tree.name}/config.json`);
  const tokenizer = await loadTokenizer(tree, signal);
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new MergeStudioError('eval-vocab-mismatch', `${tree.name}: the tokenizer has ${tokenizer.vocabSize} tokens, more than config.json's vocab_size ${config.vocabSize}`, { file: tree.name });
  }
  const model = await openSafetensorsModel(tree, signal);
  checkTensorInventory(config, model.tensors, tree.name);
  return { name: tree.name, config, tokenizer, tensors: model.tensors, maxNewTokens: await generationLimit(tree, signal) };
}

export interface RuntimeOptions {
  backend?: EvalBackend;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
}

/** Creates a runtime from host tensors on the chosen backend (the WebGPU module loads on demand). */
export async function createRuntime(config: CausalLMConfig, weights: ReadonlyMap<string, HostTensor | Float32Array>, backend: EvalBackend = 'cpu'): Promise<CausalLM> {
  if (backend === 'cpu') return new CpuCausalLM(config, weights);
  const { createGpuCausalLM } = await import('./gpu.ts');
  return createGpuCausalLM(config, weights);
}

/** Opens a model and builds a runtime over its weights. */
export async function loadCausalLM(tree: FileTree, opts: RuntimeOptions = {}): Promise<{ files: EvalModelFiles; model: CausalLM }> {
  const files = await openEvalModel(tree, opts.signal);
  const weights = await readHostTensors(files.config, files.tensors, tree.name, opts);
  return { files, model: await createRuntime(files.config, weights, opts.backend) };
}
