#!/usr/bin/env bash
# test_bad_model.sh - `strata info` on broken models: exit status 2 and one
# line "strata: error: <file>..." on stderr, never a crash or a traceback.
set -u
BIN=${STRATA_BIN:?STRATA_BIN not set}
T=$(mktemp -d /tmp/strata_e2e_XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0

expect_error() { # file, text the message must contain
  local out rc
  out=$("$BIN" info "$1" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -ne 2 ]; then
    echo "FAIL: info $1: exit $rc, expected 2 ($out)"; fail=1; return
  fi
  if [ "$(printf '%s\n' "$out" | wc -l)" -ne 1 ]; then
    echo "FAIL: info $1: expected one line, got:"; printf '%s\n' "$out"; fail=1; return
  fi
  case "$out" in
    "strata: error: $1"*"$2"*) echo "ok: $out" ;;
    *) echo "FAIL: info $1: unexpected message: $out (want '$2')"; fail=1 ;;
  esac
}

# llama2.c: header of 7 int32 (dim 8, hidden 12, 2 layers, 2 heads, 1 kv
# head, vocab 10, seq 6) and too few weights
printf '\x08\0\0\0\x0c\0\0\0\x02\0\0\0\x02\0\0\0\x01\0\0\0\x0a\0\0\0\x06\0\0\0' > "$T/trunc.bin"
head -c 400 /dev/zero >> "$T/trunc.bin"
expect_error "$T/trunc.bin" "truncated: expected"
printf 'hello' > "$T/tiny.bin"
expect_error "$T/tiny.bin" "truncated"
head -c 4096 /dev/urandom > "$T/random.bin"
printf '\xff\xff\xff\x7f' | dd of="$T/random.bin" conv=notrunc status=none
expect_error "$T/random.bin" "bad header"
expect_error "$T/missing.bin" "No such file"

# HF folders
mkdir -p "$T/nocfg" "$T/badcfg" "$T/arch" "$T/noweights" "$T/badsft"
expect_error "$T/nocfg" "config.json"
echo '{"model_type": "llama", "hidden_size": 16}' > "$T/badcfg/config.json"
expect_error "$T/badcfg" "missing key 'intermediate_size'"
echo '{"model_type": "t5"}' > "$T/arch/config.json"
expect_error "$T/arch" "model_type 't5' is not supported"
cfg='{"model_type": "llama", "hidden_size": 16, "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 32}'
echo "$cfg" > "$T/noweights/config.json"
expect_error "$T/noweights" "no model.safetensors"
echo "$cfg" > "$T/badsft/config.json"
printf '\x10\0\0\0\0\0\0\0[not a header]  ' > "$T/badsft/model.safetensors"
expect_error "$T/badsft" "does not start with '{'"

# the usage error is a one-line error too
out=$("$BIN" info 2>&1 >/dev/null); rc=$?
[ "$rc" -eq 2 ] && [ "$out" = "strata: error: usage: strata info <model>" ] || {
  echo "FAIL: info without a model: exit $rc: $out"; fail=1; }

exit $fail
