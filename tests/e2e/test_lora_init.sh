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
# a run that keeps the adapter's modules_to_save frozen (here the final norm
# run a trained) still carries them in its own adapter: merged, it gives the
# run's final eval (before the fix it fell back to the base model's norm)
"$bin" --threads 1 run recipes/quickstart.yaml "${S[@]}" --set train.steps=1 \
  --set policy.params.final_norm=false --set "lora.init_from=$tmp/a/adapter" --out "$tmp/d" \
  > "$tmp/d.out" 2>&1 || { cat "$tmp/d.out"; exit 1; }
grep -q "model.norm" "$tmp/d/adapter/adapter_config.json" ||
  { echo "the run's adapter dropped modules_to_save"; cat "$tmp/d/adapter/adapter_config.json"; exit 1; }
"$bin" merge "$tmp/d" "$tmp/dm" > "$tmp/dm.out" 2>&1 || { cat "$tmp/dm.out"; exit 1; }
dev=$(sed -n 's/^ *eval: *"*\([^"]*\)"*$/\1/p' "$tmp/d/recipe.resolved.yaml")
model=$(sed -n 's/^model: *"*\([^"]*\)"*$/\1/p' "$tmp/d/recipe.resolved.yaml")
"$bin" --threads 1 eval "$tmp/dm" --tokenizer "$(dirname "$model")/tok512.bin" --data "$dev" --samples 60 --seq-len 64 \
  --template 'Review: {sentence}\nSentiment:' --verbalizers '0= bad,1= good' --json "$tmp/dm.json" \
  > "$tmp/dme.out" 2>&1 || { cat "$tmp/dme.out"; exit 1; }
loss() { tr -d '\n ' <"$1" | sed -n 's/.*"'"$2"'":{[^}]*"loss":\([-0-9.eE+]*\).*/\1/p'; }
run_loss=$(loss "$tmp/d/summary.json" final)
merged_loss=$(tr -d '\n ' <"$tmp/dm.json" | sed -n 's/.*"loss":\([-0-9.eE+]*\).*/\1/p')
awk -v a="$run_loss" -v b="$merged_loss" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && b != "" && d < 1e-4) }' ||
  { echo "merged adapter eval loss '$merged_loss' vs the run's final '$run_loss'"; exit 1; }
echo ok
