"""Train and write the Merge Studio demo zoo (public/zoo): two tiny model families, tasks, manifest.

Usage: /usr/bin/python3 tools/zoo/generate.py [--out public/zoo] [--quick] [--threads 2]
Deterministic for a given torch build and thread count; see tools/zoo/README.md.
"""
import argparse
import copy
import hashlib
import itertools
import json
import os
import random
import shutil
import sys
import time

import numpy as np
import torch

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from model import ArchConfig, CausalLM, round_to_bf16_  # noqa: E402
from tasks import (VOCAB, BOS_ID, LATENT_FORMS, HeldOut, make_skills, generic_source, latent_item, skill_stream,  # noqa: E402
                   encode, decode)  # noqa: E402
from train import train, exact_match, mc_accuracy, perplexity, greedy_generate  # noqa: E402
import hf_files  # noqa: E402
import zoo_readme  # noqa: E402

SETTINGS = {
    "seeds": {"held_out": 7, "lexicon": 1234, "torch": 20240601, "data": 99},
    "tasks": {"gen_items": 300, "mc_items": 200, "ppl_items": 100, "add_max_digits": 2, "max_new_tokens": 12},
    "families": {
        "tiny-llama": {
            "arch": {"family": "llama", "hidden_size": 128, "intermediate_size": 352, "num_hidden_layers": 4,
                     "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64},
            "base": {"steps": 3000, "lr": 2e-3, "batch_size": 64, "generic_share": 0.6, "latent_share": 0.5,
                     "format_answer": "copy"},
            "expert": {"steps": 400, "lr": 1e-3, "batch_size": 32, "skill_share": 0.6, "format_share": 0.2,
                       "warmup": 20},
            # an addition expert (1000 steps) did not fit the time budget on the busy build machine;
            # tiny-qwen2 carries the addition expert
            "experts": ["reverse", "caesar", "sort"],
            # the harder skills need more steps than caesar to reach the targets
            "expert_overrides": {"reverse": {"steps": 700}, "sort": {"steps": 800}},
        },
        "tiny-qwen2": {
            "arch": {"family": "qwen2", "hidden_size": 96, "intermediate_size": 320, "num_hidden_layers": 3,
                     "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64},
            "base": {"steps": 3000, "lr": 2e-3, "batch_size": 64, "generic_share": 0.6, "latent_share": 0.5,
                     "format_answer": "copy"},
            "expert": {"steps": 500, "lr": 1e-3, "batch_size": 32, "skill_share": 0.6, "format_share": 0.2,
                       "warmup": 20},
            "experts": ["add", "caesar"],
            "expert_overrides": {"add": {"steps": 900}},
        },
    },
    "merge": {"lambda": 1.0, "pairs": {"tiny-llama": ["reverse", "caesar"], "tiny-qwen2": ["add", "caesar"]},
              "lambda_sweep": [0.5, 0.75, 1.0], "frontier_weights": [0.0, 0.25, 0.5, 0.75, 1.0]},
    "reference_prompts": ["add 47+385=", "rev hello=olleh\nrot abc=", "sort dbca=abcd\ncopy xyz=xyz", "count 3 4 5 6\nsum 2,7="],
}
QUICK = {"base": {"steps": 60}, "expert": {"steps": 30}, "tasks": {"gen_items": 40, "mc_items": 20, "ppl_items": 10}}

LOG_FILE = None


def log(message):
    line = f"[{time.strftime('%H:%M:%S')}] {message}"
    print(line, flush=True)
    if LOG_FILE:
        with open(LOG_FILE, "a") as f:
            f.write(line + "\n")


def settings_key(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def base_mixture(skills, held_out, rng, generic_share, format_answer="random", latent_share=0.0):
    """Generic text, plus every skill's format with an unrelated answer (the format, not the skill):
    format_answer "random" (a random string of the answer's length) or "copy" (the operand copied, a sharp
    default each expert can then edit for its own prefix only)."""
    streams = {name: skill_stream(s, rng, held_out, unrelated=format_answer) for name, s in skills.items()}
    names = sorted(skills)
    generic = generic_source(skills, held_out, rng, latent_share)

    def next_example():
        if rng.random() < generic_share:
            return generic(), 0
        prompt, answer = next(streams[rng.choice(names)])
        return prompt + answer, 0
    return next_example


def expert_mixture(skill, skills, held_out, rng, skill_share, format_share, format_answer="random", latent_share=0.0):
    """The skill with true answers (loss on the answer only), generic text to stay near the base, and
    (format_share) the other skills' formats with unrelated answers as the base saw them: this makes the
    expert condition its change on its own prompt prefix, so task vectors of different skills collide less."""
    stream = skill_stream(skill, rng, held_out)
    others = [skill_stream(s, rng, held_out, unrelated=format_answer) for name, s in sorted(skills.items())
              if s is not skill]
    generic = generic_source(skills, held_out, rng, latent_share)

    def next_example():
        r = rng.random()
        if r < skill_share:
            prompt, answer = next(stream)
            return prompt + answer, len(prompt)
        if r < skill_share + format_share:
            prompt, answer = next(rng.choice(others))
            return prompt + answer, len(prompt)
        return generic(), 0
    return next_example


def cached_training(cache_dir, key, build, log_label):
    """Train (or reload) a model; cached state dicts make re-runs after a late stage cheap."""
    path = os.path.join(cache_dir, f"{key}.pt")
    model = build()
    if os.path.exists(path):
        model.load_state_dict(torch.load(path))
        log(f"{log_label}: loaded cached {path}")
        return model, True
    return model, False


def save_trained(cache_dir, key, model, seconds):
    torch.save(model.state_dict(), os.path.join(cache_dir, f"{key}.pt"))
    hf_files.write_json(os.path.join(cache_dir, f"{key}.json"), {"train_seconds": round(seconds)})


def train_seconds(cache_dir, key):
    path = os.path.join(cache_dir, f"{key}.json")
    return json.load(open(path))["train_seconds"] if os.path.exists(path) else None


def evaluate(model, held_out, skills, max_new):
    scores = {}
    for name in skills:
        items = held_out.items[name]
        scores[name] = {
            "exact_match": exact_match(model, items["gen"], max_new),
            "mc_accuracy": mc_accuracy(model, items["mc"]),
            "perplexity": perplexity(model, items["ppl"]),
        }
    return scores


def task_arithmetic(base, experts, weights, lam):
    """base + lam * sum_i w_i (expert_i - base), per tensor, in f32."""
    merged = copy.deepcopy(base)
    with torch.no_grad():
        base_params = dict(base.named_parameters())
        expert_params = [dict(e.named_parameters()) for e in experts]
        for name, p in merged.named_parameters():
            delta = sum(w * (ep[name] - base_params[name]) for w, ep in zip(weights, expert_params))
            p.copy_(base_params[name] + lam * delta)
    merged.eval()
    return merged


def em_on(model, held_out, names, max_new):
    return {n: exact_match(model, held_out.items[n]["gen"], max_new) for n in names}


def write_model_dir(directory, model, cfg, family, name, skills, scores, max_new):
    os.makedirs(directory, exist_ok=True)
    state = {k: v.float().numpy() for k, v in model.hf_state_dict().items()}
    hf_files.write_safetensors(os.path.join(directory, "model.safetensors"), state, metadata={"format": "pt"})
    hf_files.write_json(os.path.join(directory, "config.json"), hf_files.model_config(cfg))
    hf_files.write_json(os.path.join(directory, "generation_config.json"), hf_files.generation_config(max_new))
    hf_files.write_json(os.path.join(directory, "tokenizer.json"), hf_files.tokenizer_json())
    hf_files.write_json(os.path.join(directory, "tokenizer_config.json"),
                        hf_files.tokenizer_config(cfg.max_position_embeddings))
    params = sum(v.size for v in state.values())
    role = "the base, pretrained on a generic mixture" if name == "base" else \
        f"an expert fully fine-tuned from `{family}/base` on one skill: {skills[name].description}"
    rows = "\n".join(f"| {s} | {v['exact_match']:.3f} | {v['mc_accuracy']:.3f} | {v['perplexity']:.3f} |"
                     for s, v in scores.items())
    with open(os.path.join(directory, "README.md"), "w") as f:
        f.write(f"""---
license: apache-2.0
library_name: transformers
tags: [merge-studio, demo, tiny]
---
# {family}/{name}

A tiny {cfg.family} model ({params:,} parameters, bf16) from the Merge Studio demo zoo: {role}.
Character-level tokenizer; prompts are BOS + characters, the answer follows and ends with a newline.
Trained by `tools/zoo/generate.py`; a toy for merging experiments, not a useful language model.

Held-out scores (PyTorch, greedy, these bf16 weights):

| task | exact match | multiple choice | perplexity |
|---|---|---|---|
{rows}
""")
    return params


def write_reference(path, model):
    tensors = {}
    for k, text in enumerate(SETTINGS["reference_prompts"]):
        ids = [BOS_ID] + encode(text)
        with torch.no_grad():
            logits = model(torch.tensor([ids]))[0]
        tensors[f"input_ids.{k}"] = np.array(ids, dtype=np.int32)
        tensors[f"logits.{k}"] = logits.numpy().astype(np.float32)
    hf_files.write_safetensors(path, tensors, dtype_of=lambda n: "I32" if n.startswith("input_ids") else "F32")


def verify_written(directory, ref_path, cfg):
    """Reload the written weights into a fresh model: its logits must equal the reference file's."""
    reloaded = CausalLM(cfg)
    weights = hf_files.read_safetensors(os.path.join(directory, "model.safetensors"))
    reloaded.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()}, strict=True)
    reference = hf_files.read_safetensors(ref_path)
    for k in range(len(SETTINGS["reference_prompts"])):
        with torch.no_grad():
            logits = reloaded(torch.from_numpy(reference[f"input_ids.{k}"].astype(np.int64))[None])[0]
        if not torch.equal(logits, torch.from_numpy(reference[f"logits.{k}"].copy())):
            raise RuntimeError(f"{directory}: reloaded weights do not reproduce reference logits {k}")


def quick_settings():
    """The same pipeline with a few steps per model: checks that everything is written, not the skills."""
    settings = copy.deepcopy(SETTINGS)
    for fam in settings["families"].values():
        fam["base"].update(QUICK["base"])
        fam["expert"].update(QUICK["expert"])
        for override in fam.get("expert_overrides", {}).values():
            override.update(QUICK["expert"])
    settings["tasks"].update(QUICK["tasks"])
    return settings


def main():
    global LOG_FILE
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="public/zoo")
    parser.add_argument("--cache", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".cache"))
    parser.add_argument("--threads", type=int, default=1, help="1 is fastest on a busy 2-core machine")
    parser.add_argument("--quick", action="store_true", help="a few steps per model: checks the pipeline only")
    parser.add_argument("--families", default="tiny-llama,tiny-qwen2")
    parser.add_argument("--experts", default="", help="train only these experts (comma list); for parallel runs")
    parser.add_argument("--train-only", action="store_true", help="fill the cache, write nothing")
    parser.add_argument("--merge-probe", type=int, default=0,
                        help="experiments: after training, measure the selected experts and their task-arithmetic "
                             "merges on the first N generation items per skill, write nothing")
    parser.add_argument("--base-settings", default="",
                        help="JSON merged into every selected family's base settings (experiments; changes cache keys)")
    parser.add_argument("--expert-settings", default="",
                        help="JSON merged into every selected family's expert settings (experiments; changes cache keys)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = quick_settings() if args.quick else SETTINGS
    if args.expert_settings or args.base_settings:
        settings = copy.deepcopy(settings)
        for family in args.families.split(","):
            settings["families"][family]["expert_cli"] = json.loads(args.expert_settings or "{}")
            settings["families"][family]["base"].update(json.loads(args.base_settings or "{}"))
    os.makedirs(args.cache, exist_ok=True)
    LOG_FILE = os.path.join(args.cache, "generate.log")
    started = time.time()

    t = settings["tasks"]
    skills = make_skills(t["add_max_digits"])
    held_out = HeldOut(skills, settings["seeds"]["held_out"], t["gen_items"], t["mc_items"], t["ppl_items"])
    max_new = t["max_new_tokens"]

    out = args.out
    os.makedirs(os.path.join(out, "tasks"), exist_ok=True)
    os.makedirs(os.path.join(out, "references"), exist_ok=True)
    for name, sets in held_out.items.items():
        for kind, items in sets.items():
            with open(os.path.join(out, "tasks", f"{name}.{kind}.jsonl"), "w") as f:
                for it in items:
                    f.write(json.dumps(it, ensure_ascii=False) + "\n")

    manifest = {
        "format": "merge-studio-zoo/1",
        "generator": "tools/zoo/generate.py",
        "torch_version": torch.__version__,
        "threads": args.threads,
        "quick": args.quick,
        "settings": settings,
        "vocab": VOCAB,
        "prompting": {"bos": True, "stop": "\n", "max_new_tokens": max_new,
                      "exact_match": "greedy text before the stop token == answer",
                      "multiple_choice": "argmax over choices of the summed log-probability of the choice's characters after BOS + prompt",
                      "perplexity": "exp(mean NLL per character of text after BOS)"},
        "tasks": {name: {"description": skills[name].description, "prefix": skills[name].prefix,
                         "files": {kind: f"tasks/{name}.{kind}.jsonl" for kind in ("gen", "mc", "ppl")},
                         "counts": {kind: len(items) for kind, items in held_out.items[name].items()}}
                  for name in skills},
        "families": {},
    }

    for family in args.families.split(","):
        fam = settings["families"][family]
        cfg = ArchConfig(vocab_size=len(VOCAB), **fam["arch"])

        def build():
            torch.manual_seed(settings["seeds"]["torch"])
            return CausalLM(cfg)

        base_key = settings_key({"arch": fam["arch"], "base": fam["base"], "seeds": settings["seeds"], "tasks": t})
        base, cached = cached_training(args.cache, f"{family}-base-{base_key}", build, f"{family}/base")
        if not cached:
            rng = random.Random(settings["seeds"]["data"])
            b = fam["base"]
            t0 = time.time()
            probe = None
            if b.get("latent_share", 0.0) > 0:
                # progress on the generic notations (fresh items, not held-out operands)
                probe_rng = random.Random(settings["seeds"]["data"] - 2)
                latent_dev = {}
                for name in fam["experts"]:
                    sep = LATENT_FORMS[name][1]
                    rows = [latent_item(skills[name], probe_rng, held_out).rpartition(sep) for _ in range(40)]
                    latent_dev[name] = [{"prompt": p + s, "answer": a} for p, s, a in rows]
                probe = lambda m: "latent " + " ".join(f"{n} {exact_match(m, d, max_new):.2f}"
                                                      for n, d in latent_dev.items())
            train(base, base_mixture(skills, held_out, rng, b["generic_share"], b.get("format_answer", "random"),
                                     b.get("latent_share", 0.0)),
                  b["steps"], b["lr"], b["batch_size"],
                  log, label=f"{family}/base", probe=probe)
            save_trained(args.cache, f"{family}-base-{base_key}", base, time.time() - t0)
        round_to_bf16_(base)
        models = {"base": base}
        cache_keys = {"base": f"{family}-base-{base_key}"}
        for name in fam["experts"]:
            if args.experts and name not in args.experts.split(","):
                continue
            e = {**fam["expert"], **fam.get("expert_overrides", {}).get(name, {}), **fam.get("expert_cli", {})}
            key = settings_key({"base": base_key, "expert": e, "skill": name})
            expert, cached = cached_training(args.cache, f"{family}-{name}-{key}", lambda: copy.deepcopy(base),
                                             f"{family}/{name}")
            if not cached:
                # seeds follow the skill, not its place in the family's list
                skill_index = list(skills).index(name)
                torch.manual_seed(settings["seeds"]["torch"] + 1 + skill_index)
                rng = random.Random(settings["seeds"]["data"] + 1 + skill_index)
                # progress probe on fresh training-distribution prompts (not the held-out sets)
                dev_stream = skill_stream(skills[name], random.Random(settings["seeds"]["data"] - 1), held_out)
                dev = [dict(zip(("prompt", "answer"), next(dev_stream))) for _ in range(60)]
                t0 = time.time()
                mixture = expert_mixture(skills[name], skills, held_out, rng, e["skill_share"], e.get("format_share", 0.0),
                                         fam["base"].get("format_answer", "random"), fam["base"].get("latent_share", 0.0))
                train(expert, mixture, e["steps"], e["lr"],
                      e["batch_size"], log, warmup=e["warmup"], label=f"{family}/{name}",
                      probe=lambda m: f"dev exact match {exact_match(m, dev, max_new):.2f}",
                      anchor_decay=e.get("anchor_decay", 0.0))
                save_trained(args.cache, f"{family}-{name}-{key}", expert, time.time() - t0)
            round_to_bf16_(expert)
            models[name] = expert
            cache_keys[name] = f"{family}-{name}-{key}"
        if args.merge_probe:
            merge_probe(family, models, held_out, args.merge_probe, max_new)
        if args.train_only or args.merge_probe:
            continue

        fam_entry = {"architecture": hf_files.model_config(cfg)["architectures"][0], "models": {}}
        scores = {}
        for name, model in models.items():
            model.eval()
            scores[name] = evaluate(model, held_out, skills, max_new)
            log(f"{family}/{name}: " + ", ".join(f"{s} em {v['exact_match']:.3f} mc {v['mc_accuracy']:.3f}"
                                                 for s, v in scores[name].items()))

        for name, model in models.items():
            directory = os.path.join(out, family, name)
            if os.path.isdir(directory):
                shutil.rmtree(directory)
            params = write_model_dir(directory, model, cfg, family, name, skills, scores[name], max_new)
            ref_path = os.path.join(out, "references", f"{family}-{name}.safetensors")
            write_reference(ref_path, model)
            verify_written(directory, ref_path, cfg)
            fam_entry["models"][name] = {
                "path": f"{family}/{name}",
                "role": "base" if name == "base" else "expert",
                "skill": None if name == "base" else name,
                "parameters": params,
                "config": {k: v for k, v in hf_files.model_config(cfg).items()
                           if k in ("model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
                                    "num_attention_heads", "num_key_value_heads", "vocab_size", "tie_word_embeddings")},
                "dtype": "BF16",
                "files": hf_files.file_entries(directory),
                "tensors": {k: list(v.shape) for k, v in sorted(model.hf_state_dict().items())},
                "scores": scores[name],
                "train_seconds": train_seconds(args.cache, cache_keys[name]),
                "reference": {"path": f"references/{family}-{name}.safetensors",
                              "sha256": hf_files.sha256_of(ref_path), "bytes": os.path.getsize(ref_path),
                              "prompts": settings["reference_prompts"],
                              "note": "f32 logits at every position, PyTorch forward on the bf16 weights upcast to f32"},
            }

        fam_entry["merges"] = merge_measurements(family, models, held_out, settings, max_new, scores)
        manifest["families"][family] = fam_entry

    if args.train_only or args.merge_probe:
        log(f"training done in {round(time.time() - started)} s")
        return
    manifest["wall_seconds"] = round(time.time() - started)
    manifest["targets"] = [{"target": what, "met": ok, "measured": detail}
                           for what, ok, detail in zoo_readme.target_checks(manifest)]
    hf_files.write_json(os.path.join(out, "manifest.json"), manifest)
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(zoo_readme.render(manifest))
    log(f"done in {manifest['wall_seconds']} s")


def merge_probe(family, models, held_out, n_items, max_new):
    """Quick look for tuning: own-skill exact match and task-arithmetic merges of the loaded experts."""
    experts = [n for n in models if n != "base"]
    subset = {s: held_out.items[s]["gen"][:n_items] for s in experts}

    def em(model):
        return {s: round(exact_match(model, subset[s], max_new), 3) for s in experts}
    base, singles = models["base"], {}
    log(f"{family} probe base: {em(base)}")
    for name in experts:
        singles[name] = em(models[name])
        log(f"{family} probe {name}: {singles[name]}")
    for a, b in itertools.combinations(experts, 2):
        norms = {}
        with torch.no_grad():
            pb = dict(base.named_parameters())
            ta = torch.cat([(p - pb[k]).flatten() for k, p in models[a].named_parameters()])
            tb = torch.cat([(p - pb[k]).flatten() for k, p in models[b].named_parameters()])
            wn = torch.cat([p.flatten() for p in pb.values()]).norm()
            norms = f"|tau_{a}|/|base| {float(ta.norm() / wn):.3f} |tau_{b}|/|base| {float(tb.norm() / wn):.3f} " \
                    f"cos {float(ta @ tb / (ta.norm() * tb.norm())):.3f}"
        log(f"{family} probe {a}+{b}: {norms}")
        for lam in (0.5, 0.75, 1.0, 1.25):
            merged = task_arithmetic(base, [models[a], models[b]], [1.0, 1.0], lam)
            log(f"{family} probe TA {a}+{b} lambda {lam}: {em(merged)}")


def merge_measurements(family, models, held_out, settings, max_new, scores):
    m = settings["merge"]
    base = models["base"]
    experts = [n for n in models if n != "base"]
    lam = m["lambda"]
    result = {"method": "task_arithmetic", "formula": "base + lambda * sum_i w_i * (expert_i - base), f32 from the bf16 files",
              "lambda": lam, "pairs": [], "three_expert": None, "lambda_sweep": [], "frontier": []}

    def own(name):
        return scores[name][name]["exact_match"]

    for a, b in itertools.combinations(experts, 2):
        merged = task_arithmetic(base, [models[a], models[b]], [1.0, 1.0], lam)
        em = em_on(merged, held_out, [a, b], max_new)
        kept = {s: (em[s] - scores["base"][s]["exact_match"]) / max(1e-9, own(s) - scores["base"][s]["exact_match"])
                for s in (a, b)}
        avg = (em[a] + em[b]) / 2
        singles = {e: (scores[e][a]["exact_match"] + scores[e][b]["exact_match"]) / 2 for e in (a, b)}
        entry = {"experts": [a, b], "weights": [1.0, 1.0], "exact_match": em, "gain_kept": kept,
                 "average": avg, "single_expert_average": singles,
                 "beats_both_experts": avg > max(singles.values())}
        result["pairs"].append(entry)
        log(f"{family} merge {a}+{b}: {em} kept {kept} avg {avg:.3f} vs experts {singles}")

    trio = experts[:3]
    if len(trio) == 3:
        merged = task_arithmetic(base, [models[n] for n in trio], [1.0] * 3, lam)
        em = em_on(merged, held_out, trio, max_new)
        result["three_expert"] = {"experts": trio, "weights": [1.0] * 3, "exact_match": em,
                                  "average": sum(em.values()) / 3}
        log(f"{family} merge {trio}: {em}")

    a, b = m["pairs"][family]
    for sweep_lam in m["lambda_sweep"]:
        merged = task_arithmetic(base, [models[a], models[b]], [1.0, 1.0], sweep_lam)
        result["lambda_sweep"].append({"experts": [a, b], "lambda": sweep_lam,
                                       "exact_match": em_on(merged, held_out, [a, b], max_new)})
    # two edges of the weight square meeting at (1, 1): one expert at full weight, the other moving
    frontier_weights = [[w, 1.0] for w in m["frontier_weights"]] + [[1.0, w] for w in reversed(m["frontier_weights"][:-1])]
    for weights in frontier_weights:
        merged = task_arithmetic(base, [models[a], models[b]], weights, lam)
        result["frontier"].append({"experts": [a, b], "weights": weights, "lambda": lam,
                                   "exact_match": em_on(merged, held_out, [a, b], max_new)})
    return result


if __name__ == "__main__":
    main()
