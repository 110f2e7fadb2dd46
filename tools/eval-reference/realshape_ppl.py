"""Perplexity of the real-shaped families (tools/realshape) cut to a few layers, computed independently
of the TypeScript evaluator: the weights are read from the generated model.safetensors by a reader
written here, and the forward pass is PyTorch (`forward` of src/core/eval/fixtures/make_arch_references.py,
written after transformers' modeling_llama / modeling_qwen2: RMSNorm, rotate-half RoPE with Llama-3
frequency scaling, GQA, SwiGLU, q/k/v biases, tied embeddings), in float32 over the bf16 values.

The inputs are fixed token sequences (no tokenizer), chosen to reach the first and last rows of the
151936 / 128256-row embeddings (which the WebGPU runtime holds in several row slices). Perplexity follows
transformers' `model(ids, labels=ids).loss`: every token after the first is predicted, NLL pooled.

The generated models are not stored: the fixture records the generator parameters, and the tests
(src/core/eval/realshape.test.ts, realshape.gpu.test.ts) regenerate the same bytes. Run from the
repository root (about 1 GB in OUT, a few seconds of PyTorch):

  npx tsx tools/realshape/main.ts --family qwen2.5-0.5b --layers 2 --experts 0 --seed 1 --out OUT/qwen2.5-0.5b
  npx tsx tools/realshape/main.ts --family llama-3.2-1b --layers 2 --experts 0 --seed 1 --out OUT/llama-3.2-1b
  /usr/bin/python3 tools/eval-reference/realshape_ppl.py OUT > src/core/eval/fixtures/realshape-ppl.json
"""
import json
import math
import os
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "src", "core", "eval", "fixtures"))
from make_arch_references import forward  # noqa: E402

LAYERS = 2
SEED = 1

# Fixed token ids per family: the first and last embedding rows, special tokens, and spread ids.
SEQUENCES = {
    "qwen2.5-0.5b": [
        [151643, 785, 3974, 13876, 151935, 0],
        [9707, 11, 1879, 151644, 75968, 42, 120000, 8],
        [1, 151900, 5000, 100000, 13],
    ],
    "llama-3.2-1b": [
        [128000, 791, 4062, 14198, 128255, 0],
        [128000, 9906, 11, 1917, 64000, 42, 100000, 8],
        [128000, 128200, 5000, 127999, 13],
    ],
}


def read_safetensors(path):
    """name -> float32 tensor, from the file's JSON header and raw little-endian bytes."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = bytearray(data[start:end])
        if info["dtype"] == "BF16":
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16).float()
        elif info["dtype"] == "F16":
            t = torch.frombuffer(raw, dtype=torch.float16).float()
        elif info["dtype"] == "F32":
            t = torch.frombuffer(raw, dtype=torch.float32).clone()
        else:
            raise SystemExit(f"{path}: {name} has dtype {info['dtype']}")
        out[name] = t.view(info["shape"])
    return out


def model_config(config):
    heads = config["num_attention_heads"]
    return {
        "model_type": config["model_type"],
        "hidden_size": config["hidden_size"],
        "num_attention_heads": heads,
        "num_key_value_heads": config.get("num_key_value_heads", heads),
        "head_dim": config.get("head_dim") or config["hidden_size"] // heads,
        "num_hidden_layers": config["num_hidden_layers"],
        "rms_norm_eps": config["rms_norm_eps"],
        "rope_theta": float(config.get("rope_theta", 10000.0)),
        "rope_scaling": config.get("rope_scaling"),
        "tie_word_embeddings": config.get("tie_word_embeddings", False),
    }


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: realshape_ppl.py OUT   (OUT/<family>/base generated as in the docstring)")
    root = sys.argv[1]
    families = {}
    for family, sequences in SEQUENCES.items():
        base = os.path.join(root, family, "base")
        with open(os.path.join(root, family, "realshape-stamp.json")) as f:
            stamp = json.load(f)
        if stamp["layers"] != LAYERS or stamp["seed"] != SEED or not stamp["complete"]:
            raise SystemExit(f"{root}/{family}: generated with {stamp}, expected layers {LAYERS}, seed {SEED}")
        with open(os.path.join(base, "config.json")) as f:
            config = json.load(f)
        cfg = model_config(config)
        W = read_safetensors(os.path.join(base, "model.safetensors"))
        items = []
        total_nll, total_tokens = 0.0, 0
        for ids in sequences:
            seq = torch.tensor(ids, dtype=torch.int64)
            with torch.no_grad():
                logits = forward(cfg, W, seq, torch.arange(len(ids)))
            lp = torch.log_softmax(logits.double(), dim=-1)
            logprobs = [float(lp[j, ids[j + 1]]) for j in range(len(ids) - 1)]
            nll = -sum(logprobs)
            total_nll += nll
            total_tokens += len(logprobs)
            items.append({"ids": ids, "logprobs": [round(v, 9) for v in logprobs], "nll": round(nll, 9),
                          "perplexity": round(math.exp(nll / len(logprobs)), 6)})
        families[family] = {
            "repo": f"{family}-l{LAYERS}-base",
            "vocab_size": config["vocab_size"],
            "items": items,
            "tokens": total_tokens,
            "perplexity": round(math.exp(total_nll / total_tokens), 6),
        }
        print(family, "perplexity", families[family]["perplexity"], file=sys.stderr)
    json.dump({
        "generator": "tools/eval-reference/realshape_ppl.py",
        "torch": torch.__version__,
        "realshape": {"tool": "tools/realshape", "generator_version": stamp["generator"], "layers": LAYERS, "experts": 0, "seed": SEED, "model": "base"},
        "families": families,
    }, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
