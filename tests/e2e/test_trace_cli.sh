#!/usr/bin/env bash
# strata trace prints a table of L+1 latent spaces and writes the JSON;
# the logit-lens loss must fall from the embedding to the last layer on the
# real model, and bad arguments are clear errors.
set -u
bin=${STRATA_BIN:-build/strata}
shared=${STRATA_SHARED:-../shared}
model=$shared/models/stories260K/stories260K.bin
[ -f "$model" ] || { echo "skipped: stories260K not found"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export STRATA_CACHE=$tmp/cache
"$bin" trace "$model" --data "$shared/data/tinyshakespeare/input.txt" --samples 4 --seq-len 32 \
  --json "$tmp/t.json" > "$tmp/out" || { cat "$tmp/out"; exit 1; }
rows=$(grep -cE '^ +[0-9]+ ' "$tmp/out")
[ "$rows" -eq 6 ] || { echo "expected 6 latent spaces, got $rows"; cat "$tmp/out"; exit 1; }
n=$(grep -c '"space":' "$tmp/t.json")
[ "$n" -eq 6 ] || { echo "trace JSON has $n spaces, want 6"; exit 1; }
grep -q '"basis_dev"' "$tmp/t.json" || { echo "trace JSON lacks basis_dev"; exit 1; }
# the logit lens improves from the embedding to the last layer (column 5)
first=$(grep -E '^ +0 ' "$tmp/out" | awk '{print $5}')
last=$(grep -E '^ +5 ' "$tmp/out" | awk '{print $5}')
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' || { echo "lens loss $first -> $last"; exit 1; }
"$bin" trace "$model" --data "$shared/data/tinyshakespeare/input.txt" --measure nope 2> "$tmp/err"
[ $? -eq 2 ] && grep -q "unknown measure 'nope'" "$tmp/err" || { cat "$tmp/err"; exit 1; }
"$bin" trace "$model" --data /nonexistent.txt 2> "$tmp/err"
[ $? -eq 2 ] && grep -q "nonexistent" "$tmp/err" || { cat "$tmp/err"; exit 1; }
echo ok
