#!/usr/bin/env python3
"""make_lora_init_reference.py - the PEFT fixture of the lora.init_from /
modules_to_save regression (tests/reference/test_lora_init_ref.c).

A PEFT adapter on stories260K (through `strata export`) with
target_modules=[q_proj] and modules_to_save=[input_layernorm], its lora_A,
lora_B and the saved norms set to fixed values away from their
initialisation (non-unit norm weights: the base model's norms are what a run
that drops them would fall back to). PEFT's logits of base + adapter for one
batch of token ids are the reference: a run that starts from the adapter
and trains nothing must save an adapter (its adapter/ folder) that gives
them, although the run keeps every norm frozen.

Writes tests/fixtures/lora/init_from_peft/ (save_pretrained) and
tests/fixtures/lora/init_from_ref.safetensors: tokens [2, 16] (I32), logits
[2, 16, V].

usage: python3 scripts/make_lora_init_reference.py [--strata build/strata] [--shared ../shared]
needs: pip install torch transformers peft safetensors
"""
import argparse
import os
import shutil
import subprocess
import tempfile

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "lora")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--strata", default=os.path.join(ROOT, "build", "strata"))
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "base")
        subprocess.run([a.strata, "export",
                        os.path.join(a.shared, "models", "stories260K", "stories260K.bin"),
                        base], check=True)
        model = AutoModelForCausalLM.from_pretrained(base, local_files_only=True,
                                                     dtype=torch.float32)
        cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"],
                         modules_to_save=["input_layernorm"], lora_dropout=0.0)
        pm = get_peft_model(model, cfg)
        g = torch.Generator().manual_seed(7)
        with torch.no_grad():
            for name, p in sorted(pm.named_parameters()):
                if "lora_" in name:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.1)
                elif "modules_to_save" in name:
                    p.copy_(1.0 + 0.5 * torch.randn(p.shape, generator=g))
        pm.eval()
        dst = os.path.join(OUT, "init_from_peft")
        shutil.rmtree(dst, ignore_errors=True)
        pm.save_pretrained(dst)
        os.remove(os.path.join(dst, "README.md"))  # PEFT's model card template
        tokens = torch.randint(3, model.config.vocab_size, (2, 16),
                               generator=torch.Generator().manual_seed(3))
        tokens[:, 0] = 1  # BOS
        with torch.no_grad():
            logits = pm(tokens).logits
        save_file({"tokens": tokens.to(torch.int32).contiguous(), "logits": logits.contiguous()},
                  os.path.join(OUT, "init_from_ref.safetensors"))
    print("wrote", dst, "and init_from_ref.safetensors")


if __name__ == "__main__":
    main()
