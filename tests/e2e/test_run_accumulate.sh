#!/usr/bin/env bash
# train.accumulate, train.checkpointing and train.fused_update through the
# runner: batch 8 x 2 micro-batches follows batch 16's loss curve (the
# batcher hands out the same rows; within float rounding); checkpointing
# leaves every loss bit for bit as it was (the same gradients, recomputed);
# fused updates (no clipping) leave every loss and the final weights bit for
# bit those of the same run without them, and with clipping on they are
# refused, naming the keys.
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
run --set train.batch_size=16 --set train.grad_clip=0 --out "$tmp/noclip"
run --set train.batch_size=16 --set train.grad_clip=0 --set train.fused_update=true --out "$tmp/fused"
cmp <(losses "$tmp/noclip") <(losses "$tmp/fused") || { echo "FAIL: fused updates changed the losses"; exit 1; }
# the tensors after safetensors' header (its metadata holds the wall time)
tensors() { tail -c +$(( $(od -An -tu8 -N8 "$1") + 9 )) "$1"; }
cmp <(tensors "$tmp/noclip/checkpoint.safetensors") <(tensors "$tmp/fused/checkpoint.safetensors") ||
  { echo "FAIL: fused updates changed the weights"; exit 1; }
grep -q '"fused_update": true' "$tmp/fused/summary.json" || { echo "FAIL: summary lacks fused_update"; exit 1; }
"$bin" run recipes/quickstart.yaml "${S[@]}" --set train.fused_update=true --out "$tmp/clip" >"$tmp/out" 2>&1
[ $? -ne 0 ] && grep -q "train.fused_update.*train.grad_clip: 0 (got 1)" "$tmp/out" ||
  { echo "FAIL: fused updates with clipping were not refused by name"; cat "$tmp/out"; exit 1; }
[ ! -e "$tmp/clip/summary.json" ] || { echo "FAIL: a refused recipe left a summary"; exit 1; }
echo ok
