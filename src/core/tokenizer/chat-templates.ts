// The chat templates a recipe's `chat_template:` can name, as mergekit offers them
// (mergekit/_data/chat_templates/*.jinja in arcee-ai/mergekit: alpaca, chatml, exaone, llama3,
// mistral). Written here from the formats themselves; each renders the same conversation layout.

export const CHAT_TEMPLATES: Record<string, string> = {
  chatml:
    "{%- for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{%- endfor %}\n" +
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}",
  llama3:
    "{%- for m in messages %}{%- if loop.first %}{{ bos_token }}{%- endif %}" +
    "{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + (m['content'] | trim) + '<|eot_id|>' }}{%- endfor %}\n" +
    "{%- if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}",
  mistral:
    "{%- set first = 0 %}{%- set system = none %}" +
    "{%- if messages and messages[0]['role'] == 'system' %}{%- set system = messages[0]['content'] %}{%- set first = 1 %}{%- endif %}" +
    '{{- bos_token }}' +
    "{%- for m in messages[first:] %}" +
    "{%- if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}{{- raise_exception('roles must alternate user/assistant after an optional system message') }}{%- endif %}" +
    "{%- if m['role'] == 'user' %}{%- if loop.first and system is not none %}{{- ' [INST] ' + system + '\\n\\n' + m['content'] + ' [/INST]' }}{%- else %}{{- ' [INST] ' + m['content'] + ' [/INST]' }}{%- endif %}" +
    "{%- elif m['role'] == 'assistant' %}{{- ' ' + m['content'] + eos_token }}" +
    "{%- else %}{{- raise_exception('only user and assistant roles (and a first system message) are supported') }}{%- endif %}" +
    '{%- endfor %}',
  alpaca:
    "{%- set systems = messages | selectattr('role', 'equalto', 'system') | list %}" +
    "{{- (systems | last)['content'] | trim if systems else '' }}{{- '\\n\\n' }}" +
    "{%- for m in messages %}" +
    "{%- if m['role'] == 'user' %}{{- '### Instruction:\\n' + (m['content'] | trim) }}" +
    "{%- elif m['role'] == 'assistant' %}{{- '### Response:\\n' + (m['content'] | trim) }}" +
    "{%- elif m['role'] == 'user_context' %}{{- '### Input:\\n' + (m['content'] | trim) }}{%- endif %}" +
    "{%- if m['role'] != 'system' and not loop.last %}{{- '\\n\\n' }}{%- endif %}" +
    '{%- endfor %}' +
    "{%- if add_generation_prompt and messages[-1]['role'] != 'assistant' %}{{- '\\n### Response:\\n' }}{%- endif %}",
  exaone:
    "{%- for m in messages %}{%- if loop.first and m['role'] != 'system' %}{{- '[|system|][|endofturn|]\\n' }}{%- endif %}" +
    "{{- '[|' + m['role'] + '|]' + m['content'] }}{{- '\\n' if m['role'] == 'user' else '[|endofturn|]\\n' }}{%- endfor %}" +
    "{%- if add_generation_prompt %}{{- '[|assistant|]' }}{%- endif %}",
};

/** How mergekit tells a template string from a name: at least 20 characters and a '{'
 * (mergekit/merge.py `_set_chat_template`). */
export function looksLikeTemplate(value: string): boolean {
  return value.length >= 20 && value.includes('{');
}
