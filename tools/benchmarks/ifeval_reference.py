#!/usr/bin/env python3
"""Expected IFEval results for src/core/benchmarks/ifeval.test.ts, computed by lm-eval's own code.

Runs lm-evaluation-harness's lm_eval/tasks/ifeval/utils.py process_results (with instructions.py,
instructions_registry.py and instructions_util.py, unmodified) on the cases below, and writes the
strict and loose per-instruction results to src/core/benchmarks/fixtures/ifeval-expected.json.

lm-eval cannot be installed here, so its source is read from a checkout given as the first argument
(EleutherAI/lm-evaluation-harness at 4e7e0d47f; the `fetch` tool's mirror: `git -C MIRROR archive
HEAD lm_eval/tasks/ifeval | tar -x -C DIR`). Its imports of langdetect, nltk and immutabledict are
satisfied by small stand-ins: langdetect is never called for the instructions compared (the five
instruction types that need langdetect or nltk's punkt are not among the cases), nltk's
RegexpTokenizer(r"\\w+") is re.findall with nltk's flags, and immutabledict is a dict.

Run: /usr/bin/python3 tools/benchmarks/ifeval_reference.py LM_EVAL_CHECKOUT
"""
import importlib.metadata
import json
import os
import re
import sys
import types

root = sys.argv[1]

# ---------------------------------------------------------------- stand-ins for missing packages
langdetect = types.ModuleType("langdetect")
langdetect.LangDetectException = Exception
langdetect.detect = lambda text: (_ for _ in ()).throw(RuntimeError("langdetect is not used by the compared cases"))
sys.modules["langdetect"] = langdetect

nltk = types.ModuleType("nltk")
nltk.data = types.SimpleNamespace(find=lambda name: True, load=lambda name: None)
nltk.download = lambda name: None


class RegexpTokenizer:
    def __init__(self, pattern):
        self.pattern = re.compile(pattern, re.UNICODE | re.MULTILINE | re.DOTALL)

    def tokenize(self, text):
        return self.pattern.findall(text)


nltk.tokenize = types.SimpleNamespace(RegexpTokenizer=RegexpTokenizer)
nltk.word_tokenize = lambda text: (_ for _ in ()).throw(RuntimeError("word_tokenize is not used by the compared cases"))
sys.modules["nltk"] = nltk

immutabledict = types.ModuleType("immutabledict")
immutabledict.immutabledict = dict
sys.modules["immutabledict"] = immutabledict

_version = importlib.metadata.version
importlib.metadata.version = lambda name: "3.9.1" if name == "nltk" else _version(name)

# lm_eval.tasks.ifeval as a bare package (lm_eval/__init__.py pulls in the whole harness).
for name, path in [("lm_eval", "lm_eval"), ("lm_eval.tasks", "lm_eval/tasks"), ("lm_eval.tasks.ifeval", "lm_eval/tasks/ifeval")]:
    pkg = types.ModuleType(name)
    pkg.__path__ = [os.path.join(root, path)]
    sys.modules[name] = pkg

from lm_eval.tasks.ifeval import utils  # noqa: E402


def doc(ids, kwargs, prompt="Write something."):
    return {"key": 0, "prompt": prompt, "instruction_id_list": ids, "kwargs": kwargs}


CASES = [
    # keywords
    (doc(["keywords:existence"], [{"keywords": ["merge", "model"]}]), "We MERGE a Model here."),
    (doc(["keywords:existence"], [{"keywords": ["merge", "model"]}]), "We merge nothing."),
    (doc(["keywords:frequency"], [{"keyword": " cat ", "frequency": 3, "relation": "at least"}]), "cat, Cat, CAT and concatenate"),
    (doc(["keywords:frequency"], [{"keyword": "cat", "frequency": 2, "relation": "less than"}]), "one cat"),
    (doc(["keywords:frequency"], [{"keyword": "cat", "frequency": 2, "relation": "less than"}]), "cat cat"),
    (doc(["keywords:forbidden_words"], [{"forbidden_words": ["rain", "snow"]}]), "It is raining; snowfall too."),
    (doc(["keywords:forbidden_words"], [{"forbidden_words": ["rain"]}]), "No RAIN today."),
    (doc(["keywords:forbidden_words"], [{"forbidden_words": ["été"]}]), "un étéx et été_ chaud"),
    (doc(["keywords:forbidden_words"], [{"forbidden_words": ["été"]}]), "l'été chaud"),
    (doc(["keywords:letter_frequency"], [{"letter": "e", "let_frequency": 4, "let_relation": "at least"}]), "EeEe"),
    (doc(["keywords:letter_frequency"], [{"letter": "z", "let_frequency": 1, "let_relation": "less than"}]), "pizza"),
    # length constraints
    (doc(["length_constraints:number_paragraphs"], [{"num_paragraphs": 3}]), "one\n***\ntwo\n***\nthree"),
    (doc(["length_constraints:number_paragraphs"], [{"num_paragraphs": 2}]), "***\none *** two\n***"),
    (doc(["length_constraints:number_paragraphs"], [{"num_paragraphs": 3}]), "one *** *** three"),
    (doc(["length_constraints:number_words"], [{"num_words": 5, "relation": "at least"}]), "naïve café-owner's 2nd_best, déjà vu"),
    (doc(["length_constraints:number_words"], [{"num_words": 5, "relation": "less than"}]), "a b c d e"),
    (doc(["length_constraints:nth_paragraph_first_word"], [{"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "Second"}]), "First one.\n\n\"second,\" she said."),
    (doc(["length_constraints:nth_paragraph_first_word"], [{"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "second"}]), "First.\n\n\n\nSecond!\n\nthird"),
    (doc(["length_constraints:nth_paragraph_first_word"], [{"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "second"}]), "First.\n\n \n\nSecond"),
    # detectable content
    (doc(["detectable_content:number_placeholders"], [{"num_placeholders": 2}]), "[name] lives at [address]"),
    (doc(["detectable_content:number_placeholders"], [{"num_placeholders": 2}]), "[name\n] lives at [address]"),
    (doc(["detectable_content:postscript"], [{"postscript_marker": "P.S."}]), "Hello.\n\np. s. see you"),
    (doc(["detectable_content:postscript"], [{"postscript_marker": "P.P.S"}]), "Hello.\nP.P.S. later"),
    (doc(["detectable_content:postscript"], [{"postscript_marker": "P.S."}]), "Hello.\nPS later"),
    # detectable format
    (doc(["detectable_format:number_bullet_lists"], [{"num_bullets": 3}]), "* one\n* two\n- three\n**bold** line"),
    (doc(["detectable_format:number_bullet_lists"], [{"num_bullets": 2}]), "intro\n  * one\r\n\t- two\n"),
    (doc(["detectable_format:number_bullet_lists"], [{"num_bullets": 1}]), "*\n* a"),
    (doc(["detectable_format:constrained_response"], [{}]), "  Well... My answer is maybe. "),
    (doc(["detectable_format:constrained_response"], [{}]), "My answer is perhaps."),
    (doc(["detectable_format:number_highlighted_sections"], [{"num_highlights": 3}]), "*one* and **two** and * * and *three*"),
    (doc(["detectable_format:number_highlighted_sections"], [{"num_highlights": 2}]), "*one\n* and ** ** here"),
    (doc(["detectable_format:multiple_sections"], [{"section_spliter": "Section", "num_sections": 2}]), "Section 1\nfoo\nSection 2\nbar"),
    (doc(["detectable_format:multiple_sections"], [{"section_spliter": " SECTION ", "num_sections": 3}]), "SECTION 1 a SECTION 2 b section 3"),
    (doc(["detectable_format:json_format"], [{}]), "```json\n{\"a\": [1, 2, NaN]}\n```"),
    (doc(["detectable_format:json_format"], [{}]), "```JSON\n{\"a\": 1,}\n```"),
    (doc(["detectable_format:json_format"], [{}]), "  \"just a string\"  "),
    (doc(["detectable_format:title"], [{}]), "<<My Title>>\nbody"),
    (doc(["detectable_format:title"], [{}]), "<< >> and <<<>>>"),
    # combination
    (doc(["combination:two_responses"], [{}]), "first answer\n******\nsecond answer"),
    (doc(["combination:two_responses"], [{}]), "same\n******\nsame "),
    (doc(["combination:two_responses"], [{}]), "a\n******\n\n******\nb"),
    (doc(["combination:repeat_prompt"], [{"prompt_to_repeat": "Write a poem about cats."}]), "  write a POEM about cats. Here it is."),
    (doc(["combination:repeat_prompt"], [{"prompt_to_repeat": "Write a poem about cats."}]), "Sure! Write a poem about cats."),
    # start/end
    (doc(["startend:end_checker"], [{"end_phrase": "Is there anything else I can help with?"}]), "Done. is there anything else I can help with?\"  "),
    (doc(["startend:end_checker"], [{"end_phrase": "Peace."}]), "Peace. Out."),
    (doc(["startend:quotation"], [{}]), " \"quoted\" "),
    (doc(["startend:quotation"], [{}]), "\""),
    (doc(["punctuation:no_comma"], [{}]), "no commas here"),
    (doc(["punctuation:no_comma"], [{}]), "one, two"),
    # loose variants: a first line, asterisks
    (doc(["startend:quotation", "punctuation:no_comma"], [{}, {}]), "Sure, here:\n\"quoted\""),
    (doc(["detectable_format:title", "keywords:existence"], [{}, {"keywords": ["x"]}]), "**<<T>>**\nx"),
    (doc(["combination:repeat_prompt"], [{"prompt_to_repeat": "Say hi"}]), "Okay:\nSay hi\nhi"),
    # empty responses never follow
    (doc(["punctuation:no_comma", "detectable_format:constrained_response"], [{}, {}]), "   "),
    # kwargs with falsy values are dropped (None in the parquet's struct columns)
    (doc(["keywords:existence"], [{"keywords": ["a"], "num_words": None, "relation": None}]), "a"),
    # Python whitespace: \x1c is space to str.strip(), \ufeff is not
    (doc(["startend:quotation"], [{}]), "\x1c\"q\"\x1c"),
    (doc(["startend:quotation"], [{}]), "\ufeff\"q\""),
]

out = []
for d, response in CASES:
    r = utils.process_results(d, [response])
    out.append({"doc": d, "response": response, "strict": r["inst_level_strict_acc"], "loose": r["inst_level_loose_acc"],
                "prompt_strict": r["prompt_level_strict_acc"], "prompt_loose": r["prompt_level_loose_acc"]})

dest = os.path.join(os.path.dirname(__file__), "..", "..", "src", "core", "benchmarks", "fixtures", "ifeval-expected.json")
with open(dest, "w") as f:
    json.dump({"source": "lm_eval/tasks/ifeval (EleutherAI/lm-evaluation-harness 4e7e0d47f) process_results", "cases": out}, f, ensure_ascii=False, indent=1)
print(f"wrote {len(out)} cases to {os.path.normpath(dest)}")
