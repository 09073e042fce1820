#!/usr/bin/env python3
"""Tokenizer speed: strata's BPE vs Hugging Face `tokenizers`, one thread each.

Encodes Tiny Shakespeare with GPT-2 (shared encoder.json + vocab.bpe) as one
string and line by line, best of --reps runs, and prints MB/s for both and
their ratio. Before timing it checks that both produce the same ids for the
whole text. Not a test: numbers depend on the machine.

  python3 bench/tokenizer_bench.py [--bin build/tokenizer_bench] [--reps 5]
      [--tokenizer DIR_OR_JSON] [--text FILE]

With --fuzz N it instead diffs ids for N random strings (mixed scripts,
whitespace, digits, emoji, special tokens) and exits 1 on any difference.

The C driver (bench/tokenizer_bench.c) is built with CMake when missing.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time

# one thread on the HF side too; must be set before tokenizers is imported
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("STRATA_SHARED") or os.path.join(ROOT, "..", "shared")


def hf_tokenizer(path):
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "tokenizer.json")):
            return Tokenizer.from_file(os.path.join(path, "tokenizer.json"))
        t = Tokenizer(models.BPE.from_file(os.path.join(path, "encoder.json"),
                                           os.path.join(path, "vocab.bpe")))
        t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        t.decoder = decoders.ByteLevel()
        t.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
        return t
    return Tokenizer.from_file(path)


def c_bench(binary, tok, text_path, lines, reps):
    cmd = [binary, tok, text_path, "--reps", str(reps)] + (["--lines"] if lines else [])
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def hf_bench(tok, text, lines, reps):
    parts = text.splitlines(keepends=True) if lines else None
    best = 1e30
    for _ in range(reps):
        t0 = time.perf_counter()
        if lines:
            n = sum(len(e.ids) for e in tok.encode_batch(parts, add_special_tokens=False))
        else:
            n = len(tok.encode(text, add_special_tokens=False).ids)
        best = min(best, time.perf_counter() - t0)
    nbytes = len(text.encode("utf-8"))
    return {"bytes": nbytes, "tokens": n, "seconds": best, "mb_per_s": nbytes / best / 1e6}


# pieces random strings are made of: every script, space and digit class the
# pre-tokenizer regexes distinguish, plus the special tokens of our fixtures
ALPHABET = (list("abcdeXYZ'sStTdDmM ") + [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u0085", "\u2028",
            "\u3000", "\u180e"] + list("0123456789") + ["\u0661", "\u00bd", "\u2167"] +
            list(".,;:!?-()[]\"'/_#") + ["\u00e9", "\u00df", "\u0416", "\u05d0", "\u0627", "\u0939",
            "\u093f", "\u65e5", "\u672c", "\uac00", "\u3042", "\u0301", "\u017f", "\u212a",
            "\U0001F600", "\U0001F44D\U0001F3FD", "\u200d", "\ufe0f", "\u2581", "\u0120"] +
            ["<s>", "</s>", "<unk>", "<|endoftext|>", "<|begin_of_text|>", "<0x41>"])


def fuzz(binary, tokenizer, tok, n):
    rng = random.Random(n)
    strings = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 40))) for _ in range(n)]
    out = subprocess.run([binary, tokenizer, "--ids"], input="".join(json.dumps(s) + "\n" for s in strings),
                         check=True, capture_output=True, text=True).stdout.splitlines()
    bad = 0
    for s, line in zip(strings, out):
        want = tok.encode(s, add_special_tokens=False).ids
        if json.loads(line) != want:
            bad += 1
            if bad <= 5:
                print("differs: %r\n  strata %s\n  HF     %s" % (s, line, want))
    print("%s: %d of %d random strings differ" % (tokenizer, bad, n))
    # decode random id sequences (partial UTF-8, byte tokens, specials)
    V = tok.get_vocab_size(with_added_tokens=True)
    seqs = [[rng.randrange(V) for _ in range(rng.randint(0, 12))] for _ in range(n)]
    out = subprocess.run([binary, tokenizer, "--decode"], input="".join(json.dumps(q) + "\n" for q in seqs),
                         check=True, capture_output=True, text=True).stdout.splitlines()
    dbad = 0
    for q, line in zip(seqs, out):
        want = tok.decode(q, skip_special_tokens=False)
        if json.loads(line) != want:
            dbad += 1
            if dbad <= 5:
                print("decode differs: %s\n  strata %s\n  HF     %r" % (q, line, want))
    print("%s: %d of %d random id lists decode differently" % (tokenizer, dbad, n))
    return bad + dbad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "tokenizer_bench"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--tokenizer", default=os.path.join(SHARED, "tokenizers", "gpt2"))
    ap.add_argument("--text", default=os.path.join(SHARED, "data", "tinyshakespeare", "input.txt"))
    ap.add_argument("--fuzz", type=int, default=0)
    a = ap.parse_args()
    if not os.path.exists(a.bin):
        build = os.path.dirname(a.bin)
        subprocess.run(["cmake", "-S", ROOT, "-B", build], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", build, "--target", "tokenizer_bench", "-j2"], check=True)

    tok = hf_tokenizer(a.tokenizer)
    if a.fuzz:
        sys.exit(1 if fuzz(a.bin, a.tokenizer, tok, a.fuzz) else 0)
    text = open(a.text, encoding="utf-8").read()
    # same ids for the whole text, or the timing means nothing
    out = subprocess.run([a.bin, a.tokenizer, "--ids"], input=json.dumps(text) + "\n",
                         check=True, capture_output=True, text=True).stdout
    ours, theirs = json.loads(out), tok.encode(text, add_special_tokens=False).ids
    if ours != theirs:
        k = next((i for i, (x, y) in enumerate(zip(ours, theirs)) if x != y), min(len(ours), len(theirs)))
        sys.exit("ids differ at token %d (strata %d tokens, HF %d)" % (k, len(ours), len(theirs)))

    print("%s on %s (%d bytes), one thread, best of %d" % (a.tokenizer, a.text, len(text.encode()), a.reps))
    print("%-12s %12s %12s %8s" % ("mode", "strata MB/s", "HF MB/s", "ratio"))
    for lines in (False, True):
        c = c_bench(a.bin, a.tokenizer, a.text, lines, a.reps)
        h = hf_bench(tok, text, lines, a.reps)
        print("%-12s %12.2f %12.2f %7.2fx" % ("lines" if lines else "whole text", c["mb_per_s"],
                                             h["mb_per_s"], c["mb_per_s"] / h["mb_per_s"]))


if __name__ == "__main__":
    main()
