#!/usr/bin/env python3
"""Reference fixture for the tokenizer that `strata convert` writes
(core/text/tok_export.c; checked by tests/reference/test_tokenizer_json_ref.c).

Converts stories260K with the strata binary, so its llama2.c tok512.bin
becomes tokenizer.json + tokenizer_config.json + special_tokens_map.json,
loads that folder with Hugging Face `tokenizers` and, offline, with
`transformers.AutoTokenizer`, and writes tests/fixtures/tokenizer_json/:

  tok512.json  {"tokenizer": the shared .bin, "tokenizer_json_sha256": the
               file HF read, "cases": [...], "raw": [...]}
    cases: {"text", "ids", "decoded"} per string (ASCII, punctuation, space
      runs, tabs and newlines, digits, accents, combining marks, CJK, emoji,
      the empty string, long words, pieces of the vocabulary), where "ids" is
      what HF encodes without special tokens (transformers and `tokenizers`
      with encode_special_tokens agree, asserted) and "decoded" HF's decode of
      them. Two kinds of string differ, and carry the other ids:
      "ids_added": literal <s>, </s>, <unk>, which `tokenizers` by default
      (and strata's tokenizer.json reader) matches as special tokens;
      "llama2c": text holding U+2581, tokenizer.json's spelling of a space.
      Every other string encodes as the Python port of run.c in
      make_tokenizer_reference.py does (asserted here, also on 20000 random
      strings that are not written).
    raw: {"hex", "llama2c", "decoded"} for bytes that are not UTF-8: run.c's
      byte fallback has no HF counterpart (HF takes only str), so the
      fixture holds the port's ids and HF's decode of them (the ByteFallback
      decoder writes U+FFFD per byte that is no UTF-8).

  gpt2/encoder.json, gpt2/vocab.bpe  a 512-token byte-level BPE in GPT-2's
      release layout, trained here on Tiny Shakespeare; tests/e2e/
      test_convert.sh converts tests/fixtures/gpt2_tiny with it. Here it is
      checked that AutoTokenizer loads the converted folder (vocab.json +
      merges.txt + tokenizer_config.json) and encodes as `tokenizers` does
      from the original two files.

Also checked: AutoTokenizer adds BOS (id 1) with add_special_tokens, and
decode(encode(s)) == s for the ASCII strings.

Usage: STRATA_BIN=build/strata python3 scripts/make_tokenizer_json_reference.py
       (pip install tokenizers transformers)
"""
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"  # the folders are local; never the network

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tokenizer_reference import (  # noqa: E402
    ROOT, llama2c_encode, load_llama2c, shared, test_strings)

OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer_json")
BIN = os.environ.get("STRATA_BIN") or os.path.join(ROOT, "build", "strata")
SPACE = "\u2581"
SPECIALS = ("<s>", "</s>", "<unk>")

# beyond make_tokenizer_reference's strings: what this conversion can get
# wrong (the dummy prefix, spaces as U+2581, tokens made by several splits
# such as "her" = h+er = he+r, byte fallback, combining marks)
EXTRA = [
    " Hello", "  two  spaces ", "   ", " ", "x ", " x", "\t lead", "trail\t ",
    "Once upon a time, there was a little girl named Lily.",
    "the the then there her herself over ever verb asked ended went had out",
    " her", "her", "h er", "he r", "Her hers", "the", " the", "theme",
    "lll", "oooo", "ppp pp p", "all  ball   call",
    "a\u0301e\u0300o\u0302", "n\u0303", "\u0065\u0301\u0302\u0303", "\u00e9 vs e\u0301",
    "\u00e2\u20ac\u2122", "\u2122 \u20ac", "\u200a", "\\ % < > | [ ] ~",
    "tab\tand\nnewline\r\n", "\x00", "a\x00b", "\x7f\x01",
    "9876543210 1e10 0x1F", "\U0001F600", "\u4f60\u597d\uff0c\u4e16\u754c",
    "x" * 300, "Supercalifragilisticexpialidocious", "  \n  \n",
    # U+2581 itself: HF reads it as a space
    SPACE, "x" + SPACE + "y", SPACE + "the", "a " + SPACE + " b",
]

RAW = [b"\xff", b"a\x80b", b"\xc3", b"caf\xc3", b"\xe2\x82", b"\xed\xa0\x80",
       b"\xf4\x90\x80\x80", b"\xc0\xaf", b"ok\xfe\xffok", b"\xe2\x82\xac\x80",
       b" \xf0\x9f\x98", b"\x80\x80\x80\x80\x80", b"the \xa0 end"]


def convert(model, out):
    r = subprocess.run([BIN, "convert", model, out], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("strata convert %s failed:\n%s" % (model, r.stderr))
    return r


def vocab_pieces(vocab):
    return [v.decode("utf-8") for v in vocab[259:]] + [" ", "  ", "\n", "\u00e9", "\u65e5", "\U0001F600", "!"]


def random_strings(pieces, n, seed):
    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 14))) for _ in range(n)]


def check_tok512(folder, vocab, scores, strings, sweep):
    hf = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    hf.encode_special_tokens = True  # what transformers does with split_special_tokens
    plain = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    auto = AutoTokenizer.from_pretrained(folder)
    assert auto.split_special_tokens, "tokenizer_config.json should set split_special_tokens"
    cases = []
    for s in strings:
        ids = hf.encode(s, add_special_tokens=False).ids
        assert auto.encode(s, add_special_tokens=False) == ids, ("AutoTokenizer", s)
        assert auto.encode(s) == [1] + ids, ("AutoTokenizer BOS", s)
        assert hf.encode(s).ids == [1] + ids, ("template BOS", s)
        case = {"text": s, "ids": ids, "decoded": hf.decode(ids, skip_special_tokens=False)}
        added = plain.encode(s, add_special_tokens=False).ids
        if added != ids:
            assert any(t in s for t in SPECIALS), s
            case["ids_added"] = added
        ref = llama2c_encode(vocab, scores, s.encode("utf-8"))
        if ref != ids:
            assert SPACE in s, ("differs from run.c", s, ref, ids)
            case["llama2c"] = ref
        if s.isascii():
            back = auto.decode(auto.encode(s), skip_special_tokens=True)
            assert back == s, ("round trip", s, back)
        cases.append(case)
    bad = [s for s in sweep if SPACE not in s
           and hf.encode(s, add_special_tokens=False).ids != llama2c_encode(vocab, scores, s.encode())]
    assert not bad, ("run.c and tokenizer.json differ", bad[:5])
    raw = []
    for b in RAW:
        ids = llama2c_encode(vocab, scores, b)
        raw.append({"hex": b.hex(), "llama2c": ids, "decoded": hf.decode(ids, skip_special_tokens=False)})
    return cases, raw


def train_gpt2(lines):
    """256 byte symbols + 255 merges + <|endoftext|> last, as in GPT-2"""
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=511, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    t.train_from_iterator(lines, trainer)
    m = json.loads(t.to_str())["model"]
    vocab = dict(m["vocab"])
    assert len(vocab) == 511, len(vocab)
    vocab["<|endoftext|>"] = 511
    merges = [" ".join(x) if isinstance(x, list) else x for x in m["merges"]]
    return vocab, merges


def gpt2_reference(enc, bpe):
    t = Tokenizer(models.BPE.from_file(enc, bpe))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    t.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    return t


def check_gpt2(tmp, strings):
    src = os.path.join(tmp, "gpt2")
    os.makedirs(src)
    for name in ("config.json", "model.safetensors"):
        shutil.copy(os.path.join(ROOT, "tests", "fixtures", "gpt2_tiny", name), src)
    for name in ("encoder.json", "vocab.bpe"):
        shutil.copy(os.path.join(OUT, "gpt2", name), src)
    out = os.path.join(tmp, "gpt2_hf")
    convert(src, out)
    ref = gpt2_reference(os.path.join(src, "encoder.json"), os.path.join(src, "vocab.bpe"))
    auto = AutoTokenizer.from_pretrained(out)
    assert type(auto).__name__.startswith("GPT2Tokenizer"), type(auto)
    for s in strings:
        want = ref.encode(s, add_special_tokens=False).ids
        assert auto.encode(s, add_special_tokens=False) == want, ("gpt2", s)
        if s.isascii():
            assert auto.decode(want) == s, ("gpt2 round trip", s)
    print("gpt2: AutoTokenizer(%s) encodes %d strings as the original files do" % (type(auto).__name__, len(strings)))


def main():
    os.makedirs(os.path.join(OUT, "gpt2"), exist_ok=True)
    vocab, scores = load_llama2c(shared("models/stories260K/tok512.bin"))
    strings = test_strings() + EXTRA + random_strings(vocab_pieces(vocab), 120, 7)
    sweep = random_strings(vocab_pieces(vocab), 20000, 8)

    lines = open(shared("data/tinyshakespeare/input.txt"), encoding="utf-8").read().split("\n")
    gv, gm = train_gpt2(lines)
    with open(os.path.join(OUT, "gpt2", "encoder.json"), "w", encoding="utf-8") as f:
        json.dump(gv, f, ensure_ascii=False)
    with open(os.path.join(OUT, "gpt2", "vocab.bpe"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(gm) + "\n")

    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "stories260K")
        r = convert(shared("models/stories260K/stories260K.bin"), folder)
        assert "note" not in r.stderr, r.stderr  # tok512.bin converts exactly
        cases, raw = check_tok512(folder, vocab, scores, strings, sweep)
        sha = hashlib.sha256(open(os.path.join(folder, "tokenizer.json"), "rb").read()).hexdigest()
        check_gpt2(tmp, strings)

    path = os.path.join(OUT, "tok512.json")
    with open(path + ".tmp", "w", encoding="ascii") as f:
        json.dump({"tokenizer": "models/stories260K/tok512.bin", "tokenizer_json_sha256": sha,
                   "cases": cases, "raw": raw}, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")
    os.replace(path + ".tmp", path)
    print("wrote %s: %d cases (%d with literal special tokens, %d with U+2581), %d raw; "
          "run.c == tokenizer.json on %d random strings" % (
              path, len(cases), sum("ids_added" in c for c in cases),
              sum("llama2c" in c for c in cases), len(raw), len(sweep)))


if __name__ == "__main__":
    sys.exit(main())
