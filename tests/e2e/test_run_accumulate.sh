#!/usr/bin/env bash
# train.accumulate and train.checkpointing through the runner: batch 8 x 2
# micro-batches follows batch 16's loss curve (the batcher hands out the same
# rows; within float rounding), and checkpointing leaves every loss bit for
# bit as it was (the same gradients, recomputed).
set -u
. tests/e2e/assets.sh
S=("${asset_sets[@]}" --set trace.samples=8 --set eval.max_samples=16 --set data.max_samples=300
   --set train.steps=8 --set policy.script=all --set threads=1)
run() { "$bin" run recipes/quickstart.yaml "${S[@]}" "$@" >"$tmp/out" 2>&1 || { cat "$tmp/out"; exit 1; }; }
losses() { sed -n 's/^{"step":\([0-9]*\),"loss":\([^,]*\),.*/\1 \2/p' "$1/metrics.jsonl"; }
run --set train.batch_size=16 --out "$tmp/big"
run --set train.batch_size=8 --set train.accumulate=2 --out "$tmp/acc"
run --set train.batch_size=16 --set train.checkpointing=true --out "$tmp/ckpt"
[ "$(losses "$tmp/big" | wc -l)" = 8 ] || { echo "FAIL: 8 steps expected"; losses "$tmp/big"; exit 1; }
paste <(losses "$tmp/big") <(losses "$tmp/acc") | awk '
  { d = $2 - $4; if (d < 0) d = -d; if (d > 2e-5 * ($2 > 1 ? $2 : 1)) { print "FAIL: step " $1 ": batch 16 " $2 ", 8 x 2 " $4; bad = 1 } }
  END { exit bad }' || exit 1
cmp <(losses "$tmp/big") <(losses "$tmp/ckpt") || { echo "FAIL: checkpointing changed the losses"; exit 1; }
grep -q '"accumulate": 2' "$tmp/acc/summary.json" || { echo "FAIL: summary lacks accumulate"; exit 1; }
echo ok
