#!/usr/bin/env python3
"""peer_cpu.py - the PyTorch peer of `strata bench` on the CPU: Hugging Face
transformers, randomly initialised at a published shape, training steps with
the same mask, B, T and frozen-weight dtype as strata's.

A step is forward + cross-entropy over all B*T positions (fp32) + backward +
AdamW + zero_grad. The mask: "all" trains everything; "top:K" trains the K
blocks nearest the output and freezes the rest with requires_grad_(False),
as people freeze layers in PyTorch. --frozen-dtype bf16 stores the frozen
blocks in bfloat16 (what strata's frozen_dtype: bf16 does), running
them in bf16 with fp32 activations between blocks. One mask per process, so
the peak RSS is that mask's. Prints one JSON line.

PyPI only (torch, transformers); never needed by the build or the tests.
bench/peer_table runs it beside `strata bench` and prints the ratios.

  python3 bench/peer_cpu.py --shape gpt2 --trainable top:3 -B 4 -T 64
"""
import argparse
import json
import resource
import sys
import time

import torch
from transformers import (GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM,
                          Qwen2Config, Qwen2ForCausalLM)

# the published configs' shapes (config.json on the Hugging Face hub)
SHAPES = {
    "gpt2": (GPT2LMHeadModel, GPT2Config, dict(n_layer=12, n_embd=768, n_head=12,
                                               vocab_size=50257, n_positions=1024)),
    "smollm2-135m": (LlamaForCausalLM, LlamaConfig, dict(
        hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
        num_key_value_heads=3, vocab_size=49152, tie_word_embeddings=True,
        rope_theta=100000.0, max_position_embeddings=8192, rms_norm_eps=1e-5)),
    "qwen2-1.5b": (Qwen2ForCausalLM, Qwen2Config, dict(
        hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
        num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True,
        rope_theta=1000000.0, max_position_embeddings=32768, rms_norm_eps=1e-6)),
    "llama-3.2-3b": (LlamaForCausalLM, LlamaConfig, dict(
        hidden_size=3072, intermediate_size=8192, num_hidden_layers=28, num_attention_heads=24,
        num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True,
        rope_theta=500000.0, max_position_embeddings=131072, rms_norm_eps=1e-5)),
    "llama-3.1-8b": (LlamaForCausalLM, LlamaConfig, dict(
        hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=False,
        rope_theta=500000.0, max_position_embeddings=131072, rms_norm_eps=1e-5)),
}


class Bf16Block(torch.nn.Module):
    """a frozen block kept in bfloat16: floating inputs narrowed, outputs
    widened back, so the blocks between stay fp32"""

    def __init__(self, block):
        super().__init__()
        self.block = block.to(torch.bfloat16)

    @staticmethod
    def _cast(x, dt):
        if torch.is_tensor(x) and x.is_floating_point():
            return x.to(dt)
        if isinstance(x, tuple):
            return tuple(Bf16Block._cast(y, dt) for y in x)
        return x

    def forward(self, *args, **kwargs):
        args = self._cast(args, torch.bfloat16)
        kwargs = {k: self._cast(v, torch.bfloat16) for k, v in kwargs.items()}
        return self._cast(self.block(*args, **kwargs), torch.float32)


def blocks(model):
    return model.transformer.h if hasattr(model, "transformer") else model.model.layers


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="gpt2")
    ap.add_argument("--trainable", default="all", help="all or top:K")
    ap.add_argument("-B", type=int, default=4)
    ap.add_argument("-T", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--frozen-dtype", choices=["f32", "bf16"], default="f32")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    cls, cfg_cls, cfg = SHAPES[a.shape]
    torch.manual_seed(1)
    config = cfg_cls(**cfg)
    for k in ("resid_pdrop", "embd_pdrop", "attn_pdrop", "attention_dropout"):
        if hasattr(config, k):
            setattr(config, k, 0.0)
    model = cls(config)
    model.train()
    hs = blocks(model)
    L = len(hs)
    k = None if a.trainable == "all" else int(a.trainable.split(":")[1])
    for p in model.parameters():
        p.requires_grad_(k is None)
    if k is not None:
        for b in hs[L - k:]:
            for p in b.parameters():
                p.requires_grad_(True)
        if a.frozen_dtype == "bf16":
            for i in range(L - k):
                hs[i] = Bf16Block(hs[i])
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5)
    g = torch.Generator().manual_seed(7)
    V = config.vocab_size
    tok = torch.randint(0, V, (a.B, a.T), generator=g)
    tgt = torch.randint(0, V, (a.B, a.T), generator=g)

    def step():
        logits = model(input_ids=tok).logits
        loss = torch.nn.functional.cross_entropy(logits.float().view(-1, V), tgt.view(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss)

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    dt = (time.perf_counter() - t0) / a.steps
    print(json.dumps({
        "impl": "torch", "torch": torch.__version__, "shape": a.shape,
        "trainable": a.trainable, "frozen_dtype": a.frozen_dtype, "B": a.B, "T": a.T,
        "threads": torch.get_num_threads(), "ms_per_step": round(dt * 1e3, 2),
        "tokens_per_s": round(a.B * a.T / dt, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "trainable_params": sum(p.numel() for p in params), "loss": round(loss, 4)}),
        flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
