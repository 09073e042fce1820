#!/usr/bin/env python3
"""make_lowp_reference.py - tiny random models saved in bf16, with the
logits, loss and gradients PyTorch computes in float32 from exactly those
bf16 values, for tests/reference/test_lowp_ref.c (frozen weights held in
bf16 and widened per GEMM must give the float32 results).

It writes tests/fixtures/lowp/<name>/ for two models:
  qwen2  4 layers, q/k/v biases, grouped-query attention, untied head
  gpt2   3 layers, Conv1D weights, biases, learned positions, tied head
each with
  config.json, model.safetensors   as save_pretrained writes them, BF16
  reference.safetensors, all float32 (token ids are exact in F32):
    tokens [2,T], targets [2,T]  (next tokens; -1 = no loss, a few of them)
    logits [2,T,V]               inference logits
    loss [1]                     mean cross-entropy over the targets
    grad.<hf name>               that loss's gradient of every parameter
                                 (a parameter's gradient does not depend on
                                 which others are frozen, so the test checks
                                 the trainable ones of any plan against it)

usage: python3 scripts/make_lowp_reference.py
needs: pip install torch transformers safetensors  (not needed by the tests)
"""
import os
import shutil
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, GPT2Config, Qwen2Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# the same N(0, 0.2^2) initialisation (norm weights around 1) as the family fixtures
from make_family_reference import init  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "lowp")
B, T = 2, 24

MODELS = {
    "qwen2": Qwen2Config(hidden_size=48, intermediate_size=96, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=80,
                         max_position_embeddings=256, tie_word_embeddings=False,
                         rope_parameters=dict(rope_type="default", rope_theta=10000.0)),
    "gpt2": GPT2Config(n_embd=32, n_layer=3, n_head=4, vocab_size=72, n_positions=64,
                       bos_token_id=0, eos_token_id=0),
}


def make(name, cfg, seed):
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    init(model, seed)
    model.to(torch.bfloat16).save_pretrained(folder)
    gc = os.path.join(folder, "generation_config.json")
    if os.path.exists(gc):
        os.remove(gc)
    # float32 from the saved bf16 values: the computation strata must match
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    V = model.config.vocab_size
    g = torch.Generator().manual_seed(1000 + seed)
    seq = torch.randint(0, V, (B, T + 1), generator=g)
    tok, tgt = seq[:, :T], seq[:, 1:].clone()
    tgt[0, -1] = -1
    tgt[1, :3] = -1
    model.zero_grad()
    logits = model(tok).logits
    loss = F.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1), ignore_index=-1)
    loss.backward()
    ref = {"tokens": tok.float(), "targets": tgt.float(),
           "logits": logits.detach().float().contiguous(),
           "loss": loss.detach().reshape(1)}
    sd_names = set(model.state_dict().keys())
    for n, p in model.named_parameters():
        if n in sd_names:
            ref["grad." + n] = p.grad.detach().float().contiguous()
    save_file(ref, os.path.join(folder, "reference.safetensors"),
              metadata={"format": "pt"})
    print(f"{name}: loss {loss.item():.6f}, {len(ref) - 4} gradients")


if __name__ == "__main__":
    for i, (name, cfg) in enumerate(MODELS.items()):
        make(name, cfg, 7 + i)
