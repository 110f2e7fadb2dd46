// Text <-> token ids through @huggingface/tokenizers (tokenizer.json + tokenizer_config.json), with
// special tokens added as transformers adds them for `tokenizer(text)` (add_special_tokens=True):
// the tokenizer.json post-processor decides, except for the tokenizer classes whose transformers
// implementation rebuilds the post-processor from add_bos_token / add_eos_token (see README.md,
// "Special tokens"). The library is always called with add_special_tokens: false and the special
// ids are added here, once, so no text ever gets its BOS twice.
import { Tokenizer } from '@huggingface/tokenizers';
import { MergeStudioError } from '../errors.ts';
import type { FileTree } from '../io/types.ts';
import { compileChatTemplate, readChatTemplates, selectChatTemplate, type ChatMessage, type ChatTemplates, type CompiledChatTemplate } from './chat.ts';

export interface TextTokenizer {
  readonly bosId: number | null;
  /** Ids that end a generation (eos_token, config.json / generation_config.json eos ids). */
  readonly eosIds: readonly number[];
  readonly vocabSize: number;
  /** Ids transformers puts before / after a text's tokens with add_special_tokens=True. */
  readonly specialPrefix: readonly number[];
  readonly specialSuffix: readonly number[];
  /** Which rule chose them: the post-processor, or a class that rebuilds it from add_bos_token. */
  readonly specialRule: string;
  /** The text's tokens, without special tokens (add_special_tokens=False). */
  encode(text: string): number[];
  /** transformers' `tokenizer(text).input_ids`: prefix, the text's tokens, suffix. */
  encodeWithSpecialTokens(text: string): number[];
  /** What a prompt is fed as: the special prefix (BOS where the tokenizer adds one) and the text's tokens. */
  encodePrompt(text: string): Int32Array;
  /** Text of the ids with special tokens left out. */
  decode(ids: readonly number[]): string;
  /** The tokenizer's chat templates (null when it has none). */
  readonly chatTemplates: ChatTemplates | null;
  /** apply_chat_template(messages, tokenize=False): the rendered text (it carries its own BOS). */
  applyChatTemplate(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean; templateName?: string; variables?: Record<string, unknown> }): string;
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

/** transformers classes that rebuild the post-processor in __init__ from add_bos_token/add_eos_token
 * (their `update_post_processor`), with their defaults; keyed by class name without "Fast".
 * LlamaTokenizerFast (read: models/llama/tokenization_llama_fast.py) and the classes whose method is
 * "Copied from LlamaTokenizerFast.update_post_processor" (CodeLlama, Gemma, Cohere). */
const REBUILDING_CLASSES: Record<string, { addBos: boolean; addEos: boolean }> = {
  LlamaTokenizer: { addBos: true, addEos: false },
  CodeLlamaTokenizer: { addBos: true, addEos: false },
  GemmaTokenizer: { addBos: true, addEos: false },
  CohereTokenizer: { addBos: true, addEos: false },
};

/** AutoTokenizer's class for a config.json model_type when tokenizer_config.json names none
 * (transformers models/auto/tokenization_auto.py TOKENIZER_MAPPING_NAMES, the Llama-family rows). */
const CLASS_BY_MODEL_TYPE: Record<string, string> = {
  llama: 'LlamaTokenizer', mistral: 'LlamaTokenizer', mixtral: 'LlamaTokenizer',
  gemma: 'GemmaTokenizer', gemma2: 'GemmaTokenizer', gemma3: 'GemmaTokenizer', gemma3_text: 'GemmaTokenizer',
  cohere: 'CohereTokenizer', qwen2: 'Qwen2Tokenizer', qwen3: 'Qwen2Tokenizer',
};

interface Affixes { prefix: number[]; suffix: number[] }

/** The special ids a tokenizer.json post-processor puts around a single sequence (the tokenizers
 * library's TemplateProcessing / BertProcessing / RobertaProcessing / ByteLevel / Sequence). */
function postProcessorAffixes(pp: unknown, tok: Tokenizer, file: string, key = 'post_processor'): Affixes {
  if (pp === null || pp === undefined) return { prefix: [], suffix: [] };
  const fail = (what: string) => new MergeStudioError('tokenizer-invalid', `${file}: ${key}: ${what}`, { file, key });
  if (typeof pp !== 'object') throw fail(`expected an object, found ${JSON.stringify(pp)}`);
  const p = pp as Json;
  const idOf = (token: unknown): number => {
    const pair = Array.isArray(token) ? token : [];
    if (typeof pair[1] === 'number') return pair[1];
    const id = typeof pair[0] === 'string' ? tok.token_to_id(pair[0]) : undefined;
    if (id === undefined) throw fail(`special token ${JSON.stringify(token)} is not in the vocabulary`);
    return id;
  };
  switch (p.type) {
    case 'ByteLevel':
      return { prefix: [], suffix: [] };
    case 'BertProcessing':
    case 'RobertaProcessing':
      return { prefix: [idOf(p.cls)], suffix: [idOf(p.sep)] };
    case 'TemplateProcessing': {
      if (!Array.isArray(p.single)) throw fail("TemplateProcessing without a 'single' template");
      const specials = (p.special_tokens ?? {}) as Record<string, { ids?: unknown }>;
      const out: Affixes = { prefix: [], suffix: [] };
      let seenA = false;
      for (const piece of p.single as Json[]) {
        if (piece && typeof piece === 'object' && 'Sequence' in piece) {
          seenA = true;
          continue;
        }
        const name = (piece?.SpecialToken as Json | undefined)?.id;
        if (typeof name !== 'string') throw fail(`unexpected template piece ${JSON.stringify(piece)}`);
        const spec = specials[name];
        const tokenIds = spec ? ids(spec.ids) : ids(tok.token_to_id(name));
        if (tokenIds.length === 0) throw fail(`template token '${name}' has no id (special_tokens and vocabulary)`);
        (seenA ? out.suffix : out.prefix).push(...tokenIds);
      }
      return out;
    }
    case 'Sequence': {
      // Each processor wraps what the previous one produced.
      const out: Affixes = { prefix: [], suffix: [] };
      ((p.processors ?? []) as unknown[]).forEach((inner, i) => {
        const a = postProcessorAffixes(inner, tok, file, `${key}.processors[${i}]`);
        out.prefix = [...a.prefix, ...out.prefix];
        out.suffix = [...out.suffix, ...a.suffix];
      });
      return out;
    }
    default:
      throw fail(`unsupported post-processor type ${JSON.stringify(p.type)}`);
  }
}

/** The special tokens map transformers passes to chat templates: every named special token that is set, as text. */
function specialTokensMap(cfg: Json): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token']) {
    const v = specialContent(cfg[key]);
    if (v !== null) out[key] = v;
  }
  if (Array.isArray(cfg.additional_special_tokens)) {
    out.additional_special_tokens = cfg.additional_special_tokens.map(specialContent).filter((x): x is string => x !== null);
  }
  return out;
}

export interface TokenizerExtras {
  /** config.json: bos/eos fallback ids and model_type (AutoTokenizer's class when tokenizer_config names none). */
  modelConfig?: unknown;
  generationConfig?: unknown;
  /** special_tokens_map.json: special tokens tokenizer_config.json leaves out. */
  specialTokensMap?: unknown;
  /** The text of chat_template.jinja, which wins over tokenizer_config.json's chat_template. */
  chatTemplateJinja?: string;
}

/** Builds a tokenizer from parsed JSON files. */
export function tokenizerFromJson(tokenizerJson: unknown, tokenizerConfig: unknown, where: string, extra: TokenizerExtras = {}): TextTokenizer {
  const jsonFile = `${where}/tokenizer.json`;
  const configFile = `${where}/tokenizer_config.json`;
  if (typeof tokenizerJson !== 'object' || tokenizerJson === null) {
    throw new MergeStudioError('tokenizer-invalid', `${jsonFile}: expected a JSON object`, { file: jsonFile });
  }
  const map = (extra.specialTokensMap && typeof extra.specialTokensMap === 'object' ? extra.specialTokensMap : {}) as Json;
  // tokenizer_config.json's keys win over special_tokens_map.json's, as transformers merges them.
  const cfg = { ...map, ...(tokenizerConfig && typeof tokenizerConfig === 'object' ? tokenizerConfig : {}) } as Json;
  let tok: Tokenizer;
  try {
    // The post-processor is read here (postProcessorAffixes), never applied by the library.
    tok = new Tokenizer({ ...tokenizerJson, post_processor: null }, cfg);
  } catch (err) {
    throw new MergeStudioError('tokenizer-invalid', `${jsonFile}: @huggingface/tokenizers cannot load it: ${err instanceof Error ? err.message : String(err)}`, { file: jsonFile });
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

  const tokenizerClass = (typeof cfg.tokenizer_class === 'string' ? cfg.tokenizer_class : typeof model.tokenizer_class === 'string' ? model.tokenizer_class : CLASS_BY_MODEL_TYPE[String(model.model_type)] ?? 'PreTrainedTokenizerFast').replace(/Fast$/, '');
  const rebuilds = REBUILDING_CLASSES[tokenizerClass];
  let affixes: Affixes;
  let specialRule: string;
  if (rebuilds) {
    // Only the tokenizer's own bos/eos tokens count here (transformers' bos_token, not config.json's id).
    const addBos = typeof cfg.add_bos_token === 'boolean' ? cfg.add_bos_token : rebuilds.addBos;
    const addEos = typeof cfg.add_eos_token === 'boolean' ? cfg.add_eos_token : rebuilds.addEos;
    const need = (key: 'bos_token' | 'eos_token', flag: string): number => {
      const id = lookup(key);
      if (id === null) {
        throw new MergeStudioError('tokenizer-invalid', `${configFile}: ${flag} is true (${tokenizerClass}Fast adds it) but ${key} ${specialContent(cfg[key]) === null ? 'is not set' : `'${specialContent(cfg[key])}' is not in the vocabulary`}`, { file: configFile, key });
      }
      return id;
    };
    affixes = { prefix: addBos ? [need('bos_token', 'add_bos_token')] : [], suffix: addEos ? [need('eos_token', 'add_eos_token')] : [] };
    specialRule = `${tokenizerClass}Fast: add_bos_token=${addBos}, add_eos_token=${addEos}`;
  } else {
    const pp = (tokenizerJson as Json).post_processor;
    affixes = postProcessorAffixes(pp, tok, jsonFile);
    specialRule = pp ? `tokenizer.json post_processor (${String((pp as Json).type)})` : 'tokenizer.json has no post_processor';
  }

  const chatTemplates = readChatTemplates(cfg, extra.chatTemplateJinja, where);
  const compiled = new Map<string, CompiledChatTemplate>();
  const templateVariables = specialTokensMap(cfg);
  const vocabSize = tok.get_vocab(true).size;
  const encode = (text: string): number[] => (text.length === 0 ? [] : tok.encode(text, { add_special_tokens: false }).ids);
  // Never two BOS: a text that already starts with the prefix's last token (a prompt written with
  // its own "<s>" or "<|begin_of_text|>") does not get it again. transformers would repeat it; this
  // is the one place we differ, on purpose.
  const withPrefix = (body: number[]): number[] => {
    const p = affixes.prefix;
    return p.length > 0 && body.length > 0 && body[0] === p[p.length - 1] ? [...p.slice(0, -1), ...body] : [...p, ...body];
  };
  return {
    bosId,
    eosIds: [...eos],
    vocabSize,
    specialPrefix: affixes.prefix,
    specialSuffix: affixes.suffix,
    specialRule,
    chatTemplates,
    encode,
    encodeWithSpecialTokens(text: string): number[] {
      return [...withPrefix(encode(text)), ...affixes.suffix];
    },
    encodePrompt(text: string): Int32Array {
      return Int32Array.from(withPrefix(encode(text)));
    },
    decode(tokens: readonly number[]): string {
      // The library rejects an empty list; nothing generated is the empty text.
      return tokens.length === 0 ? '' : tok.decode([...tokens], { skip_special_tokens: true });
    },
    applyChatTemplate(messages, options = {}) {
      const { source, where: at } = selectChatTemplate(chatTemplates, options.templateName, where);
      let template = compiled.get(at);
      if (!template) compiled.set(at, (template = compileChatTemplate(source, at)));
      return template.render(messages, { addGenerationPrompt: options.addGenerationPrompt, variables: { ...templateVariables, ...options.variables } });
    },
  };
}

/** Reads and parses one JSON file of a model tree. */
export async function readTreeJson(tree: FileTree, path: string, signal?: AbortSignal): Promise<unknown> {
  const text = await readTreeText(tree, path, signal);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new MergeStudioError('json-invalid', `${tree.name}/${path}: not valid JSON (${err instanceof Error ? err.message : String(err)})`, { file: `${tree.name}/${path}` });
  }
}

/** Reads one UTF-8 text file of a model tree. */
export async function readTreeText(tree: FileTree, path: string, signal?: AbortSignal): Promise<string> {
  const source = await tree.open(path, signal);
  const bytes = await source.read(0, source.size, signal);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new MergeStudioError('json-invalid', `${tree.name}/${path}: not valid UTF-8`, { file: `${tree.name}/${path}` });
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
  const [tokenizerJson, tokenizerConfig, modelConfig, generationConfig, specialTokensMap, chatTemplateJinja] = await Promise.all([
    readTreeJson(tree, 'tokenizer.json', signal),
    readOptionalJson(tree, 'tokenizer_config.json', files, signal),
    readOptionalJson(tree, 'config.json', files, signal),
    readOptionalJson(tree, 'generation_config.json', files, signal),
    readOptionalJson(tree, 'special_tokens_map.json', files, signal),
    files.includes('chat_template.jinja') ? readTreeText(tree, 'chat_template.jinja', signal) : Promise.resolve(undefined),
  ]);
  return tokenizerFromJson(tokenizerJson, tokenizerConfig, tree.name, { modelConfig, generationConfig, specialTokensMap, chatTemplateJinja });
}
