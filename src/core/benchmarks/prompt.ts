// Plain-text prompts and requests as lm-evaluation-harness builds them (lm_eval/api/task.py:
// ConfigurableTask.fewshot_context -> build_qa_turn / multiple_input_context, construct_requests;
// lm_eval/api/utils.py: Message.to_text, maybe_delimit). A few-shot example is the question, the
// target delimiter, the answer and the few-shot delimiter; the evaluated document is the question
// alone; a description comes first. Multiple choice scores `target_delimiter + choice` after the
// context; multiple-input tasks (Winogrande) score one continuation after each choice's context.
import { MergeStudioError } from '../errors.ts';
import type { BenchmarkDef, Doc } from './definitions.ts';

/** The same request for chat models (lm-eval's --apply_chat_template without fewshot_as_multiturn):
 * the description as a system message, and everything else collapsed into one user message
 * (lm_eval/api/utils.py multiturn_to_singleturn), rendered by the model's chat template with the
 * generation prompt; multiple-choice continuations lose the target delimiter (construct_requests). */
export interface ChatParts {
  system?: string;
  /** Per pair (or the one generation context): the user message. */
  user: string[];
  /** Per pair: the continuation without the target delimiter. */
  continuation?: string[];
}

export type BenchmarkRequest =
  | {
      kind: 'multiple_choice';
      /** One (context, continuation) pair per choice. */
      pairs: { context: string; continuation: string }[];
      gold: number;
      /** Python len() of each choice (without the delimiter): lm-eval's acc_norm divisor. */
      choiceLengths: number[];
      chat: ChatParts;
    }
  | { kind: 'generate_until'; context: string; target: string; chat: ChatParts; /** The processed document (instruction-following checks read it). */ doc: Doc };

/** Python's len(): code points, not UTF-16 units. */
export function pyLen(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function qaTurn(q: string, answer: string | null, tgtDelim: string, fewDelim: string): string {
  // build_qa_turn without gen_prefix: the user turn carries the target delimiter only when an
  // answer follows; the answer carries the few-shot delimiter.
  return answer === null ? q : q + tgtDelim + answer + fewDelim;
}

function answerText(def: BenchmarkDef, choices: string[] | null, target: number | string): string {
  if (choices && typeof target === 'number') {
    if (target < 0 || target >= choices.length) throw new MergeStudioError('benchmark-doc-invalid', `${def.name}: target index ${target} is outside the ${choices.length} choices`, { task: def.name });
    return choices[target];
  }
  return String(target);
}

/** The requests lm-eval makes for `doc`, after `fewshot` examples (already processed docs). */
export function buildRequest(def: BenchmarkDef, rawDoc: Doc, fewshot: readonly Doc[]): BenchmarkRequest {
  const doc = def.process ? def.process(rawDoc) : rawDoc;
  const multipleInput = typeof def.docToText(doc) === 'number';
  const system = def.description ? { system: def.description } : {};
  let prefix = '';
  for (const raw of fewshot) {
    const fs = def.process ? def.process(raw) : raw;
    let q = def.docToText(fs);
    let c = def.docToChoice ? def.docToChoice(fs) : null;
    const a = def.docToTarget(fs);
    if (multipleInput) {
      q = c![q as number];
      c = null;
    }
    prefix += qaTurn(q as string, answerText(def, c, a), def.targetDelimiter, def.fewshotDelimiter);
  }
  if (def.outputType === 'generate_until') {
    const user = prefix + qaTurn(def.docToText(doc) as string, null, '', '');
    return { kind: 'generate_until', context: (def.description ?? '') + user, target: String(def.docToTarget(doc)), chat: { ...system, user: [user] }, doc };
  }
  const choices = def.docToChoice!(doc);
  if (multipleInput) {
    const target = String(def.docToTarget(doc));
    return {
      kind: 'multiple_choice',
      pairs: choices.map((ctx) => ({ context: (def.description ?? '') + prefix + ctx, continuation: def.targetDelimiter + target })),
      gold: def.docToText(doc) as number,
      choiceLengths: choices.map(pyLen),
      chat: { ...system, user: choices.map((ctx) => prefix + ctx), continuation: choices.map(() => target) },
    };
  }
  const user = prefix + (def.docToText(doc) as string);
  const context = (def.description ?? '') + user;
  const gold = def.docToTarget(doc);
  if (typeof gold !== 'number' || gold < 0 || gold >= choices.length) {
    throw new MergeStudioError('benchmark-doc-invalid', `${def.name}: the gold answer ${JSON.stringify(gold)} is not an index into the ${choices.length} choices`, { task: def.name });
  }
  return {
    kind: 'multiple_choice',
    pairs: choices.map((ch) => ({ context, continuation: def.targetDelimiter + ch })),
    gold,
    choiceLengths: choices.map(pyLen),
    chat: { ...system, user: choices.map(() => user), continuation: choices },
  };
}
