#!/usr/bin/env bash
# lora.init_from: a run starts from the PEFT adapter another run exported, so
# its zero-shot metrics equal the first run's final ones exactly; a rank
# that differs from the adapter's is a clear error.
set -u
. tests/e2e/assets.sh
S=("${asset_sets[@]}" --set trace.samples=8 --set eval.samples=60 --set data.max_samples=200
   --set policy.params.lora=true --set "lora={rank: 4, alpha: 8, modules: [q, v]}")
"$bin" --threads 1 run recipes/quickstart.yaml "${S[@]}" --set train.steps=20 --out "$tmp/a" > "$tmp/a.out" 2>&1 ||
  { cat "$tmp/a.out"; exit 1; }
[ -f "$tmp/a/adapter/adapter_config.json" ] || { echo "no adapter folder"; exit 1; }
"$bin" --threads 1 run recipes/quickstart.yaml "${S[@]}" --set train.steps=1 \
  --set "lora.init_from=$tmp/a/adapter" --out "$tmp/b" > "$tmp/b.out" 2>&1 || { cat "$tmp/b.out"; exit 1; }
final=$(grep '^final:' "$tmp/a.out" | sed 's/^final: //')
zero=$(grep '^zero-shot:' "$tmp/b.out" | sed 's/^zero-shot: //')
[ -n "$final" ] && [ "$final" = "$zero" ] || { echo "final '$final' vs zero-shot '$zero'"; exit 1; }
"$bin" --threads 1 run recipes/quickstart.yaml "${S[@]}" --set "lora={rank: 2, alpha: 8, modules: [q, v]}" \
  --set train.steps=1 --set "lora.init_from=$tmp/a/adapter" --out "$tmp/c" 2> "$tmp/err" >/dev/null
[ $? -eq 2 ] && grep -q "has rank 4, alpha 8 there and rank 2" "$tmp/err" || { cat "$tmp/err"; exit 1; }
echo ok
