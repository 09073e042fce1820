#!/usr/bin/env python3
"""make_family_reference.py - tiny random models of the families strata
supports, saved by transformers, with reference logits and gradients, for
tests/reference/test_families_ref.c.

For each family below it writes tests/fixtures/families/<name>/:
  model.safetensors   bf16 weights as save_pretrained writes them (std 0.2,
                      so positions matter); the references are computed in
                      float32 from exactly these bf16 values
  config.json         as transformers saved it (rope_parameters, the newer style)
  config_v4.json      the same model in the older style: top-level rope_theta
                      / rope_scaling, as transformers 4.x and hub configs
                      write them (checked here to give the same logits)
  reference.safetensors, all float32 (token ids are exact in F32):
    tokens [1,T], targets [1,T] (next tokens, last -1), positions [P]
    logits [P,V]     the logits at those positions (every 16th, and the last 8)
    loss [1]         mean cross-entropy over the targets
    grad.<hf name>   gradient of that loss (llama3 RoPE, yarn and sliding
                     window families; tied weights summed)
    rope.inv_freq, rope.scale   transformers' RoPE table and cos/sin factor
    gen.prompt, gen.tokens      greedy generate() from the prompt (windowed
                                families: it runs past the window)

The sequence reaches position T-1 = 519 and lies past every sliding window.
GPT-2 has no RoPE settings, so it has config.json only.

usage: python3 scripts/make_family_reference.py
needs: pip install torch transformers safetensors  (not needed by the tests)
"""
import copy
import json
import os
import shutil

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import (AutoConfig, AutoModelForCausalLM, GPT2Config,
                          LlamaConfig, MistralConfig, Qwen2Config)
from transformers.utils import logging as hf_logging

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "families")
T = 520
POSITIONS = sorted(set(range(0, T, 16)) | set(range(T - 8, T)))
STD = 0.2
PROMPT, NEW = 90, 40  # greedy generation: prompt length, new tokens

SMALL = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
             vocab_size=96)
LLAMA3 = dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
              high_freq_factor=4.0, original_max_position_embeddings=8192)

# name: (config, grads?, generation?, old-style extras)
FAMILIES = {
    # Llama 2: plain RoPE, theta 10000 by default, MHA
    "llama2": (LlamaConfig(**SMALL, num_attention_heads=4, num_key_value_heads=4,
                           max_position_embeddings=4096, rms_norm_eps=1e-5),
               False, False, {"pretraining_tp": 1}),
    # Llama 3.1: llama3 RoPE (high, medium and low bands), GQA
    "llama3_1": (LlamaConfig(**SMALL, num_attention_heads=2, num_key_value_heads=1,
                             max_position_embeddings=131072, rms_norm_eps=1e-5,
                             rope_parameters=dict(LLAMA3, rope_theta=500000.0)),
                 True, False, {"pretraining_tp": 1}),
    # Llama 3.2: llama3 RoPE with factor 32, tied head; a short original
    # context moves the bands
    "llama3_2": (LlamaConfig(**SMALL, num_attention_heads=2, num_key_value_heads=1,
                             max_position_embeddings=131072, rms_norm_eps=1e-5,
                             tie_word_embeddings=True,
                             rope_parameters=dict(LLAMA3, rope_theta=500000.0, factor=32.0,
                                                  original_max_position_embeddings=256)),
                 False, False, {"pretraining_tp": 1}),
    # Qwen2: q/k/v biases, theta 1e6
    "qwen2": (Qwen2Config(**SMALL, num_attention_heads=4, num_key_value_heads=2,
                          max_position_embeddings=32768,
                          rope_parameters=dict(rope_type="default", rope_theta=1e6)),
              False, False, {}),
    # Qwen2.5: tied, theta 1e6
    "qwen2_5": (Qwen2Config(**SMALL, num_attention_heads=4, num_key_value_heads=2,
                            max_position_embeddings=32768, tie_word_embeddings=True,
                            rope_parameters=dict(rope_type="default", rope_theta=1e6)),
                False, False, {}),
    # Qwen2.5 with its long-context yarn setting (old style uses "type")
    "qwen2_5_yarn": (Qwen2Config(**SMALL, num_attention_heads=2, num_key_value_heads=1,
                                 max_position_embeddings=1024,
                                 rope_parameters=dict(rope_type="yarn", rope_theta=1e6,
                                                      factor=4.0,
                                                      original_max_position_embeddings=256)),
                     True, False, {"yarn_type_key": True}),
    # Qwen2 with a sliding window in the layers >= max_window_layers
    "qwen2_window": (Qwen2Config(**SMALL, num_attention_heads=4, num_key_value_heads=2,
                                 max_position_embeddings=32768, use_sliding_window=True,
                                 sliding_window=96, max_window_layers=1,
                                 rope_parameters=dict(rope_type="default", rope_theta=1e6)),
                     True, True, {}),
    # Mistral: a sliding window in every layer, shorter than the sequence
    "mistral": (MistralConfig(**SMALL, num_attention_heads=4, num_key_value_heads=2,
                              max_position_embeddings=32768, rms_norm_eps=1e-5,
                              sliding_window=100,
                              rope_parameters=dict(rope_type="default", rope_theta=10000.0)),
                True, True, {}),
    # SmolLM2: theta 1e5, tied, nanotron's extra keys
    "smollm2": (LlamaConfig(**SMALL, num_attention_heads=4, num_key_value_heads=2,
                            max_position_embeddings=8192, rms_norm_eps=1e-5,
                            tie_word_embeddings=True, bos_token_id=0, eos_token_id=0,
                            rope_parameters=dict(rope_type="default", rope_theta=100000.0)),
                False, False, {"is_llama_config": True, "rope_interleaved": False,
                               "pretraining_tp": 1}),
    # GPT-2: learned positions (n_positions >= T), the class's dropout defaults
    "gpt2": (GPT2Config(n_embd=32, n_layer=2, n_head=4, vocab_size=96, n_positions=576,
                        bos_token_id=0, eos_token_id=0),
             False, False, None),
}


def init(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g) * STD
            is_norm = "norm" in name or ".ln_" in name or name.endswith("ln_f.weight")
            p.copy_(1 + r if is_norm and name.endswith("weight") else r)


def old_style(cfg_path, out_path, extras):
    """config.json with rope_parameters -> top-level rope_theta / rope_scaling"""
    with open(cfg_path) as f:
        c = json.load(f)
    extras = dict(extras)
    rp = c.pop("rope_parameters", None) or {}
    theta = rp.pop("rope_theta", 10000.0)
    rtype = rp.get("rope_type", "default")
    if extras.pop("yarn_type_key", False):
        rp["type"] = rp.pop("rope_type")
    if rtype == "default":
        scaling = None
    else:
        scaling = rp
    if theta != 10000.0 or rtype != "default":
        c["rope_theta"] = theta
    c["rope_scaling"] = scaling
    c.pop("layer_types", None)  # 4.x wrote max_window_layers only
    c.update(extras)
    c["transformers_version"] = "4.45.0"
    with open(out_path, "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
        f.write("\n")


def load(folder, cfg_file=None):
    kw = dict(dtype=torch.float32, attn_implementation="eager")
    if cfg_file:
        cls = type(AutoConfig.from_pretrained(folder))
        kw["config"] = cls.from_json_file(cfg_file)
        kw["config"]._attn_implementation = "eager"
    m = AutoModelForCausalLM.from_pretrained(folder, **kw)
    return m.eval()


def make(name, cfg, grads, gen, extras, seed):
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    init(model, seed)
    model.to(torch.bfloat16).save_pretrained(folder)
    for extra in ("generation_config.json",):
        p = os.path.join(folder, extra)
        if os.path.exists(p):
            os.remove(p)
    model = load(folder)
    V = model.config.vocab_size

    g = torch.Generator().manual_seed(1000 + seed)
    seq = torch.randint(0, V, (1, T + 1), generator=g)
    tok, tgt = seq[:, :T], seq[:, 1:].clone()
    tgt[0, -1] = -1
    model.zero_grad()
    logits = model(tok).logits
    loss = F.cross_entropy(logits.view(-1, V), tgt.view(-1), ignore_index=-1)
    loss.backward()
    pos = torch.tensor(POSITIONS)
    ref = {
        "tokens": tok.float(), "targets": tgt.float(),
        "positions": pos.float(),
        "logits": logits[0, pos].detach().float().contiguous(),
        "loss": loss.detach().reshape(1),
    }
    if grads:
        sd_names = set(model.state_dict().keys())
        for n, p in model.named_parameters():
            if n in sd_names:
                ref["grad." + n] = p.grad.detach().float().contiguous()
    rot = getattr(getattr(model, "model", None), "rotary_emb", None)
    if rot is not None:
        ref["rope.inv_freq"] = rot.inv_freq.float().contiguous()
        ref["rope.scale"] = torch.tensor([float(rot.attention_scaling)])
    if gen:
        model.generation_config.eos_token_id = None
        model.generation_config.pad_token_id = 0
        with torch.no_grad():
            out = model.generate(tok[:, :PROMPT], max_new_tokens=NEW, do_sample=False)
            full = model(out).logits[0]
        new = out[0, PROMPT:]
        # generate() (with its sliding-window cache) agrees with the argmax of
        # the full-sequence logits, with a margin no rounding can flip
        top2 = full[PROMPT - 1:-1].topk(2, dim=-1).values
        margin = (top2[:, 0] - top2[:, 1]).min().item()
        assert torch.equal(full[PROMPT - 1:-1].argmax(-1), new), name
        assert margin > 1e-3, (name, margin)
        ref["gen.prompt"] = tok[0, :PROMPT].float().contiguous()
        ref["gen.tokens"] = new.float().contiguous()
    if extras is not None:
        old = os.path.join(folder, "config_v4.json")
        old_style(os.path.join(folder, "config.json"), old, extras)
        with torch.no_grad():
            d = (load(folder, old)(tok).logits - logits).abs().max().item()
        assert d == 0, (name, "old-style config differs", d)
    save_file(ref, os.path.join(folder, "reference.safetensors"))
    scale = logits.abs().max().item()
    print(f"{name}: V={V} loss {loss.item():.4f} max|logit| {scale:.2f} "
          f"{len(ref)} tensors")


def main():
    hf_logging.set_verbosity_error()
    torch.use_deterministic_algorithms(True)
    for i, (name, (cfg, grads, gen, extras)) in enumerate(FAMILIES.items()):
        make(name, copy.deepcopy(cfg), grads, gen, extras, seed=i + 1)


if __name__ == "__main__":
    main()
