#!/usr/bin/env bash
# The README's "write your own policy" example (docs/examples/lens_drop.lua)
# runs as printed: strata plan gives exactly k trained layers, and a bad
# parameter surfaces as a Lua error naming the script.
set -u
. tests/e2e/assets.sh
sets=("${asset_sets[@]}" --set policy.script=docs/examples/lens_drop.lua --set trace.samples=16)
for k in 2 3; do
  "$bin" plan recipes/quickstart.yaml "${sets[@]}" --set policy.params.k=$k > "$tmp/out" 2>&1 ||
    { cat "$tmp/out"; exit 1; }
  n=$(grep -cE '^ +[0-9]+ +[0-9]+ +[0-9.]+ +full ' "$tmp/out")
  [ "$n" -eq $k ] || { echo "k=$k: $n layers trained"; cat "$tmp/out"; exit 1; }
done
"$bin" plan recipes/quickstart.yaml "${sets[@]}" --set 'policy.params.k="x"' 2> "$tmp/err" >/dev/null
[ $? -eq 2 ] && grep -q "lens_drop.lua" "$tmp/err" || { echo "bad k:"; cat "$tmp/err"; exit 1; }
echo ok
