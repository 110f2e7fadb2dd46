// Where chat templates come from (a string, a list of named templates, chat_template.jinja) and the
// errors a bad template or an unknown name gives, through the tokenizer as the evaluator loads it.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorOf as thrown } from '../error-of.ts';
import { renderChatTemplate } from './chat.ts';
import { tokenizerFromJson } from './tokenizer.ts';

const ZOO_JSON = JSON.parse(readFileSync('public/zoo/tiny-llama/base/tokenizer.json', 'utf8')) as unknown;
const BASE = { bos_token: '<s>', eos_token: '</s>' };
const USER = [{ role: 'user', content: 'abc' }];

describe('chat templates', () => {
  it('a named list picks "default" unless a name is given; an unknown name lists the known ones', () => {
    const tok = tokenizerFromJson(ZOO_JSON, { ...BASE, chat_template: [{ name: 'default', template: '{{ bos_token }}{{ messages[0].content }}' }, { name: 'tool_use', template: 'T{{ messages|length }}' }] }, 'm');
    expect(tok.applyChatTemplate(USER)).toBe('<s>abc');
    expect(tok.applyChatTemplate(USER, { templateName: 'tool_use' })).toBe('T1');
    const err = thrown(() => tok.applyChatTemplate(USER, { templateName: 'rag' }));
    expect(err.code).toBe('chat-template-unknown');
    expect(err.message).toBe("m/tokenizer_config.json: chat_template: no template named 'rag' (the tokenizer has 'default', 'tool_use')");
  });

  it('chat_template.jinja wins over tokenizer_config.json; variables, add_generation_prompt, strftime_now and tojson as transformers passes them', () => {
    const jinja = '{% for m in messages %}[{{ m.role }}]{{ m.content | tojson }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}{{ eos_token }}{{ strftime_now("%Y")|length }}{{ tools is none }}\n';
    const tok = tokenizerFromJson(ZOO_JSON, { ...BASE, chat_template: 'ignored' }, 'm', { chatTemplateJinja: jinja });
    // Jinja drops the template's one trailing newline (keep_trailing_newline is off in transformers).
    expect(tok.applyChatTemplate([{ role: 'user', content: 'é "q"' }], { addGenerationPrompt: true })).toBe('[user]"é \\"q\\""[assistant]</s>4true');
    expect(tok.chatTemplates?.where).toBe('m/chat_template.jinja');
  });

  it('a template that does not parse, that fails, or that calls raise_exception names the file and key', () => {
    const syntax = tokenizerFromJson(ZOO_JSON, { ...BASE, chat_template: '{% for m in messages %}{{ m.content }}' }, 'm');
    const e1 = thrown(() => syntax.applyChatTemplate(USER));
    expect(e1.code).toBe('chat-template-invalid');
    expect(e1.message).toMatch(/^m\/tokenizer_config\.json: chat_template: the template does not parse: /);
    const raising = tokenizerFromJson(ZOO_JSON, { ...BASE }, 'm', { chatTemplateJinja: "{% if messages[0].role != 'system' %}{{ raise_exception('system first') }}{% endif %}" });
    expect(thrown(() => raising.applyChatTemplate(USER)).message).toBe("m/chat_template.jinja: the template refused the conversation: raise_exception('system first')");
    const e3 = thrown(() => renderChatTemplate('{{ messages | frobnicate }}', USER, { where: 'recipe.yml: chat_template' }));
    expect(e3.code).toBe('chat-template-render');
    expect(e3.message).toMatch(/^recipe\.yml: chat_template: rendering failed: /);
    const none = tokenizerFromJson(ZOO_JSON, BASE, 'm');
    expect(thrown(() => none.applyChatTemplate(USER)).message).toBe('m: the tokenizer has no chat template (no chat_template in tokenizer_config.json and no chat_template.jinja)');
    const badList = thrown(() => tokenizerFromJson(ZOO_JSON, { ...BASE, chat_template: [{ name: 'x' }] }, 'm'));
    expect(badList.message).toBe('m/tokenizer_config.json: chat_template[0]: expected {"name": string, "template": string}, found {"name":"x"}');
  });
});
