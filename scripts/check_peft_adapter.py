#!/usr/bin/env python3
"""check_peft_adapter.py - does peft read strata's LoRA adapters as strata does?

For each case, `strata export-adapter` writes a PEFT folder and strata's own
logits for a fixed batch (--logits); peft.PeftModel.from_pretrained loads the
folder onto the base model in transformers, and the script prints the max
abs difference of the logits, then the same for the model `strata merge`
writes. Exit 1 when a difference exceeds --tol.

Default cases: the adapters of tests/fixtures/lora (stories260K: a target
list with layers_to_transform and rank/alpha patterns; tiny GPT-2: Conv1D,
per-layer module sets, rsLoRA), read by strata and exported again. With
--source S [--model M], S is any source strata export-adapter takes: a run
folder, a strata adapter file or a PEFT folder.

usage: python3 scripts/check_peft_adapter.py [--strata build/strata]
                                             [--source S --model M]
needs: pip install torch transformers peft safetensors
"""
import argparse
import os
import subprocess
import sys
import tempfile

import torch
from peft import PeftModel
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM
from transformers.utils import logging as hf_logging

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def strata(exe, *args):
    r = subprocess.run([exe, *args], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"strata {' '.join(args)} failed:\n{r.stdout}{r.stderr}")
    return r.stdout


def hf_model(path):
    return AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager",
                                                dtype=torch.float32).eval()


def check(exe, name, source, model, tol, tmp):
    """returns the worst max|diff| of this case"""
    d = os.path.join(tmp, name)
    os.makedirs(d)
    base_dir, adapter, merged = (os.path.join(d, x) for x in ("base", "adapter", "merged"))
    strata(exe, "convert", model, base_dir)
    base = hf_model(base_dir)
    V = base.config.vocab_size
    g = torch.Generator().manual_seed(7)
    tok = torch.randint(0, V, (2, 24), generator=g)
    tokens_file, logits_file = os.path.join(d, "tokens.safetensors"), os.path.join(d, "logits.safetensors")
    save_file({"tokens": tok.to(torch.int32).contiguous()}, tokens_file)
    strata(exe, "export-adapter", source, adapter, "--model", model,
           "--logits", tokens_file, "--logits-out", logits_file)
    strata(exe, "merge", source, merged, "--model", model)
    ours = load_file(logits_file)["logits"]

    peft_model = PeftModel.from_pretrained(base, adapter).eval()
    n_lora = sum(1 for n, _ in peft_model.named_modules() if n.endswith(".lora_A.default"))
    n_file = len(load_file(os.path.join(adapter, "adapter_model.safetensors"))) // 2
    with torch.no_grad():
        theirs = peft_model(input_ids=tok).logits
        merged_logits = hf_model(merged)(input_ids=tok).logits
        plain = hf_model(base_dir)(input_ids=tok).logits
    d_peft = (theirs - ours).abs().max().item()
    d_merged = (merged_logits - ours).abs().max().item()
    d_base = (plain - ours).abs().max().item()
    print(f"{name}: {n_lora} LoRA modules in peft ({n_file} adapters in the file)")
    print(f"  peft on strata's adapter vs strata logits: max|diff| {d_peft:.3g}")
    print(f"  strata merge in transformers vs strata logits: max|diff| {d_merged:.3g}")
    print(f"  (base model without the adapter: max|diff| {d_base:.3g})")
    ok = n_lora == n_file and d_peft <= tol and d_merged <= tol and d_base > 100 * tol
    if not ok:
        print(f"  FAILED (tol {tol})")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--strata", default=os.path.join(ROOT, "build/strata"))
    ap.add_argument("--shared", default=os.environ.get(
        "STRATA_SHARED", os.path.join(ROOT, "..", "shared")))
    ap.add_argument("--source", help="run folder, strata adapter file or PEFT folder")
    ap.add_argument("--model", help="base model of --source")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    hf_logging.disable_progress_bar()
    exe = os.path.abspath(args.strata)
    if args.source:
        if not args.model:
            sys.exit("--source needs --model")
        cases = [("source", args.source, args.model)]
    else:
        fx = os.path.join(ROOT, "tests/fixtures")
        cases = [("gpt2_tiny", os.path.join(fx, "lora/gpt2_tiny_peft"),
                  os.path.join(fx, "gpt2_tiny")),
                 ("stories260K", os.path.join(fx, "lora/stories260K_peft"),
                  os.path.join(args.shared, "models/stories260K/stories260K.bin"))]
    with tempfile.TemporaryDirectory() as tmp:
        ok = all([check(exe, n, s, m, args.tol, tmp) for n, s, m in cases])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
