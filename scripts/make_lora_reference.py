#!/usr/bin/env python3
"""make_lora_reference.py - PEFT LoRA fixtures for tests/reference/test_lora_ref.c.

Two base models, each with a peft LoraConfig, adapters set to fixed nonzero
values (PEFT's B starts at zero, which would hide B's path), and one batch:
  stories260K (through `strata convert`, tokenised as make_reference.py
    does): q_proj, v_proj, down_proj of layers 1 and 3 (layers_to_transform),
    rank 4 / alpha 8 on layer 1, rank 2 / alpha 5 on layer 3 (rank_pattern,
    alpha_pattern)
  tests/fixtures/gpt2_tiny: Conv1D modules (fan_in_fan_out), a regex
    target_modules with another module set per layer (attn.c_proj of layer
    0, c_attn and mlp.c_proj of layer 1), rsLoRA, rank 2 / 4

Writes
  tests/fixtures/lora/<name>_peft/  adapter_config.json +
                                    adapter_model.safetensors (save_pretrained)
  tests/fixtures/ref/lora_<name>.safetensors with
    tokens [B,T], targets [B,T] (-1 = no loss), logits [B,T,V], loss [1],
    grad.<adapter key> for every lora_A / lora_B (gradient of the mean loss),
    step_losses [3], grad_norms [3]: loss and pre-clip gradient norm before
    each of 3 AdamW steps on the adapters only (lr 1e-2, betas (0.9, 0.999),
    eps 1e-8, weight decay 0.1, clip 1.0, same batch).

usage: python3 scripts/make_lora_reference.py [--strata build/strata]
needs: pip install torch transformers peft safetensors
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import torch
from peft import LoraConfig, get_peft_model
from transformers import GPT2LMHeadModel, LlamaForCausalLM
from transformers.utils import logging as hf_logging

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_reference as reference  # noqa: E402
from make_reference import B, T, Llama2cTokenizer, write  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 3
OPTIM = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)


def set_adapters(model, seed):
    """every lora_A / lora_B to N(0, 0.1^2) from a fixed generator, in
    name order"""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def record(model, tok, tgt):
    """logits, loss and adapter gradients, then STEPS AdamW steps on the
    adapters (the base is frozen by PEFT)"""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert params and all("lora_" in n for n in params), sorted(params)
    # PeftModel names carry the adapter name; the saved keys do not
    return reference.record(model, tok, tgt, params, STEPS, OPTIM,
                            lambda name: name.replace(".default.weight", ".weight"))


def save_adapter(model, path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    model.save_pretrained(path, safe_serialization=True)
    readme = os.path.join(path, "README.md")
    if os.path.exists(readme):
        os.remove(readme)
    print(f"  wrote {os.path.relpath(path, ROOT)}: "
          + ", ".join(sorted(os.listdir(path))))


def run(name, base, config, tok, tgt, seed, base_name):
    model = get_peft_model(base, config)
    model.peft_config["default"].base_model_name_or_path = base_name
    model.eval()  # no dropout anywhere (lora_dropout is 0 as well)
    set_adapters(model, seed)
    save_adapter(model, os.path.join(ROOT, "tests/fixtures/lora", name + "_peft"))
    r = record(model, tok, tgt)
    print(f"{name}: loss {r['loss'].item():.6f}  step losses "
          + " ".join(f"{x:.6f}" for x in r["step_losses"].tolist())
          + "  grad norms " + " ".join(f"{x:.4f}" for x in r["grad_norms"].tolist()))
    write(os.path.join(ROOT, "tests/fixtures/ref", f"lora_{name}.safetensors"), r)


def stories(strata, shared):
    tk = Llama2cTokenizer(os.path.join(shared, "models/stories260K/tok512.bin"))
    with tempfile.TemporaryDirectory() as hf:
        subprocess.run([strata, "convert",
                        os.path.join(shared, "models/stories260K/stories260K.bin"),
                        hf], check=True)
        base = LlamaForCausalLM.from_pretrained(hf, attn_implementation="eager",
                                                dtype=torch.float32)
    with open(os.path.join(shared, "data/tinyshakespeare/input.txt")) as f:
        text = f.read(4000)
    ids = tk.encode(text)[1:]
    buf = torch.tensor(ids[:B * T + 1])
    x, y = buf[:-1].view(B, T), buf[1:].clone().view(B, T)
    y[1, 5] = -1  # one position without loss
    l3 = {f"model.layers.3.{m}": 2 for m in
          ("self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj")}
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, bias="none",
                        task_type="CAUSAL_LM",
                        target_modules=["q_proj", "v_proj", "down_proj"],
                        layers_to_transform=[1, 3], layers_pattern="layers",
                        rank_pattern=l3, alpha_pattern={k: 5 for k in l3})
    run("stories260K", base, config, x, y, seed=260,
        base_name="stories260K.bin via strata convert")


def gpt2():
    base = GPT2LMHeadModel.from_pretrained(
        os.path.join(ROOT, "tests/fixtures/gpt2_tiny"),
        attn_implementation="eager", dtype=torch.float32)
    g = torch.Generator().manual_seed(91)
    V = base.config.vocab_size
    x = torch.randint(0, V, (B, T), generator=g)
    y = torch.randint(0, V, (B, T), generator=g)
    y[0, 2] = y[1, 30] = -1
    config = LoraConfig(
        r=4, lora_alpha=8, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
        target_modules=r"transformer\.h\.0\.attn\.c_proj|"
                       r"transformer\.h\.1\.(attn\.c_attn|mlp\.c_proj)",
        rank_pattern={"transformer.h.0.attn.c_proj": 2},
        alpha_pattern={"transformer.h.0.attn.c_proj": 3},
        use_rslora=True, fan_in_fan_out=True)
    run("gpt2_tiny", base, config, x, y, seed=124,
        base_name="tests/fixtures/gpt2_tiny")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--strata", default=os.path.join(ROOT, "build/strata"),
                    help="strata binary used for `strata convert`")
    ap.add_argument("--shared", default=os.environ.get(
        "STRATA_SHARED", os.path.join(ROOT, "..", "shared")),
        help="read-only assets (models/, data/)")
    args = ap.parse_args()
    hf_logging.disable_progress_bar()
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    os.makedirs(os.path.join(ROOT, "tests/fixtures/ref"), exist_ok=True)
    os.makedirs(os.path.join(ROOT, "tests/fixtures/lora"), exist_ok=True)
    gpt2()
    stories(os.path.abspath(args.strata), args.shared)


if __name__ == "__main__":
    main()
