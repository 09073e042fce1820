#!/usr/bin/env python3
"""Reference for `strata export`: what transformers makes of an exported folder.

Exports stories260K (llama2.c .bin + tok512.bin) with strata, in F32 and in
BF16, loads each folder with AutoModelForCausalLM and AutoTokenizer, offline,
and writes for committed prompts the token ids AutoTokenizer gives (BOS
first, as add_special_tokens=True) and the logits transformers computes
(the BF16 folder upcast to float32 on load, so only the stored rounding
differs). tests/reference/test_export_ref.c checks strata's export, loading,
tokenizer and `strata score` against them.

PyPI (torch, transformers, safetensors) is needed here only, never by the
build or the tests.

  python3 scripts/make_export_reference.py [--strata build/strata] [--shared ../shared]
"""
import argparse
import json
import os
import subprocess
import tempfile

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

PROMPTS = [
    "Once upon a time, there was a little girl named Lily.",
    "The cat sat on the mat.  It was   happy!",
    "Tom said, \"Can I play with the ball?\"\nHis mom smiled.",
    "1 2 3, go!",
    "A very long word: antidisestablishmentarianism",
    "Émilie ate a crêpe 🍓 with 朋友",
]

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "export")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--strata", default="build/strata")
    ap.add_argument("--shared", default="../shared")
    a = ap.parse_args()
    model = os.path.join(a.shared, "models", "stories260K", "stories260K.bin")
    os.makedirs(OUT, exist_ok=True)
    tensors = {}
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in ["f32", "bf16"]:
            folder = os.path.join(tmp, dtype)
            subprocess.run([a.strata, "export", model, folder, "--dtype", dtype], check=True)
            tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            m = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True,
                                                     dtype=torch.float32)
            m.eval()
            ids = [tok(p).input_ids for p in PROMPTS]
            T = max(len(i) for i in ids)
            V = m.config.vocab_size
            toks = torch.full((len(ids), T), -1, dtype=torch.int32)
            logits = torch.zeros((len(ids), T, V), dtype=torch.float32)
            with torch.no_grad():
                for k, row in enumerate(ids):
                    toks[k, : len(row)] = torch.tensor(row, dtype=torch.int32)
                    logits[k, : len(row)] = m(torch.tensor([row])).logits[0]
            if dtype == "f32":
                tensors["tokens"] = toks
                tensors["lengths"] = torch.tensor([len(i) for i in ids], dtype=torch.int32)
                # the tokenizer round-trips what it encodes (decode drops BOS)
                for p, row in zip(PROMPTS, ids):
                    assert tok.decode(row, skip_special_tokens=True) == p, p
            else:
                assert torch.equal(tensors["tokens"], toks)
            tensors["logits_" + dtype] = logits
    save_file(tensors, os.path.join(OUT, "reference.safetensors"))
    with open(os.path.join(OUT, "prompts.txt"), "w") as f:
        for p in PROMPTS:
            f.write(p.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t") + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
