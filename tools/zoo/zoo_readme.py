"""public/zoo/README.md: the conventions of the demo zoo and the numbers measured by the generator."""

TARGETS = {"base_max": 0.30, "expert_min": 0.90, "expert_min_hardest": 0.80, "hardest": "add", "gain_kept_min": 0.5}


def target_checks(manifest):
    """Which of the issue's merging targets the measured numbers meet (recorded, never assumed)."""
    checks = []
    for family, entry in manifest["families"].items():
        models = entry["models"]
        base = models["base"]["scores"]
        worst_base = max(v["exact_match"] for v in base.values())
        checks.append((f"{family}: base under {TARGETS['base_max']:.0%} exact match on every skill",
                       worst_base < TARGETS["base_max"], f"highest {worst_base:.3f}"))
        for name, model in models.items():
            if name == "base":
                continue
            need = TARGETS["expert_min_hardest"] if name == TARGETS["hardest"] else TARGETS["expert_min"]
            got = model["scores"][name]["exact_match"]
            checks.append((f"{family}/{name}: at least {need:.0%} on its own skill", got >= need, f"{got:.3f}"))
        for pair in entry["merges"]["pairs"]:
            a, b = pair["experts"]
            kept = min(pair["gain_kept"].values())
            checks.append((f"{family} merge {a}+{b}: keeps at least half of each expert's gain",
                           kept >= TARGETS["gain_kept_min"], f"least kept {kept:.2f}"))
            best_single = max(pair["single_expert_average"].values())
            checks.append((f"{family} merge {a}+{b}: two-skill average beats both experts",
                           pair["beats_both_experts"], f"{pair['average']:.3f} vs {best_single:.3f}"))
    return checks


def _score_table(entry, skills):
    head = "| model | " + " | ".join(f"{s} EM / MC" for s in skills) + " |\n|---|" + "---|" * len(skills) + "\n"
    rows = []
    for name, model in entry["models"].items():
        cells = [f"{model['scores'][s]['exact_match']:.3f} / {model['scores'][s]['mc_accuracy']:.3f}" for s in skills]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return head + "\n".join(rows) + "\n"


def _merge_tables(entry):
    m = entry["merges"]
    lines = [f"Task arithmetic, lambda = {m['lambda']}, weight 1 per expert ({m['formula']}):", "",
             "| experts | exact match per skill | gain kept | two-skill average | single experts' average |",
             "|---|---|---|---|---|"]
    for p in m["pairs"]:
        em = ", ".join(f"{s} {v:.3f}" for s, v in p["exact_match"].items())
        kept = ", ".join(f"{s} {v:.2f}" for s, v in p["gain_kept"].items())
        singles = ", ".join(f"{s} {v:.3f}" for s, v in p["single_expert_average"].items())
        lines.append(f"| {' + '.join(p['experts'])} | {em} | {kept} | {p['average']:.3f} | {singles} |")
    if m["three_expert"]:
        t = m["three_expert"]
        em = ", ".join(f"{s} {v:.3f}" for s, v in t["exact_match"].items())
        lines += ["", f"Three experts ({' + '.join(t['experts'])}, weight 1 each): {em}; average {t['average']:.3f}."]
    if m["lambda_sweep"]:
        lines += ["", "lambda sweep (weights 1, 1): " + "; ".join(
            f"lambda {s['lambda']}: " + ", ".join(f"{k} {v:.3f}" for k, v in s["exact_match"].items())
            for s in m["lambda_sweep"])]
    if m["frontier"]:
        lines += ["", "Trade-off as the weights move (lambda fixed):", "", "| weights | " +
                  " | ".join(m["frontier"][0]["experts"]) + " |", "|---|---|---|"]
        for f in m["frontier"]:
            lines.append(f"| {f['weights'][0]:.2f}, {f['weights'][1]:.2f} | " +
                         " | ".join(f"{v:.3f}" for v in f["exact_match"].values()) + " |")
    return "\n".join(lines) + "\n"


def render(manifest):
    skills = list(manifest["tasks"])
    families = "\n".join(
        f"- `{family}/` ({entry['architecture']}): " + ", ".join(
            f"`{name}` ({m['parameters']:,} parameters)" for name, m in entry["models"].items())
        for family, entry in manifest["families"].items())
    task_lines = "\n".join(f"- `{name}` (prompt prefix `{t['prefix']}`): {t['description']}; "
                           f"{t['counts']['gen']} generation, {t['counts']['mc']} multiple-choice, {t['counts']['ppl']} perplexity items"
                           for name, t in manifest["tasks"].items())
    checks = "\n".join(f"- [{'x' if ok else ' '}] {what} ({detail})" for what, ok, detail in target_checks(manifest))
    results = "\n".join(f"### {family}\n\n{_score_table(entry, skills)}\n{_merge_tables(entry)}"
                        for family, entry in manifest["families"].items())
    quick = "\n**This is a --quick build: the models are barely trained and the numbers are meaningless.**\n" \
        if manifest["quick"] else ""
    return f"""# Demo model zoo
{quick}
Tiny, genuinely trained models with skills worth merging, made by `tools/zoo/generate.py`
(see `tools/zoo/README.md` to regenerate). Every number below was measured by that generator
with PyTorch {manifest['torch_version']} on the bf16 weights in this folder.

## Layout

{families}
- `tasks/<skill>.gen.jsonl`, `tasks/<skill>.mc.jsonl`, `tasks/<skill>.ppl.jsonl`: held-out evaluation sets
  (their prompts never appear in any training stream).
- `references/<family>-<model>.safetensors`: PyTorch logits for fixed prompts, to check a forward pass.
- `manifest.json`: every model's config summary, per-file sha256 and byte size, tensor names and shapes,
  scores per task, reference files, merge measurements, and the training settings and seeds.

Each model folder is laid out as on the Hub: `config.json`, `model.safetensors` (bf16), `tokenizer.json`,
`tokenizer_config.json`, `generation_config.json`, `README.md`. All models of a family share shapes and
tokenizer; the families differ (tiny-qwen2 has q/k/v biases, tied embeddings so no `lm_head.weight`,
another hidden size and layer count).

## Tokenizer

Character-level BPE (`model.type: "BPE"`, `merges: []`); the vocabulary is `<unk>`=0, `<s>`=1 (BOS),
`</s>`=2 (EOS), `<pad>`=3, then one token per character: newline, space, digits, a-z, `+=>:,`.
No normalizer and no pre-tokenizer, so spaces and newlines are ordinary tokens; the decoder is `Fuse`.
The post-processor (`TemplateProcessing`) puts BOS (`<s>`, id 1) before every text, so
`AutoTokenizer` (any tokenizer class, any transformers version) and the evaluator both feed BOS + text,
as the models were trained; `tokenizer_config.json` agrees (`add_bos_token: true`, `add_eos_token: false`).
(Before 2026-12 the post-processor was null and transformers added no BOS; only the files changed, the
weights and the manifest's scores did not.)

## Prompting and scoring

- An item's prompt is encoded as BOS + its characters. Greedy generation stops at `\\n` or EOS, or after
  {manifest['prompting']['max_new_tokens']} new tokens. Exact match: the generated text without the stop token equals `answer`.
  In training every answer is followed by `\\n`.
- Multiple choice: for each choice, the summed log-probability of the choice's characters following
  BOS + prompt (no trailing newline); the highest-scoring choice is the prediction. Distractors are
  near misses of the true answer (one character or digit changed).
- Perplexity: exp of the mean negative log-likelihood per character of `text` after BOS (the BOS itself is
  not predicted; the trailing `\\n` is).

## Task files (JSON Lines, one object a line)

- `<skill>.gen.jsonl`: `{{"prompt": "add 29+93=", "answer": "122"}}`
- `<skill>.mc.jsonl`: `{{"prompt": "sort onk=", "choices": ["knd", "kho", "kno", "kvo"], "label": 2}}` (label = index of the right choice)
- `<skill>.ppl.jsonl`: `{{"text": "rev wbf=fbw\\n"}}`

Skills:

{task_lines}

## Reference logits

`references/<family>-<model>.safetensors` holds, for k = 0..{len(manifest['settings']['reference_prompts']) - 1}, `input_ids.k`
(I32, [T], BOS first) and `logits.k` (F32, [T, vocab]): the logits at every position, computed in f32 by
PyTorch from the bf16 weights of `model.safetensors` upcast to f32. A forward pass on the decoded bf16
weights should match to about 1e-4. The prompts are listed in the manifest under each model's `reference`.

## Results

The base was pretrained on a generic mixture (copying, counting, sums, word lists) in which every skill's
operation also appears in a notation of its own (`mirror abc:cba`, `shift abc:def`, `order cab:abc`,
`sum 47,85=132`; never with a held-out operand), and every skill's task prompt appeared followed by its
operand copied unchanged (the format, not the skill): the base knows the operations but answers the task
prompts by copying, so it scores near 0. Each expert was then fully fine-tuned from the base for a few
hundred steps on its task format (60%), the other skills' formats still answered by copying (20%) and
generic text (20%): it learns to route its own prompt prefix to an operation the base already has, a
small edit conditioned on that prefix, which is why task vectors of different experts add up. EM = exact
match on the generation set, MC = multiple-choice accuracy.

{results}
## Targets from the issue

{checks}
"""
