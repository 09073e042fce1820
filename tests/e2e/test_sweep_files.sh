#!/usr/bin/env bash
# test_sweep_files.sh - every shipped sweep (recipes/sweeps/*.yaml) plans:
# `strata sweep --check` runs the trace and policy of each variant, budgets
# matched, and trains nothing. A variant whose settings clash with its base
# recipe (as gradnorm once inherited the quickstart's basis_dev measure and
# failed all its runs, found after an hour of sweeping) fails here in
# seconds. Negative control: that very clash is put back and must fail,
# naming the variant. Release build only (the sanitizer build adds minutes
# and nothing a plan would not show there too).
set -u
. tests/e2e/assets.sh
[ "$shared" = ../shared ] || { echo "skipped: the sweep files name ../shared"; exit 77; }
for d in cola tinyshakespeare; do
  [ -d "$shared/data/$d" ] || { echo "skipped: $shared/data/$d not found"; exit 77; }
done
ldd "$bin" 2>/dev/null | grep -q libasan && { echo "skipped: sanitizer build"; exit 77; }
for f in recipes/sweeps/*.yaml; do
  name=$(basename "$f" .yaml)
  "$bin" sweep "$f" --check --out "$tmp/$name" --jobs 2 > "$tmp/$name.out" 2>&1 ||
    { cat "$tmp/$name.out"; echo "FAIL: $f does not plan"; exit 1; }
  grep -q "^check: every variant plans" "$tmp/$name.out" || { cat "$tmp/$name.out"; exit 1; }
  [ ! -e "$tmp/$name/results.md" ] && [ ! -d "$tmp/$name/runs" ] ||
    { echo "FAIL: --check trained something for $f"; exit 1; }
  echo "$f: $(grep -c '^  ' "$tmp/$name.out") variants plan"
done
sed -e 's/policy.params.measure: grad_ratio, //' -e "s#^recipe: #recipe: $PWD/#" \
  recipes/sweeps/sst2.yaml > "$tmp/clash.yaml"
"$bin" sweep "$tmp/clash.yaml" --check --out "$tmp/clash" > "$tmp/clash.out" 2>&1 &&
  { cat "$tmp/clash.out"; echo "FAIL: the negative control planned"; exit 1; }
grep -q "strata plan for gradnorm seed 1: .*measure must be grad_ratio or grad_norm" "$tmp/clash.out" ||
  { cat "$tmp/clash.out"; echo "FAIL: the failure does not name the variant and cause"; exit 1; }
echo ok
