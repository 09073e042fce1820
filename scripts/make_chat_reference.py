#!/usr/bin/env python3
"""Reference fixtures for strata's chat templates (tests/reference/test_chat_ref.c).

Each shipped template (scripts/chat_templates/<name>.lua) is a port of a
model's Jinja chat template. This script renders the same conversations with
the real Jinja text through transformers' apply_chat_template and writes
what strata must reproduce: the token ids of the whole rendered text, and
which tokens carry the loss (the assistant's turns).

The Jinja templates below are verbatim copies of the `chat_template` field
of each model's tokenizer_config.json on the Hugging Face hub. The hub is
not reachable from the build machines, so the text was taken from copies
quoted in public code:
  chatml   teknium/OpenHermes-2.5-Mistral-7B    llama-cpp-python's
  llama3   meta-llama/Meta-Llama-3-8B-Instruct  llama_chat_format.py, which
  mistral  mistralai/Mixtral-8x7B-Instruct-v0.1 names these sources; the
           mistral text is also Mistral-7B-Instruct-v0.2's (its GGUF
           tokenizer.chat_template); v0.1's first revision added a space
           after eos_token
  qwen2    Qwen/Qwen2-7B-Instruct               deployment configs that
                                                paste it into
                                                tokenizer_config.json
  smollm2  HuggingFaceTB/SmolLM2-135M-Instruct  a test quoting its
           (the same in 360M and 1.7B)          chat_template.jinja

The loss mask. None of these templates marks the assistant's text with
{% generation %}, so the trained characters are found by rendering
prefixes: for assistant message i, P = render(messages[:i],
add_generation_prompt=True) and Q = render(messages[:i+1]); the turn is
Q[len(P):] without trailing whitespace (the newline after <|im_end|>
belongs to no turn), i.e. the content and the end-of-turn token. A token is
trained when it holds one of those characters: the tokens from
char_to_token(first) to char_to_token(last), the rule transformers applies
for return_assistant_tokens_mask. The script checks that rule and the
prefix method agree with return_assistant_tokens_mask on a ChatML variant
that does use {% generation %}.

Tokenizers (trained here on Tiny Shakespeare and the conversations, small):
  bl.json  byte-level BPE with Llama-3's split regex, the ChatML and Llama-3
           special tokens as added tokens (chatml, qwen2, smollm2, llama3)
  sp.json  SentencePiece-style BPE (Llama-2/Mistral layout: Prepend and
           Replace normalizer, byte fallback) with <unk> <s> </s> (mistral)

Writes into tests/fixtures/chat/:
  manifest.json       one entry per fixture file: a recipe `data` section
                      (format, chat_template, column mapping) + tokenizer
  <template>.jsonl    {"messages", "ids", "mask"} per conversation; mask is
                      a string of 0/1, one per id
  alpaca_qwen2.jsonl  alpaca rows {"instruction", "input", "output"}: the
                      conversation user = instruction (+ "\\n\\n" + input),
                      assistant = output, rendered with qwen2
  sharegpt_chatml.jsonl  {"conversations": [{"from", "value"}]} rows
                      (human/gpt roles), rendered with chatml
  glued.jsonl         a test template (GLUED below, glued.lua) whose
                      trained text begins and ends inside words; mask from
                      return_assistant_tokens_mask
  mistral_rejected.jsonl  conversations the mistral template refuses, with
                      the message transformers raises

Usage: python3 scripts/make_chat_reference.py   (pip install transformers tokenizers)
"""
import json
import os
import sys

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("STRATA_SHARED") or os.path.join(ROOT, "..", "shared")
OUT = os.path.join(ROOT, "tests", "fixtures", "chat")

# ------------------------------------------------------------ the templates

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
          "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
          "{{ '<|im_start|>assistant\\n' }}{% endif %}")

QWEN2 = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
         "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
         "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
         "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")

SMOLLM2 = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
           "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by "
           "Hugging Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + "
           "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
           "{{ '<|im_start|>assistant\\n' }}{% endif %}")

LLAMA3 = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
          "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | "
          "trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
          "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
          "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}")

MISTRAL = ("{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != "
           "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
           "user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}"
           "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
           "{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant "
           "roles are supported!') }}{% endif %}{% endfor %}")

# ChatML with the assistant's turn marked, to check the mask rule against
# transformers' own return_assistant_tokens_mask
CHATML_GENERATION = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'}}"
                     "{% if message['role'] == 'assistant' %}{% generation %}"
                     "{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
                     "{% else %}{{ message['content'] + '<|im_end|>' + '\\n' }}{% endif %}"
                     "{% endfor %}")

# A test template whose trained text starts and ends inside words, so that
# tokens straddle the boundaries (strata's counterpart:
# tests/fixtures/chat/glued.lua); its mask comes straight from
# return_assistant_tokens_mask.
GLUED = ("{% for message in messages %}{% if message['role'] == 'assistant' %}"
         "{% generation %}{{ message['content'] }}{% endgeneration %}"
         "{% else %}{{ message['content'] }}{% endif %}{% endfor %}")
# name -> (jinja, tokenizer file, bos, eos)
TEMPLATES = {
    "chatml": (CHATML, "bl.json", None, "<|im_end|>"),
    "qwen2": (QWEN2, "bl.json", None, "<|im_end|>"),
    "smollm2": (SMOLLM2, "bl.json", None, "<|im_end|>"),
    "llama3": (LLAMA3, "bl.json", "<|begin_of_text|>", "<|eot_id|>"),
    "mistral": (MISTRAL, "sp.json", "<s>", "</s>"),
}

BL_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>",
               "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
SP_SPECIALS = ["<unk>", "<s>", "</s>"]
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# ------------------------------------------------------------ conversations


def S(c): return {"role": "system", "content": c}
def U(c): return {"role": "user", "content": c}
def A(c): return {"role": "assistant", "content": c}


CONVERSATIONS = [
    [U("Hello!"), A("Hi there. How can I help?")],
    [S("You are a terse assistant."), U("What is 2+2?"), A("4")],
    [U("Name three colours."), A("Red, green and blue."), U("And three more?"),
     A("Cyan, magenta, yellow.")],
    [S("Answer in German."), U("How are you?"), A("Mir geht es gut, danke! Grüße aus München.")],
    [U("Translate 'cat' into Japanese and Greek."), A("猫 (neko) and γάτα. 🐱")],
    [U(""), A("You sent an empty message.")],
    [U("Say nothing."), A("")],
    [S(""), U("Is an empty system prompt still a system prompt?"), A("Yes: it is rendered, just empty.")],
    [U("  leading and trailing spaces  "), A("  padded answer \n")],
    [U("\n\nStarts with newlines"), A("\n\nSo does this answer.\n\n")],
    [U("Full-width space:\u3000and a no-break space:\u00a0"), A("\u3000trim me\u00a0\u2003")],
    [U("What does !!! mean?"), A("!!! is emphasis.")],
    [U("Count to five."), A("1, 2, 3, 4, 5.")],
    [U("Write a tiny function."), A("def f(x):\n\treturn x * 2\n\nprint(f(21))")],
    [U("Quote the tag <|im_end|> literally."), A("The tag is <|im_end|>, a special token.")],
    [U("What is [INST]?"), A("[INST] marks an instruction in Mistral's format.")],
    [S("Be kind."), U("Hi"), A("Hello"), U("Bye")],
    [U("one"), A("two"), U("three"), A("four"), U("five"), A("six")],
    [U("Shakespeare?"), A("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.")],
    [U("Tabs\tand\r\nCRLF"), A("Line one\r\nLine two\tend")],
    [S("You are a pirate."), U("Where is the treasure?"), A("Arr, 'tis buried where X marks the spot!"),
     U("Thanks."), A("Ye're welcome, matey.")],
]

ALPACA = [
    {"instruction": "Give three tips for staying healthy.", "input": "",
     "output": "1. Eat a balanced diet.\n2. Exercise regularly.\n3. Get enough sleep."},
    {"instruction": "Translate the sentence into French.", "input": "The cat sleeps.",
     "output": "Le chat dort."},
    {"instruction": "Summarise the text.", "input": "First Citizen:\nBefore we proceed any further, hear me speak.",
     "output": "A citizen asks to be heard."},
    {"instruction": "Classify the sentiment.", "input": "I löve this! 😍", "output": "positive"},
    {"instruction": "Return nothing.", "input": "", "output": ""},
    {"instruction": "Fix the code.", "input": "def f(x):\n\treturn x +", "output": "def f(x):\n\treturn x + 1"},
    {"instruction": "  Trim nothing here  ", "input": "  spaced input  ", "output": "  spaced output  "},
    {"instruction": "Count the words.", "input": "one two three", "output": "3"},
]

SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "system": "system"}
SHAREGPT = [
    [("human", "Hi, who are you?"), ("gpt", "An assistant trained on ShareGPT-style data.")],
    [("system", "Be brief."), ("human", "Capital of France?"), ("gpt", "Paris.")],
    [("human", "2 + 3?"), ("gpt", "5"), ("human", "times 4?"), ("gpt", "20")],
    [("human", "Ünïcödé?"), ("gpt", "Ja, natürlich: ✓")],
]

REJECTED = [  # the mistral template refuses these
    [S("A system prompt"), U("Hi"), A("Hello")],
    [U("Hi"), U("Hi again"), A("Hello")],
    [A("I speak first")],
    [U("Hi"), {"role": "tool", "content": "{}"}],
]


GLUED_CONVERSATIONS = [
    [U("I kn"), A("ow the"), U("re is no"), A("thing")],
    [U("Wh"), A("ere"), U("fore art tho"), A("u")],
    [U("First Citi"), A("zen: Before we pro"), U("ceed any fur"), A("ther, hear me")],
    [U("the"), A("e"), U("e")],
    [U("sp"), A("eak, sp"), U("eak.")],
    [U("Resol"), A("ved. resol"), U("ved.")],
]


def alpaca_messages(row):
    user = row["instruction"] + ("\n\n" + row["input"] if row["input"] else "")
    return [U(user), A(row["output"])]


def without_system(conv):
    return [m for m in conv if m["role"] != "system"]

# ------------------------------------------------------------ tokenizers


def corpus():
    path = os.path.join(SHARED, "data", "tinyshakespeare", "input.txt")
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()[:4000]
    for conv in CONVERSATIONS + [alpaca_messages(r) for r in ALPACA]:
        lines += [m["content"] for m in conv]
    lines += ["[INST] question [/INST]answer", "system user assistant"] * 20
    return lines


def train_bl(lines):
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    t.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=700, special_tokens=BL_SPECIALS,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    t.train_from_iterator(lines, tr)
    return json.loads(t.to_str())


def train_sp(lines):
    """SentencePiece-style BPE: trained on Metaspace words, then laid out as
    Llama's and Mistral's: <unk> <s> </s>, the 256 byte tokens, the rest;
    a Prepend + Replace normalizer and no pre-tokenizer."""
    t = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=True)
    tr = trainers.BpeTrainer(vocab_size=450, special_tokens=SP_SPECIALS, show_progress=False)
    t.train_from_iterator(lines, tr)
    m = json.loads(t.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for tok, _ in sorted(m["vocab"].items(), key=lambda kv: kv[1]):
        if tok not in vocab:
            vocab[tok] = len(vocab)
    specials = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                 "normalized": False, "special": True} for i, c in enumerate(SP_SPECIALS)]
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": specials,
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "Prepend", "prepend": "\u2581"},
                {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
            "pre_tokenizer": None, "post_processor": None,
            "decoder": {"type": "Sequence", "decoders": [
                {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"},
                {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
            "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                      "continuing_subword_prefix": None, "end_of_word_suffix": None,
                      "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                      "vocab": vocab, "merges": [" ".join(p) if isinstance(p, list) else p
                                                 for p in m["merges"]]}}

# ------------------------------------------------------------ rendering


def hf_tokenizer(tok_json, bos, eos):
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(tok_json)),
                                   bos_token=bos, eos_token=eos)


def render(tok, jinja, messages, gen=False):
    return tok.apply_chat_template(messages, chat_template=jinja, tokenize=False,
                                   add_generation_prompt=gen)


def reference(tok, jinja, messages):
    """ids of the whole rendering and the 0/1 loss mask"""
    text = render(tok, jinja, messages)
    enc = tok(text, add_special_tokens=False)
    ids = enc["input_ids"]
    # apply_chat_template(tokenize=True) tokenizes exactly this text
    direct = tok.apply_chat_template(messages, chat_template=jinja, tokenize=True, return_dict=True)
    assert list(direct["input_ids"]) == ids, "apply_chat_template ids differ"
    mask = [0] * len(ids)
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        p = render(tok, jinja, messages[:i], gen=True) if i else ""
        q = render(tok, jinja, messages[:i + 1])
        assert q.startswith(p) and text.startswith(q), "renderings are not prefixes"
        turn = q[len(p):].rstrip()
        a, b = len(p), len(p) + len(turn)
        first, last = enc.char_to_token(a), enc.char_to_token(b - 1)
        assert first is not None and last is not None, "a trained character has no token"
        for j in range(first, last + 1):
            mask[j] = 1
    return ids, mask


def check_mask_rule(tok):
    """the prefix rule gives transformers' own assistant mask"""
    for conv in CONVERSATIONS:
        if conv[0]["role"] == "assistant":
            continue
        want = tok.apply_chat_template(conv, chat_template=CHATML_GENERATION, tokenize=True,
                                       return_dict=True, return_assistant_tokens_mask=True)
        ids, mask = reference(tok, CHATML, conv)
        assert list(want["input_ids"]) == ids, "generation variant renders differently"
        assert list(want["assistant_masks"]) == mask, "prefix mask != return_assistant_tokens_mask"


def row(extra, ids, mask):
    return json.dumps({**extra, "ids": ids, "mask": "".join(map(str, mask))}, ensure_ascii=False)


def main():
    os.makedirs(OUT, exist_ok=True)
    lines = corpus()
    toks = {"bl.json": train_bl(lines), "sp.json": train_sp(lines)}
    for name, t in toks.items():
        with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
            json.dump(t, f, ensure_ascii=False, separators=(",", ":"))
    manifest = []
    for name, (jinja, tfile, bos, eos) in TEMPLATES.items():
        tok = hf_tokenizer(toks[tfile], bos, eos)
        if name == "chatml":
            check_mask_rule(tok)
        convs = [without_system(c) for c in CONVERSATIONS] if name == "mistral" else CONVERSATIONS
        out = [row({"messages": c}, *reference(tok, jinja, c)) for c in convs]
        with open(os.path.join(OUT, name + ".jsonl"), "w", encoding="utf-8") as f:
            f.write("\n".join(out) + "\n")
        manifest.append({"data": name + ".jsonl", "tokenizer": tfile,
                         "format": "chat", "chat_template": name})
        print(f"{name}: {len(out)} conversations")

    tok = hf_tokenizer(toks["bl.json"], None, "<|im_end|>")
    out = []
    for c in GLUED_CONVERSATIONS:
        r = tok.apply_chat_template(c, chat_template=GLUED, tokenize=True, return_dict=True,
                                    return_assistant_tokens_mask=True)
        out.append(row({"messages": c}, list(r["input_ids"]), list(r["assistant_masks"])))
    with open(os.path.join(OUT, "glued.jsonl"), "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    manifest.append({"data": "glued.jsonl", "tokenizer": "bl.json", "format": "chat",
                     "chat_template": "tests/fixtures/chat/glued.lua"})

    out = [row(r, *reference(tok, QWEN2, alpaca_messages(r))) for r in ALPACA]
    with open(os.path.join(OUT, "alpaca_qwen2.jsonl"), "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    manifest.append({"data": "alpaca_qwen2.jsonl", "tokenizer": "bl.json", "format": "alpaca",
                     "chat_template": "qwen2"})

    out = []
    for c in SHAREGPT:
        msgs = [{"role": SHAREGPT_ROLES[r], "content": v} for r, v in c]
        out.append(row({"conversations": [{"from": r, "value": v} for r, v in c]},
                       *reference(tok, CHATML, msgs)))
    with open(os.path.join(OUT, "sharegpt_chatml.jsonl"), "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    manifest.append({"data": "sharegpt_chatml.jsonl", "tokenizer": "bl.json", "format": "chat",
                     "chat_template": "chatml", "messages_column": "conversations",
                     "role_key": "from", "content_key": "value", "roles": SHAREGPT_ROLES})

    tok = hf_tokenizer(toks["sp.json"], "<s>", "</s>")
    out = []
    for c in REJECTED:
        try:
            render(tok, MISTRAL, c)
        except Exception as e:  # transformers raises TemplateError
            out.append(json.dumps({"messages": c, "error": str(e)}))
        else:
            sys.exit(f"mistral accepted {c}")
    with open(os.path.join(OUT, "mistral_rejected.jsonl"), "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")

    with open(os.path.join(OUT, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
