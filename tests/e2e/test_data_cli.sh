#!/usr/bin/env bash
# test_data_cli.sh - `strata data <recipe> --show N` end to end on the chat
# fixtures (tests/fixtures/chat, written by scripts/make_chat_reference.py
# with transformers): each shown example has the token count, the trained
# count and the ids of the transformers reference, with exactly the
# assistant's text bracketed; alpaca rows render as their conversation; a
# malformed row or a refused conversation exits 2 naming the file and line,
# a template that loops fails under the recipe's sandbox.instructions;
# and, with stories260K, a recipe on chat data trains.
set -u
bin=${STRATA_BIN:-build/strata}
shared=${STRATA_SHARED:-../shared}
fix=tests/fixtures/chat
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export STRATA_CACHE=$tmp/cache
fail() { echo "FAIL: $*"; exit 1; }

cat >"$tmp/chat.yaml" <<EOF
model: no-model-needed.bin
tokenizer: $fix/bl.json
data: {train: $fix/qwen2.jsonl, format: chat, chat_template: qwen2}
train: {seq_len: 256}
EOF
out=$("$bin" data "$tmp/chat.yaml" --show 2 --ids 2>"$tmp/err") || fail "data: $(cat "$tmp/err")"
echo "$out"
grep -q "^data   $fix/qwen2.jsonl (chat, template qwen2)$" <<<"$out" || fail "data line"
grep -q '^train  21 examples of 256 positions: ' <<<"$out" || fail "train line"

# example i against line i+1 of the fixture: length, trained count, ids
for i in 0 1; do
  line=$(sed -n "$((i + 1))p" $fix/qwen2.jsonl)
  ids=$(sed 's/.*"ids": \[\([^]]*\)\].*/\1/' <<<"$line" | tr -d ',')
  mask=$(sed 's/.*"mask": "\([01]*\)".*/\1/' <<<"$line")
  n=$(wc -w <<<"$ids")
  trained=$(cut -c2- <<<"$mask" | tr -d '0\n' | wc -c) # token 0 is never a target
  grep -q "^--- train example $i: $n tokens, $trained trained$" <<<"$out" ||
    fail "example $i: want $n tokens, $trained trained"
  want=$(paste -d' ' <(tr ' ' '\n' <<<"$ids" | sed '/^$/d') <(grep -o . <<<"$mask") |
    awk '{ printf " %s%s", $1, ($2 == 1 && NR > 1) ? "*" : "" }')
  got=$(grep '^ids:' <<<"$out" | sed -n "$((i + 1))p" | sed 's/^ids://')
  [ "$got" = "$want" ] || fail "example $i ids:$got, want$want"
done
# the assistant's turn and nothing else is bracketed
grep -qxF '[[Hi there. How can I help?<|im_end|>]]' <<<"$out" || fail "example 0's answer"
grep -qxF '[[4<|im_end|>]]' <<<"$out" || fail "example 1's answer"
[ "$(grep -o '\[\[' <<<"$out" | wc -l)" = 2 ] || fail "more than the two answers bracketed"
grep -qxF '<|im_start|>assistant' <<<"$out" || fail "the assistant header is not shown untrained"

# alpaca: user = instruction + "\n\n" + input, with the template named
cat >"$tmp/alpaca.yaml" <<EOF
model: no-model-needed.bin
tokenizer: $fix/bl.json
data: {train: $fix/alpaca_qwen2.jsonl, format: alpaca, chat_template: qwen2}
train: {seq_len: 256}
EOF
out=$("$bin" data "$tmp/alpaca.yaml" --show 2 2>"$tmp/err") || fail "alpaca: $(cat "$tmp/err")"
grep -q '^train  8 examples' <<<"$out" || fail "alpaca: 8 examples"
tr '\n' '~' <<<"$out" | grep -qF 'Translate the sentence into French.~~The cat sleeps.<|im_end|>~<|im_start|>assistant~[[Le chat dort.<|im_end|>]]' ||
  fail "alpaca: the second row's conversation"

# the eval set, and errors that exit 2 naming what is wrong
out=$("$bin" data "$tmp/chat.yaml" --set data.eval_fraction=0.25 --eval --show 1 2>&1) ||
  fail "--eval: $out"
grep -q '^eval   5 examples' <<<"$out" && grep -q '^--- eval example 0' <<<"$out" || fail "--eval"
expect_error() { # WANT ARGS...
  local want=$1
  shift
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ $rc = 2 ] || fail "strata $*: exit $rc, want 2"
  grep -qF -- "strata: error: $want" "$tmp/err" || fail "strata $*: '$(cat "$tmp/err")' lacks '$want'"
}
expect_error "data: the recipe has no eval set" data "$tmp/chat.yaml" --eval
head -n 2 $fix/qwen2.jsonl >"$tmp/bad.jsonl"
echo '{"conversation": []}' >>"$tmp/bad.jsonl"
expect_error "$tmp/bad.jsonl:3: missing key \"messages\"" data "$tmp/chat.yaml" --set "data.train=$tmp/bad.jsonl"
head -n 1 $fix/mistral.jsonl >"$tmp/sys.jsonl"
sed -n 1p $fix/mistral_rejected.jsonl >>"$tmp/sys.jsonl"
expect_error "$tmp/sys.jsonl:2: chat template mistral: Conversation roles must alternate" \
  data "$tmp/chat.yaml" --set "data.train=$tmp/sys.jsonl" --set data.chat_template=mistral \
  --set tokenizer=$fix/sp.json
expect_error "--set data.format=sharegpt: key 'data.format': expected one of" data "$tmp/chat.yaml" --set data.format=sharegpt
echo 'return function(m) while true do end end' >"$tmp/loop.lua"
expect_error "$fix/qwen2.jsonl:1: chat template $tmp/loop.lua: ran past its instruction budget of 100000" \
  data "$tmp/chat.yaml" --set "data.chat_template=$tmp/loop.lua" --set sandbox.instructions=100000

# training on chat data (the model's own tokenizer: the template's special
# tokens are plain text to it, which is fine for a smoke test)
model=$shared/models/stories260K/stories260K.bin
[ -f "$model" ] || { echo "ok (stories260K not found: the training part skipped)"; exit 0; }
cat >"$tmp/run.yaml" <<EOF
model: $model
data: {train: $fix/chatml.jsonl, format: chat, eval_fraction: 0.2}
train: {seq_len: 128, steps: 3, batch_size: 4}
trace: {samples: 4}
EOF
"$bin" --threads 2 run "$tmp/run.yaml" --out "$tmp/run" >"$tmp/log" 2>&1 || fail "run: $(tail -5 "$tmp/log")"
grep -q '^final: eval loss [0-9.]* ' "$tmp/log" || fail "run: no final loss: $(tail -5 "$tmp/log")"
[ "$(grep -c '"step"' "$tmp/run/metrics.jsonl")" -ge 3 ] || fail "run: metrics.jsonl"
grep -q 'chat_template: "chatml"' "$tmp/run/recipe.resolved.yaml" || fail "resolved recipe lacks the default template"
echo ok
