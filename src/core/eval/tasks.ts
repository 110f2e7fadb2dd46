// Evaluation tasks from JSONL files, and the seeded item order that makes the search's fidelity
// levels nest: a subset of n items is always the first n items of one fixed permutation.
import { MergeStudioError } from '../errors.ts';
import { Prng } from '../search/prng.ts';
import { checkMessages, type ChatMessage } from './chat.ts';

/** Plain text, fed as the tokenizer's special prefix + its tokens, or a conversation rendered by the
 * model's chat template (with the generation prompt) and fed as rendered. */
export type Prompt = string | ChatMessage[];
export interface GenerationItem { prompt: Prompt; answer: string }
export interface ChoiceItem { prompt: Prompt; choices: string[]; label: number }
export interface TextItem { text: string }

export type EvalTask =
  | { name: string; kind: 'exact_match'; items: GenerationItem[] }
  | { name: string; kind: 'multiple_choice'; items: ChoiceItem[] }
  | { name: string; kind: 'perplexity'; items: TextItem[] };

export type TaskKind = EvalTask['kind'];

const KIND_BY_SUFFIX: Record<string, TaskKind> = { gen: 'exact_match', mc: 'multiple_choice', ppl: 'perplexity' };

function kindOfLine(o: Record<string, unknown>): TaskKind | null {
  if ('choices' in o) return 'multiple_choice';
  if ('answer' in o) return 'exact_match';
  if ('text' in o) return 'perplexity';
  return null;
}

function lineError(file: string, line: number, message: string): MergeStudioError {
  return new MergeStudioError('task-invalid', `${file}:${line}: ${message}`, { file, line });
}

function checkItem(kind: TaskKind, o: Record<string, unknown>, file: string, line: number): GenerationItem | ChoiceItem | TextItem {
  const str = (key: string) => {
    if (typeof o[key] !== 'string') throw lineError(file, line, `'${key}' must be a string, found ${JSON.stringify(o[key]) ?? 'nothing'}`);
    return o[key] as string;
  };
  // A chat item has 'messages' instead of 'prompt'.
  const prompt = (): Prompt => {
    if (!('messages' in o)) return str('prompt');
    if ('prompt' in o) throw lineError(file, line, "has both 'prompt' and 'messages'; a chat item has only 'messages'");
    return checkMessages(o.messages, `${file}:${line}`);
  };
  if (kind === 'exact_match') return { prompt: prompt(), answer: str('answer') };
  if (kind === 'perplexity') {
    const text = str('text');
    if (text.length === 0) throw lineError(file, line, "'text' is empty");
    return { text };
  }
  const question = prompt();
  const choices = o.choices;
  if (!Array.isArray(choices) || choices.length < 2 || !choices.every((c) => typeof c === 'string' && c.length > 0)) {
    throw lineError(file, line, `'choices' must be an array of at least two non-empty strings, found ${JSON.stringify(choices)}`);
  }
  const label = o.label;
  if (typeof label !== 'number' || !Number.isInteger(label) || label < 0 || label >= choices.length) {
    throw lineError(file, line, `'label' must be an integer in [0, ${choices.length}), found ${JSON.stringify(label)}`);
  }
  return { prompt: question, choices: choices as string[], label };
}

/** Parses a task file. The kind comes from the name (`<skill>.gen|mc|ppl.jsonl`) or, failing that,
 * from the first item's fields; every line must then be an item of that kind. Generation and
 * multiple-choice items may be chat items: `{"messages": [{"role", "content"}...], ...}` in place of `"prompt"`. */
export function parseTaskJsonl(text: string, file: string): EvalTask {
  const base = file.split(/[\\/]/).pop()!;
  const m = /^(.*?)(?:\.(gen|mc|ppl))?\.jsonl$/.exec(base);
  const name = m ? (m[2] ? `${m[1]}.${m[2]}` : m[1]) : base;
  let kind: TaskKind | null = m?.[2] ? KIND_BY_SUFFIX[m[2]] : null;
  const items: (GenerationItem | ChoiceItem | TextItem)[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw === '') continue;
    let o: unknown;
    try {
      o = JSON.parse(raw);
    } catch (err) {
      throw lineError(file, i + 1, `not valid JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw lineError(file, i + 1, 'expected a JSON object per line');
    const rec = o as Record<string, unknown>;
    if (!kind) {
      kind = kindOfLine(rec);
      if (!kind) throw lineError(file, i + 1, 'cannot tell the task kind: expected {"prompt"|"messages","answer"}, {"prompt"|"messages","choices","label"} or {"text"}');
    }
    items.push(checkItem(kind, rec, file, i + 1));
  }
  if (items.length === 0 || !kind) throw new MergeStudioError('task-empty', `${file}: no items`, { file });
  return { name, kind, items } as EvalTask;
}

/** A fixed permutation of [0, n) from `seed` (Fisher-Yates). Any prefix is a uniform random subset,
 * and a smaller limit always takes a prefix of a larger one's items. */
export function itemOrder(n: number, seed: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const rng = new Prng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/** Item indices to evaluate: all of them in file order, or the first `limit` of the seeded order. */
export function subsetIndices(n: number, limit: number | undefined, seed: number): number[] {
  if (limit === undefined || limit >= n) return Array.from({ length: n }, (_, i) => i);
  if (!Number.isInteger(limit) || limit < 1) throw new MergeStudioError('eval-limit-invalid', `limit must be a positive integer, found ${limit}`, { found: limit });
  return Array.from(itemOrder(n, seed).subarray(0, limit));
}
