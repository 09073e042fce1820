#!/usr/bin/env bash
# test_convert.sh - strata convert writes the model's tokenizer beside the
# weights: stories260K's llama2.c tok512.bin as tokenizer.json (+ config and
# special-tokens map) that strata reads back to the documented greedy
# continuation; an HF folder's tokenizer files byte for byte (converting the
# converted folder, with a chat template and a tokenizer.model added);
# GPT-2's encoder.json + vocab.bpe as vocab.json + merges.txt. A model with
# no tokenizer still converts, with a note on stderr. (That HF loads these
# folders is checked by scripts/make_tokenizer_json_reference.py.)
set -u
BIN=${STRATA_BIN:-build/strata}
SHARED=${STRATA_SHARED:-../shared}
T=$(mktemp -d /tmp/strata_e2e_XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0

convert() { # model, out: expects success; stdout in $out, stderr in $err
  if ! out=$("$BIN" convert "$1" "$2" 2>"$T/stderr"); then
    echo "FAIL: strata convert $1 $2: $(cat "$T/stderr")"; fail=1
  fi
  err=$(cat "$T/stderr")
}
same() { # a, b, what
  if cmp -s "$1" "$2"; then echo "ok: $3"; else echo "FAIL: $3 ($1 vs $2)"; fail=1; fi
}
has() { # file, text
  grep -qF -- "$2" "$1" || { echo "FAIL: $1 lacks $2"; fail=1; }
}

# GPT-2 as OpenAI released it, on the tiny GPT-2 fixture
G=tests/fixtures/gpt2_tiny
TOK=tests/fixtures/tokenizer_json/gpt2
mkdir -p "$T/gpt2"
cp "$G/config.json" "$G/model.safetensors" "$TOK/encoder.json" "$TOK/vocab.bpe" "$T/gpt2/"
convert "$T/gpt2" "$T/gpt2_hf"
same "$TOK/encoder.json" "$T/gpt2_hf/vocab.json" "encoder.json comes out as vocab.json"
same "$TOK/vocab.bpe" "$T/gpt2_hf/merges.txt" "vocab.bpe comes out as merges.txt"
has "$T/gpt2_hf/tokenizer_config.json" '"tokenizer_class": "GPT2TokenizerFast"'

# no tokenizer: the weights all the same, and a note
convert "$G" "$T/bare"
case "$err" in
  *"strata: note: "*"no tokenizer files"*) echo "ok: no tokenizer, a note: $err" ;;
  *) echo "FAIL: no note for a folder without tokenizer: '$err'"; fail=1 ;;
esac
[ -f "$T/bare/model.safetensors" ] && [ ! -e "$T/bare/tokenizer.json" ] ||
  { echo "FAIL: $T/bare: weights, and no tokenizer, expected"; fail=1; }

MODEL=$SHARED/models/stories260K/stories260K.bin
if [ ! -f "$MODEL" ]; then
  echo "stories260K not found: its conversion is not checked"
  exit $fail
fi

convert "$MODEL" "$T/s"
for f in config.json model.safetensors tokenizer.json tokenizer_config.json special_tokens_map.json; do
  [ -s "$T/s/$f" ] || { echo "FAIL: convert wrote no $f"; fail=1; }
done
case "$out" in *"tokenizer of "*tok512.bin*) echo "ok: $out" ;;
  *) echo "FAIL: the printed line does not name the tokenizer: $out"; fail=1 ;; esac
[ -z "$err" ] || { echo "FAIL: tok512.bin converts with a note: $err"; fail=1; }
has "$T/s/tokenizer.json" '"byte_fallback": true'
has "$T/s/tokenizer_config.json" '"add_bos_token": true'
has "$T/s/special_tokens_map.json" '"bos_token": "<s>"'
got=$("$BIN" generate "$T/s" --prompt "Once upon a time" --temperature 0 --max-tokens 40)
want="Once upon a time, there was a little girl named Lily. She loved to play outside in the park."
case "$got" in "$want"*) echo "ok: the converted folder generates the known continuation" ;;
  *) echo "FAIL: generate on the converted folder: $got"; fail=1 ;; esac

# an HF folder's files come through byte for byte
printf '{%% for m in messages %%}{{ m.content }}{%% endfor %%}' >"$T/s/chat_template.jinja"
head -c 300 "$MODEL" >"$T/s/tokenizer.model"
convert "$T/s" "$T/s2"
for f in tokenizer.json tokenizer_config.json special_tokens_map.json chat_template.jinja tokenizer.model; do
  same "$T/s/$f" "$T/s2/$f" "$f comes through unchanged"
done

# a llama2.c model with no tokenizer beside it
mkdir "$T/alone"
ln -s "$(cd "$(dirname "$MODEL")" && pwd)/stories260K.bin" "$T/alone/model.bin"
convert "$T/alone/model.bin" "$T/alone_hf"
case "$err" in
  *"strata: note: no tokenizer beside"*) echo "ok: $err" ;;
  *) echo "FAIL: no note for a .bin without tokenizer: '$err'"; fail=1 ;;
esac
[ -f "$T/alone_hf/model.safetensors" ] || { echo "FAIL: no weights without a tokenizer"; fail=1; }
exit $fail
