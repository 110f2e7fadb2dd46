"""Gives the committed zoo's tokenizer.json files the post-processor the generator now writes
(hf_files.bos_post_processor: TemplateProcessing adding <s>), without retraining anything.

Each tokenizer.json is rewritten as hf_files.tokenizer_json() would write it, after checking that the
file differs from that only in `post_processor`; the manifest's sha256/bytes entries of the rewritten
files are updated and nothing else in it changes (the scores stay the measured ones: the models were
trained and evaluated with BOS + text, which AutoTokenizer now produces too).

Usage: /usr/bin/python3 tools/zoo/patch_post_processor.py [public/zoo]
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_files import sha256_of, tokenizer_json, write_json  # noqa: E402


def main(zoo):
    manifest_path = os.path.join(zoo, "manifest.json")
    with open(manifest_path) as f:
        manifest = json.load(f)
    wanted = tokenizer_json()
    patched = 0
    for family in manifest["families"].values():
        for model in family["models"].values():
            path = os.path.join(zoo, model["path"], "tokenizer.json")
            with open(path) as f:
                current = json.load(f)
            others = {k: v for k, v in current.items() if k != "post_processor"}
            if others != {k: v for k, v in wanted.items() if k != "post_processor"}:
                raise SystemExit(f"{path}: differs from hf_files.tokenizer_json() beyond post_processor; regenerate instead")
            if current.get("post_processor") != wanted["post_processor"]:
                write_json(path, wanted)
                patched += 1
            model["files"]["tokenizer.json"] = {"sha256": sha256_of(path), "bytes": os.path.getsize(path)}
    write_json(manifest_path, manifest)
    print(f"{patched} tokenizer.json files patched; manifest hashes updated")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "public/zoo")
