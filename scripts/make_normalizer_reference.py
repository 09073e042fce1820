#!/usr/bin/env python3
"""Reference fixtures for strata's Unicode normalizers (tests/reference/test_normalizer_ref.c).

Writes into tests/fixtures/normalizers/:
  <name>.json    one tokenizer.json per normalizer: nfc, nfd, nfkc, nfkd,
                 lowercase, and nfkc_lowercase (a Sequence of NFKC and
                 Lowercase, with an added token matched after normalizing).
                 All share one byte-level BPE trained here on the test
                 strings in every normal form, behind Qwen2's pre-tokenizer
                 (its Split regex, then ByteLevel), so the ids spell out
                 the normalized text byte for byte.
  <name>.jsonl   a header {"tokenizer", "vocab"}, then {"text",
                 "normalized", "ids"} for 330 strings: hand-picked edge
                 cases (decomposed and compatibility characters, Hangul,
                 Greek sigma, Turkish I, emoji, CJK, runs of spaces) and
                 random mixes of bases, marks in every order, compatibility
                 and cased characters.
  table.jsonl    every character whose mapping under some normalizer is not
                 the identity, 256 to a line and run together (Hangul
                 syllables sampled), with the first 16 hex digits of the
                 SHA-256 of each normalizer's output.

Expected values are Hugging Face `tokenizers`' (normalize_str, and encode
without special tokens). The table keeps only characters on which Python's
unicodedata agrees with tokenizers: tokenizers normalizes with Unicode 9.0
tables and lowercases with its Rust's (16.0 in 0.23), so characters newer
than one of them are version-dependent, and strata's utf8proc (15.0) is a
third version (see core/text/tok_unicode.c).

Usage: python3 scripts/make_normalizer_reference.py   (pip install tokenizers)
"""
import hashlib
import json
import os
import random
import sys
import unicodedata

from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "normalizers")

QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
                 r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

NORMALIZERS = [
    ("nfc", {"type": "NFC"}),
    ("nfd", {"type": "NFD"}),
    ("nfkc", {"type": "NFKC"}),
    ("nfkd", {"type": "NFKD"}),
    ("lowercase", {"type": "Lowercase"}),
    ("nfkc_lowercase", {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}]}),
]
# matched in normalized text: "Ⅻ", "XII" and "xii" all become it
ADDED = {"nfkc_lowercase": "\u216b"}

# ---------------------------------------------------------------- strings

EDGE = [
    "", " ", "a", "plain ascii text", "Hello World", "HELLO WORLD",
    # composed vs decomposed
    "e\u0301", "\u00e9", "caf\u00e9", "cafe\u0301", "cafe\u0301 au lait", "A\u030a", "\u00c5", "\u212b",
    "\u00c5ngstr\u00f6m", "A\u030angstro\u0308m", "n\u0303", "\u00f1", "u\u0308\u0304", "\u01d6",
    "e\u0323\u0302", "e\u0302\u0323", "\u1ec7", "Ti\u1ebfng Vi\u1ec7t", "Tie\u0302\u0301ng Vie\u0323\u0302t",
    "\u1f85", "\u03b1\u0314\u0301\u0345", "\u03b1\u0345\u0314\u0301", "\u03b1\u0301\u0314\u0345",
    "a\u0316\u0301", "a\u0301\u0316", "a\u0334\u0301\u0316", "a\u0327\u0301", "c\u0327", "\u00e7",
    "o\u031b\u0301", "\u1edb", "\u0344", "\u0340\u0341\u0343", "\u0301", "\u0301\u0301a", "e\u0301\u0301",
    "a\u0000e\u0301",
    # singletons and composition exclusions
    "\u2126", "\u212a", "\u00b5", "\u0958", "\u0915\u093c", "\u2adc", "\u2add\u0338",
    "\u0f73", "\u0f75", "\u0f81", "\u0f71\u0f72", "\u09c7\u09be", "\u09cb", "\u0b47\u0b3e",
    "\uf900", "\uf9d1", "\U0002f800", "\u2f00\u2f01", "\u3099", "\u304b\u3099", "\u304c",
    # compatibility characters
    "\ufb01", "\ufb01nance", "\ufb00\ufb03\ufb04", "\ufb05", "\u2460", "\u2473", "\u32bf", "\u2474\u2488\u249c",
    "x\u00b2 + y\u00b3", "H\u2082O", "\u00bd \u2153 \u00bc", "\u2160\u2161\u216b", "\u2170\u217b",
    "XII xii \u216b", "\u338f \u33a1", "\u337b", "\u3300", "\u2122", "\u2103 \u2109", "\u2116",
    "\uff26\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48", "\uff10\uff11\uff12\uff01\uff1f", "\uff21\uff22\uff23",
    "\uff76\uff9e\uff71", "\uff8a\uff9f", "\uff7a\uff9d\uff86\uff81\uff8a", "\ufefb", "\ufdfa", "\ufdf2",
    "\u017f", "\u01c4\u01c5\u01c6", "\u0132\u0133", "\u0149", "\ufe35\ufe36", "\u207f", "\u210c",
    "\U0001d400\U0001d41b", "\U0001d7d8\U0001d7e1", "\u3231\u321c", "\u32c0", "\u00a8", "\u00b4", "\u02dc",
    "\u1e9b\u0323", "\u03d3", "\u03d4",
    # Hangul: syllables, conjoining jamo, compatibility jamo
    "\ud55c\uad6d\uc5b4", "\uac00", "\ud7a3", "\uac01", "\u1100\u1161", "\u1100\u1161\u11a8",
    "\u1112\u1161\u11ab\u1100\u116e\u11a8", "\uac00\u11a8", "\u1100\u1100\u1161", "\u1161\u11a8",
    "\u3131\u314f", "\u3131\u314f\u3131", "\u314e\u314f\u3134", "\u1100 \u1161", "\u115f\u1160",
    # case: sigma, Turkish I, sharp s, titlecase digraphs, other scripts
    "\u03a3", "\u039f\u0394\u039f\u03a3", "\u039f\u0394\u039f\u03a3 \u03a3\u0391\u03a3", "\u03c3\u03c2",
    "\u1f08\u1f88", "\u0130", "\u0130stanbul", "I\u0307", "\u0131", "DIYARBAKIR", "\u0130I\u0131i",
    "STRASSE", "Stra\u00dfe", "\u1e9e", "\u01c5", "\u01f2", "\u0130\u0301", "\u00c0\u00c9\u00ce\u00d5\u00dc",
    "\u0410\u0411\u0412 \u0401\u0419", "\u10a0\u10c5", "\u13a0\u13f5", "\U00010400\U00010427",
    "\u24b6\u24cf", "\u2c00\u2c2e", "\ua640\ua66c", "\u1c90\u1cbf", "\u0178\u00ff",
    # emoji, ZWJ sequences, flags, keycaps, variation selectors
    "\U0001F44D", "\U0001F44D\U0001F3FD", "\U0001F468\u200d\U0001F469\u200d\U0001F467",
    "\U0001F469\U0001F3FF\u200d\U0001F4BB", "\U0001F1EB\U0001F1F7", "I \u2764\ufe0f it", "1\ufe0f\u20e3",
    "\u263a\ufe0e\u263a\ufe0f", "\U0001F3F3\ufe0f\u200d\U0001F308",
    # CJK, scripts
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8", "\u4e2d\u6587\u5b57\u7b26",
    "\u30ac\u30ae\u30b0", "\u30ab\u3099\u30ad\u3099", "\u0939\u093f\u0928\u094d\u0926\u0940",
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629", "\u0628\u0650\u0633\u0652\u0645\u0650",
    "\u05e9\u05c1\u05b8", "\u05e9\u05b8\u05c1", "\u0e01\u0e34\u0e48", "\u0e01\u0e48\u0e34",
    # spaces of every kind and runs of them
    "a  b", "a   b", "   leading", "trailing   ", "a\t\tb", "x \n\n y", "\u00a0", "a\u00a0b", "a\u2003b",
    "a\u3000b", "\u3000\u3000", "\u2000\u2001\u2002\u200a", "a" + " " * 20 + "b", " \u00a0 \u00a0",
    "a\u202fb", "\u205f\u2028\u2029",
    # words that merge in some forms, apostrophes of the regex's contractions
    "don't", "DON'T", "I\u2019M", "\uff49\u2019\uff4d", "it'\u017f", "I'\u212a", "IT'S \u0130T'S",
]

BASES = list("aeiouncsyAEIOUNCSYz") + ["\u03b1", "\u03b5", "\u03c9", "\u0391", "\u0418", "\u0435"]
MARKS = ["\u0300", "\u0301", "\u0302", "\u0303", "\u0308", "\u030a", "\u030c", "\u0316", "\u0323",
         "\u0327", "\u0328", "\u031b", "\u0334", "\u0345", "\u0314", "\u0342", "\u05b0", "\u05b4",
         "\u05c1", "\u093c", "\u094d", "\u0e38", "\u3099", "\u20dd", "\u0306", "\u0331"]
COMPOSED = ["\u00e9", "\u00c5", "\u00f1", "\u01d6", "\u1e17", "\u1f04", "\u1f85", "\u1e69", "\u01fa",
            "\u00e7", "\u1ec7", "\u0451", "\u0419", "\u00fc", "\u01d5", "\u0390", "\u03ab", "\u1e0b"]
COMPAT = ["\ufb01", "\ufb02", "\u2460", "\u2473", "\u00b2", "\u00bd", "\u2153", "\u216b", "\u2170",
          "\u338f", "\u337b", "\u2122", "\u2126", "\u212a", "\u212b", "\uff21", "\uff41", "\uff10",
          "\uff01", "\uff76", "\uff9e", "\ufefb", "\u017f", "\u01c6", "\u0133", "\u2474", "\u24b6",
          "\U0001d400", "\u3231", "\u00a0", "\u2003", "\u3000", "\u00a8", "\u0340", "\u0958", "\uf900",
          "\u2f00", "\u3131", "\u314f", "\u1e9b", "\u03d3", "\ufe35", "\u207f", "\u2488"]
HANGUL = ["\uac00", "\ud55c", "\ud7a3", "\u1100", "\u1112", "\u1161", "\u1175", "\u11a8", "\u11c2",
          "\uac01", "\u3131", "\u314f"]
CASED = ["\u03a3", "\u0130", "I", "\u0131", "\u00df", "\u1e9e", "\u01c5", "\u0410", "\u1f88",
         "\u13a0", "\U00010400", "\u2160", "\u24b6", "\u0178", "K", "\u212a"]
OTHER = [" ", "  ", "\t", "\n", "'", ",", "1", "\u65e5", "\u672c", "\u30ac", "\U0001F44D",
         "\U0001F3FD", "\u200d", "\ufe0f", "\u0628", "\u0650"]


def random_string(rng):
    pools = [BASES, COMPOSED, COMPAT, HANGUL, CASED, OTHER]
    s = []
    for _ in range(rng.randint(1, 10)):
        s.append(rng.choice(rng.choice(pools)))
        while rng.random() < 0.35:  # marks after anything, in any order
            s.append(rng.choice(MARKS))
    return "".join(s)


def test_strings():
    out = list(dict.fromkeys(EDGE))
    rng = random.Random(1234)
    while len(out) < 330:
        s = random_string(rng)
        if s not in out:
            out.append(s)
    return out


# ---------------------------------------------------------------- table

def hf_normalizer(obj):
    return Tokenizer.from_str(json.dumps(tok_json({"type": "BPE", "vocab": {}, "merges": []}, obj))).normalizer


def table_chars():
    """Each character some normalizer changes, where Python agrees with
    tokenizers on every form (so no Unicode-version skew), Hangul sampled."""
    forms = ["NFC", "NFD", "NFKC", "NFKD"]
    hf = {f: hf_normalizer({"type": f}) for f in forms + ["Lowercase"]}
    cps = [c for c in range(1, 0x110000) if not 0xD800 <= c < 0xE000 and c != 10]
    got = {}
    for f in hf:  # one call per block: "\n" never changes or combines
        got[f] = []
        for i in range(0, len(cps), 8192):
            block = [chr(c) for c in cps[i:i + 8192]]
            out = hf[f].normalize_str("\n".join(block)).split("\n")
            assert len(out) == len(block)
            got[f] += out
    chars = []
    for k, c in enumerate(cps):
        ch = chr(c)
        if all(got[f][k] == ch for f in hf):
            continue
        if 0xAC00 <= c <= 0xD7A3 and (c - 0xAC00) % 13:
            continue
        if all(got[f][k] == unicodedata.normalize(f, ch) for f in forms) and got["Lowercase"][k] == ch.lower():
            chars.append(ch)
    return chars


# ---------------------------------------------------------------- tokenizers

def tok_json(model, normalizer, added=()):
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": list(added),
            "normalizer": normalizer,
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": QWEN2_PATTERN}, "behavior": "Isolated",
                 "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                 "use_regex": False}]},
            "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                        "use_regex": True},
            "model": model}


def train_model(strings):
    corpus = []
    for _, obj in NORMALIZERS:
        n = hf_normalizer(obj)
        corpus += [n.normalize_str(s) for s in strings]
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tr = trainers.BpeTrainer(vocab_size=450, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                             show_progress=False)
    t.train_from_iterator(corpus, tr)
    m = json.loads(t.to_str())["model"]
    return {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
            "ignore_merges": False, "vocab": m["vocab"], "merges": m["merges"]}


def tokenizer_obj(model, name, normalizer):
    added = []
    if name in ADDED:
        vid = len(model["vocab"])
        model = {**model, "vocab": {**model["vocab"], ADDED[name]: vid}}
        added = [{"id": vid, "content": ADDED[name], "single_word": False, "lstrip": False,
                  "rstrip": False, "normalized": True, "special": False}]
    return tok_json(model, normalizer, added)


# ---------------------------------------------------------------- writing

def write(name, lines):
    path = os.path.join(OUT, name)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        for obj in lines:
            f.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
    os.replace(path + ".tmp", path)
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


def short_hash(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()[:16]


def main():
    os.makedirs(OUT, exist_ok=True)
    strings = test_strings()
    model = train_model(strings)
    chars = table_chars()
    chunks = ["".join(chars[i:i + 256]) for i in range(0, len(chars), 256)]
    table = [{"normalizers": [name for name, _ in NORMALIZERS], "chars": len(chars)}]
    table += [{"text": c} for c in chunks]
    for name, normalizer in NORMALIZERS:
        obj = tokenizer_obj(model, name, normalizer)
        write(name + ".json", [obj])
        tok = Tokenizer.from_file(os.path.join(OUT, name + ".json"))
        rows = [{"tokenizer": name + ".json", "vocab": tok.get_vocab_size(with_added_tokens=True)}]
        for s in strings:
            norm = tok.normalizer.normalize_str(s)
            ids = tok.encode(s, add_special_tokens=False).ids
            if name not in ADDED:  # byte-level: the ids are the normalized text
                assert tok.decode(ids) == norm, (name, s)
            rows.append({"text": s, "normalized": norm, "ids": ids})
        write(name + ".jsonl", rows)
        for row, c in zip(table[1:], chunks):
            row[name] = short_hash(tok.normalizer.normalize_str(c))
    write("table.jsonl", table)
    print("table: %d characters in %d lines" % (len(chars), len(chunks)))


if __name__ == "__main__":
    sys.exit(main())
