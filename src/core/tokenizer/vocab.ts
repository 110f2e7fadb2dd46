// Vocabularies as mergekit merges them: each model's token -> id table (tokenizer.json), the
// merged vocabulary of `tokenizer_source: union | base | <model>` (mergekit/tokenizer/build.py),
// each model's permutation (merged id -> its own row) and, for the tokens a model lacks, where
// the row comes from (mergekit/tokenizer/embed.py). The rules, with the files they come from, are
// listed in README.md next to this file.
import { MergeStudioError } from '../errors.ts';
import type { ModelHandle } from '../model/handle.ts';
import { throwIfAborted } from '../progress.ts';
import type { TokenOverride } from '../recipe/types.ts';

/** An added token as tokenizer.json writes it. */
export interface AddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

export interface ModelVocabulary {
  /** token -> id: the tokenizer model's vocabulary and the added tokens. */
  ids: Map<string, number>;
  /** Added tokens by text. */
  added: Map<string, AddedToken>;
  /** Rows that carry tokens: config.json vocab_size (mergekit's get_vocab_size) capped at the
   * embedding's row count; tokens at or past it are padding and not used. */
  rows: number;
  /** tokenizer_config.json's chat_template (or chat_template.jinja), for `chat_template: auto`. */
  chatTemplate: string | null;
}

const loaded = new WeakMap<ModelHandle, ModelVocabulary | null>();
/** Why a model's tokenizer.json could not be read, for errors when a merge needs it. */
const unreadable = new WeakMap<ModelHandle, string>();

/** Why the model has no vocabulary (no tokenizer.json, or one that cannot be read). */
export function whyNoVocabulary(handle: ModelHandle): string {
  return unreadable.get(handle) ?? 'it has no tokenizer.json';
}

function flag(v: unknown, fallback: boolean): boolean {
  return typeof v === 'boolean' ? v : fallback;
}

/** token -> id and added tokens of a parsed tokenizer.json; null when it has no vocabulary. */
export function parseTokenizerJson(json: unknown): { ids: Map<string, number>; added: Map<string, AddedToken> } | null {
  if (typeof json !== 'object' || json === null) return null;
  const { model, added_tokens: addedList } = json as { model?: { vocab?: unknown }; added_tokens?: unknown };
  const ids = new Map<string, number>();
  const vocab = model?.vocab;
  if (Array.isArray(vocab)) vocab.forEach((entry, id) => Array.isArray(entry) && typeof entry[0] === 'string' && ids.set(entry[0], id));
  else if (typeof vocab === 'object' && vocab !== null) {
    const table = vocab as Record<string, unknown>;
    for (const tok of Object.keys(table)) {
      const id = table[tok];
      if (typeof id === 'number') ids.set(tok, id);
    }
  } else return null;
  const added = new Map<string, AddedToken>();
  if (Array.isArray(addedList)) {
    for (const a of addedList as Record<string, unknown>[]) {
      if (!a || typeof a.content !== 'string' || typeof a.id !== 'number') continue;
      const special = flag(a.special, false);
      added.set(a.content, { id: a.id, content: a.content, single_word: flag(a.single_word, false), lstrip: flag(a.lstrip, false), rstrip: flag(a.rstrip, false), normalized: flag(a.normalized, !special), special });
      ids.set(a.content, a.id);
    }
  }
  return { ids, added };
}

/** The last tokenizer.json parsed, by its bytes: the models of one merge usually share theirs
 * byte for byte, and parsing a real one (150k tokens) is seconds and hundreds of MB of heap pages
 * on a small machine. The tables are never modified after parsing, so sharing them is safe. */
let lastParsed: { bytes: Uint8Array; parsed: ReturnType<typeof parseTokenizerJson> } | undefined;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function parseTokenizerBytes(bytes: Uint8Array): ReturnType<typeof parseTokenizerJson> {
  if (lastParsed && sameBytes(lastParsed.bytes, bytes)) return lastParsed.parsed;
  const text = new TextDecoder().decode(bytes);
  // Only model.vocab and added_tokens are needed: parsed alone when the file's structure can be
  // walked (skipping the merges, half the file), else the whole file as before (same errors).
  let json: unknown;
  try {
    json = tokenizerParts(text);
  } catch {
    json = JSON.parse(text);
  }
  const parsed = parseTokenizerJson(json);
  lastParsed = { bytes, parsed };
  return parsed;
}

const isSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;

function skipSpace(t: string, i: number): number {
  while (i < t.length && isSpace(t.charCodeAt(i))) i++;
  return i;
}

/** Index just past the JSON string starting at `i` (a quote). */
function skipString(t: string, i: number): number {
  for (let j = i + 1; j < t.length; j++) {
    const c = t.charCodeAt(j);
    if (c === 92) j++;
    else if (c === 34) return j + 1;
  }
  throw new Error('unterminated string');
}

/** Index just past the JSON value starting at `i` (not validated: JSON.parse reads what is kept). */
function skipValue(t: string, i: number): number {
  const c = t.charCodeAt(i);
  if (c === 34) return skipString(t, i);
  if (c === 123 || c === 91) {
    let depth = 0;
    for (let j = i; j < t.length; j++) {
      const d = t.charCodeAt(j);
      if (d === 34) j = skipString(t, j) - 1;
      else if (d === 123 || d === 91) depth++;
      else if (d === 125 || d === 93) {
        if (--depth === 0) return j + 1;
      }
    }
    throw new Error('unterminated container');
  }
  let j = i;
  while (j < t.length && !isSpace(t.charCodeAt(j)) && !',}]'.includes(t[j])) j++;
  if (j === i) throw new Error('value expected');
  return j;
}

/** The members of the JSON object starting at `i` as raw text ranges, and the index past it. */
function objectMembers(t: string, i: number): { members: Map<string, [number, number]>; end: number } {
  if (t[i] !== '{') throw new Error('object expected');
  const members = new Map<string, [number, number]>();
  i = skipSpace(t, i + 1);
  if (t[i] === '}') return { members, end: i + 1 };
  for (;;) {
    if (t[i] !== '"') throw new Error('key expected');
    const keyEnd = skipString(t, i);
    const key = JSON.parse(t.slice(i, keyEnd)) as string;
    i = skipSpace(t, keyEnd);
    if (t[i] !== ':') throw new Error('colon expected');
    const start = skipSpace(t, i + 1);
    const end = skipValue(t, start);
    members.set(key, [start, end]);
    i = skipSpace(t, end);
    if (t[i] === '}') return { members, end: i + 1 };
    if (t[i] !== ',') throw new Error('comma expected');
    i = skipSpace(t, i + 1);
  }
}

/** `{ model: { vocab }, added_tokens }` of a tokenizer.json, each parsed from its own text. */
function tokenizerParts(t: string): unknown {
  const top = objectMembers(t, skipSpace(t, 0));
  if (skipSpace(t, top.end) !== t.length) throw new Error('text after the object');
  const parse = (r: [number, number] | undefined) => (r ? JSON.parse(t.slice(r[0], r[1])) : undefined);
  const modelRange = top.members.get('model');
  if (!modelRange || t[modelRange[0]] !== '{') throw new Error('no model object');
  const model = objectMembers(t, modelRange[0]).members;
  return { model: { vocab: parse(model.get('vocab')) }, added_tokens: parse(top.members.get('added_tokens')) };
}

async function readText(handle: ModelHandle, file: string, signal?: AbortSignal): Promise<string> {
  const source = await handle.tree.open(file, signal);
  return new TextDecoder().decode(await source.read(0, source.size, signal));
}

function embedRows(handle: ModelHandle): number | null {
  for (const [name, info] of handle.tensors) if (handle.roleOf(name).module === 'embedding' && info.shape.length === 2) return info.shape[0];
  return null;
}

/** Reads a model's tokenizer.json (once per handle; null when it has none). Call before planning
 * a merge whose vocabularies may differ: `plan` is synchronous and reads what this loaded. */
export async function loadVocabulary(handle: ModelHandle, signal?: AbortSignal): Promise<ModelVocabulary | null> {
  if (loaded.has(handle)) return loaded.get(handle)!;
  throwIfAborted(signal);
  let vocab: ModelVocabulary | null = null;
  if (handle.tokenizerFiles.includes('tokenizer.json')) {
    let parsed: ReturnType<typeof parseTokenizerJson> = null;
    try {
      const source = await handle.tree.open('tokenizer.json', signal);
      parsed = parseTokenizerBytes(await source.read(0, source.size, signal));
      if (!parsed) unreadable.set(handle, 'its tokenizer.json has no model.vocab to read the tokens from');
    } catch (err) {
      if (signal?.aborted) throw err;
      unreadable.set(handle, `its tokenizer.json is not valid JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    if (!parsed) {
      loaded.set(handle, null);
      return null;
    }
    let chatTemplate: string | null = null;
    if (handle.tokenizerFiles.includes('chat_template.jinja')) chatTemplate = await readText(handle, 'chat_template.jinja', signal);
    else if (handle.tokenizerFiles.includes('tokenizer_config.json')) {
      try {
        const cfg = JSON.parse(await readText(handle, 'tokenizer_config.json', signal)) as { chat_template?: unknown };
        const t = cfg.chat_template;
        // A list of named templates: mergekit takes the one named 'default'.
        if (typeof t === 'string') chatTemplate = t;
        else if (Array.isArray(t)) chatTemplate = (t.find((x) => x?.name === 'default')?.template as string | undefined) ?? null;
      } catch {
        chatTemplate = null;
      }
    }
    // No spread: a real vocabulary (150k ids) would overflow the call stack.
    let maxId = -1;
    for (const id of parsed.ids.values()) if (id > maxId) maxId = id;
    const configRows = typeof handle.config.vocab_size === 'number' ? handle.config.vocab_size : maxId + 1;
    const tensorRows = embedRows(handle);
    vocab = { ...parsed, rows: tensorRows === null ? configRows : Math.min(configRows, tensorRows), chatTemplate };
  }
  loaded.set(handle, vocab);
  return vocab;
}

/** What loadVocabulary read; undefined when it was not called for this handle. */
export function vocabularyOf(handle: ModelHandle): ModelVocabulary | null | undefined {
  return loaded.get(handle);
}

/** Lets `to` (a stage of a multi-document recipe) stand for the vocabulary of `from`. */
export function shareVocabulary(from: ModelHandle, to: ModelHandle): void {
  if (loaded.has(from)) loaded.set(to, loaded.get(from)!);
  if (unreadable.has(from)) unreadable.set(to, unreadable.get(from)!);
}

/** Sets what `handle` (a stage of a multi-document recipe) is read as having. */
export function setVocabulary(handle: ModelHandle, vocab: ModelVocabulary | null): void {
  loaded.set(handle, vocab);
}

/** The vocabulary of a model merged over `merged` (a stage, as mergekit-multi would write it and
 * the next stage read it back): the merged tokens, its rows, the tokenizer model's added tokens
 * that were kept and the appended ones. */
export function mergedModelVocabulary(merged: MergedVocabulary, chatTemplate: string | null): ModelVocabulary {
  const ids = new Map<string, number>();
  merged.tokens.forEach((tok, id) => tok !== '' && ids.set(tok, id));
  const added = new Map<string, AddedToken>();
  const own = merged.vocabularies.get(merged.tokenizerModel);
  for (const [tok, a] of own?.added ?? []) if (ids.get(tok) === a.id) added.set(tok, a);
  for (const a of merged.appended) added.set(a.content, a);
  return { ids, added, rows: merged.size, chatTemplate };
}

/** Where the row of a token comes from for the models that lack it (or for all, when forced). */
export type TokenRule =
  | { kind: 'zero' }
  | { kind: 'row'; model: string; row: number }
  | { kind: 'average'; models: string[] };

export interface MergedVocabulary {
  /** 'union', 'base' or the model whose vocabulary is taken. */
  source: string;
  /** The model whose tokenizer files the export starts from. */
  tokenizerModel: string;
  /** Token text by merged id ('' for an id no token has). */
  tokens: string[];
  /** Ids that carry tokens (mergekit's len(tokenizer.get_vocab())). */
  count: number;
  /** Rows of the merged embedding: count rounded up to pad_to_multiple_of. */
  size: number;
  /** Tokens the export adds to the tokenizer model's tokenizer.json (union, `tokens:` keys). */
  appended: AddedToken[];
  /** Tokens of the tokenizer model at or past its row count, left out (mergekit strips them). */
  stripped: string[];
  /** Per model: merged id -> the model's own row, or -1 where it lacks the token. */
  permutations: Map<string, Int32Array>;
  /** The recipe's per-token overrides by merged id. */
  overrides: Map<number, TokenOverride>;
  /** Per model: its vocabulary as read (for model_token sources). */
  vocabularies: Map<string, ModelVocabulary>;
  /** The base model (or the first model), whose row a shared token takes in models lacking it. */
  base: string;
  /** Models without a tokenizer.json, read as having the base's vocabulary (as mergekit does). */
  assumedBase: string[];
}

function vocabError(path: string, message: string, details: Record<string, unknown> = {}): MergeStudioError {
  return new MergeStudioError('recipe-tokenizer', `${path}: ${message}`, { path, ...details });
}

/** Tokens of a vocabulary in id order, ids below `rows` only. */
function tokensById(v: ModelVocabulary, rows = v.rows): [string, number][] {
  return [...v.ids].filter(([, id]) => id < rows).sort((a, b) => a[1] - b[1]);
}

export interface BuildVocabularyOptions {
  /** The recipe's setting: 'union', 'base' or a model. */
  source: string;
  /** Key of `source` in the recipe, for errors ('tokenizer_source' or 'tokenizer.source'). */
  sourceKey: string;
  tokens: Record<string, TokenOverride>;
  padToMultipleOf?: number;
  /** base_model, else the first model (mergekit/tokenizer/build.py). */
  base: string;
  /** Every model of the document in recipe order. */
  models: string[];
  vocabularyOf: (model: string) => ModelVocabulary | null;
  /** Why a model has no vocabulary, for errors. */
  whyNot?: (model: string) => string;
}

/** Builds the merged vocabulary and each model's permutation (mergekit/tokenizer/build.py
 * build_tokenizer and build_union_tokenizer). */
export function buildMergedVocabulary(options: BuildVocabularyOptions): MergedVocabulary {
  const { source, base, models } = options;
  const baseVocab = options.vocabularyOf(base);
  const whyNot = options.whyNot ?? (() => 'it has no tokenizer.json');
  if (!baseVocab) throw vocabError(options.sourceKey, `the vocabulary of the base model '${base}' cannot be read (${whyNot(base)}), so the merged vocabulary cannot be built`, { model: base });
  const vocabularies = new Map<string, ModelVocabulary>();
  const assumedBase: string[] = [];
  for (const m of models) {
    const v = options.vocabularyOf(m);
    if (!v) assumedBase.push(m);
    vocabularies.set(m, v ?? baseVocab);
  }
  const tokens: string[] = [];
  const idOf = new Map<string, number>();
  const appended: AddedToken[] = [];
  const stripped: string[] = [];
  const put = (tok: string, id: number) => {
    tokens[id] = tok;
    idOf.set(tok, id);
  };
  const append = (tok: string, like?: AddedToken) => {
    if (idOf.has(tok)) return;
    const id = tokens.length;
    put(tok, id);
    // transformers' add_tokens(str): a non-special token that is normalized.
    appended.push(like ? { ...like, id } : { id, content: tok, single_word: false, lstrip: false, rstrip: false, normalized: true, special: false });
  };
  let tokenizerModel = base;
  if (source === 'union' || source === 'base') {
    // get_stripped_tokenizer: the base without tokens at or past its vocab_size.
    for (const [tok, id] of baseVocab.ids) if (id >= baseVocab.rows) stripped.push(tok);
    for (const [tok, id] of tokensById(baseVocab)) put(tok, id);
    if (source === 'union') {
      const order = [base, ...models.filter((m) => m !== base)];
      // Every model's ordinary tokens first, then every model's added tokens (first settings win).
      for (const m of order) for (const [tok] of tokensById(vocabularies.get(m)!)) if (!vocabularies.get(m)!.added.has(tok)) append(tok);
      for (const m of order) {
        const v = vocabularies.get(m)!;
        for (const [tok] of tokensById(v)) {
          const a = v.added.get(tok);
          if (a) append(tok, a);
        }
      }
    }
  } else {
    const v = options.vocabularyOf(source);
    if (!v) throw vocabError(options.sourceKey, `the vocabulary of '${source}' cannot be read (${whyNot(source)})`, { model: source });
    tokenizerModel = source;
    for (const [tok, id] of v.ids) put(tok, id);
  }
  // mergekit/plan.py passes the `tokens:` keys as add_tokens: a token no vocabulary has is added.
  for (const tok of Object.keys(options.tokens)) append(tok);
  for (let i = 0; i < tokens.length; i++) tokens[i] ??= '';
  const count = tokens.length;
  const pad = options.padToMultipleOf;
  const size = pad && count % pad ? (Math.floor(count / pad) + 1) * pad : count;

  const permutations = new Map<string, Int32Array>();
  for (const m of models) {
    const v = vocabularies.get(m)!;
    const p = new Int32Array(count).fill(-1);
    for (let id = 0; id < count; id++) {
      const own = tokens[id] === '' ? undefined : v.ids.get(tokens[id]);
      if (own !== undefined && own < v.rows) p[id] = own;
    }
    permutations.set(m, p);
  }
  const overrides = new Map<number, TokenOverride>();
  for (const [tok, cfg] of Object.entries(options.tokens)) overrides.set(idOf.get(tok)!, cfg);
  return { source, tokenizerModel, tokens, count, size, appended, stripped, permutations, overrides, vocabularies, base, assumedBase };
}

/** The row rule of every merged id some of `models` lack (or that an override forces), for one
 * tensor whose inputs are `models` (mergekit/tokenizer/embed.py assign_embedding_sources and
 * compute_default_embedding). Throws, naming the recipe key, where mergekit's asserts fail. */
export function tokenRules(vocab: MergedVocabulary, models: string[], base: string | undefined): Map<number, TokenRule> {
  const rules = new Map<number, TokenRule>();
  const perms = models.map((m) => vocab.permutations.get(m)!);
  for (let id = 0; id < vocab.count; id++) {
    const tok = vocab.tokens[id];
    const cfg = vocab.overrides.get(id);
    const present = models.filter((_, i) => perms[i][id] >= 0);
    if (cfg) {
      // The override applies where a model lacks the token, or everywhere with force.
      if (!cfg.force && present.length === models.length) continue;
      rules.set(id, overrideRule(vocab, tok, id, cfg));
      continue;
    }
    if (tok === '' || present.length === models.length) continue;
    if (present.length === 1) rules.set(id, { kind: 'row', model: present[0], row: vocab.permutations.get(present[0])![id] });
    else if (present.length === 0) rules.set(id, { kind: 'zero' });
    else if (base !== undefined && vocab.permutations.get(base)?.[id] !== undefined && vocab.permutations.get(base)![id] >= 0) rules.set(id, { kind: 'row', model: base, row: vocab.permutations.get(base)![id] });
    else rules.set(id, { kind: 'average', models: present });
  }
  return rules;
}

function overrideRule(vocab: MergedVocabulary, tok: string, id: number, cfg: TokenOverride): TokenRule {
  const at = `tokenizer.tokens.${JSON.stringify(tok)}.source`;
  const src = cfg.source;
  if (src === undefined) throw vocabError(at, `token '${tok}' has no source, and some models lack it: give a model, {kind: zero} or {kind: model_token, model, token}`, { token: tok });
  if (typeof src === 'string') {
    const p = vocab.permutations.get(src);
    if (!p) throw vocabError(at, `'${src}' is not one of the merged models`, { token: tok, model: src });
    if (p[id] < 0) throw vocabError(at, `token '${tok}' is not in the vocabulary of '${src}'; name a model that has it, or use {kind: model_token, model, token} or {kind: zero}`, { token: tok, model: src });
    return { kind: 'row', model: src, row: p[id] };
  }
  if (src.kind === 'zero') return { kind: 'zero' };
  const v = vocab.vocabularies.get(src.model);
  if (!v) throw vocabError(`${at}.model`, `'${src.model}' is not one of the merged models`, { token: tok, model: src.model });
  let row: number;
  if (src.token !== undefined) {
    const found = v.ids.get(src.token);
    if (found === undefined) throw vocabError(`${at}.token`, `token '${src.token}' is not in the vocabulary of '${src.model}'`, { token: src.token, model: src.model });
    row = found;
  } else row = src.token_id!;
  if (row >= v.rows) throw vocabError(src.token !== undefined ? `${at}.token` : `${at}.token_id`, `row ${row} is past the ${v.rows} rows of '${src.model}'`, { token: tok, model: src.model });
  return { kind: 'row', model: src.model, row };
}

/** Whether the token tables of the models differ (the same id meaning different text somewhere). */
export function vocabulariesDiffer(vocabs: ModelVocabulary[]): boolean {
  const [ref, ...rest] = vocabs;
  const at = (v: ModelVocabulary) => {
    const out = new Map<number, string>();
    for (const [tok, id] of v.ids) if (id < v.rows) out.set(id, tok);
    return out;
  };
  // Tables shared by identical tokenizer.json files (see parseTokenizerText) differ at most in rows.
  if (rest.every((v) => v.ids === ref.ids && v.rows === ref.rows)) return false;
  const refIds = at(ref);
  return rest.some((v) => {
    const ids = at(v);
    if (ids.size !== refIds.size) return true;
    for (const [id, tok] of ids) if (refIds.get(id) !== tok) return true;
    return false;
  });
}

/** loadVocabulary for every model (before planning). */
export async function loadVocabularies(handles: Iterable<ModelHandle>, signal?: AbortSignal): Promise<void> {
  for (const h of handles) await loadVocabulary(h, signal);
}
