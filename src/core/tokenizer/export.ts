// The tokenizer files of an export, coherent with the merged embedding rows: the tokenizer model's
// files as they are when the vocabulary is its own, else its tokenizer.json / tokenizer_config.json
// with the merged vocabulary's added tokens (and without stripped ones), as transformers'
// save_pretrained writes a tokenizer mergekit has added tokens to (mergekit/merge.py saves the
// built tokenizer). Files that would disagree with the new tokenizer.json are left out.
import { MergeStudioError } from '../errors.ts';
import type { ModelHandle } from '../model/handle.ts';
import type { AddedToken, MergedVocabulary } from './vocab.ts';

export interface TokenizerFile {
  name: string;
  bytes: Uint8Array;
}

/** Slow-tokenizer files that describe the old vocabulary; transformers' fast tokenizer reads
 * tokenizer.json first, but a stale vocab file next to it would mislead any other reader. */
const STALE_WITH_NEW_VOCABULARY = new Set(['tokenizer.model', 'vocab.json', 'merges.txt', 'added_tokens.json']);

async function read(handle: ModelHandle, file: string, signal?: AbortSignal): Promise<Uint8Array> {
  const source = await handle.tree.open(file, signal);
  return source.read(0, source.size, signal);
}

function parseJson(handle: ModelHandle, file: string, bytes: Uint8Array): Record<string, unknown> {
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new MergeStudioError('tokenizer-invalid', `${handle.id}/${file}: not a JSON object, so the merged tokenizer cannot be written from it`, { file: `${handle.id}/${file}` });
}

const json = (v: unknown) => new TextEncoder().encode(`${JSON.stringify(v, null, 2)}\n`);

function addedEntry(t: AddedToken): Record<string, unknown> {
  return { id: t.id, content: t.content, single_word: t.single_word, lstrip: t.lstrip, rstrip: t.rstrip, normalized: t.normalized, special: t.special };
}

/** tokenizer.json with the stripped tokens removed and the appended ones added. */
export function mergedTokenizerJson(original: Record<string, unknown>, vocab: MergedVocabulary): Record<string, unknown> {
  const out = structuredClone(original);
  const stripped = new Set(vocab.stripped);
  const added = (Array.isArray(out.added_tokens) ? out.added_tokens : []) as Record<string, unknown>[];
  out.added_tokens = [...added.filter((a) => !stripped.has(a.content as string)), ...vocab.appended.map(addedEntry)];
  const model = out.model as { vocab?: unknown; merges?: unknown } | undefined;
  if (stripped.size && model && typeof model.vocab === 'object' && model.vocab !== null && !Array.isArray(model.vocab)) {
    const v = model.vocab as Record<string, unknown>;
    for (const tok of stripped) delete v[tok];
    // mergekit's get_stripped_tokenizer also drops the BPE merges that make a stripped token.
    if (Array.isArray(model.merges)) {
      model.merges = model.merges.filter((m: unknown) => {
        const parts = typeof m === 'string' ? m.split(' ') : Array.isArray(m) ? (m as string[]) : [];
        return !parts.some((p) => stripped.has(p));
      });
    }
  }
  return out;
}

/** tokenizer_config.json with the added tokens (added_tokens_decoder, when the file keeps one)
 * and the chat template. */
export function mergedTokenizerConfig(original: Record<string, unknown>, vocab: MergedVocabulary | undefined, chatTemplate: string | undefined): Record<string, unknown> {
  const out = structuredClone(original);
  if (vocab && typeof out.added_tokens_decoder === 'object' && out.added_tokens_decoder !== null) {
    const decoder = out.added_tokens_decoder as Record<string, Record<string, unknown>>;
    const stripped = new Set(vocab.stripped);
    for (const [id, entry] of Object.entries(decoder)) if (stripped.has(entry.content as string)) delete decoder[id];
    for (const t of vocab.appended) {
      const { id: _id, ...rest } = addedEntry(t);
      decoder[String(t.id)] = rest;
    }
  }
  if (chatTemplate !== undefined) out.chat_template = chatTemplate;
  return out;
}

export interface TokenizerExport {
  tokenizerModel: ModelHandle;
  vocabulary?: { merged: MergedVocabulary };
  chatTemplate?: string;
}

function vocabularyChanged(plan: TokenizerExport): boolean {
  const vocab = plan.vocabulary?.merged;
  return !!vocab && (vocab.appended.length > 0 || vocab.stripped.length > 0);
}

/** The tokenizer model's files an export keeps (rewritten or as they are). */
function keptFiles(plan: TokenizerExport): string[] {
  const changed = vocabularyChanged(plan);
  const template = plan.chatTemplate;
  // A template file would win over tokenizer_config.json's chat_template in transformers.
  return plan.tokenizerModel.tokenizerFiles.filter((file) => !(template !== undefined && (file === 'chat_template.jinja' || file === 'chat_template.json')) && !(changed && STALE_WITH_NEW_VOCABULARY.has(file)));
}

/** The names of the tokenizer files an export writes (what tokenizerFiles returns), without reading them. */
export function tokenizerFileNames(plan: TokenizerExport): string[] {
  const names = keptFiles(plan);
  if (plan.chatTemplate !== undefined && !names.includes('tokenizer_config.json')) names.push('tokenizer_config.json');
  return names;
}

/** The tokenizer files an export writes. */
export async function tokenizerFiles(plan: TokenizerExport, signal?: AbortSignal): Promise<TokenizerFile[]> {
  const handle = plan.tokenizerModel;
  const vocab = plan.vocabulary?.merged;
  const changed = vocabularyChanged(plan);
  const template = plan.chatTemplate;
  const out: TokenizerFile[] = [];
  for (const file of keptFiles(plan)) {
    let bytes = await read(handle, file, signal);
    if (changed && file === 'tokenizer.json') bytes = json(mergedTokenizerJson(parseJson(handle, file, bytes), vocab!));
    else if (file === 'tokenizer_config.json' && (changed || template !== undefined)) bytes = json(mergedTokenizerConfig(parseJson(handle, file, bytes), changed ? vocab : undefined, template));
    out.push({ name: file, bytes });
  }
  if (template !== undefined && !handle.tokenizerFiles.includes('tokenizer_config.json')) out.push({ name: 'tokenizer_config.json', bytes: json({ chat_template: template }) });
  if (changed && !handle.tokenizerFiles.includes('tokenizer.json')) {
    throw new MergeStudioError('tokenizer-invalid', `'${handle.id}' has no tokenizer.json to write the merged vocabulary into`, { model: handle.id });
  }
  return out;
}
