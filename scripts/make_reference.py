#!/usr/bin/env python3
"""make_reference.py - PyTorch/transformers fixtures for tests/reference.

Writes, all float32 (token ids are small ints, exact in F32):
  tests/fixtures/gpt2_tiny/              a tiny random GPT2LMHeadModel (HF format)
  tests/fixtures/ref/llama_stories260K.safetensors
  tests/fixtures/ref/gpt2_tiny.safetensors
with keys
  tokens [B,T], targets [B,T] (-1 = no loss), logits [B,T,V], loss [1],
  grad.<hf name> (gradient of the mean loss, tied weights summed),
  step_losses [5], grad_norms [5]  (loss and pre-clip norm before each of 5
  AdamW steps: clip 1.0, lr 1e-3, betas (0.9, 0.999), eps 1e-8, wd 0.1 on
  every parameter, same batch each step).

stories260K goes through `strata convert`, so the fixture is only right when
the conversion is: the script checks the converted model's greedy story
before writing anything.

usage: python3 scripts/make_reference.py [--strata build/strata]
needs: pip install torch transformers safetensors
"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel, LlamaForCausalLM
from transformers.utils import logging as hf_logging

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B, T = 2, 32
STEPS = 5
OPTIM = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
CLIP = 1.0
STORY = ("Once upon a time, there was a little girl named Lily. "
         "She loved to play outside in the park.")


# --- llama2.c tokenizer (tok512.bin), encode as in karpathy/llama2.c run.c --
class Llama2cTokenizer:
    def __init__(self, path):
        with open(path, "rb") as f:
            data = f.read()
        self.vocab, self.scores = [], []
        (self.max_len,) = struct.unpack_from("i", data, 0)
        off = 4
        while off < len(data):
            score, n = struct.unpack_from("fi", data, off)
            off += 8
            self.vocab.append(data[off:off + n])
            self.scores.append(score)
            off += n
        self.ids = {}
        for i, piece in enumerate(self.vocab):
            self.ids.setdefault(piece, i)

    def encode(self, text, bos=True):
        """dummy-prefix space, per-codepoint lookup with byte fallback (+3),
        then merge the best-scoring adjacent pair until none is in vocab."""
        toks = [1] if bos else []
        if text:
            toks.append(self.ids[b" "])
        for ch in text:
            b = ch.encode("utf-8")
            if b in self.ids:
                toks.append(self.ids[b])
            else:
                toks.extend(x + 3 for x in b)
        while True:
            best, best_i, best_id = -1e10, -1, -1
            for i in range(len(toks) - 1):
                j = self.ids.get(self.vocab[toks[i]] + self.vocab[toks[i + 1]])
                if j is not None and self.scores[j] > best:
                    best, best_i, best_id = self.scores[j], i, j
            if best_i < 0:
                return toks
            toks[best_i:best_i + 2] = [best_id]

    def decode(self, toks):
        out = b""
        for prev, t in zip([1] + toks[:-1], toks):
            piece = self.vocab[t]
            if prev == 1 and piece.startswith(b" "):
                piece = piece[1:]  # BOS strips the dummy-prefix space
            if piece.startswith(b"<0x") and piece.endswith(b">") and len(piece) == 6:
                piece = bytes([int(piece[3:5], 16)])
            out += piece
        return out.decode("utf-8", errors="replace")


# --- the recorded run ------------------------------------------------------
def ce(logits, tgt):
    """mean cross-entropy over targets >= 0 (torch spells 'ignore' -100)"""
    t = tgt.masked_fill(tgt < 0, -100)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t.reshape(-1),
                           ignore_index=-100)


def record(model, tok, tgt, params=None, steps=STEPS, optim=OPTIM,
           key=lambda name: name):
    """logits, loss and the gradients of `params` (default: every parameter)
    of the initial model, then `steps` AdamW steps on them with the same
    batch (loss and pre-clip norm before each update). Gradients are saved
    as "grad." + key(name)."""
    if params is None:
        params = dict(model.named_parameters())  # tied weights appear once
    opt = torch.optim.AdamW(params.values(), **optim)
    out, losses, norms = {}, [], []
    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        logits = model(input_ids=tok).logits
        loss = ce(logits, tgt)
        loss.backward()
        if step == 0:
            out["logits"] = logits.detach().clone()
            out["loss"] = loss.detach().reshape(1).clone()
            for name, p in params.items():
                out["grad." + key(name)] = p.grad.detach().clone()
        norms.append(torch.nn.utils.clip_grad_norm_(params.values(), CLIP).item())
        losses.append(loss.item())
        opt.step()
    out["step_losses"] = torch.tensor(losses)
    out["grad_norms"] = torch.tensor(norms)
    out["tokens"] = tok.float()
    out["targets"] = tgt.float()
    return out


def write(path, tensors):
    tensors = {k: v.float().contiguous() for k, v in tensors.items()}
    tmp = path + ".tmp"
    save_file(tensors, tmp)
    os.replace(tmp, path)
    n = sum(v.numel() for v in tensors.values())
    print(f"  wrote {os.path.relpath(path, ROOT)}: {len(tensors)} tensors, "
          f"{n} floats")


def summary(name, r):
    print(f"{name}: loss {r['loss'].item():.6f}  step losses "
          + " ".join(f"{x:.6f}" for x in r["step_losses"].tolist())
          + "  grad norms " + " ".join(f"{x:.4f}" for x in r["grad_norms"].tolist()))


# --- Llama: stories260K through `strata convert` ---------------------------
def llama(strata, shared, out_dir):
    tok = Llama2cTokenizer(os.path.join(shared, "models/stories260K/tok512.bin"))
    with tempfile.TemporaryDirectory() as hf:
        subprocess.run([strata, "convert",
                        os.path.join(shared, "models/stories260K/stories260K.bin"),
                        hf], check=True)
        model = LlamaForCausalLM.from_pretrained(hf, attn_implementation="eager",
                                                 dtype=torch.float32)
    model.eval()  # no dropout anywhere; eval() only makes that explicit

    # the conversion (q/k permutation, rope, tying) is right only if the
    # model still tells its story
    prompt = tok.encode("Once upon a time")
    with torch.no_grad():
        gen = model.generate(torch.tensor([prompt]), max_new_tokens=40,
                             do_sample=False)[0].tolist()
    text = tok.decode(gen[1:])
    print(f"stories260K greedy: {text!r}")
    if not text.startswith(STORY):
        sys.exit("make_reference: converted stories260K does not continue "
                 "the story; strata convert is wrong")

    with open(os.path.join(shared, "data/tinyshakespeare/input.txt")) as f:
        text = f.read(4000)
    ids = tok.encode(text)[1:]  # no BOS: a window from inside a document
    assert len(ids) >= B * T + 1, "text slice too short"
    buf = torch.tensor(ids[:B * T + 1])
    x, y = buf[:-1].view(B, T), buf[1:].view(B, T)
    r = record(model, x, y)
    summary("llama stories260K", r)
    write(os.path.join(out_dir, "llama_stories260K.safetensors"), r)


# --- GPT-2: our own tiny random model --------------------------------------
def gpt2(model_dir, out_dir):
    torch.manual_seed(1234)
    cfg = GPT2Config(vocab_size=512, n_positions=64, n_embd=64, n_layer=2,
                     n_head=4, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                     summary_first_dropout=0.0, bos_token_id=0, eos_token_id=0,
                     tie_word_embeddings=True)
    model = GPT2LMHeadModel(cfg)
    # HF init leaves biases at 0 and norm weights at 1, which would hide a
    # missing bias or gain in the forward; make every one of them count.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.normal_(0.0, 0.02)
            elif ".ln_" in name:
                p.add_(torch.randn_like(p) * 0.1)
    model.eval()
    os.makedirs(model_dir, exist_ok=True)
    model.save_pretrained(model_dir, safe_serialization=True)
    print(f"  wrote {os.path.relpath(model_dir, ROOT)}: "
          + ", ".join(sorted(os.listdir(model_dir))))

    # reload what we committed, so the fixture is of the saved weights
    model = GPT2LMHeadModel.from_pretrained(model_dir, attn_implementation="eager",
                                            dtype=torch.float32)
    model.eval()
    g = torch.Generator().manual_seed(5678)
    x = torch.randint(0, cfg.vocab_size, (B, T), generator=g)
    y = torch.randint(0, cfg.vocab_size, (B, T), generator=g)
    y[0, 3] = y[0, 17] = y[1, 0] = y[1, T - 1] = -1  # no loss on these
    r = record(model, x, y)
    summary("gpt2 tiny", r)
    write(os.path.join(out_dir, "gpt2_tiny.safetensors"), r)


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
    ref = os.path.join(ROOT, "tests/fixtures/ref")
    os.makedirs(ref, exist_ok=True)
    gpt2(os.path.join(ROOT, "tests/fixtures/gpt2_tiny"), ref)
    llama(os.path.abspath(args.strata), args.shared, ref)


if __name__ == "__main__":
    main()
