#!/usr/bin/env bash
# test_sweep_layers.sh - the per-layer mode on stories260K, 2 steps per run:
# `per_layer: true` adds one variant per layer (5) whose runs train that
# layer alone plus the final norm; per_layer.csv gives each layer's gain
# over zero-shot as the mean over seeds of the runs' own numbers
# (runs.csv); per_layer.md's Spearman rho for every trace measure equals
# one computed here, in awk, with average ranks for ties; each measure's
# figure carries the table's numbers. A metric that zero-shot does not
# report is an error naming the run.
set -u
. tests/e2e/assets.sh
fail() { echo "FAIL: $*"; exit 1; }
set_lines=""
[ "$shared" != ../shared ] && set_lines="
  model: $shared/models/stories260K/stories260K.bin
  data.train: $shared/data/sst2/train.tsv
  data.eval: $shared/data/sst2/dev.tsv"
cat > "$tmp/sweep.yaml" <<Y
recipe: recipes/quickstart.yaml
seeds: [1, 2]
metric: loss
per_layer: true
set:
  train.steps: 2
  eval.every: 100
  eval.samples: 24
  trace.samples: 8
  data.max_samples: 200$set_lines
Y
"$bin" --threads 1 sweep "$tmp/sweep.yaml" --out "$tmp/out" --jobs 2 > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "sweep"; }
out=$tmp/out
grep -q "per_layer: 5 variants, layer0..layer4" "$tmp/log" || fail "no per-layer variants"
# each run trains its layer alone, and the final norm
for l in 0 1 2 3 4; do
  for sd in 1 2; do
    pj=$out/runs/layer$l-seed$sd/plan.json
    modes=$(tr -d ' \n' < "$pj" | grep -o '"mode":"[a-z]*"' | cut -d'"' -f4 | tr '\n' ' ')
    want=$(for k in 0 1 2 3 4; do [ $k = $l ] && printf 'full ' || printf 'frozen '; done)
    [ "$modes" = "$want" ] || fail "layer$l seed $sd trains '$modes'"
    tr -d ' \n' < "$pj" | grep -q '"final_norm":true' || fail "layer$l: final norm frozen"
  done
done
[ "$(tail -n +2 "$out/per_layer.csv" | wc -l)" = 5 ] || fail "per_layer.csv rows"
# gain: mean over the seeds of zero-shot loss - loss, from runs.csv
for l in 0 1 2 3 4; do
  want=$(awk -F, -v v="layer$l" '$1 == v { s += $7 - $6; n++ } END { printf "%.6f", s / n }' "$out/runs.csv")
  got=$(awk -F, -v l=$l '$1 == l { print $3 }' "$out/per_layer.csv")
  awk -v a="$want" -v b="$got" 'BEGIN { exit !((a - b)^2 < 1e-11) }' || fail "layer $l gain $got, runs say $want"
done
# Spearman with average ranks, per measure column (7..), against per_layer.md
spearman() { # column
  awk -F, -v c="$1" 'NR > 1 { x[NR - 1] = $c; y[NR - 1] = $3; n = NR - 1 }
    function ranks(v, r,   i, j, less, same) {
      for (i = 1; i <= n; i++) { less = 0; same = 0
        for (j = 1; j <= n; j++) { less += v[j] < v[i]; same += v[j] == v[i] }
        r[i] = less + (same + 1) / 2 } }
    END { ranks(x, rx); ranks(y, ry)
      for (i = 1; i <= n; i++) { mx += rx[i] / n; my += ry[i] / n }
      for (i = 1; i <= n; i++) { sxy += (rx[i] - mx) * (ry[i] - my); sxx += (rx[i] - mx)^2; syy += (ry[i] - my)^2 }
      printf "%+.3f", sxy / sqrt(sxx * syy) }' "$out/per_layer.csv"
}
head -1 "$out/per_layer.csv" | tr ',' '\n' | tail -n +7 > "$tmp/measures"
[ "$(wc -l < "$tmp/measures")" -ge 5 ] || fail "per_layer.csv has too few measures"
c=7
while read -r m; do
  want=$(spearman $c)
  grep -qE "^\| $m \| \\$want \| \[[-+][0-9.]+, [-+][0-9.]+\] \([0-9]+ of 2000 resamples\) \| 5 \|$" "$out/per_layer.md" ||
    { grep "^| $m " "$out/per_layer.md"; fail "$m: rho is not $want"; }
  svg=$out/per_layer_$m.svg
  [ -s "$svg" ] || fail "$svg missing"
  if command -v xmllint >/dev/null; then xmllint --noout "$svg" || fail "$svg is not well-formed"; fi
  for l in 0 1 2 3 4; do
    x=$(awk -F, -v l=$l -v c=$c '$1 == l { print $c }' "$out/per_layer.csv")
    y=$(awk -F, -v l=$l '$1 == l { print $3 }' "$out/per_layer.csv")
    t=$(grep -o "<title>layer $l: x = [^<]*" "$svg") || fail "$m: no point for layer $l"
    awk -v t="$t" -v x="$x" -v y="$y" 'BEGIN { split(t, f, /[=,+ ]+/)
      for (i in f) if (f[i] == "x") px = f[i + 1]; else if (f[i] == "y") py = f[i + 1]
      exit !((px - x)^2 <= 1e-8 * (x^2 + 1e-12) && (py - y)^2 < 1e-10) }' ||
      fail "$m figure, layer $l: '$t' vs ($x, $y)"
  done
  c=$((c + 1))
done < "$tmp/measures"
# the zero-shot metrics have no macro-F1: an error naming the run
sed -i 's/^metric: loss/metric: macro_f1/' "$tmp/sweep.yaml"
"$bin" --threads 1 sweep "$tmp/sweep.yaml" --out "$tmp/out" > "$tmp/log2" 2>&1
[ $? -eq 2 ] && grep -q "per_layer: .*layer0-seed1/summary.json has no zero-shot macro_f1" "$tmp/log2" ||
  { tail -3 "$tmp/log2"; fail "macro_f1 per layer"; }
echo ok
