#!/usr/bin/env python3
"""torch_bench.py - the PyTorch baseline for `strata bench`: training steps of
a randomly initialised Hugging Face GPT2LMHeadModel (GPT-2-124M shape), full
fine-tuning and top:K (only the top K blocks train; embeddings, the tied
head, the final norm and the lower blocks are frozen with requires_grad_(False),
the same plan as strata's "top:K").

One step = forward + loss + backward + AdamW step + zero_grad. Precision:
  bf16  autocast to bfloat16 (fp32 weights and optimizer), TF32 elsewhere;
        what people run on a GPU
  tf32  fp32 with TF32 matmuls, the arithmetic strata's CUDA backend does
Dropout is 0 (strata has none). Prints one JSON line per (precision, mask):
tokens/s, ms per step and the step ratio against full fine-tuning.

--compile is the strongest PyTorch peer, what a GPU user compares against:
torch.compile(model) with SDPA attention (flash on a GPU), bf16 autocast and
fused AdamW, every mask in the same process; the compile time is excluded
(warmup steps run first, and each mask recompiles its backward).

  python3 scripts/torch_bench.py                       # GPU, B=8, T=1024
  python3 scripts/torch_bench.py --tiny --device cpu   # seconds, any machine
"""
import argparse
import json
import sys
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tiny", action="store_true",
                    help="a small model and batch, to check the script runs")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("-B", type=int, default=None)
    ap.add_argument("-T", type=int, default=None)
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--top", default="3,6,9", help="K values for top:K")
    ap.add_argument("--precision", default="bf16,tf32")
    ap.add_argument("--compile", action="store_true",
                    help="torch.compile the model (SDPA attention); impl torch.compile")
    return ap.parse_args()


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def apply_mask(model, k):
    """k = None: everything trains; else only the top k blocks."""
    n_layer = model.config.n_layer
    for p in model.parameters():
        p.requires_grad_(k is None)
    if k is not None:
        for block in model.transformer.h[n_layer - k:]:
            for p in block.parameters():
                p.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def run(model, k, prec, B, T, steps, warmup, device, vocab, fwd=None):
    params = apply_mask(model, k)
    fwd = model if fwd is None else fwd
    fused = device.startswith("cuda")
    opt = torch.optim.AdamW(params, lr=1e-5, fused=fused)
    g = torch.Generator(device="cpu").manual_seed(7)
    tok = torch.randint(0, vocab, (B, T), generator=g).to(device)
    tgt = torch.randint(0, vocab, (B, T), generator=g).to(device)
    dev_type = "cuda" if device.startswith("cuda") else "cpu"

    def step():
        with torch.autocast(dev_type, dtype=torch.bfloat16, enabled=prec == "bf16"):
            logits = fwd(input_ids=tok).logits
        # loss in fp32 over all B*T positions (strata's bench does the same)
        loss = torch.nn.functional.cross_entropy(
            logits.float().view(-1, logits.size(-1)), tgt.view(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach()

    for _ in range(warmup):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    sync(device)
    dt = (time.perf_counter() - t0) / steps
    del opt
    return dt, float(loss), sum(p.numel() for p in params)


def main():
    a = parse_args()
    if a.tiny:
        cfg = dict(n_layer=12, n_embd=64, n_head=4, vocab_size=512, n_positions=64,
                   bos_token_id=0, eos_token_id=0)
        B, T = a.B or 2, a.T or 32
    else:
        cfg = dict(n_layer=12, n_embd=768, n_head=12, vocab_size=50257, n_positions=1024)
        B, T = a.B or 8, a.T or 1024
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(1)
    config = GPT2Config(**cfg, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    if a.compile:
        config._attn_implementation = "sdpa"
    model = GPT2LMHeadModel(config).to(a.device)
    model.train()
    # the compiled module shares the parameters; a mask change (requires_grad)
    # makes dynamo recompile once, during that mask's warmup steps
    fwd = torch.compile(model) if a.compile else None
    impl = "torch.compile" if a.compile else "torch"
    attn = getattr(model.config, "_attn_implementation", "?")
    dev_name = torch.cuda.get_device_name() if a.device.startswith("cuda") else "cpu"
    tops = [int(x) for x in a.top.split(",") if x]
    masks = [None] + tops
    for prec in a.precision.split(","):
        full_ms = None
        for k in masks:
            dt, loss, ntrain = run(model, k, prec, B, T, a.steps, a.warmup,
                                   a.device, cfg["vocab_size"], fwd)
            ms = dt * 1e3
            if k is None:
                full_ms = ms
            rec = {
                "impl": impl, "torch": torch.__version__, "device": dev_name,
                "attn": attn, "precision": prec,
                "trainable": "all" if k is None else "top:%d" % k,
                "B": B, "T": T, "steps": a.steps,
                "ms_per_step": round(ms, 3),
                "tokens_per_s": round(B * T / dt, 1),
                "step_ratio": round(ms / full_ms, 4),
                "trainable_params": ntrain, "loss": round(loss, 4),
            }
            print(json.dumps(rec), flush=True)
    if a.device.startswith("cuda"):
        print(json.dumps({"impl": impl, "peak_mem_gb":
                          round(torch.cuda.max_memory_allocated() / 2**30, 2)}),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
