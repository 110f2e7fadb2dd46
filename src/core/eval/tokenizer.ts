// Text <-> token ids through @huggingface/tokenizers (tokenizer.json + tokenizer_config.json).
// Special tokens are handled here, not by the tokenizer's post-processor, so every model gets
// the same convention: a prompt is BOS (when the model uses one) followed by its text's tokens.
import { Tokenizer } from '@huggingface/tokenizers';
import { MergeStudioError } from '../errors.ts';
import type { FileTree } from '../io/types.ts';

export interface TextTokenizer {
  readonly bosId: number | null;
  /** Ids that end a generation (eos_token, config.json / generation_config.json eos ids). */
  readonly eosIds: readonly number[];
  readonly vocabSize: number;
  /** The text's tokens, without BOS/EOS. */
  encode(text: string): number[];
  /** BOS (when add_bos_token) followed by the text's tokens. */
  encodePrompt(text: string): Int32Array;
  /** Text of the ids with special tokens left out. */
  decode(ids: readonly number[]): string;
}

type Json = Record<string, unknown>;

function specialContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return null;
}

function ids(v: unknown): number[] {
  if (typeof v === 'number' && Number.isInteger(v)) return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number' && Number.isInteger(x));
  return [];
}

/** Builds a tokenizer from parsed JSON files; `modelConfig`/`generationConfig` supply fallback BOS/EOS ids. */
export function tokenizerFromJson(
  tokenizerJson: unknown,
  tokenizerConfig: unknown,
  where: string,
  extra: { modelConfig?: unknown; generationConfig?: unknown } = {},
): TextTokenizer {
  if (typeof tokenizerJson !== 'object' || tokenizerJson === null) {
    throw new MergeStudioError('tokenizer-invalid', `${where}/tokenizer.json: expected a JSON object`, { file: `${where}/tokenizer.json` });
  }
  const cfg = (tokenizerConfig && typeof tokenizerConfig === 'object' ? tokenizerConfig : {}) as Json;
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(tokenizerJson, cfg);
  } catch (err) {
    throw new MergeStudioError('tokenizer-invalid', `${where}/tokenizer.json: @huggingface/tokenizers cannot load it: ${err instanceof Error ? err.message : String(err)}`, { file: `${where}/tokenizer.json` });
  }
  const model = (extra.modelConfig ?? {}) as Json;
  const gen = (extra.generationConfig ?? {}) as Json;
  const lookup = (key: string): number | null => {
    const content = specialContent(cfg[key]);
    const id = content === null ? undefined : tok.token_to_id(content);
    return id === undefined ? null : id;
  };
  const bosId = lookup('bos_token') ?? ids(model.bos_token_id)[0] ?? ids(gen.bos_token_id)[0] ?? null;
  const eos = new Set<number>([...ids(lookup('eos_token')), ...ids(model.eos_token_id), ...ids(gen.eos_token_id)]);
  // Llama-style configs say add_bos_token explicitly; without the key, a model with a BOS uses it.
  const addBos = bosId !== null && cfg.add_bos_token !== false;
  const vocabSize = tok.get_vocab(true).size;
  return {
    bosId,
    eosIds: [...eos],
    vocabSize,
    encode(text: string): number[] {
      return tok.encode(text, { add_special_tokens: false }).ids;
    },
    encodePrompt(text: string): Int32Array {
      const body = tok.encode(text, { add_special_tokens: false }).ids;
      if (!addBos) return Int32Array.from(body);
      const out = new Int32Array(body.length + 1);
      out[0] = bosId!;
      out.set(body, 1);
      return out;
    },
    decode(tokens: readonly number[]): string {
      // The library rejects an empty list; nothing generated is the empty text.
      return tokens.length === 0 ? '' : tok.decode([...tokens], { skip_special_tokens: true });
    },
  };
}

/** Reads and parses one JSON file of a model tree. */
export async function readTreeJson(tree: FileTree, path: string, signal?: AbortSignal): Promise<unknown> {
  const source = await tree.open(path, signal);
  const bytes = await source.read(0, source.size, signal);
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new MergeStudioError('json-invalid', `${tree.name}/${path}: not valid UTF-8 JSON (${err instanceof Error ? err.message : String(err)})`, { file: `${tree.name}/${path}` });
  }
}

/** Reads a JSON file of a model tree, or returns `undefined` when the tree has no such file. */
export async function readOptionalJson(tree: FileTree, path: string, files: readonly string[], signal?: AbortSignal): Promise<unknown> {
  return files.includes(path) ? readTreeJson(tree, path, signal) : undefined;
}

/** Loads the tokenizer of a model folder / repo (tokenizer.json is required). */
export async function loadTokenizer(tree: FileTree, signal?: AbortSignal): Promise<TextTokenizer> {
  const files = await tree.list(signal);
  if (!files.includes('tokenizer.json')) {
    throw new MergeStudioError('tokenizer-missing', `${tree.name}: no tokenizer.json (evaluation needs the model's Hugging Face tokenizer)`, { file: tree.name });
  }
  const [tokenizerJson, tokenizerConfig, modelConfig, generationConfig] = await Promise.all([
    readTreeJson(tree, 'tokenizer.json', signal),
    readOptionalJson(tree, 'tokenizer_config.json', files, signal),
    readOptionalJson(tree, 'config.json', files, signal),
    readOptionalJson(tree, 'generation_config.json', files, signal),
  ]);
  return tokenizerFromJson(tokenizerJson, tokenizerConfig, tree.name, { modelConfig, generationConfig });
}
