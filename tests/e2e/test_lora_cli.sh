#!/usr/bin/env bash
# test_lora_cli.sh - strata export-adapter and strata merge on the PEFT
# fixture adapter of the tiny GPT-2: export is a fixed point (exporting what
# it exported gives the same bytes), the merged folder loads, and bad
# sources are one-line errors with exit status 2.
set -u
BIN=${STRATA_BIN:?STRATA_BIN not set}
T=$(mktemp -d /tmp/strata_e2e_XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
BASE=tests/fixtures/gpt2_tiny
PEFT=tests/fixtures/lora/gpt2_tiny_peft

run() { # expects success
  if ! out=$("$BIN" "$@" 2>&1); then echo "FAIL: strata $*: $out"; fail=1; fi
}
expect_error() { # text, then the command
  local want=$1 out rc
  shift
  out=$("$BIN" "$@" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -ne 2 ] || [ "$(printf '%s\n' "$out" | wc -l)" -ne 1 ]; then
    echo "FAIL: strata $*: exit $rc, output: $out"; fail=1; return
  fi
  case "$out" in
    "strata: error: "*"$want"*) echo "ok: $out" ;;
    *) echo "FAIL: strata $*: '$out' lacks '$want'"; fail=1 ;;
  esac
}

run export-adapter "$PEFT" "$T/a" --model "$BASE" --base-name tiny
run export-adapter "$T/a" "$T/b" --model "$BASE" --base-name tiny
for f in adapter_config.json adapter_model.safetensors; do
  if cmp -s "$T/a/$f" "$T/b/$f"; then echo "ok: re-export gives the same $f"
  else echo "FAIL: re-export changed $f"; fail=1; fi
done
grep -q '"peft_type": "LORA"' "$T/a/adapter_config.json" || { echo "FAIL: peft_type"; fail=1; }
grep -q '"fan_in_fan_out": true' "$T/a/adapter_config.json" || { echo "FAIL: fan_in_fan_out"; fail=1; }

run merge "$PEFT" "$T/m" --model "$BASE"
run info "$T/m"
case "$out" in *gpt2*) echo "ok: merged model loads" ;; *) echo "FAIL: info: $out"; fail=1 ;; esac

expect_error "--model" export-adapter "$PEFT" "$T/c"
expect_error "neither a run folder" merge "$T/nothing" "$T/c" --model "$BASE"
mkdir -p "$T/run" && cp "$T/a/adapter_model.safetensors" "$T/run/lora.safetensors"
expect_error "neither a run folder (no recipe.resolved.yaml)" merge "$T/run" "$T/c"
expect_error "neither a run folder (no recipe.resolved.yaml)" merge "$T/run" "$T/c" --model "$BASE"
expect_error "unknown option '--bogus'" merge "$PEFT" "$T/c" --model "$BASE" --bogus 1
expect_error "unexpected argument 'extra'" merge "$PEFT" "$T/c" extra --model "$BASE"
exit $fail
