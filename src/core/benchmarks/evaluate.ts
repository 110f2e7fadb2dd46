// Scores a loaded benchmark on a runtime the way lm-evaluation-harness scores it with a Hugging
// Face model:
// - multiple choice (lm_eval/api/model.py _encode_pair; lm_eval/api/task.py process_results):
//   trailing spaces of the context move to the continuation; the context and context+continuation
//   are encoded with the tokenizer's special tokens (encodePrompt), and the continuation's tokens are
//   the tail of the whole beyond the context's length; acc = argmax of the summed log-likelihoods,
//   acc_norm = argmax of the sums divided by each choice's length in characters;
// - generate_until (lm_eval/models/huggingface.py generate_until; lm_eval/filters/extraction.py
//   RegexFilter; lm_eval/api/metrics.py exact_match_hf_evaluate): greedy decoding of up to
//   max_gen_toks tokens, cut at the first `until` string (the EOS text included), each filter's
//   regex applied (findall, group_select, first non-empty group, strip, fallback), then exact match
//   after removing `regexes_to_ignore` from prediction and reference (and lower-casing).
import { MergeStudioError } from '../errors.ts';
import { throwIfAborted, type ProgressCallback } from '../progress.ts';
import type { TaskResult } from '../eval/metrics.ts';
import type { CausalLM } from '../eval/runtime.ts';
import { subsetIndices } from '../eval/tasks.ts';
import type { TextTokenizer } from '../eval/tokenizer.ts';
import type { GenerationSpec } from './definitions.ts';
import { checkIfEval, ifevalSupported, UNSUPPORTED_INSTRUCTIONS } from './ifeval.ts';
import type { LoadedBenchmark } from './load.ts';
import type { BenchmarkRequest } from './prompt.ts';

export interface BenchmarkEvalOptions {
  /** Evaluate the first `limit` items of the seeded order of the loaded documents (fidelity). */
  limit?: number;
  seed?: number;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  /** lm-eval's --apply_chat_template: contexts rendered by the model's chat template. */
  chat?: boolean;
}

/** The context of pair `i` as the model reads it: plain text, or the chat template's rendering of
 * the system (description) and user messages with the generation prompt. */
function contextOf(tok: TextTokenizer, req: BenchmarkRequest, i: number, chat: boolean): { context: string; continuation: string } {
  if (!chat) return req.kind === 'multiple_choice' ? req.pairs[i] : { context: req.context, continuation: '' };
  const messages = [...(req.chat.system ? [{ role: 'system', content: req.chat.system }] : []), { role: 'user', content: req.chat.user[i] }];
  const context = tok.applyChatTemplate(messages, { addGenerationPrompt: true });
  return { context, continuation: req.chat.continuation?.[i] ?? '' };
}

/** A Python regex (as in lm-eval's YAML) as a JavaScript one: a leading `(?s)` becomes the s flag. */
export function pyRegex(pattern: string, global: boolean): RegExp {
  let flags = global ? 'gu' : 'u';
  let src = pattern;
  const inline = /^\(\?([aiLmsux]+)\)/.exec(src);
  if (inline) {
    src = src.slice(inline[0].length);
    if (inline[1].includes('s')) flags += 's';
    if (inline[1].includes('i')) flags += 'i';
    if (inline[1].includes('m')) flags += 'm';
  }
  // Python allows escaping characters JavaScript's u flag rejects (e.g. `\-` outside a class).
  src = src.replace(/\\([-,])/g, (_, c: string) => (c === '-' ? '\\x2d' : ','));
  return new RegExp(src, flags);
}

/** lm-eval's RegexFilter on one response. */
export function applyRegexFilter(response: string, regex: string, groupSelect: number, fallback: string): string {
  const re = pyRegex(regex, true);
  const matches = [...response.matchAll(re)];
  if (matches.length === 0) return fallback;
  const pick = matches[groupSelect < 0 ? matches.length + groupSelect : groupSelect];
  if (!pick) return fallback;
  // re.findall: the whole match without groups, the group with one, a tuple with several.
  const groups = pick.slice(1);
  let value: string;
  if (groups.length === 0) value = pick[0];
  else if (groups.length === 1) value = groups[0] ?? '';
  else {
    const nonEmpty = groups.filter((g) => g);
    if (nonEmpty.length === 0) return fallback;
    value = nonEmpty[0]!;
  }
  return value.trim();
}

/** exact_match_hf_evaluate for one prediction. */
export function exactMatch(prediction: string, reference: string, spec: Pick<GenerationSpec, 'regexesToIgnore' | 'ignoreCase'>): boolean {
  let p = prediction;
  let r = reference;
  for (const s of spec.regexesToIgnore) {
    const re = pyRegex(s, true);
    p = p.replace(re, '');
    r = r.replace(re, '');
  }
  if (spec.ignoreCase) {
    p = p.toLowerCase();
    r = r.toLowerCase();
  }
  return p === r;
}

/** Context and continuation tokens as lm-eval's _encode_pair makes them for causal models. */
export function encodePair(tok: TextTokenizer, context: string, continuation: string): { context: Int32Array; continuation: Int32Array } {
  const trimmed = context.replace(/\s+$/u, '');
  const moved = context.slice(trimmed.length);
  const ctx = tok.encodePrompt(trimmed);
  const whole = tok.encodePrompt(trimmed + moved + continuation);
  return { context: ctx, continuation: whole.slice(ctx.length) };
}

function argmax(xs: number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

async function scoreChoice(model: CausalLM, tok: TextTokenizer, req: Extract<BenchmarkRequest, { kind: 'multiple_choice' }>, chat: boolean, signal?: AbortSignal): Promise<{ acc: number; accNorm: number; pred: number }> {
  const sums: number[] = new Array(req.pairs.length);
  const pairs = req.pairs.map((_, i) => contextOf(tok, req, i, chat));
  // Pairs that share a context are scored from one prefix run.
  const byContext = new Map<string, number[]>();
  pairs.forEach((p, i) => byContext.set(p.context, [...(byContext.get(p.context) ?? []), i]));
  for (const [, idx] of byContext) {
    const enc = idx.map((i) => encodePair(tok, pairs[i].context, pairs[i].continuation));
    const lps = await model.continuationLogProbs(enc[0].context, enc.map((e) => e.continuation), signal);
    idx.forEach((i, j) => (sums[i] = lps[j].reduce((a, b) => a + b, 0)));
  }
  const pred = argmax(sums);
  const predNorm = argmax(sums.map((s, i) => s / req.choiceLengths[i]));
  return { acc: pred === req.gold ? 1 : 0, accNorm: predNorm === req.gold ? 1 : 0, pred };
}

async function generateUntil(model: CausalLM, tok: TextTokenizer, context: string, spec: GenerationSpec, signal?: AbortSignal): Promise<string> {
  const prompt = tok.encodePrompt(context);
  // lm-eval adds the EOS token's text to `until`; decode() drops special tokens, so stopping on the
  // EOS ids (stopIds) covers it.
  const until = spec.until;
  const ids = await model.generate(prompt, {
    maxNewTokens: spec.maxGenToks,
    stopIds: tok.eosIds,
    stop: (generated) => {
      const text = tok.decode(generated);
      return until.some((u) => u.length > 0 && text.includes(u));
    },
    signal,
  });
  let text = tok.decode(ids);
  for (const u of until) if (u.length > 0) text = text.split(u)[0];
  return text;
}

/** Evaluates a loaded benchmark (or its seeded subset). */
export async function evaluateBenchmark(model: CausalLM, tok: TextTokenizer, loaded: LoadedBenchmark, opts: BenchmarkEvalOptions = {}): Promise<TaskResult> {
  const started = performance.now();
  const { def, requests } = loaded;
  const order = subsetIndices(requests.length, opts.limit, opts.seed ?? 0);
  const perItem: TaskResult['perItem'] = [];
  let done = 0;
  if (def.outputType === 'multiple_choice') {
    let norm = 0;
    for (const index of order) {
      throwIfAborted(opts.signal);
      const req = requests[index];
      if (req.kind !== 'multiple_choice') throw new Error('unreachable');
      const r = await scoreChoice(model, tok, req, opts.chat ?? false, opts.signal);
      perItem.push({ index, score: r.acc, output: String(r.pred) });
      norm += r.accNorm;
      opts.onProgress?.({ phase: 'evaluate', done: ++done, total: order.length, message: def.name });
    }
    const acc = perItem.reduce((a, p) => a + p.score, 0) / Math.max(1, perItem.length);
    const metrics: Record<string, number> = { acc, accuracy: acc };
    if (def.metrics.includes('acc_norm')) {
      metrics.acc_norm = norm / Math.max(1, perItem.length);
      metrics.accuracy_norm = metrics.acc_norm;
    }
    return { task: def.name, kind: 'multiple_choice', items: order.length, metrics, perItem, seconds: (performance.now() - started) / 1000 };
  }
  const spec = def.generation!;
  if (def.instructionFollowing) return scoreInstructionFollowing(model, tok, loaded, order, spec, opts, started);
  let flexible = 0;
  for (const index of order) {
    throwIfAborted(opts.signal);
    const req = requests[index];
    if (req.kind !== 'generate_until') throw new Error('unreachable');
    const output = await generateUntil(model, tok, contextOf(tok, req, 0, opts.chat ?? false).context, spec, opts.signal);
    const [strict, flex] = spec.filters.map((f) => exactMatch(applyRegexFilter(output, f.regex, f.groupSelect, f.fallback), req.target, spec));
    perItem.push({ index, score: strict ? 1 : 0, output });
    if (flex) flexible++;
    opts.onProgress?.({ phase: 'evaluate', done: ++done, total: order.length, message: def.name });
  }
  const em = perItem.reduce((a, p) => a + p.score, 0) / Math.max(1, perItem.length);
  return {
    task: def.name,
    kind: 'exact_match',
    items: order.length,
    metrics: { exact_match: em, exact_match_flexible: flexible / Math.max(1, perItem.length) },
    perItem,
    seconds: (performance.now() - started) / 1000,
  };
}

/** IFEval (lm_eval/tasks/ifeval/utils.py): prompt-level accuracy is the share of prompts whose every
 * instruction is followed, instruction-level the share of instructions (over all prompts), each
 * strict and loose. Prompts with an instruction lm-eval checks with langdetect/nltk are left out
 * and counted (`prompts_skipped`): see ifeval.ts. */
async function scoreInstructionFollowing(model: CausalLM, tok: TextTokenizer, loaded: LoadedBenchmark, order: number[], spec: GenerationSpec, opts: BenchmarkEvalOptions, started: number): Promise<TaskResult> {
  const { def, requests } = loaded;
  const perItem: TaskResult['perItem'] = [];
  const inst = { strict: [] as boolean[], loose: [] as boolean[] };
  let promptLoose = 0;
  let skipped = 0;
  let done = 0;
  for (const index of order) {
    throwIfAborted(opts.signal);
    const req = requests[index];
    if (req.kind !== 'generate_until') throw new Error('unreachable');
    if (!ifevalSupported(req.doc)) {
      skipped++;
      opts.onProgress?.({ phase: 'evaluate', done: ++done, total: order.length, message: def.name });
      continue;
    }
    const output = await generateUntil(model, tok, contextOf(tok, req, 0, opts.chat ?? false).context, spec, opts.signal);
    const r = checkIfEval(req.doc, output);
    inst.strict.push(...r.strict);
    inst.loose.push(...r.loose);
    perItem.push({ index, score: r.strict.every(Boolean) ? 1 : 0, output });
    if (r.loose.every(Boolean)) promptLoose++;
    opts.onProgress?.({ phase: 'evaluate', done: ++done, total: order.length, message: def.name });
  }
  if (perItem.length === 0) {
    throw new MergeStudioError('benchmark-unsupported', `ifeval: all ${skipped} prompt(s) asked for carry an instruction lm-eval checks with langdetect/nltk (${[...UNSUPPORTED_INSTRUCTIONS].join(', ')}), which are not scored here; ask for more documents (--limit)`, { task: def.name });
  }
  const mean = (xs: boolean[]) => xs.filter(Boolean).length / Math.max(1, xs.length);
  const prompts = Math.max(1, perItem.length);
  return {
    task: def.name,
    kind: 'exact_match',
    items: perItem.length,
    metrics: {
      prompt_level_strict_acc: perItem.reduce((a, p) => a + p.score, 0) / prompts,
      inst_level_strict_acc: mean(inst.strict),
      prompt_level_loose_acc: promptLoose / prompts,
      inst_level_loose_acc: mean(inst.loose),
      prompts_skipped: skipped,
    },
    perItem,
    seconds: (performance.now() - started) / 1000,
  };
}
