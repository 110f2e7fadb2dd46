#!/usr/bin/env python3
"""Expected lm-eval prompts for src/core/benchmarks/prompt.test.ts.

Renders the fixture documents (src/core/benchmarks/fixtures/docs.json) with the Jinja templates of
lm-evaluation-harness's task YAMLs (EleutherAI/lm-evaluation-harness at 4e7e0d47f: arc/arc_easy.yaml,
hellaswag/hellaswag.yaml + utils.py, piqa/piqa.yaml, winogrande/default.yaml +
preprocess_winogrande.py, gsm8k/gsm8k.yaml, mmlu/default/_default_template_yaml + mmlu_<subject>.yaml),
in a Jinja2 environment set up as lm_eval/utils.py sets it up (StrictUndefined,
keep_trailing_newline), and assembles contexts as lm_eval/api/task.py does for plain-text prompts
(fewshot_context, build_qa_turn, multiple_input_context, construct_requests; Message.to_text).
lm-eval itself cannot be installed here, so this restates it in Python + Jinja2, independently of
the TypeScript under test. Output: src/core/benchmarks/fixtures/expected-prompts.json.

Run: /usr/bin/python3 tools/benchmarks/lm_eval_prompts.py
"""
import ast
import json
import os
import re

from jinja2 import BaseLoader, Environment, StrictUndefined

env = Environment(loader=BaseLoader, undefined=StrictUndefined, keep_trailing_newline=True)


def render(template, doc):
    return env.from_string(template).render(**doc)


def hellaswag_preprocess(text):
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    text = text.replace("  ", " ")
    return text


def hellaswag_process(doc):
    ctx = doc["ctx_a"] + " " + doc["ctx_b"].capitalize()
    return {**doc, "query": hellaswag_preprocess(doc["activity_label"] + ": " + ctx),
            "choices": [hellaswag_preprocess(e) for e in doc["endings"]], "gold": int(doc["label"])}


def wg_text(doc):
    return {"1": 0, "2": 1}[doc["answer"]]


def wg_target(doc):
    idx = doc["sentence"].index("_") + 1
    return doc["sentence"][idx:].strip()


def wg_choice(doc):
    idx = doc["sentence"].index("_")
    return [doc["sentence"][:idx] + o for o in (doc["option1"], doc["option2"])]


ARC = dict(text="Question: {{question}}\nAnswer:", target="{{choices.label.index(answerKey)}}", choice="{{choices.text}}")
MMLU = dict(text="{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:",
            choice=["A", "B", "C", "D"], target="answer")
TASKS = {
    "arc_easy": dict(ARC, type="multiple_choice"),
    "arc_challenge": dict(ARC, type="multiple_choice"),
    "hellaswag": dict(text="{{query}}", target="{{label}}", choice="choices", type="multiple_choice", process=hellaswag_process),
    "piqa": dict(text="Question: {{goal}}\nAnswer:", target="label", choice="{{[sol1, sol2]}}", type="multiple_choice"),
    "winogrande": dict(text=wg_text, target=wg_target, choice=wg_choice, type="multiple_choice"),
    "gsm8k": dict(text="Question: {{question}}\nAnswer:", target="{{answer}}", type="generate_until"),
    "mmlu_high_school_us_history": dict(MMLU, type="multiple_choice",
                                        description="The following are multiple choice questions (with answers) about high school us history.\n\n"),
    "mmlu_abstract_algebra": dict(MMLU, type="multiple_choice",
                                  description="The following are multiple choice questions (with answers) about abstract algebra.\n\n"),
}


def doc_to_text(t, doc):
    f = t["text"]
    if callable(f):
        return f(doc)
    if f in doc:
        return doc[f]
    s = render(f, doc)
    return ast.literal_eval(s) if s.isdigit() and t.get("choice") is not None else s


def doc_to_target(t, doc):
    f = t["target"]
    if callable(f):
        return f(doc)
    if f in doc:
        return doc[f]
    s = render(f, doc)
    if s.isdigit() and t.get("choice") is not None:
        return ast.literal_eval(s)
    return s


def doc_to_choice(t, doc):
    f = t.get("choice")
    if f is None:
        return None
    if callable(f):
        return f(doc)
    if isinstance(f, list):
        return f
    if f in doc:
        return doc[f]
    return ast.literal_eval(render(f, doc))


def qa_turn(q, c, a, tgt, few):
    has_answer = a is not None and a != ""
    text = q + (tgt if has_answer else "")
    if has_answer:
        text += (c[a] if (c and isinstance(a, int)) else a) + few
    return text


def build(name, t, doc, fewshot):
    proc = t.get("process", lambda d: d)
    doc = proc(doc)
    multiple_input = isinstance(doc_to_text(t, doc), int)
    desc = t.get("description", "")
    system = {"system": desc} if desc else {}
    prefix = ""
    for fs in fewshot:
        fs = proc(fs)
        q, c, a = doc_to_text(t, fs), doc_to_choice(t, fs), doc_to_target(t, fs)
        if multiple_input:
            q, c = c[q], None
        prefix += qa_turn(q, c, a, " ", "\n\n")
    # Chat parts as multiturn_to_singleturn collapses the messages (fewshot_as_multiturn=False): the
    # description is the system message, the rest one user message; with a chat template and no
    # gen_prefix, construct_requests drops the target delimiter.
    if t["type"] == "generate_until":
        user = prefix + doc_to_text(t, doc)
        return {"kind": "generate_until", "context": desc + user, "target": doc_to_target(t, doc), "chat": {**system, "user": [user]}}
    choices = doc_to_choice(t, doc)
    if multiple_input:
        cont = doc_to_target(t, doc)
        return {"kind": "multiple_choice", "pairs": [{"context": desc + prefix + ctx, "continuation": " " + cont} for ctx in choices],
                "gold": doc_to_text(t, doc), "choiceLengths": [len(c) for c in choices],
                "chat": {**system, "user": [prefix + ctx for ctx in choices], "continuation": [cont for _ in choices]}}
    user = prefix + doc_to_text(t, doc)
    return {"kind": "multiple_choice", "pairs": [{"context": desc + user, "continuation": " " + c} for c in choices],
            "gold": doc_to_target(t, doc), "choiceLengths": [len(c) for c in choices],
            "chat": {**system, "user": [user for _ in choices], "continuation": list(choices)}}


here = os.path.dirname(os.path.abspath(__file__))
fixtures = os.path.join(here, "..", "..", "src", "core", "benchmarks", "fixtures")
docs = json.load(open(os.path.join(fixtures, "docs.json"), encoding="utf-8"))
out = {}
for name, t in TASKS.items():
    d = docs[name]
    out[name] = {"zero_shot": build(name, t, d["eval"], []), "few_shot": build(name, t, d["eval"], d["fewshot"])}
with open(os.path.join(fixtures, "expected-prompts.json"), "w", encoding="utf-8") as f:
    json.dump(out, f, indent=1, ensure_ascii=False)
    f.write("\n")
print("wrote", len(out), "tasks")
