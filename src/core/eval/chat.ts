// Chat templates rendered as transformers' `apply_chat_template` renders them (transformers
// src/transformers/utils/chat_template_utils.py `_compile_jinja_template` / `render_jinja_template`,
// tokenization_utils_base.py `apply_chat_template` / `get_chat_template`, read for this file):
// Jinja with trim_blocks and lstrip_blocks (both set by @huggingface/jinja's Template), the
// variables `messages`, `add_generation_prompt` and every special token of the tokenizer
// (`bos_token`, `eos_token`, ... as strings; tokens that are not set are left undefined), and the
// globals `raise_exception(message)` and `strftime_now(format)`; `tojson` keeps non-ASCII text
// and takes indent/separators/sort_keys like Python's json.dumps. The rendered text carries its
// own BOS, so it is tokenized without special tokens (add_special_tokens=False).
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { MergeStudioError } from '../errors.ts';

/** One turn of a conversation. Extra keys (tool calls, reasoning...) are passed to the template as they are. */
export interface ChatMessage {
  role: string;
  content: unknown;
  [key: string]: unknown;
}

/** The templates a tokenizer ships, by name (a single template is named 'default'), and where they came from. */
export interface ChatTemplates {
  /** File and key the templates were read from, for messages (`model/tokenizer_config.json: chat_template`). */
  where: string;
  byName: ReadonlyMap<string, string>;
}

/** Variables of a rendering besides `messages` and `add_generation_prompt` (special tokens, template kwargs). */
export type ChatVariables = Record<string, unknown>;

export interface RenderChatOptions {
  addGenerationPrompt?: boolean;
  /** Special tokens (`bos_token`...) and any template kwargs (`enable_thinking`...). */
  variables?: ChatVariables;
}

/** A compiled template; `where` names its file and key in errors. */
export interface CompiledChatTemplate {
  readonly where: string;
  render(messages: readonly ChatMessage[], options?: RenderChatOptions): string;
}

type Json = Record<string, unknown>;

/** The chat templates of a tokenizer: a `chat_template.jinja` file wins over tokenizer_config.json's
 * `chat_template`, which is a string or a list of `{name, template}` (transformers saves several
 * templates that way). `null` when the model has none. */
export function readChatTemplates(tokenizerConfig: unknown, jinjaFile: string | undefined, modelName: string): ChatTemplates | null {
  if (jinjaFile !== undefined) {
    return { where: `${modelName}/chat_template.jinja`, byName: new Map([['default', jinjaFile]]) };
  }
  const where = `${modelName}/tokenizer_config.json: chat_template`;
  const raw = tokenizerConfig && typeof tokenizerConfig === 'object' ? (tokenizerConfig as Json).chat_template : undefined;
  if (raw === undefined || raw === null) return null;
  if (typeof raw === 'string') return { where, byName: new Map([['default', raw]]) };
  if (Array.isArray(raw)) {
    const byName = new Map<string, string>();
    raw.forEach((entry, i) => {
      const e = (entry ?? {}) as Json;
      if (typeof e.name !== 'string' || typeof e.template !== 'string') {
        throw new MergeStudioError('chat-template-invalid', `${where}[${i}]: expected {"name": string, "template": string}, found ${JSON.stringify(entry)?.slice(0, 120)}`, { file: `${modelName}/tokenizer_config.json`, key: 'chat_template' });
      }
      byName.set(e.name, e.template);
    });
    return { where, byName };
  }
  throw new MergeStudioError('chat-template-invalid', `${where}: expected a template string or a list of {name, template}, found ${typeof raw}`, { file: `${modelName}/tokenizer_config.json`, key: 'chat_template' });
}

/** The template called `name` (default: 'default', as transformers picks when a model has several). */
export function selectChatTemplate(templates: ChatTemplates | null, name: string | undefined, modelName: string): { source: string; where: string } {
  if (!templates) {
    throw new MergeStudioError('chat-template-missing', `${modelName}: the tokenizer has no chat template (no chat_template in tokenizer_config.json and no chat_template.jinja)`, { file: `${modelName}/tokenizer_config.json`, key: 'chat_template' });
  }
  const wanted = name ?? 'default';
  const source = templates.byName.get(wanted);
  if (source === undefined) {
    const known = [...templates.byName.keys()].map((k) => `'${k}'`).join(', ');
    throw new MergeStudioError('chat-template-unknown', name === undefined
      ? `${templates.where}: several templates (${known}) and none named 'default'; name one`
      : `${templates.where}: no template named '${wanted}' (the tokenizer has ${known})`, { key: 'chat_template', name: wanted });
  }
  return { source, where: templates.byName.size > 1 ? `${templates.where} '${wanted}'` : templates.where };
}

/** Raised inside a template by `raise_exception(message)`; told apart from the engine's own errors. */
class TemplateRaised extends Error {}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Python's range(stop) / range(start, stop[, step]). */
function range(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error('range() arg 3 must not be zero');
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** datetime.now().strftime(format) in the C locale, for the directives chat templates use. */
function strftimeNow(format: string, now = new Date()): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const hour12 = now.getHours() % 12 === 0 ? 12 : now.getHours() % 12;
  const startOfYear = new Date(now.getFullYear(), 0, 1);
  const fields: Record<string, string> = {
    Y: String(now.getFullYear()), y: pad(now.getFullYear() % 100), m: pad(now.getMonth() + 1), d: pad(now.getDate()),
    H: pad(now.getHours()), I: pad(hour12), M: pad(now.getMinutes()), S: pad(now.getSeconds()), p: now.getHours() < 12 ? 'AM' : 'PM',
    B: MONTHS[now.getMonth()], b: MONTHS[now.getMonth()].slice(0, 3), A: DAYS[now.getDay()], a: DAYS[now.getDay()].slice(0, 3),
    j: pad(Math.floor((now.getTime() - startOfYear.getTime()) / 86_400_000) + 1, 3), '%': '%',
  };
  return format.replace(/%(.)/g, (all, c: string) => fields[c] ?? all);
}

/** Parses a template once; a syntax error names the file and key. */
export function compileChatTemplate(source: string, where: string): CompiledChatTemplate {
  let template: Template;
  try {
    template = new Template(source);
  } catch (err) {
    throw new MergeStudioError('chat-template-invalid', `${where}: the template does not parse: ${message(err)}`, { where });
  }
  return {
    where,
    render(messages, options = {}) {
      // Our own environment rather than Template.render's, whose raise_exception cannot be told
      // apart from an engine error: the same Python-like constants, range, strftime_now, and a
      // raise_exception of ours. transformers passes tools and documents (None when not given)
      // before the template kwargs.
      const env = new Environment();
      const globals: Record<string, unknown> = {
        true: true, false: false, none: null, True: true, False: false, None: null,
        range, strftime_now: (format: string) => strftimeNow(String(format)),
        raise_exception: (text: unknown) => {
          throw new TemplateRaised(String(text));
        },
        tools: null,
        documents: null,
        ...options.variables,
        messages,
        add_generation_prompt: options.addGenerationPrompt ?? false,
      };
      for (const [name, value] of Object.entries(globals)) env.set(name, value);
      try {
        return new Interpreter(env).run(template.parsed).value as string;
      } catch (err) {
        if (err instanceof TemplateRaised) {
          throw new MergeStudioError('chat-template-raised', `${where}: the template refused the conversation: raise_exception('${err.message}')`, { where });
        }
        throw new MergeStudioError('chat-template-render', `${where}: rendering failed: ${message(err)}`, { where });
      }
    },
  };
}

/** Renders a template given as a string (a recipe's `chat_template:`, a built-in one) in one call. */
export function renderChatTemplate(source: string, messages: readonly ChatMessage[], options: RenderChatOptions & { where?: string } = {}): string {
  return compileChatTemplate(source, options.where ?? 'chat_template').render(messages, options);
}

/** Checks a parsed conversation: a non-empty list of objects with a string `role`. */
export function checkMessages(value: unknown, where: string): ChatMessage[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new MergeStudioError('chat-invalid', `${where}: 'messages' must be a non-empty list of {"role", "content"}, found ${JSON.stringify(value)?.slice(0, 120) ?? 'nothing'}`, { where });
  }
  value.forEach((m, i) => {
    if (!m || typeof m !== 'object' || Array.isArray(m) || typeof (m as Json).role !== 'string' || !('content' in (m as Json))) {
      throw new MergeStudioError('chat-invalid', `${where}: messages[${i}] must be an object with a string 'role' and a 'content', found ${JSON.stringify(m)?.slice(0, 120)}`, { where });
    }
  });
  return value as ChatMessage[];
}
