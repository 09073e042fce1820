#!/usr/bin/env python3
"""Reference fixtures for strata's tokenizers (tests/reference/test_tokenizer_ref.c).

Writes into tests/fixtures/tokenizer/:
  sp.json        SentencePiece-style BPE trained here on Tiny Shakespeare
                 (vocab 2000, byte_fallback, <unk>/<s>/</s>), Llama-2 layout:
                 Prepend("▁") + Replace(" ", "▁") normalizer, "a b" merges,
                 Replace/ByteFallback/Fuse/Strip decoder, "<s> $A" template.
  sp_meta.json   the same model with the Metaspace pre-tokenizer form
                 (prepend_scheme first, split) and [a, b] merges.
  bl.json        byte-level BPE trained here on Tiny Shakespeare with a
                 Llama-3 style Split regex ((?i:'s|...), \\s+(?!\\S)) before
                 ByteLevel, ignore_merges, <|begin_of_text|> template.
  <name>.jsonl   expected ids for ~350 strings per tokenizer (tok512, gpt2,
                 sp, sp_meta, bl): a header line {"tokenizer", "bos", "eos",
                 "vocab"}, then {"text", "ids", "decoded", "roundtrip"}.
  variants.jsonl small hand-built tokenizer.json files, one per line, each
                 with cases that exercise one pipeline feature (Split
                 behaviours, Metaspace schemes, unk/fuse, added-token flags,
                 normalizers, decoders, ...).

Expected ids come from Hugging Face `tokenizers` (encode without special
tokens; decode keeping them), except tok512.bin (llama2.c), whose reference
is a line-by-line Python port of run.c's encode/decode below.

GPT-2 is built from the shared encoder.json + vocab.bpe (not copied into the
repo); its tokenizer.json goes to the cache dir for bench/tokenizer_bench.py.

Usage: python3 scripts/make_tokenizer_reference.py   (pip install tokenizers)
"""
import json
import os
import random
import struct
import sys

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("STRATA_SHARED") or os.path.join(ROOT, "..", "shared")
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
CACHE = os.environ.get("STRATA_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "strata")

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def shared(rel):
    return os.path.join(SHARED, rel)


# ---------------------------------------------------------------- strings

EDGE = [
    "", " ", "  ", "\t", "\n", "\n\n", "\r\n", " \n ", "a", "ab",
    "Hello, world!", "hello world", "Hello World", "HELLO WORLD", "MiXeD cAsE",
    # contractions (the (?i:...) group and GPT-2's case-sensitive list)
    "don't", "DON'T", "Don'T", "I'm", "I'M", "you're", "YOU'RE", "they've",
    "THEY'VE", "we'll", "WE'LL", "he'd", "HE'D", "It's", "IT'S", "it'S",
    "'s", "'S", "''", "'", "rock'n'roll", "o'er the hill", "'tis", "'Tis true",
    "it'\u017f", "I'\u212a",
    # whitespace runs and \s+(?!\S)
    "a  b", "a   b", "a\t\tb", "a \t b", "trailing   ", "   leading",
    "x \n\n y", "line1\nline2\n", "\n\n\nthree", "tab\there", " \t\n\r ",
    "a" + " " * 20 + "b", "\u00a0nbsp", "word\u00a0word", "nel\u0085nel",
    "line\u2028sep", "ideo\u3000space", "zero\u200bwidth", "\x0b\x0c",
    # where Oniguruma's \s (with U+0085) and PCRE2's differ, and near misses
    "a \x85b", "x\x85 y", "\x85\x85", "a \xa0b", "a \u2028b", "a \x1cb",
    "a \u180eb", "a \u200bb", "a \ufeffb",
    # digits
    "0", "12", "123", "1234", "12345678901234567890", "3.14159", "1,000,000",
    "2024-01-01", "a1b2c3", "\u0661\u0662\u0663", "\u00bd \u2153", "\u216b",
    # punctuation
    "...", "?!?!", "(a) [b] {c}", "--", "\u2014 dash", "\u201cquoted\u201d",
    "\u00abguillemets\u00bb", "#$%&*+/=@^_`|~", "a.b.c", "e-mail: foo@bar.com",
    "https://example.com/path?q=1&r=2", "!!!hello!!!", "end.", ".start",
    # accented Latin and other scripts
    "caf\u00e9", "na\u00efve", "\u00c5ngstr\u00f6m", "Stra\u00dfe", "\u00c6\u00d8\u00c5",
    "cr\u00e8me br\u00fbl\u00e9e", "e\u0301", "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac",
    "\u0420\u0443\u0441\u0441\u043a\u0438\u0439 \u0442\u0435\u043a\u0441\u0442",
    "\u05e2\u05d1\u05e8\u05d9\u05ea", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629",
    "\u0939\u093f\u0928\u094d\u0926\u0940",
    # CJK and emoji
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8", "\u4e2d\u6587\u5b57\u7b26",
    "\ud55c\uad6d\uc5b4", "\uff46\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48",
    "\U0001F44D", "\U0001F44D\U0001F3FD", "\U0001F468\u200d\U0001F469\u200d\U0001F467",
    "\U0001F1EB\U0001F1F7", "I \u2764\ufe0f it", "\U0001F600\U0001F603\U0001F604",
    "mixed \u65e5\u672c and English \U0001F600!",
    # special tokens as text, of every tokenizer here
    "<s>", "</s>", "<unk>", "<s>hello</s>", "hello <s> world", " <s>", "<s> ",
    "<s><s>", "<|endoftext|>", "a<|endoftext|>b", "<|endoftext|> <|endoftext|>",
    "<|begin_of_text|>Hi<|end_of_text|>", "<|begin_of_text|> spaced",
    "<s", "</s", "<|endoftext", "<0x41>", "<<s>>", "x</s>y",
    # long words (the heap merge path) and repetition
    "a" * 200, "ab" * 60, " " * 50, "\n" * 20, "the " * 40, "Antidisestablishmentarianism",
    "supercalifragilisticexpialidocious" * 3,
    # code
    "def f(x):\n    return x * 2\n", "int main() { return 0; }",
    "if (a<b && c>d) { x += 1; }",
    # Shakespeare-ish
    "KING RICHARD III:", "First Citizen:\nBefore we proceed any further, hear me speak.",
    "xyzzy qwghlm", "To be, or not to be: that is the question.",
]


def shakespeare_samples(text, n, seed):
    rng = random.Random(seed)
    out = []
    lines = [l for l in text.split("\n") if l.strip()]
    for _ in range(n // 2):
        out.append(rng.choice(lines))
    for _ in range(n - n // 2):
        a = rng.randrange(len(text) - 300)
        out.append(text[a:a + rng.randint(1, 160)])
    return out


def test_strings():
    text = open(shared("data/tinyshakespeare/input.txt"), encoding="utf-8").read()
    return EDGE + shakespeare_samples(text, 200, 1234)


# ------------------------------------------------- llama2.c (port of run.c)

def load_llama2c(path):
    d = open(path, "rb").read()
    o, vocab, scores = 4, [], []
    while o < len(d):
        score, n = struct.unpack_from("<fi", d, o)
        o += 8
        vocab.append(d[o:o + n])
        scores.append(score)
        o += n
    return vocab, scores


def llama2c_encode(vocab, scores, text):
    """run.c encode(t, text, bos=0, eos=0), on the UTF-8 bytes of text."""
    lookup = {}
    for i, s in enumerate(vocab):
        lookup.setdefault(s, i)
    tokens = []
    if text:
        tokens.append(lookup.get(b" ", -1))  # add_dummy_prefix
    data = text + b"\0"
    buf = b""
    for i in range(len(text)):
        c = data[i]
        if (c & 0xC0) != 0x80:
            buf = b""
        buf += bytes([c])
        if (data[i + 1] & 0xC0) == 0x80 and len(buf) < 4:
            continue
        tid = lookup.get(buf, -1)
        if tid != -1:
            tokens.append(tid)
        else:
            tokens.extend(b + 3 for b in buf)  # byte fallback
        buf = b""
    while True:
        best_score, best_id, best_idx = -1e10, -1, -1
        for i in range(len(tokens) - 1):
            tid = lookup.get(vocab[tokens[i]] + vocab[tokens[i + 1]], -1)
            if tid != -1 and scores[tid] > best_score:
                best_score, best_id, best_idx = scores[tid], tid, i
        if best_idx == -1:
            break
        tokens[best_idx] = best_id
        del tokens[best_idx + 1]
    return tokens


def llama2c_decode(vocab, ids):
    """run.c decode per piece: the leading space after BOS is dropped (and,
    as in SentencePiece, at the start), <0xXX> is a raw byte; BOS/EOS print
    nothing."""
    out, prev = b"", 1
    for tid in ids:
        if tid in (1, 2):
            prev = tid
            continue
        piece = vocab[tid]
        if prev == 1 and piece[:1] == b" ":
            piece = piece[1:]
        if piece[:3] == b"<0x" and len(piece) >= 4 and chr(piece[3]) in "0123456789abcdefABCDEF":
            hexd = chr(piece[3])
            if len(piece) >= 5 and chr(piece[4]) in "0123456789abcdefABCDEF":
                hexd += chr(piece[4])
            piece = bytes([int(hexd, 16)])
        out += piece
        prev = tid
    return out


# -------------------------------------------------------- tokenizer.json

def tok_json(model, normalizer=None, pre=None, decoder=None, post=None, added=()):
    return {"version": "1.0", "truncation": None, "padding": None,
            "added_tokens": list(added), "normalizer": normalizer,
            "pre_tokenizer": pre, "post_processor": post, "decoder": decoder,
            "model": model}


def bpe_model(vocab, merges, unk=None, fuse_unk=False, byte_fallback=False,
              ignore_merges=False):
    return {"type": "BPE", "dropout": None, "unk_token": unk,
            "continuing_subword_prefix": None, "end_of_word_suffix": None,
            "fuse_unk": fuse_unk, "byte_fallback": byte_fallback,
            "ignore_merges": ignore_merges, "vocab": vocab, "merges": merges}


def added(tid, content, special=True, normalized=False, lstrip=False,
          rstrip=False, single_word=False):
    return {"id": tid, "content": content, "single_word": single_word,
            "lstrip": lstrip, "rstrip": rstrip, "normalized": normalized,
            "special": special}


def template(tok, tid):
    return {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": tok, "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": tok, "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {tok: {"id": tok, "ids": [tid], "tokens": [tok]}}}


METASPACE = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True}
LLAMA_DECODER = {"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
    {"type": "ByteFallback"}, {"type": "Fuse"},
    {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
BYTELEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}


def train_sp(lines):
    """SentencePiece-style BPE: train on Metaspace words, then lay the vocab
    out like Llama's: <unk> <s> </s>, the 256 byte tokens, the rest."""
    t = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=True)
    tr = trainers.BpeTrainer(vocab_size=2000 - 256, special_tokens=["<unk>", "<s>", "</s>"],
                             show_progress=False)
    t.train_from_iterator(lines, tr)
    m = json.loads(t.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for tok, _ in sorted(m["vocab"].items(), key=lambda kv: kv[1]):
        if tok not in vocab:
            vocab[tok] = len(vocab)
    return vocab, [list(p) for p in m["merges"]]


def sp_tokenizers(vocab, merges):
    specials = [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")]
    legacy = tok_json(
        bpe_model(vocab, [" ".join(p) for p in merges], unk="<unk>", fuse_unk=True, byte_fallback=True),
        normalizer={"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        decoder=LLAMA_DECODER, post=template("<s>", 1), added=specials)
    meta = tok_json(
        bpe_model(vocab, merges, unk="<unk>", fuse_unk=True, byte_fallback=True),
        pre=METASPACE, decoder=LLAMA_DECODER, post=template("<s>", 1), added=specials)
    return legacy, meta


def train_bl(lines):
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tr = trainers.BpeTrainer(vocab_size=2000, special_tokens=["<|begin_of_text|>", "<|end_of_text|>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    t.train_from_iterator(lines, tr)
    d = json.loads(t.to_str())
    m = d["model"]
    return tok_json(
        bpe_model(m["vocab"], m["merges"], ignore_merges=True),
        pre=d["pre_tokenizer"], decoder={**BYTELEVEL},
        post={"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            template("<|begin_of_text|>", m["vocab"]["<|begin_of_text|>"])]},
        added=[added(m["vocab"]["<|begin_of_text|>"], "<|begin_of_text|>"),
               added(m["vocab"]["<|end_of_text|>"], "<|end_of_text|>")])


def gpt2_tokenizer():
    enc, merges = shared("tokenizers/gpt2/encoder.json"), shared("tokenizers/gpt2/vocab.bpe")
    t = Tokenizer(models.BPE.from_file(enc, merges))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    t.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    return t


def cases(tok, strings):
    out = []
    for s in strings:
        ids = tok.encode(s, add_special_tokens=False).ids
        dec = tok.decode(ids, skip_special_tokens=False)
        out.append({"text": s, "ids": ids, "decoded": dec, "roundtrip": dec == s})
    return out


def write_jsonl(name, header, rows):
    path = os.path.join(OUT, name)
    with open(path + ".tmp", "w", encoding="ascii") as f:
        for r in [header] + rows:
            f.write(json.dumps(r, ensure_ascii=True) + "\n")
    os.replace(path + ".tmp", path)
    print("wrote %s (%d cases)" % (path, len(rows)))


def write_json(name, obj):
    path = os.path.join(OUT, name)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
    os.replace(path + ".tmp", path)
    print("wrote", path)


def hf_header(rel, tok, eos_name, check_bos_strings):
    """bos: the template's first token, which add_special_tokens=True adds
    (checked here to be only a prefix); eos by name (our convention)."""
    plain = tok.encode("hello", add_special_tokens=False).ids
    full = tok.encode("hello", add_special_tokens=True).ids
    bos = full[0] if len(full) == len(plain) + 1 else -1
    for s in check_bos_strings:
        p = tok.encode(s, add_special_tokens=False).ids
        f = tok.encode(s, add_special_tokens=True).ids
        assert f == ([bos] if bos >= 0 else []) + p, s
    return {"tokenizer": rel, "bos": bos, "eos": tok.token_to_id(eos_name),
            "vocab": tok.get_vocab_size(with_added_tokens=True)}


# ---------------------------------------------------------------- variants

def char_vocab(chars, merges=(), first=()):
    v = {}
    for t in list(first) + list(chars):
        v.setdefault(t, len(v))
    for a, b in merges:
        v.setdefault(a + b, len(v))
    return v


ASCII = [chr(c) for c in range(32, 127)]
LOWER = list("abcdefghijklmnopqrstuvwxyz")
MS = "\u2581"


def bl_vocab(merges=()):
    alphabet = [chr(c) for c in sorted(ord(x) for x in pre_tokenizers.ByteLevel.alphabet())]
    return char_vocab(alphabet, merges)


def variants():
    V = []
    split_texts = ["hello world", "a, b. c!", "a,,b", ",start", "end,", "  two  spaces ",
                   "", "x", ",,,", "a , b", "a,b,c", " , "]
    ascii_merges = [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), ("w", "o"), ("wo", "r")]
    vocab = char_vocab(ASCII, ascii_merges)
    for beh in ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"]:
        for invert in [False, True]:
            for pat in [{"String": ","}, {"Regex": r"\s+|,"}]:
                V.append(("split_%s_%s_%s" % (beh, "inv" if invert else "fwd", list(pat)[0]),
                          tok_json(bpe_model(vocab, ascii_merges),
                                   pre={"type": "Split", "pattern": pat, "behavior": beh, "invert": invert}),
                          split_texts))
    V.append(("split_empty_string",
              tok_json(bpe_model(vocab, ascii_merges),
                       pre={"type": "Split", "pattern": {"String": ""}, "behavior": "Removed", "invert": False}),
              ["hello", "", "a b"]))
    V.append(("normalizer_replace_empty_matches",
              tok_json(bpe_model(char_vocab(ASCII), []), normalizer={"type": "Sequence", "normalizers": [
                  {"type": "Replace", "pattern": {"String": ""}, "content": "_"},
                  {"type": "Replace", "pattern": {"Regex": "b*"}, "content": "-"}]}),
              ["abc", "abbxc", "", "bb"]))
    # empty matches: onig's find_iter rules decide where text is cut
    V.append(("split_empty_matches",
              tok_json(bpe_model(vocab, ascii_merges),
                       pre={"type": "Split", "pattern": {"Regex": "l*"}, "behavior": "Isolated", "invert": False}),
              ["hello", "ll", "l", "", "xlx", "hello world"]))
    V.append(("split_contiguous_empty",
              tok_json(bpe_model(vocab, ascii_merges),
                       pre={"type": "Split", "pattern": {"Regex": "l*"}, "behavior": "Contiguous", "invert": False}),
              ["hello", "ll", "xlx", "hello world"]))

    # Metaspace: prepend schemes x split, and what a leading special token does
    ms_merges = [(MS, "h"), ("e", "l"), (MS + "h", "el"), ("l", "o"), (MS, MS)]
    ms_vocab = char_vocab(ASCII + [MS], ms_merges, first=["<unk>", "<s>", "</s>"])
    ms_texts = ["hello", " hello", "hello world", "  hello  world ", "<s>hello", "<s> hello",
                "a<s>b", "", " ", "hel lo", "\u00e9t\u00e9", "x y z"]
    for scheme in ["always", "first", "never"]:
        for split in [True, False]:
            V.append(("metaspace_%s_%s" % (scheme, "split" if split else "nosplit"),
                      tok_json(bpe_model(ms_vocab, [list(p) for p in ms_merges], unk="<unk>"),
                               pre={"type": "Metaspace", "replacement": MS, "prepend_scheme": scheme,
                                    "split": split},
                               decoder={"type": "Metaspace", "replacement": MS, "prepend_scheme": scheme,
                                        "split": split},
                               added=[added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")]),
                      ms_texts))

    # unknown characters: <unk>, fused or not; byte fallback with holes
    unk_texts = ["abc", "a\u00e9b", "\u00e9\u00e9\u00e9", "a\u00e9\u00e9b\u00e9", "\u65e5\u672c", "xyz", ""]
    small = char_vocab(LOWER, [("a", "b")], first=["<unk>"])
    for fuse in [False, True]:
        V.append(("unk_fuse_%s" % fuse, tok_json(bpe_model(small, [["a", "b"]], unk="<unk>", fuse_unk=fuse),
                                                  decoder={"type": "Fuse"}), unk_texts))
    V.append(("unk_none", tok_json(bpe_model(small, [["a", "b"]])), unk_texts))
    holes = char_vocab(LOWER, [("a", "b")], first=["<unk>"] + ["<0x%02X>" % b for b in range(0xC3, 0xC4)])
    for fuse in [False, True]:
        V.append(("byte_fallback_holes_fuse_%s" % fuse,
                  tok_json(bpe_model(holes, [["a", "b"]], unk="<unk>", fuse_unk=fuse, byte_fallback=True),
                           decoder={"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]}),
                  unk_texts + ["\u00e9x\u65e5\u00e9", "x\u65e5\u00e9\u65e5"]))

    # added tokens: flags, normalized ones matched after the normalizer
    at_vocab = char_vocab(ASCII + [MS], [("a", "b")])
    n = len(at_vocab)
    at = [added(n, "<L>", lstrip=True), added(n + 1, "<R>", rstrip=True),
          added(n + 2, "<W>", single_word=True), added(n + 3, "<LR>", lstrip=True, rstrip=True),
          added(n + 4, "new word", special=False, normalized=True),
          added(n + 5, "raw word", special=False, normalized=False),
          added(n + 6, "<R>x", special=True)]
    at_texts = ["a <L> b", "a  <L>", "<L>", "a <R> b", "<R>   b", "x<W>y", "x <W> y", "<W>", "a<W>",
                "a <LR>  b", "a new word b", "anew wordb", "a raw word b", "<R>x", "<R>xy", "", "  <L>  <R>  ",
                "\u0436<W>", "<W>\u0436", "\u00e9 <W> \u00e9", "1<W>", "\u00bd<W>", "_<W>", "-<W>-",
                "\u0301<W>", "\u65e5<W>", "\u200d<W>", "<W>\u203f", "a\u3000<L>"]
    V.append(("added_flags_plain", tok_json(bpe_model(at_vocab, [["a", "b"]]), added=at), at_texts))
    V.append(("added_flags_normalized",
              tok_json(bpe_model(at_vocab, [["a", "b"]]),
                       normalizer={"type": "Sequence", "normalizers": [
                           {"type": "Prepend", "prepend": MS},
                           {"type": "Replace", "pattern": {"String": " "}, "content": MS}]},
                       added=at), at_texts))

    # byte level: prefix space, no regex, and ByteLevel before another step
    G = "\u0120"
    blm = [(G, "t"), ("h", "e"), (G + "t", "he"), ("l", "l"), ("e", "ll")]
    blv = bl_vocab(blm)
    bl_texts = ["the", " the", "the the", "hello  there", "\u00e9t\u00e9", "\U0001F600 ok", "", " ", "a\nb"]
    for aps in [False, True]:
        for rx in [False, True]:
            V.append(("bytelevel_prefix_%s_regex_%s" % (aps, rx),
                      tok_json(bpe_model(blv, [list(p) for p in blm]),
                               pre={"type": "ByteLevel", "add_prefix_space": aps, "trim_offsets": True,
                                    "use_regex": rx},
                               decoder={**BYTELEVEL}), bl_texts))
    V.append(("bytelevel_then_split",
              tok_json(bpe_model(blv, [list(p) for p in blm]),
                       pre={"type": "Sequence", "pretokenizers": [
                           {**BYTELEVEL},
                           {"type": "Split", "pattern": {"String": G}, "behavior": "MergedWithNext",
                            "invert": False}]},
                       decoder={**BYTELEVEL}), bl_texts))
    V.append(("bytelevel_ignore_merges",
              tok_json(bpe_model(blv, [list(p) for p in blm], ignore_merges=True),
                       pre={**BYTELEVEL, "use_regex": True}, decoder={**BYTELEVEL}), bl_texts))
    V.append(("bytelevel_decode_invalid", tok_json(bpe_model(blv, []), decoder={**BYTELEVEL}), []))

    # other pre-tokenizers and normalizers
    V.append(("digits_individual", tok_json(bpe_model(vocab, ascii_merges),
                                            pre={"type": "Digits", "individual_digits": True}),
              ["a123b", "1", "12 34", "x\u0661\u0662y", "\u00bd"]))
    V.append(("digits_contiguous", tok_json(bpe_model(vocab, ascii_merges),
                                            pre={"type": "Digits", "individual_digits": False}),
              ["a123b", "1", "12 34", "x\u0661\u0662y"]))
    V.append(("whitespace", tok_json(bpe_model(vocab, ascii_merges), pre={"type": "Whitespace"}),
              ["hello, world!", "  a  b ", "it's", "a_b-c"]))
    V.append(("whitespace_split", tok_json(bpe_model(vocab, ascii_merges), pre={"type": "WhitespaceSplit"}),
              ["hello, world!", "  a  b ", "a\tb\nc"]))
    V.append(("normalizer_strip_replace_regex",
              tok_json(bpe_model(vocab, ascii_merges),
                       normalizer={"type": "Sequence", "normalizers": [
                           {"type": "Strip", "strip_left": True, "strip_right": True},
                           {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]}),
              ["  hello   world  ", "a    b", "\t x \n", ""]))
    V.append(("normalizer_nfc_composed",
              tok_json(bpe_model(char_vocab(ASCII + ["\u00e9"]), []), normalizer={"type": "NFC"}),
              ["caf\u00e9", "plain"]))

    # merges given as pairs whose tokens contain spaces
    sp_merges = [[" ", "b"], ["a", " b"], ["a b", " "]]
    V.append(("pair_merges_with_spaces",
              tok_json(bpe_model(char_vocab(ASCII, [(" ", "b"), ("a", " b"), ("a b", " ")]), sp_merges)),
              ["a b", "a b c", "ba b a b ", " b"]))
    # ignore_merges on a plain vocabulary
    V.append(("ignore_merges_plain",
              tok_json(bpe_model(char_vocab(LOWER, [("a", "b"), ("c", "d")], first=["abcd", "bc"]),
                                 [["a", "b"], ["c", "d"]], ignore_merges=True),
                       pre={"type": "WhitespaceSplit"}),
              ["abcd", "abcd abc bc", "bcd"]))

    # decoders
    dec_vocab = char_vocab(ASCII + [MS], [(MS, MS), (MS, "a")])
    dec_merges = [[MS, MS], [MS, "a"]]
    dec_texts = [MS + MS + "a" + MS + "b", "a" + MS + "b" + MS + MS, MS + "x", "xx" + MS + MS]
    for name, d in [
        ("strip_per_token", {"type": "Strip", "content": MS, "start": 2, "stop": 0}),
        ("replace_regex", {"type": "Replace", "pattern": {"Regex": MS + "+"}, "content": "_"}),
        ("metaspace_never", {"type": "Metaspace", "replacement": MS, "prepend_scheme": "never", "split": True}),
        ("metaspace_always", {"type": "Metaspace", "replacement": MS, "prepend_scheme": "always", "split": True}),
        ("none", None),
        ("fuse_then_strip", {"type": "Sequence", "decoders": [
            {"type": "Fuse"}, {"type": "Strip", "content": MS, "start": 1, "stop": 2}]}),
    ]:
        V.append(("decoder_" + name, tok_json(bpe_model(dec_vocab, dec_merges), decoder=d), dec_texts))
    return V


def variant_rows():
    rows = []
    for name, obj, texts in variants():
        tok = Tokenizer.from_str(json.dumps(obj))
        cs = cases(tok, texts)
        if name == "bytelevel_decode_invalid":  # ids only: invalid UTF-8 bytes
            v = obj["model"]["vocab"]
            for ids in [[v["\u00c3"]], [v["\u00c3"], v["\u00a9"]], [v["\u00c3"], v["a"], v["\u00a9"]],
                        [v["\u00f0"], v["\u0141"], v["a"]], [v["\u00ed"], v["\u0142"], v["\u0122"]]]:
                cs.append({"text": None, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False),
                           "roundtrip": False})
        if name.startswith("decoder_byte") or name == "byte_fallback_holes_fuse_True":
            v = obj["model"]["vocab"]
            cs.append({"text": None, "ids": [v["<0xC3>"], v["a"], v["<0xC3>"], v["<0xC3>"]],
                       "decoded": tok.decode([v["<0xC3>"], v["a"], v["<0xC3>"], v["<0xC3>"]],
                                             skip_special_tokens=False), "roundtrip": False})
        rows.append({"name": name, "tokenizer": obj, "cases": cs})
    return rows


def main():
    os.makedirs(OUT, exist_ok=True)
    strings = test_strings()
    text = open(shared("data/tinyshakespeare/input.txt"), encoding="utf-8").read()
    lines = [l for l in text.split("\n")]

    # llama2.c tok512.bin
    vocab, scores = load_llama2c(shared("models/stories260K/tok512.bin"))
    rows = []
    for s in strings:
        b = s.encode("utf-8")
        ids = llama2c_encode(vocab, scores, b)
        dec = llama2c_decode(vocab, ids).decode("utf-8", errors="strict")
        rows.append({"text": s, "ids": ids, "decoded": dec, "roundtrip": dec == s})
    write_jsonl("tok512.jsonl", {"tokenizer": "shared:models/stories260K/tok512.bin", "bos": 1, "eos": 2,
                                 "vocab": len(vocab)}, rows)

    # GPT-2 from the shared files; its tokenizer.json goes to the cache only
    g = gpt2_tokenizer()
    os.makedirs(CACHE, exist_ok=True)
    g.save(os.path.join(CACHE, "gpt2-tokenizer.json"))
    write_jsonl("gpt2.jsonl", hf_header("shared:tokenizers/gpt2", g, "<|endoftext|>", strings[:50]),
                cases(g, strings))

    # our trained tokenizers, committed
    sv, sm = train_sp(lines)
    legacy, meta = sp_tokenizers(sv, sm)
    bl = train_bl(lines)
    for name, obj, eos in [("sp", legacy, "</s>"), ("sp_meta", meta, "</s>"), ("bl", bl, "<|end_of_text|>")]:
        write_json(name + ".json", obj)
        tok = Tokenizer.from_file(os.path.join(OUT, name + ".json"))
        write_jsonl(name + ".jsonl", hf_header("fixture:%s.json" % name, tok, eos, strings[:50]),
                    cases(tok, strings))

    path = os.path.join(OUT, "variants.jsonl")
    rows = variant_rows()
    with open(path + ".tmp", "w", encoding="ascii") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=True) + "\n")
    os.replace(path + ".tmp", path)
    print("wrote %s (%d tokenizers, %d cases)" % (path, len(rows), sum(len(r["cases"]) for r in rows)))


if __name__ == "__main__":
    sys.exit(main())
