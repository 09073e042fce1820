#!/usr/bin/env bash
# Faults of a data-parallel run (#16) under `mpirun -np 2`:
#  - rank 1 killed with SIGKILL mid-training ends the job (non-zero, within
#    10 s, the launcher names rank 1); the last checkpoint is intact and
#    --resume gives the uninterrupted curve bit for bit;
#  - an error on rank 1 alone ends the job with a message naming the rank;
#  - a checkpoint written by 2 ranks resumes in one process: the steps before
#    it are the 2-rank run's, those after follow it within float rounding.
set -u
. tests/e2e/assets.sh
. tests/e2e/mpi.sh
# 200 steps, so a run is still going when rank 1 is killed; --stop-at 30 ends
# the runs that are compared (the schedule sees the same 200 steps)
S=("${asset_sets[@]}" --set trace.samples=8 --set eval.max_samples=16 --set data.max_samples=300
   --set train.steps=200 --set eval.every=1000 --set output.checkpoint_every=10 --set threads=1)
run() { "$@" >"$tmp/out" 2>&1 || { cat "$tmp/out"; echo "FAIL: $*"; exit 1; }; }
losses() { sed -n 's/^{"step":\([0-9]*\),"loss":\([^,]*\),.*/\1 \2/p' "$1/metrics.jsonl"; }
steps() { cat "$1/metrics.jsonl" 2>/dev/null | grep -c '"loss"'; }

run "${mpi[@]}" "$bin" run recipes/quickstart.yaml "${S[@]}" --stop-at 30 --out "$tmp/ref"
[ "$(steps "$tmp/ref")" = 30 ] || { echo "FAIL: the reference run has $(steps "$tmp/ref") steps"; exit 1; }

# SIGKILL on rank 1 once step 11 is logged (the checkpoint of step 10 exists)
"${mpi[@]}" "$bin" run recipes/quickstart.yaml "${S[@]}" --out "$tmp/k" >"$tmp/k.log" 2>&1 &
job=$!
for _ in $(seq 600); do [ "$(steps "$tmp/k")" -ge 11 ] || ! kill -0 $job 2>/dev/null && break; sleep 0.05; done
victim=
procs=$(pgrep -P $job)
for p in $procs; do
  tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && victim=$p
done
[ -n "$victim" ] || { cat "$tmp/k.log"; echo "FAIL: rank 1 not found (the run ended early?)"; exit 1; }
kill -9 "$victim"
for _ in $(seq 100); do kill -0 $job 2>/dev/null || break; sleep 0.1; done
if kill -0 $job 2>/dev/null; then
  kill -9 $job $procs
  echo "FAIL: the job still runs 10 s after rank 1 died"; exit 1
fi
wait $job && { echo "FAIL: the job exited 0 after rank 1 was killed"; exit 1; }
grep -q "rank 1" "$tmp/k.log" || { cat "$tmp/k.log"; echo "FAIL: the dead rank is not named"; exit 1; }
n=$(steps "$tmp/k")
[ "$n" -lt 30 ] || { echo "FAIL: the killed run got to step $n"; exit 1; }
run "${mpi[@]}" "$bin" run --resume "$tmp/k" --stop-at 30
cmp <(losses "$tmp/ref") <(losses "$tmp/k") ||
  { echo "FAIL: the resumed run differs from the uninterrupted one"; exit 1; }

# an error on rank 1 only: its schedule fails at step 5
cat >"$tmp/sched.lua" <<'EOF'
return function(step, total, lr)
  if step == 5 and os.getenv("OMPI_COMM_WORLD_RANK") == "1" then error("rank one gives up") end
  return lr
end
EOF
"${mpi[@]}" "$bin" run recipes/quickstart.yaml "${S[@]}" --unsafe-lua --set train.schedule.script="$tmp/sched.lua" \
  --out "$tmp/e" >"$tmp/out" 2>&1 && { echo "FAIL: the job succeeded"; exit 1; }
grep -q "strata: error: rank 1 of 2: .*rank one gives up" "$tmp/out" ||
  { cat "$tmp/out"; echo "FAIL: rank 1's error is not printed with its rank"; exit 1; }

# written by 2 ranks at step 10, resumed alone to step 30
run "${mpi[@]}" "$bin" run recipes/quickstart.yaml "${S[@]}" --stop-at 10 --out "$tmp/n"
run "$bin" run --resume "$tmp/n" --stop-at 30
cmp <(losses "$tmp/ref" | head -10) <(losses "$tmp/n" | head -10) || { echo "FAIL: steps 1-10"; exit 1; }
paste <(losses "$tmp/ref") <(losses "$tmp/n") | awk '
  { n++; d = $2 - $4; if (d < 0) d = -d; if (d > 1e-5 * $2) { print "FAIL: step " $1 ": 2 ranks " $2 ", resumed alone " $4; f = 1 } }
  END { if (n != 30) { print "FAIL: " n " steps"; f = 1 }; exit f }' || exit 1
echo ok
