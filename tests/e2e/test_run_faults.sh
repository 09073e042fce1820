#!/usr/bin/env bash
# test_run_faults.sh - a run that cannot record its steps stops: with
# metrics.jsonl on a full disk (a link to /dev/full) the run exits 2 naming
# the file and the cause instead of training on unrecorded; a batch size
# past its declared range is refused by name before anything is allocated
# for it (the trainer's own check of B x T: tests/unit/test_masked.c);
# Ctrl-C (SIGINT) stops a run after the step in progress with a checkpoint
# and a resume hint, and --resume finishes it; SIGTERM to a sweep stops its
# running child the same way, waits for it and leaves no orphan behind;
# data on a FIFO is refused instead of blocking the run.
set -u
. tests/e2e/assets.sh
fail() { echo "FAIL: $*"; exit 1; }
small=(--set train.steps=4 --set trace.samples=4 --set eval.samples=8 "${asset_sets[@]}")

if [ -w /dev/full ] && [ -c /dev/full ]; then
  mkdir -p "$tmp/full"
  ln -s /dev/full "$tmp/full/metrics.jsonl"
  "$bin" run recipes/quickstart.yaml "${small[@]}" --out "$tmp/full" >"$tmp/full.out" 2>&1
  rc=$?
  [ $rc = 2 ] || { cat "$tmp/full.out"; fail "a full disk under metrics.jsonl: exit $rc"; }
  grep -q "metrics.jsonl: cannot write: No space left on device" "$tmp/full.out" ||
    { cat "$tmp/full.out"; fail "no message naming metrics.jsonl and the cause"; }
  grep -q "^step 1/" "$tmp/full.out" && fail "training went on after the failed write"
else
  echo "note: no writable /dev/full; the full-disk case is skipped"
fi

"$bin" run recipes/quickstart.yaml "${small[@]}" --set train.batch_size=100000000 \
  --out "$tmp/huge" >"$tmp/huge.out" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "key 'train.batch_size': expected int in 1..1048576, got int 100000000" "$tmp/huge.out" ||
  { cat "$tmp/huge.out"; fail "batch_size 1e8: exit $rc"; }
"$bin" --threads 1 run recipes/quickstart.yaml "${asset_sets[@]}" --set train.steps=2000 \
  --set trace.samples=4 --set eval.samples=8 --set eval.every=1000 --out "$tmp/int" >"$tmp/int.out" 2>&1 &
pid=$!
for _ in $(seq 600); do
  [ "$(grep -c '"loss"' "$tmp/int/metrics.jsonl" 2>/dev/null)" -ge 3 ] && break
  sleep 0.1
done
kill -INT $pid
wait $pid
rc=$?
[ $rc = 2 ] || { cat "$tmp/int.out"; fail "after SIGINT: exit $rc"; }
grep -qE "interrupted after step [0-9]+; its checkpoint is kept: continue with strata run --resume" \
  "$tmp/int.out" || { cat "$tmp/int.out"; fail "no resume hint after SIGINT"; }
[ -s "$tmp/int/checkpoint.safetensors" ] || fail "no checkpoint after SIGINT"
grep -q '"complete": false' "$tmp/int/summary.json" || fail "summary.json does not say incomplete"
done_steps=$(grep -c '"loss"' "$tmp/int/metrics.jsonl")
"$bin" --threads 1 run --resume "$tmp/int" --set train.steps=$((done_steps + 2)) >"$tmp/res.out" 2>&1 ||
  { cat "$tmp/res.out"; fail "resume after SIGINT"; }
grep -q '"complete": true' "$tmp/int/summary.json" || fail "the resumed run did not complete"
# data.train on a FIFO is refused by name instead of blocking on the open
mkfifo "$tmp/fifo.tsv"
timeout -s KILL 60 "$bin" run recipes/quickstart.yaml "${small[@]}" --set "data.train=$tmp/fifo.tsv" \
  --out "$tmp/fifo" >"$tmp/fifo.out" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "fifo.tsv: not a regular file (a FIFO)" "$tmp/fifo.out" ||
  { cat "$tmp/fifo.out"; fail "data.train on a FIFO: exit $rc (137: it blocked)"; }

cat >"$tmp/long.yaml" <<Y
recipe: recipes/quickstart.yaml
seeds: [1]
metric: accuracy
set: {train.steps: 2000, eval.every: 1000, eval.samples: 8, trace.samples: 4}
variants:
  - name: long
    set: {policy.script: all}
Y
if [ "$shared" != ../shared ]; then
  sed -i "s|^set: {|set: {model: $shared/models/stories260K/stories260K.bin, data.train: $shared/data/sst2/train.tsv, data.eval: $shared/data/sst2/dev.tsv, |" "$tmp/long.yaml"
fi
"$bin" --threads 1 sweep "$tmp/long.yaml" --out "$tmp/sw" >"$tmp/sw.out" 2>&1 &
pid=$!
for _ in $(seq 600); do
  [ "$(grep -c '"loss"' "$tmp/sw/runs/long-seed1/metrics.jsonl" 2>/dev/null)" -ge 2 ] && break
  sleep 0.1
done
kill -TERM $pid
wait $pid
rc=$?
[ $rc = 2 ] && grep -q "sweep interrupted" "$tmp/sw.out" || { cat "$tmp/sw.out"; fail "sweep after SIGTERM: exit $rc"; }
grep -q "long seed 1 interrupted" "$tmp/sw.out" || { cat "$tmp/sw.out"; fail "the run is not reported interrupted"; }
[ -s "$tmp/sw/runs/long-seed1/checkpoint.safetensors" ] || fail "the sweep's run left no checkpoint"
grep -q '"complete": false' "$tmp/sw/runs/long-seed1/summary.json" || fail "the sweep's run is not marked incomplete"
pgrep -f "$tmp/sw/runs" >/dev/null && fail "an orphaned run is still going"
echo ok
