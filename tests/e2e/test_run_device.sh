#!/usr/bin/env bash
# strata run --device and precision: an unknown device is a schema error
# naming the key; bf16 on the CPU runs fp32 and says so; cuda without the
# backend or a device is a clear error.
set -u
. tests/e2e/assets.sh
sets=("${asset_sets[@]}" --set train.steps=2 --set trace.samples=8 --set eval.samples=20
      --set data.max_samples=64)
"$bin" --threads 1 run recipes/quickstart.yaml "${sets[@]}" --device tpu --out "$tmp/a" 2> "$tmp/err"
[ $? -eq 2 ] && grep -q "key 'device': expected one of cpu|cuda" "$tmp/err" || { cat "$tmp/err"; exit 1; }
"$bin" --threads 1 run recipes/quickstart.yaml "${sets[@]}" --set precision=bf16 --out "$tmp/b" > "$tmp/out" 2>&1 ||
  { cat "$tmp/out"; exit 1; }
grep -q "no bf16 mode; running fp32" "$tmp/out" || { cat "$tmp/out"; exit 1; }
[ -f "$tmp/b/summary.json" ] || { echo "bf16-on-cpu run wrote no summary"; exit 1; }
"$bin" --threads 1 run recipes/quickstart.yaml "${sets[@]}" --device cuda --out "$tmp/c" > "$tmp/out" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  [ $rc -eq 2 ] && grep -qE "CUDA|cuda" "$tmp/out" || { echo "cuda: exit $rc"; cat "$tmp/out"; exit 1; }
fi
echo ok
