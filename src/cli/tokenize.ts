// `merge-studio tokenize MODEL (--text STRING | --chat FILE.json [--generation-prompt]) [--template NAME] [--json]`:
// shows exactly what the evaluator feeds a model. --text: the text with the special tokens
// transformers' tokenizer(text) adds; --chat: the conversation rendered by the model's chat template
// (apply_chat_template) and its ids without extra special tokens (the template writes its own).
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { checkMessages, type ChatMessage } from '../core/eval/chat.ts';
import { MergeStudioError } from '../core/errors.ts';
import { loadTokenizer, type TextTokenizer } from '../core/eval/tokenizer.ts';
import { nodeFolderTree } from '../core/io/node-file.ts';
import { downloadProgressPrinter, parseSourceFlags, resolveModelRef, SOURCE_FLAGS_HELP, type SourceOptions } from './sources.ts';

const USAGE = `usage: merge-studio tokenize MODEL (--text STRING | --chat FILE.json [--generation-prompt]) [--template NAME] [--json]
  MODEL: a model folder (tokenizer.json, tokenizer_config.json...) or a Hub id (org/name[@revision])
  --chat FILE.json: a list of {"role", "content"} messages, or {"messages": [...]}
  --template NAME: one of the tokenizer's named chat templates (default: 'default')
${SOURCE_FLAGS_HELP}`;

export interface TokenizeArgs {
  model: string;
  text?: string;
  chat?: string;
  generationPrompt: boolean;
  template?: string;
  json: boolean;
  sources?: SourceOptions;
}

function usageError(message: string): never {
  throw new MergeStudioError('cli-usage', `${message}\n${USAGE}`);
}

export function parseTokenizeArgs(argvWithSources: string[]): TokenizeArgs {
  const { options: sources, rest: argv } = parseSourceFlags(argvWithSources);
  const positional: string[] = [];
  const args: Partial<TokenizeArgs> & { generationPrompt: boolean; json: boolean } = { generationPrompt: false, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) { positional.push(a); continue; }
    const [name, inline] = a.slice(2).split(/=(.*)/s, 2);
    if (name === 'json') { args.json = true; continue; }
    if (name === 'generation-prompt') { args.generationPrompt = true; continue; }
    if (!['text', 'chat', 'template'].includes(name)) usageError(`unknown option --${name}`);
    const value = inline ?? argv[++i];
    if (value === undefined) usageError(`--${name} needs a value`);
    args[name as 'text' | 'chat' | 'template'] = value;
  }
  if (positional.length !== 1) usageError(positional.length === 0 ? 'no model given' : `expected one model, found ${positional.length}: ${positional.join(' ')}`);
  if ((args.text === undefined) === (args.chat === undefined)) usageError('give exactly one of --text STRING and --chat FILE.json');
  if (args.text !== undefined && (args.generationPrompt || args.template !== undefined)) usageError('--generation-prompt and --template go with --chat');
  return { ...args, model: positional[0], sources };
}

async function readChat(path: string): Promise<ChatMessage[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new MergeStudioError('file-not-found', `${path}: cannot read the chat file`, { file: path });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new MergeStudioError('chat-invalid', `${path}: not valid JSON (${err instanceof Error ? err.message : String(err)})`, { file: path });
  }
  const messages = Array.isArray(parsed) ? parsed : (parsed as { messages?: unknown } | null)?.messages;
  return checkMessages(messages, path);
}

/** The command without process concerns (tests call this): the text the model reads and its ids. */
export async function runTokenize(args: TokenizeArgs, signal?: AbortSignal): Promise<{ text: string; ids: number[] }> {
  const path = resolve(args.model);
  // A folder is read as it is (it may hold only tokenizer files); anything else is a Hub id.
  const tree = existsSync(path) && (await stat(path)).isDirectory()
    ? nodeFolderTree(path)
    : await resolveModelRef(args.model, { onProgress: downloadProgressPrinter(), ...args.sources, signal });
  const tokenizer = await loadTokenizer(tree, signal);
  if (args.text !== undefined) return { text: args.text, ids: tokenizer.encodeWithSpecialTokens(args.text) };
  return tokenizeChat(tokenizer, await readChat(args.chat!), { addGenerationPrompt: args.generationPrompt, templateName: args.template });
}

/** apply_chat_template(messages, tokenize=False) and its ids (no special tokens added: the template writes them). */
export function tokenizeChat(tokenizer: TextTokenizer, messages: readonly ChatMessage[], options: { addGenerationPrompt?: boolean; templateName?: string; variables?: Record<string, unknown> } = {}): { text: string; ids: number[] } {
  const text = tokenizer.applyChatTemplate(messages, options);
  return { text, ids: tokenizer.encode(text) };
}

export async function run(argv: string[]): Promise<number> {
  try {
    const args = parseTokenizeArgs(argv);
    const out = await runTokenize(args);
    process.stdout.write(args.json ? `${JSON.stringify(out)}\n` : `${out.text}\n${JSON.stringify(out.ids)}\n`);
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const [first, ...rest] = message.split('\n');
    process.stderr.write(`merge-studio tokenize: ${first}\n${rest.map((l) => `${l}\n`).join('')}`);
    return 1;
  }
}
