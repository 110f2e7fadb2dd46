// Evaluating a merge without writing it: the engine merges into memory, the runtime takes those
// tensors as its weights, and later parameter changes re-merge and replace only affected tensors.
// The tokenizer is the merged model's, built from the files an export would write (the merged
// vocabulary's added tokens, the recipe's chat_template) and the merged config.json, so a recipe
// scores in memory exactly as its exported folder does.
import { mergeToStoredTensors, type MergeBackend, type Plan } from '../engine/index.ts';
import { memoryTree } from '../io/memory.ts';
import type { FileTree } from '../io/types.ts';
import type { ProgressCallback } from '../progress.ts';
import { tokenizerFiles } from '../tokenizer/export.ts';
import { parseCausalLMConfig, type CausalLMConfig } from './config.ts';
import { createRuntime, generationLimit } from './load.ts';
import type { CausalLM, EvalBackend } from './runtime.ts';
import { loadTokenizer, type TextTokenizer } from './tokenizer.ts';
import { checkTensorInventory, expectedTensors } from './weights.ts';

export interface MergedRuntime {
  model: CausalLM;
  tokenizer: TextTokenizer;
  config: CausalLMConfig;
  maxNewTokens?: number;
  /** Identifies the tokenizer (see mergedTokenizerKey): a plan with another key needs another tokenizer. */
  tokenizerKey: string;
}

export interface MergedRuntimeOptions {
  backend?: EvalBackend;
  mergeBackend?: MergeBackend;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  /** Evaluate merged tensors that hold NaN/Inf instead of refusing them (default false). */
  allowNonFinite?: boolean;
}

/** What decides the merged tokenizer's files: the tokenizer model, the merged vocabulary's tokens
 * and the chat template. Equal keys, equal tokenizers. */
export function mergedTokenizerKey(plan: Plan): string {
  const v = plan.vocabulary?.merged;
  return JSON.stringify([plan.tokenizerModel.id, plan.chatTemplate ?? null, v ? [v.source, v.tokenizerModel, v.appended, v.stripped] : null]);
}

/** The merged model's tokenizer files (as the export writes them) and its config.json, as a tree. */
export async function mergedTokenizerTree(plan: Plan, signal?: AbortSignal): Promise<FileTree> {
  const files = new Map<string, Uint8Array>();
  for (const f of await tokenizerFiles(plan, signal)) files.set(f.name, f.bytes);
  files.set('config.json', new TextEncoder().encode(JSON.stringify(plan.config)));
  return memoryTree(files, `${plan.tokenizerModel.id} (merged tokenizer)`);
}

/** The merged model's tokenizer and generation limit, as loading its exported folder gives them. */
export async function mergedTokenizer(plan: Plan, signal?: AbortSignal): Promise<{ tokenizer: TextTokenizer; maxNewTokens?: number; tokenizerKey: string }> {
  const tree = await mergedTokenizerTree(plan, signal);
  return { tokenizer: await loadTokenizer(tree, signal), maxNewTokens: await generationLimit(tree, signal), tokenizerKey: mergedTokenizerKey(plan) };
}

/** Merges `plan` in memory and builds a runtime over the result, with the merged model's tokenizer.
 * Each weight is held in its output dtype, as the exported model stores it (bf16 stays two bytes
 * on the host), so a recipe scores in memory as its exported folder does, and as the live loop
 * (live.ts), which merges into 16-bit GPU weights, scores it. */
export async function runtimeForPlan(plan: Plan, opts: MergedRuntimeOptions = {}): Promise<MergedRuntime> {
  const configFile = `${plan.tokenizerModel.id} (merged config.json)`;
  const config = parseCausalLMConfig(plan.config, configFile);
  // The merged config against the tensors the plan will produce, before anything is merged or sized.
  checkTensorInventory(config, new Map(plan.steps.map((s) => [s.output, { shape: s.shape, dtype: s.dtype }])), `${plan.tokenizerModel.id} (merged)`, configFile);
  const needed = expectedTensors(config);
  const merged = await mergeToStoredTensors(plan, { backend: opts.mergeBackend, signal: opts.signal, onProgress: opts.onProgress, allowNonFinite: opts.allowNonFinite, only: (name) => needed.has(name) });
  const { tokenizer, maxNewTokens, tokenizerKey } = await mergedTokenizer(plan, opts.signal);
  const model = await createRuntime(config, merged, opts.backend);
  return { model, tokenizer, config, maxNewTokens, tokenizerKey };
}

/** After the plan's parameters changed for some outputs: re-merges only those tensors and swaps
 * them into the runtime in place. Returns how many tensors were replaced. */
export async function remergeInto(model: CausalLM, plan: Plan, changed: ReadonlySet<string>, opts: Omit<MergedRuntimeOptions, 'backend'> = {}): Promise<number> {
  const needed = expectedTensors(model.config);
  const merged = await mergeToStoredTensors(plan, { backend: opts.mergeBackend, signal: opts.signal, onProgress: opts.onProgress, allowNonFinite: opts.allowNonFinite, only: (name) => changed.has(name) && needed.has(name) });
  // In their stored dtype, as runtimeForPlan holds them (16-bit weights stay 16-bit).
  await model.updateWeights(merged);
  return merged.size;
}
