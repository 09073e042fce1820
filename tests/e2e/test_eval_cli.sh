#!/usr/bin/env bash
# strata eval end to end: stories260K zero-shot on the first 50 SST-2 dev
# sentences (the metrics must be consistent with each other; the accuracy
# itself is near chance and not asserted), the JSON file, the token cache on
# a re-run, and bad input exiting 2 with the file, line and cause.
set -u
bin=${STRATA_BIN:-build/strata}
shared=${STRATA_SHARED:-../shared}
model=$shared/models/stories260K/stories260K.bin
dev=$shared/data/sst2/dev.tsv
[ -f "$model" ] && [ -f "$dev" ] || { echo "skipped: stories260K or SST-2 not found"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export STRATA_CACHE=$tmp/cache
fail() { echo "FAIL: $*"; exit 1; }

head -n 51 "$dev" >"$tmp/dev50.tsv"
run() {
  "$bin" --threads 1 eval "$model" --data "$tmp/dev50.tsv" --seq-len 256 \
    --template 'Review: {sentence}\nSentiment:' \
    --verbalizers '0= negative,1= positive' "$@"
}
out=$(run --json "$tmp/m.json" 2>"$tmp/err") || fail "eval: $(cat "$tmp/err")"
echo "$out"
grep -q '^data: .*50 examples of 256 positions, classification$' <<<"$out" || fail "data line"
acc=$(sed -n 's/^accuracy \([0-9.]*\) (\([0-9]*\)\/50).*/\1 \2/p' <<<"$out")
[ -n "$acc" ] || fail "no accuracy line"
awk -v a="${acc% *}" -v c="${acc#* }" 'BEGIN { exit !(a - c / 50 < 1e-4 && c / 50 - a < 1e-4) }' ||
  fail "accuracy $acc is not n_correct/50"
grep -q '"n_examples": 50' "$tmp/m.json" || fail "json n_examples"
grep -q '"macro_f1": ' "$tmp/m.json" || fail "json macro_f1"
[ ! -e "$tmp/m.json.tmp" ] || fail "temporary JSON left behind"
# confusion counts sum to 50
total=$(tr -d ' \n' <"$tmp/m.json" | sed 's/.*"confusion":\[\(.*\)\]\].*/\1/' | tr -c '0-9' ' ' |
  awk '{ for (i = 1; i <= NF; i++) s += $i } END { print s }')
[ "$total" = 50 ] || fail "confusion sums to $total"

# the re-run reads the token cache and gives the same numbers
out2=$(run 2>/dev/null) || fail "second run"
grep -q '(token cache)' <<<"$out2" || fail "token cache not used"
[ "$(grep '^accuracy' <<<"$out")" = "$(grep '^accuracy' <<<"$out2")" ] || fail "cached result differs"

# bad input: exit 2 and a message naming the problem
expect_error() { # pattern, args...
  local pat=$1
  shift
  "$bin" --threads 1 eval "$model" "$@" >/dev/null 2>"$tmp/err"
  local rc=$?
  [ $rc = 2 ] || fail "exit $rc for $*"
  grep -q -- "$pat" "$tmp/err" || fail "expected '$pat', got: $(cat "$tmp/err")"
}
expect_error 'no column named "sentnce"' --data "$tmp/dev50.tsv" \
  --template 'Review: {sentnce}' --verbalizers '0= negative,1= positive'
printf 'sentence\tlabel\ngood\t1\nmeh\t2\n' >"$tmp/bad.tsv"
expect_error 'bad.tsv:3: label "2" has no verbalizer' --data "$tmp/bad.tsv" \
  --template '{sentence}' --verbalizers '0= negative,1= positive'
printf '{"text": "one"}\n{"text": \n' >"$tmp/bad.jsonl"
expect_error 'bad.jsonl:2: invalid JSON' --data "$tmp/bad.jsonl"
: >"$tmp/empty.txt"
expect_error 'empty.txt: no examples' --data "$tmp/empty.txt"
expect_error 'not LABEL=TEXT' --data "$tmp/dev50.tsv" --template '{sentence}' \
  --verbalizers '0 negative,1= positive'
"$bin" eval --help | grep -q -- '--verbalizers' || fail "--help"
echo ok
