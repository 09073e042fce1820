#!/usr/bin/env bash
# Data parallelism (#16) under `mpirun -np 2` with a policy that re-plans:
# LISA draws new layers every 3 steps on rank 0 (on_step), and every rank
# must switch to the same plan, with the embeddings (tied to the head)
# trained and summed too. The curve follows one process's as in
# test_mpi_run.sh; the evaluations every 4 steps are sharded by rows and
# summed: their loss within 1e-5, their accuracy the same.
set -u
. tests/e2e/assets.sh
. tests/e2e/mpi.sh
S=("${asset_sets[@]}" --set trace.samples=8 --set eval.max_samples=16 --set data.max_samples=300
   --set threads=1)
run() { "$@" >"$tmp/out" 2>&1 || { cat "$tmp/out"; echo "FAIL: $*"; exit 1; }; }
cols() { sed -n 's/^{"step":\([0-9]*\),"loss":\([^,]*\),.*"grad_norm":\([^}]*\)}/\1 \2 \3/p' "$1/metrics.jsonl"; }
# |a-b| <= tol * |a| on steps <= last: the loss, and with gn=1 the
# gradient norm too (a small norm late in the curve carries the drift)
agree() {
  paste <(cols "$1") <(cols "$2") | awk -v tol="$3" -v last="$4" -v what="$5" -v gn="$6" '
    function bad(a, b) { d = a - b; if (d < 0) d = -d; m = a < 0 ? -a : a; return d > tol * m }
    $1 <= last { n++; if (bad($2, $5) || (gn && bad($3, $6))) { print "FAIL: " what " step " $1 ": 1 process " $2 " " $3 ", 2 ranks " $5 " " $6; f = 1 } }
    END { if (n < last) { print "FAIL: " what ": " n " steps"; f = 1 }; exit f }'
}
Z=(--set train.steps=12 --set eval.every=4 --set policy.script=lisa --set policy.params.interval=3
   --set policy.params.gamma=1)
run "$bin" run recipes/quickstart.yaml "${S[@]}" "${Z[@]}" --out "$tmp/z1"
run "${mpi[@]}" "$bin" run recipes/quickstart.yaml "${S[@]}" "${Z[@]}" --out "$tmp/z2"
[ "$(grep -c 'policy switched' "$tmp/out")" = 2 ] || { cat "$tmp/out"; echo "FAIL: 2 plan switches expected"; exit 1; }
agree "$tmp/z1" "$tmp/z2" 1e-6 2 LISA 1 || exit 1
agree "$tmp/z1" "$tmp/z2" 1e-5 12 LISA 0 || exit 1
evals() { sed -n 's/^{"step":\([0-9]*\),"eval_loss":\([^,]*\),.*"eval_accuracy":\([^,]*\),.*/\1 \2 \3/p' "$1/metrics.jsonl"; }
paste <(evals "$tmp/z1") <(evals "$tmp/z2") | awk '
  { n++; d = $2 - $5; if (d < 0) d = -d; if (d > 1e-5 * $2 || $3 != $6) { print "FAIL: eval at step " $1 ": " $2 " " $3 " vs " $5 " " $6; f = 1 } }
  END { if (n != 4) { print "FAIL: " n " evaluations"; f = 1 }; exit f }' || exit 1
echo ok
