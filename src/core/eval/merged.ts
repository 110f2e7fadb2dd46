// Evaluating a merge without writing it: the engine merges into memory, the runtime takes those
// tensors as its weights, and later parameter changes re-merge and replace only affected tensors.
import { mergeToMemory, type MergeBackend, type Plan } from '../engine/index.ts';
import type { ProgressCallback } from '../progress.ts';
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
}

export interface MergedRuntimeOptions {
  backend?: EvalBackend;
  mergeBackend?: MergeBackend;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  /** Evaluate merged tensors that hold NaN/Inf instead of refusing them (default false). */
  allowNonFinite?: boolean;
}

/** Merges `plan` in memory and builds a runtime over the result (tokenizer from the plan's tokenizer model). */
export async function runtimeForPlan(plan: Plan, opts: MergedRuntimeOptions = {}): Promise<MergedRuntime> {
  const configFile = `${plan.tokenizerModel.id} (merged config.json)`;
  const config = parseCausalLMConfig(plan.config, configFile);
  // The merged config against the tensors the plan will produce, before anything is merged or sized.
  checkTensorInventory(config, new Map(plan.steps.map((s) => [s.output, { shape: s.shape, dtype: s.dtype }])), `${plan.tokenizerModel.id} (merged)`, configFile);
  const needed = expectedTensors(config);
  const merged = await mergeToMemory(plan, { backend: opts.mergeBackend, signal: opts.signal, onProgress: opts.onProgress, allowNonFinite: opts.allowNonFinite, only: (name) => needed.has(name) });
  const tokenizer = await loadTokenizer(plan.tokenizerModel.tree, opts.signal);
  const model = await createRuntime(config, merged, opts.backend);
  return { model, tokenizer, config, maxNewTokens: await generationLimit(plan.tokenizerModel.tree, opts.signal) };
}

/** After the plan's parameters changed for some outputs: re-merges only those tensors and swaps
 * them into the runtime in place. Returns how many tensors were replaced. */
export async function remergeInto(model: CausalLM, plan: Plan, changed: ReadonlySet<string>, opts: Omit<MergedRuntimeOptions, 'backend'> = {}): Promise<number> {
  const needed = expectedTensors(model.config);
  const merged = await mergeToMemory(plan, { backend: opts.mergeBackend, signal: opts.signal, onProgress: opts.onProgress, allowNonFinite: opts.allowNonFinite, only: (name) => changed.has(name) && needed.has(name) });
  await model.updateWeights(merged);
  return merged.size;
}
