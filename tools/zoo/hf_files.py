"""Hugging Face Hub style files written by hand: safetensors, tokenizer.json, configs, model card."""
import hashlib
import json
import os
import struct

import numpy as np

from tasks import VOCAB, SPECIAL_TOKENS, BOS_ID, EOS_ID, PAD_ID, UNK_ID


def f32_to_bf16_bits(values: np.ndarray) -> np.ndarray:
    """Top 16 bits of each f32 with round-to-nearest-even (weights here are finite)."""
    bits = np.ascontiguousarray(values, dtype="<f4").view("<u4").astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype("<u2")


def write_safetensors(path, tensors, dtype_of=lambda name: "BF16", metadata=None):
    """tensors: name -> numpy array (f32 or i32); stored little-endian under sorted names."""
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        array = tensors[name]
        dtype = dtype_of(name)
        if dtype == "BF16":
            raw = f32_to_bf16_bits(array).tobytes()
        elif dtype == "F32":
            raw = np.ascontiguousarray(array, dtype="<f4").tobytes()
        elif dtype == "I32":
            raw = np.ascontiguousarray(array, dtype="<i4").tobytes()
        else:
            raise ValueError(f"unsupported dtype {dtype} for {name}")
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for raw in chunks:
            f.write(raw)


def bos_post_processor():
    """TemplateProcessing that puts <s> before each sequence, as LlamaTokenizerFast.update_post_processor
    builds it (transformers models/llama/tokenization_llama_fast.py): AutoTokenizer then adds the BOS
    the models were trained with, whatever tokenizer class or transformers version reads the files."""
    bos = VOCAB[BOS_ID]
    return {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {bos: {"id": bos, "ids": [BOS_ID], "tokens": [bos]}},
    }


def tokenizer_json():
    """Character-level BPE with no merges; no normalizer or pre-tokenizer; a post-processor adding <s>; Fuse decoder."""
    added = [
        {"id": i, "content": tok, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i, tok in enumerate(SPECIAL_TOKENS)
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": None,
        "post_processor": bos_post_processor(),
        "decoder": {"type": "Fuse"},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": "<unk>",
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {tok: i for i, tok in enumerate(VOCAB)},
            "merges": [],
        },
    }


def tokenizer_config(max_length):
    return {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": VOCAB[BOS_ID],
        "eos_token": VOCAB[EOS_ID],
        "pad_token": VOCAB[PAD_ID],
        "unk_token": VOCAB[UNK_ID],
        "clean_up_tokenization_spaces": False,
        "model_max_length": max_length,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }


def model_config(cfg):
    common = {
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_attention_heads": cfg.num_attention_heads,
        "num_key_value_heads": cfg.num_key_value_heads,
        "num_hidden_layers": cfg.num_hidden_layers,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "rms_norm_eps": cfg.rms_norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_scaling": None,
        "vocab_size": cfg.vocab_size,
        "max_position_embeddings": cfg.max_position_embeddings,
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "torch_dtype": "bfloat16",
        "bos_token_id": BOS_ID,
        "eos_token_id": EOS_ID,
        "pad_token_id": PAD_ID,
        "initializer_range": 0.02,
        "attention_dropout": 0.0,
        "use_cache": True,
        "transformers_version": "4.46.0",
    }
    if cfg.family == "llama":
        return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", **common,
                "attention_bias": False, "mlp_bias": False, "pretraining_tp": 1}
    return {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", **common,
            "use_sliding_window": False, "sliding_window": None, "max_window_layers": cfg.num_hidden_layers}


def generation_config(max_new_tokens):
    return {"bos_token_id": BOS_ID, "eos_token_id": EOS_ID, "pad_token_id": PAD_ID, "do_sample": False,
            "max_new_tokens": max_new_tokens, "transformers_version": "4.46.0"}


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def file_entries(directory):
    return {name: {"sha256": sha256_of(os.path.join(directory, name)), "bytes": os.path.getsize(os.path.join(directory, name))}
            for name in sorted(os.listdir(directory))}


def read_safetensors(path):
    """name -> f32 numpy array (BF16, F32) or i32 array (I32); used to verify what was written."""
    with open(path, "rb") as f:
        raw = f.read()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    header.pop("__metadata__", None)
    data = raw[8 + length:]
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        chunk = data[begin:end]
        if info["dtype"] == "BF16":
            array = (np.frombuffer(chunk, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif info["dtype"] == "F32":
            array = np.frombuffer(chunk, dtype="<f4")
        else:
            array = np.frombuffer(chunk, dtype="<i4")
        tensors[name] = array.reshape(info["shape"])
    return tensors
