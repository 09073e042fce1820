#!/usr/bin/env bash
# test_run_faults.sh - a run that cannot record its steps stops: with
# metrics.jsonl on a full disk (a link to /dev/full) the run exits 2 naming
# the file and the cause instead of training on unrecorded; a batch whose
# positions do not fit an int is refused by name before anything is
# allocated for it (UBSan in the sanitizer build checks nothing overflows).
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
[ $rc = 2 ] && grep -q "positions; at most" "$tmp/huge.out" ||
  { cat "$tmp/huge.out"; fail "batch_size 1e8: exit $rc"; }
echo ok
