#!/usr/bin/env bash
# strata sweep: a tiny sweep (2 variants x 2 seeds, a variant with its own
# seeds substituted into its overrides, and a failing variant)
# writes both tables with one row per variant, well-formed SVG whose numbers
# match results.csv, records the failure and goes on, and a re-run skips the
# finished runs.
set -u
. tests/e2e/assets.sh
sed "s|recipe: recipes/quickstart.yaml|recipe: recipes/quickstart.yaml|" tests/fixtures/sweep/tiny.yaml > "$tmp/sweep.yaml"
cat >> "$tmp/sweep.yaml" <<'Y'
  - name: broken
    set: {train.lr: -1}
Y
if [ "$shared" != ../shared ]; then
  sed -i "s|^set:|set:\n  model: $shared/models/stories260K/stories260K.bin\n  data.train: $shared/data/sst2/train.tsv\n  data.eval: $shared/data/sst2/dev.tsv|" "$tmp/sweep.yaml"
fi
# an interrupted run (stopped after step 1 with a checkpoint, as a kill
# would leave it) is resumed, and a folder with no checkpoint is run afresh
"$bin" --threads 1 run recipes/quickstart.yaml "${asset_sets[@]}" --set train.steps=3 --set eval.every=100 \
  --set eval.samples=40 --set trace.samples=8 --set data.max_samples=200 --set policy.script=all \
  --set train.seed=1 --stop-at 1 --out "$tmp/out/runs/full-seed1" > "$tmp/stop.log" 2>&1 ||
  { cat "$tmp/stop.log"; exit 1; }
mkdir -p "$tmp/out/runs/full-seed2" && echo junk > "$tmp/out/runs/full-seed2/recipe.resolved.yaml"
# two runs at a time
"$bin" --threads 1 sweep "$tmp/sweep.yaml" --out "$tmp/out" --jobs 2 > "$tmp/log1" 2>&1 || { cat "$tmp/log1"; exit 1; }
grep -q "resuming .*full-seed1 at step 1" "$tmp/out/logs/full-seed1.log" ||
  { echo "interrupted run not resumed"; cat "$tmp/out/logs/full-seed1.log"; exit 1; }
grep -q '"steps": 3' "$tmp/out/runs/full-seed1/summary.json" || { echo "resumed run incomplete"; exit 1; }
grep -q "broken seed 1 FAILED" "$tmp/log1" || { echo "failure not reported"; cat "$tmp/log1"; exit 1; }
rows=$(tail -n +2 "$tmp/out/results.csv" | wc -l)
[ "$rows" -eq 5 ] || { echo "results.csv has $rows rows, want 5"; exit 1; }
mdrows=$(grep -cE '^\| (full|semantic|random|lora|broken) ' "$tmp/out/results.md")
[ "$mdrows" -eq 5 ] || { echo "results.md has $mdrows rows, want 5"; exit 1; }
# a map-valued override reaches the run as a map
grep -qE '^lora,semantic.lua,"[0-9,]+",r=4,' "$tmp/out/results.csv" || { echo "lora row wrong"; exit 1; }
grep -qE '^random,random.lua,.*,3,3$' "$tmp/out/results.csv" || { echo "random row wrong"; exit 1; }
# $seed reached each run's policy: the three draws are seeds 3, 4 and 5
for sd in 3 4 5; do
  sed -n '/^policy:/,/^[a-z]/p' "$tmp/out/runs/random-seed$sd/recipe.resolved.yaml" |
    grep -qx "    seed: $sd" || { echo "random seed $sd: \$seed not substituted as an integer"; exit 1; }
done
grep -q '^| broken | failed: ' "$tmp/out/results.md" || { echo "failed variant not marked"; exit 1; }
grep -qE '^full,all.lua,.*,2,2$' "$tmp/out/results.csv" || { echo "full row wrong"; cat "$tmp/out/results.csv"; exit 1; }
for f in trace loss_curves cost_quality; do
  [ -s "$tmp/out/$f.svg" ] || { echo "$f.svg missing"; exit 1; }
  if command -v xmllint >/dev/null; then
    xmllint --noout "$tmp/out/$f.svg" || { echo "$f.svg is not well-formed"; exit 1; }
  fi
done
# every variant's point in the figure carries the table's numbers
for v in full semantic; do
  csv=$(grep "^$v," "$tmp/out/results.csv")
  pct=$(echo "$csv" | awk -F'"' '{print $3}' | awk -F, '{print $3}')
  mean=$(echo "$csv" | awk -F, '{print $(NF-10)}')
  title=$(grep -o "<title>$v: x = [^<]*" "$tmp/out/cost_quality.svg")
  x=$(echo "$title" | sed 's/.*x = \([^,]*\),.*/\1/')
  y=$(echo "$title" | sed 's/.*y = \([^ ]*\).*/\1/')
  awk -v a="$pct" -v b="$x" -v c="$mean" -v d="$y" \
    'BEGIN { exit !((a - b < 0.01 && b - a < 0.01) && (c - d < 1e-5 && d - c < 1e-5)) }' ||
    { echo "$v: figure ($x, $y) vs table ($pct, $mean)"; exit 1; }
done
"$bin" --threads 1 sweep "$tmp/sweep.yaml" --out "$tmp/out" > "$tmp/log2" 2>&1
skipped=$(grep -c "done before, skipped" "$tmp/log2")
[ "$skipped" -eq 8 ] || { echo "re-run skipped $skipped runs, want 8"; cat "$tmp/log2"; exit 1; }
# a bad sweep file is a clear error
printf 'recipe: recipes/quickstart.yaml\nvariants: [{name: a}]\nbogus: 1\n' > "$tmp/bad.yaml"
"$bin" sweep "$tmp/bad.yaml" --out "$tmp/bad" 2> "$tmp/err"
[ $? -eq 2 ] && grep -q "unknown key 'bogus'" "$tmp/err" || { cat "$tmp/err"; exit 1; }
printf 'recipe: recipes/quickstart.yaml\nseeds: [1, 1]\nvariants: [{name: a}]\n' > "$tmp/dup.yaml"
"$bin" sweep "$tmp/dup.yaml" --out "$tmp/dup" 2> "$tmp/err"
[ $? -eq 2 ] && grep -q "seed 1 is listed twice" "$tmp/err" || { cat "$tmp/err"; exit 1; }
echo ok
