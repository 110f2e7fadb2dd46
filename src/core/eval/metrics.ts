// Running a task on a runtime: exact match by greedy generation, multiple choice by summed
// log-likelihood, perplexity over text. The same code serves both backends.
import { throwIfAborted, type ProgressCallback } from '../progress.ts';
import type { CausalLM, GenerateOptions } from './runtime.ts';
import { subsetIndices, type ChoiceItem, type EvalTask, type GenerationItem, type Prompt, type TaskKind, type TextItem } from './tasks.ts';
import type { TextTokenizer } from './tokenizer.ts';

export interface EvalOptions {
  /** Evaluate only the first `limit` items of the seeded order (the search's fidelity levels). */
  limit?: number;
  /** Seed of the item order (default 0). */
  seed?: number;
  /** New tokens allowed per exact-match item (default 32). */
  maxNewTokens?: number;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
}

export interface TaskResult {
  task: string;
  kind: TaskKind;
  items: number;
  /** exact_match, or accuracy and accuracy_norm, or perplexity and nll_per_token (plus tokens). */
  metrics: Record<string, number>;
  /** Per item, in evaluation order: correct (1/0) for exact match and multiple choice, NLL sum for perplexity. */
  perItem: { index: number; score: number; output?: string }[];
  seconds: number;
}

export const DEFAULT_MAX_NEW_TOKENS = 32;

/** A prompt as the model is fed it: `text` is what its tokens spell (the rendered chat for a
 * conversation), `ids` what the model reads, `body` the text's tokens without special tokens. */
export interface PreparedPrompt { text: string; ids: Int32Array; body: number[] }

/** Plain text: the tokenizer's special prefix (BOS where transformers adds one) + its tokens.
 * A conversation: its chat template rendered with the generation prompt, tokenized without special
 * tokens (the template writes its own BOS), as transformers' apply_chat_template(tokenize=True). */
export function preparePrompt(tok: TextTokenizer, prompt: Prompt): PreparedPrompt {
  if (typeof prompt === 'string') {
    return { text: prompt, ids: tok.encodePrompt(prompt), body: tok.encode(prompt) };
  }
  const text = tok.applyChatTemplate(prompt, { addGenerationPrompt: true });
  const body = tok.encode(text);
  return { text, ids: Int32Array.from(body), body };
}

/** A whole training/scoring sequence: prompt followed by its answer (a chat item's answer becomes
 * the assistant's turn, rendered by the template without a generation prompt). */
export function sequenceWithAnswer(tok: TextTokenizer, prompt: Prompt, answer: string): Int32Array {
  if (typeof prompt === 'string') return tok.encodePrompt(prompt + answer);
  return Int32Array.from(tok.encode(tok.applyChatTemplate([...prompt, { role: 'assistant', content: answer }], { addGenerationPrompt: false })));
}

/** The continuation's own tokens after the prompt: the tail of encode(prompt + continuation) when
 * the prompt's tokens are its prefix (merges across the boundary stay as the model saw them in
 * training), else the continuation encoded alone. */
export function continuationTokens(tok: TextTokenizer, prompt: string, continuation: string, promptTokens: number[]): Int32Array {
  const joint = tok.encode(prompt + continuation);
  const isPrefix = joint.length > promptTokens.length && promptTokens.every((t, i) => joint[i] === t);
  return Int32Array.from(isPrefix ? joint.slice(promptTokens.length) : tok.encode(continuation));
}

/** The generated text after the prompt, cut at the first newline. Decoded together with the prompt:
 * SentencePiece decoders strip the first token's leading space when it starts the text, which
 * would turn " answer" into "answer". */
function lineAfterPrompt(tok: TextTokenizer, promptIds: Int32Array, ids: number[]): string {
  const before = tok.decode(Array.from(promptIds));
  const full = tok.decode([...Array.from(promptIds), ...ids]);
  const text = full.startsWith(before) ? full.slice(before.length) : tok.decode(ids);
  const nl = text.indexOf('\n');
  return nl < 0 ? text : text.slice(0, nl);
}

function lineOptions(tok: TextTokenizer, maxNewTokens: number, signal?: AbortSignal): GenerateOptions {
  return { maxNewTokens, stopIds: tok.eosIds, stop: (generated) => tok.decode(generated).includes('\n'), signal };
}

/** Greedy generation until a newline, an EOS or `maxNewTokens`; the text before the newline. */
export async function generateLine(model: CausalLM, tok: TextTokenizer, prompt: Prompt, maxNewTokens: number, signal?: AbortSignal): Promise<string> {
  const promptIds = preparePrompt(tok, prompt).ids;
  return lineAfterPrompt(tok, promptIds, await model.generate(promptIds, lineOptions(tok, maxNewTokens, signal)));
}

/** Items generated together per batch (the CPU backend advances a batch in one matmul per weight). */
const GENERATION_BATCH = 32;

async function exactMatch(model: CausalLM, tok: TextTokenizer, items: GenerationItem[], order: number[], opts: EvalOptions, tick: () => void): Promise<Pick<TaskResult, 'metrics' | 'perItem'>> {
  const perItem: TaskResult['perItem'] = [];
  const maxNew = opts.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
  for (let start = 0; start < order.length; start += GENERATION_BATCH) {
    throwIfAborted(opts.signal);
    const batch = order.slice(start, start + GENERATION_BATCH);
    const prompts = batch.map((i) => preparePrompt(tok, items[i].prompt).ids);
    const generated = await model.generateMany(prompts, lineOptions(tok, maxNew, opts.signal));
    batch.forEach((index, j) => {
      const output = lineAfterPrompt(tok, prompts[j], generated[j]);
      perItem.push({ index, score: output === items[index].answer ? 1 : 0, output });
      tick();
    });
  }
  return { metrics: { exact_match: mean(perItem.map((p) => p.score)) }, perItem };
}

async function multipleChoice(model: CausalLM, tok: TextTokenizer, items: ChoiceItem[], order: number[], opts: EvalOptions, tick: () => void): Promise<Pick<TaskResult, 'metrics' | 'perItem'>> {
  const perItem: TaskResult['perItem'] = [];
  let correctNorm = 0;
  for (const index of order) {
    throwIfAborted(opts.signal);
    const item = items[index];
    const prompt = preparePrompt(tok, item.prompt);
    const conts = item.choices.map((c) => continuationTokens(tok, prompt.text, c, prompt.body));
    const logProbs = await model.continuationLogProbs(prompt.ids, conts, opts.signal);
    const sums = logProbs.map((lp) => lp.reduce((a, b) => a + b, 0));
    // Length-normalised accuracy divides by the choice's length in characters, as lm-evaluation-harness does.
    const best = argmax(sums);
    const bestNorm = argmax(sums.map((s, j) => s / item.choices[j].length));
    perItem.push({ index, score: best === item.label ? 1 : 0, output: item.choices[best] });
    if (bestNorm === item.label) correctNorm++;
    tick();
  }
  return { metrics: { accuracy: mean(perItem.map((p) => p.score)), accuracy_norm: correctNorm / Math.max(1, perItem.length) }, perItem };
}

/** Perplexity items scored together (one forward pass over their rows, in chunks that fit). */
const PERPLEXITY_BATCH = 16;

async function perplexity(model: CausalLM, tok: TextTokenizer, items: TextItem[], order: number[], opts: EvalOptions, tick: () => void): Promise<Pick<TaskResult, 'metrics' | 'perItem'>> {
  const perItem: TaskResult['perItem'] = [];
  let nll = 0, tokens = 0;
  for (let a = 0; a < order.length; a += PERPLEXITY_BATCH) {
    throwIfAborted(opts.signal);
    const batch = order.slice(a, a + PERPLEXITY_BATCH);
    // Without a BOS the first token has no context, so it is context only and never a target.
    const lps = await model.sequenceLogProbs(batch.map((index) => tok.encodePrompt(items[index].text)), opts.signal);
    batch.forEach((index, k) => {
      const itemNll = -lps[k].reduce((x, y) => x + y, 0);
      nll += itemNll;
      tokens += lps[k].length;
      perItem.push({ index, score: itemNll });
      tick();
    });
  }
  const perToken = tokens > 0 ? nll / tokens : NaN;
  return { metrics: { perplexity: Math.exp(perToken), nll_per_token: perToken, tokens }, perItem };
}

function mean(xs: number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Index of the largest value, the first on ties (Python's max over range). */
function argmax(xs: number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

/** Evaluates one task (or its seeded subset) and returns its metrics. */
export async function evaluateTask(model: CausalLM, tok: TextTokenizer, task: EvalTask, opts: EvalOptions = {}): Promise<TaskResult> {
  const started = performance.now();
  const order = subsetIndices(task.items.length, opts.limit, opts.seed ?? 0);
  let done = 0;
  const tick = () => opts.onProgress?.({ phase: 'evaluate', done: ++done, total: order.length, message: task.name });
  const run = task.kind === 'exact_match'
    ? await exactMatch(model, tok, task.items, order, opts, tick)
    : task.kind === 'multiple_choice'
      ? await multipleChoice(model, tok, task.items, order, opts, tick)
      : await perplexity(model, tok, task.items, order, opts, tick);
  return { task: task.name, kind: task.kind, items: order.length, ...run, seconds: (performance.now() - started) / 1000 };
}
