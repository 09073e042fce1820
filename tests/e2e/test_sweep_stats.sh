#!/usr/bin/env bash
# test_sweep_stats.sh - the sweep's statistics on stories260K, a few steps
# per run (tests/fixtures/sweep_stats/rig.yaml: validation is held-out
# Shakespeare, test is children's stories, so the two disagree):
# - a grid chooses by validation, not test: the point it reports has the
#   better mean validation loss and the worse test loss (the rig is checked
#   first: if the two agreed the test could not tell);
# - the reported mean and its 95% interval are the chosen point's, the
#   interval with t(0.975, 1) = 12.706204736174698 (scipy.stats.t.ppf);
# - verdicts against the reference: worse, better, not distinguishable;
# - budget matching picks the value whose plan has the matched variant's
#   layer set (first_n_frozen n=3 trains what last_n n=2 trains), listed
#   out of order, and reports both budgets;
# - resuming keeps completed grid points: a re-run starts only the one
#   removed, and a re-run with another reference only rebuilds the tables;
# - a grid whose runs have no validation split is an error naming the run.
set -u
. tests/e2e/assets.sh
data=$shared/data/tinyshakespeare/input.txt
[ -f "$data" ] || { echo "skipped: $data not found"; exit 77; }
sets=""
[ "$shared" != ../shared ] && sets="  model: $shared/models/stories260K/stories260K.bin
  data.train: $data"
write() { # reference
  cat > "$tmp/sweep.yaml" <<Y
recipe: tests/fixtures/sweep_stats/rig.yaml
seeds: [1, 2]
metric: loss
reference: $1
set:
  eval.samples: 40
$sets
variants:
  - {name: tuned, grid: {train.lr: [1.0e-5, 3.0e-3]}}
  - {name: low, set: {train.lr: 1.0e-5}}
  - {name: twin, set: {train.lr: 3.0e-3}}
  - {name: top2, seeds: [1], set: {policy.script: last_n, policy.params.n: 2}}
  - {name: first-n, seeds: [1], set: {policy.script: first_n_frozen},
     match_budget: top2, param: policy.params.n, values: [4, 1, 3, 2]}
compare:
  - {a: twin, b: low, claim: "a high \"lr\", the same"}
Y
}
fail() { echo "FAIL: $*"; exit 1; }
col() { # file variant column-name: one field of a CSV row (quoted fields hold commas)
  awk -v v="$2" -v c="$3" '
    function fields(line, f,   n, i, ch, q, cur) {
      n = 0; cur = ""; q = 0
      for (i = 1; i <= length(line); i++) {
        ch = substr(line, i, 1)
        if (ch == "\"" && q && substr(line, i + 1, 1) == "\"") { cur = cur ch; i++ }
        else if (ch == "\"") q = !q
        else if (ch == "," && !q) { f[++n] = cur; cur = "" }
        else cur = cur ch
      }
      f[++n] = cur
      return n
    }
    NR == 1 { n = fields($0, h); for (i = 1; i <= n; i++) if (h[i] == c) k = i; next }
    { fields($0, f); if (f[1] == v) print f[k] }' "$1"
}

write low
"$bin" --threads 1 sweep "$tmp/sweep.yaml" --out "$tmp/out" --jobs 2 > "$tmp/log1" 2>&1 || { cat "$tmp/log1"; fail "sweep"; }
runs=$tmp/out/runs.csv res=$tmp/out/results.csv
# the rig: per point, mean validation and test loss over the two seeds
pt() { awk -F, -v p="$1" -v k="$2" '$1 == "tuned" && $2 == "\"" p "\"" { s += $k; n++ } END { printf "%.6f", s / n }' "$runs"; }
vlo=$(pt "@lr=1e-05" 5) vhi=$(pt "@lr=0.003" 5) tlo=$(pt "@lr=1e-05" 6) thi=$(pt "@lr=0.003" 6)
awk -v a="$vhi" -v b="$vlo" -v c="$thi" -v d="$tlo" 'BEGIN { exit !(a < b && c > d) }' ||
  fail "the rig does not split validation ($vhi vs $vlo) from test ($thi vs $tlo)"
[ "$(col "$res" tuned chosen)" = "lr=0.003" ] || fail "tuned chose '$(col "$res" tuned chosen)', not lr=0.003 (best validation)"
[ "$(col "$res" tuned grid_points)" = 2 ] || fail "tuned: grid_points $(col "$res" tuned grid_points)"
# the reported mean and interval are the chosen point's test losses
read -r x1 x2 < <(awk -F, '$1 == "tuned" && $2 == "\"@lr=0.003\"" { printf "%s ", $6 }' "$runs")
mean=$(col "$res" tuned loss_mean) lo=$(col "$res" tuned loss_ci_lo) hi=$(col "$res" tuned loss_ci_hi)
awk -v a="$x1" -v b="$x2" -v m="$mean" -v lo="$lo" -v hi="$hi" 'BEGIN {
  mu = (a + b) / 2; sd = sqrt(((a - mu)^2 + (b - mu)^2) / 1); h = 12.706204736174698 * sd / sqrt(2)
  d = mu - m; e = mu - h - lo; f = mu + h - hi
  exit !(d * d < 1e-10 && e * e < 1e-10 && f * f < 1e-10) }' ||
  fail "tuned: $mean [$lo, $hi] is not the t interval of $x1, $x2"
# the grid's cost counts both points
g=$(col "$res" tuned grid_backprop_pct)
[ "$g" = 200.00 ] || fail "tuned: whole-grid backprop $g%, want 200.00 (two full runs)"
[ "$(col "$res" tuned verdict)" = worse ] || fail "tuned vs low: $(col "$res" tuned verdict)"
[ "$(col "$res" twin verdict)" = worse ] || fail "twin vs low: $(col "$res" twin verdict)"
[ "$(col "$res" low verdict)" = reference ] || fail "low: $(col "$res" low verdict)"
grep -q '^| tuned | all.lua | .* | lr=0.003 | 100.0% | 2, 200% | .* | worse |$' "$tmp/out/results.md" ||
  { cat "$tmp/out/results.md"; fail "results.md tuned row"; }
# budget matching: n=3 trains layers 3, 4 as last_n n=2 does
ch=$(col "$res" first-n chosen)
[[ "$ch" == "n=3 ("*"% vs top2 "*"%)" ]] || fail "first-n chose '$ch', not n=3"
[ -f "$tmp/out/runs/first-n@n=3-seed1/summary.json" ] || fail "no run first-n@n=3-seed1"
b3=$(grep -h '^backprop: ' "$tmp/out/logs/plan-first-n@n=3-seed1.log" | cut -d% -f1)
bt=$(grep -h '^backprop: ' "$tmp/out/logs/plan-top2-for-first-n-seed1.log" | cut -d% -f1)
[ -n "$b3" ] && [ "$b3" = "$bt" ] || fail "plans: n=3 at '$b3', top2 at '$bt'"
grep -q "budget: first-n matched to top2 (${bt#backprop: }% of full backprop): policy.params.n = 3" "$tmp/log1" ||
  { grep budget "$tmp/log1"; fail "budget line"; }
for n in 1 2 4; do [ -e "$tmp/out/runs/first-n@n=$n-seed1" ] && fail "first-n ran n=$n"; done

# resume: one grid point removed is the only run started again
rm -rf "$tmp/out/runs/tuned@lr=1e-05-seed2"
write tuned
"$bin" --threads 1 sweep "$tmp/sweep.yaml" --out "$tmp/out" --jobs 2 > "$tmp/log2" 2>&1 || { cat "$tmp/log2"; fail "re-run"; }
started=$(grep -c ": started$" "$tmp/log2") skipped=$(grep -c "done before, skipped" "$tmp/log2")
[ "$started" = 1 ] && [ "$skipped" = 9 ] && grep -q "tuned@lr=1e-05 seed 2: started" "$tmp/log2" ||
  { cat "$tmp/log2"; fail "re-run started $started and skipped $skipped runs, want 1 and 9"; }
[ "$(col "$res" low verdict)" = better ] || fail "low vs tuned: $(col "$res" low verdict)"
[ "$(col "$res" twin verdict)" = "not distinguishable" ] || fail "twin vs tuned: $(col "$res" twin verdict)"
[ "$(col "$res" twin diff_vs_tuned)" = 0.000000 ] || fail "twin: the same runs differ by $(col "$res" twin diff_vs_tuned)"
# compare: twin - low is the reverse of low's difference to tuned (= twin)
cmp=$tmp/out/comparisons.csv
[ "$(col "$cmp" 'a high "lr", the same' verdict)" = worse ] || { cat "$cmp"; fail "compare twin - low"; }
awk -v a="$(col "$cmp" 'a high "lr", the same' diff_mean)" -v b="$(col "$res" low diff_vs_tuned)" \
  'BEGIN { exit !((a + b)^2 < 1e-12) }' || fail "compare: twin - low is not -(low - tuned)"
grep -qF '| twin − low | a high "lr", the same | +' "$tmp/out/results.md" || fail "results.md comparison row"

# a grid needs the validation split
printf '%s\n' "recipe: tests/fixtures/sweep_stats/rig.yaml" "metric: loss" "set:" \
  "  data.validation: 0" "  train.steps: 2" "  eval.samples: 8" "$sets" \
  "variants: [{name: g, grid: {train.lr: [1.0e-3, 2.0e-3]}}]" > "$tmp/noval.yaml"
"$bin" --threads 1 sweep "$tmp/noval.yaml" --out "$tmp/noval" > "$tmp/log3" 2>&1
[ $? -eq 2 ] && grep -q "variant g has a grid, chosen on validation, but .*g@lr=0.001-seed1/summary.json has no validation loss" "$tmp/log3" ||
  { cat "$tmp/log3"; fail "grid without validation"; }
# bad sweep files
printf 'recipe: r.yaml\nreference: nope\nvariants: [{name: a}]\n' > "$tmp/bad.yaml"
"$bin" sweep "$tmp/bad.yaml" --out "$tmp/bad" 2> "$tmp/err"
[ $? -eq 2 ] && grep -q "reference 'nope' names no variant" "$tmp/err" || { cat "$tmp/err"; fail "bad reference"; }
printf 'recipe: r.yaml\nvariants: [{name: a, match_budget: a, param: x, values: [1]}]\n' > "$tmp/bad.yaml"
"$bin" sweep "$tmp/bad.yaml" --out "$tmp/bad" 2> "$tmp/err"
[ $? -eq 2 ] && grep -q "match_budget 'a' names no other variant" "$tmp/err" || { cat "$tmp/err"; fail "self match"; }
printf 'recipe: r.yaml\nvariants: [{name: a, match_budget: b}, {name: b}]\n' > "$tmp/bad.yaml"
"$bin" sweep "$tmp/bad.yaml" --out "$tmp/bad" 2> "$tmp/err"
[ $? -eq 2 ] && grep -q "'match_budget' needs 'param'" "$tmp/err" || { cat "$tmp/err"; fail "match without param"; }
printf 'recipe: r.yaml\nvariants: [{name: a, grid: {train.lr: [1, 1.0]}}]\n' > "$tmp/bad.yaml"
"$bin" sweep "$tmp/bad.yaml" --out "$tmp/bad" 2> "$tmp/err"
[ $? -eq 2 ] && grep -q "lists 1 twice" "$tmp/err" || { cat "$tmp/err"; fail "duplicate grid value"; }
echo ok
