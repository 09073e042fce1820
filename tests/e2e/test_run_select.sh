#!/usr/bin/env bash
# Selection during training: data.validation holds out a split that the
# evaluations report as val_*; train.early_stop stops when the metric stops
# improving by min_delta (here it cannot: min_delta is larger than any
# change), output.keep: best keeps the best evaluation's checkpoint, the
# summary says which step was best and why training stopped, and a stopped
# run is complete (a resume is refused).
set -u
. tests/e2e/assets.sh
S=("${asset_sets[@]}" --set trace.samples=8 --set eval.max_samples=16 --set data.max_samples=200
   --set threads=1 --set train.steps=40 --set eval.every=5 --set data.validation=0.1)
fail=0
bad() { echo "FAIL: $*"; fail=1; }
"$bin" run recipes/quickstart.yaml "${S[@]}" --set train.early_stop.patience=2 \
  --set train.early_stop.min_delta=10 --set output.metric=loss --set output.keep=best \
  --out "$tmp/r" >"$tmp/out" 2>&1 || { cat "$tmp/out"; exit 1; }
j=$(tr -d ' \n' <"$tmp/r/summary.json")
case $j in *'"stop_reason":"early_stop"'*) ;; *) bad "stop_reason: $j" ;; esac
case $j in *'"best":{"step":5,"metric":"loss","on":"validation"'*) ;; *) bad "best: $j" ;; esac
case $j in *'"steps":15,'*) ;; *) bad "stopped at step 15 expected (evals at 5, 10, 15; patience 2)" ;; esac
case $j in *'"complete":true'*) ;; *) bad "an early-stopped run is complete" ;; esac
case $j in *'"validation_examples":20,'*) ;; *) bad "10% of 200 held out: $j" ;; esac
grep -q '"step":10,"eval_loss":[^,]*,"eval_perplexity":[^,]*,"eval_accuracy":.*,"val_loss":[^,]*,"val_perplexity"' \
  "$tmp/r/metrics.jsonl" || bad "metrics.jsonl evaluations lack val_*: $(grep eval_ "$tmp/r/metrics.jsonl" | head -2)"
grep -q "^early stop at step 15" "$tmp/out" || bad "no early-stop line: $(grep -i early "$tmp/out")"
[ -f "$tmp/r/best.safetensors" ] || bad "keep: best kept no best.safetensors"
"$bin" info "$tmp/r@best" >/dev/null 2>"$tmp/err" || bad "RUN@best: $(cat "$tmp/err")"
"$bin" run --resume "$tmp/r" >/dev/null 2>"$tmp/err"
grep -q "stopped early at step 15" "$tmp/err" || bad "resume of a stopped run: $(cat "$tmp/err")"
# keep: best and early_stop need evaluations during training
"$bin" run recipes/quickstart.yaml "${S[@]}" --set output.keep=best --set eval.every=null \
  --out "$tmp/n" >/dev/null 2>"$tmp/err"
grep -q "output.keep: best needs evaluations during training: set eval.every" "$tmp/err" ||
  bad "keep: best without eval.every: $(cat "$tmp/err")"
[ $fail = 0 ] && echo ok
exit $fail
