#!/bin/bash
# test_run.sh - strata run / strata plan end to end on stories260K + SST-2:
# every run file is written; a run stopped at step 3 and resumed reproduces
# the uninterrupted run's loss curve exactly (also with plan switches and
# with LoRA adapters); a diverging run stops with exit
# 2 and keeps its last checkpoint; bad recipes and bad plans fail with the
# reason (file:line:col for recipe keys).
set -u
BIN=${STRATA_BIN:?STRATA_BIN must name the strata binary}
SHARED=${STRATA_SHARED:-../shared}
if [ ! -f "$SHARED/models/stories260K/stories260K.bin" ] || [ ! -f "$SHARED/data/sst2/train.tsv" ]; then
  echo "skipped: stories260K or SST-2 not found under $SHARED"
  exit 77
fi
SHARED=$(cd "$SHARED" && pwd)
TMP=$(mktemp -d)
[ -n "${KEEP_TMP:-}" ] || trap 'rm -rf "$TMP"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect_in() { grep -qF -- "$2" "$1" || { fail "'$2' not in $1:"; cat "$1"; }; }

# the recipe, pointed at $SHARED, made small: 6 steps, tiny trace and eval
sed "s#\.\./shared/#$SHARED/#" recipes/quickstart.yaml >"$TMP/quick.yaml"
SMALL=(--threads 1 --set train.steps=6 --set eval.every=3 --set trace.samples=8
       --set eval.samples=24 --set output.checkpoint_every=2
       --set train.schedule.params.warmup=2)
# step and loss of every training step, as logged
losses() { grep -o '"step":[0-9]*,"loss":[^,]*' "$1/metrics.jsonl"; }

# --- a whole run -------------------------------------------------------------
"$BIN" run "$TMP/quick.yaml" "${SMALL[@]}" --out "$TMP/a" >"$TMP/a.out" 2>&1 ||
  { fail "run exited $?"; cat "$TMP/a.out"; }
for f in recipe.resolved.yaml plan.json trace.json metrics.jsonl summary.json checkpoint.safetensors \
         trace.svg loss_curves.svg; do
  [ -s "$TMP/a/$f" ] || fail "run folder lacks $f"
done
ls "$TMP/a" | grep -q '\.tmp$' && fail "a .tmp file was left behind"
[ "$(losses "$TMP/a" | wc -l)" = 6 ] || fail "metrics.jsonl lacks 6 step lines"
expect_in "$TMP/a/metrics.jsonl" '"step":3,"eval_loss"'
expect_in "$TMP/a/metrics.jsonl" '"step":0,"eval_loss"'
expect_in "$TMP/a/summary.json" '"zero_shot"'
expect_in "$TMP/a/summary.json" '"backprop_ratio"'
expect_in "$TMP/a/summary.json" '"complete": true'
expect_in "$TMP/a/plan.json" '"gains"'
if command -v xmllint >/dev/null; then
  xmllint --noout "$TMP/a/trace.svg" "$TMP/a/loss_curves.svg" || fail "run figures are not well-formed"
fi
expect_in "$TMP/a.out" "backprop:"
expect_in "$TMP/a.out" "after fine-tuning"
expect_in "$TMP/a/recipe.resolved.yaml" "steps: 6"

# --- stop at step 3, resume: the same losses, bit for bit ----------------------
"$BIN" run "$TMP/quick.yaml" "${SMALL[@]}" --out "$TMP/b" --stop-at 3 >"$TMP/b1.out" 2>&1 ||
  { fail "stopped run exited $?"; cat "$TMP/b1.out"; }
[ "$(losses "$TMP/b" | wc -l)" = 3 ] || fail "the stopped run did not stop at 3"
# what a killed run may have logged after its checkpoint is dropped on resume
echo '{"step":4,"loss":999}' >>"$TMP/b/metrics.jsonl"
"$BIN" --threads 1 run --resume "$TMP/b" >"$TMP/b2.out" 2>&1 ||
  { fail "resume exited $?"; cat "$TMP/b2.out"; }
expect_in "$TMP/b2.out" "at step 3"
if ! diff <(losses "$TMP/a") <(losses "$TMP/b") >"$TMP/diff"; then
  fail "resumed loss curve differs from the uninterrupted one:"
  cat "$TMP/diff"
fi
# the same with plan switches from on_step (LISA redraws every 2 steps): the
# checkpoint must carry the current plan and every tensor trained so far
# (seed 9 draws layer 0, then 1 at step 2, then 2 at step 4)
LISA=(--set policy.script=lisa --set 'policy.params={gamma: 1, interval: 2, seed: 9}')
"$BIN" run "$TMP/quick.yaml" "${SMALL[@]}" "${LISA[@]}" --out "$TMP/l1" >"$TMP/l1.out" 2>&1 ||
  { fail "lisa run exited $?"; cat "$TMP/l1.out"; }
expect_in "$TMP/l1.out" "policy switched to"
"$BIN" run "$TMP/quick.yaml" "${SMALL[@]}" "${LISA[@]}" --out "$TMP/l2" --stop-at 3 >"$TMP/l2.out" 2>&1 &&
  "$BIN" --threads 1 run --resume "$TMP/l2" >>"$TMP/l2.out" 2>&1 ||
  { fail "lisa stop/resume exited $?"; cat "$TMP/l2.out"; }
if ! diff <(losses "$TMP/l1") <(losses "$TMP/l2") >"$TMP/diff"; then
  fail "resumed LISA loss curve differs:"
  cat "$TMP/diff"
fi
# reselect re-traces from on_step inside the loop
"$BIN" run "$TMP/quick.yaml" "${SMALL[@]}" --set policy.script=reselect \
  --set 'policy.params={every: 2, measure: delta_norm}' --out "$TMP/re" >"$TMP/re.out" 2>&1 ||
  { fail "reselect run exited $?"; cat "$TMP/re.out"; }

"$BIN" --threads 1 run --resume "$TMP/b" >"$TMP/b3.out" 2>&1 && fail "resuming a finished run succeeded"
expect_in "$TMP/b3.out" "the run is complete"

# --- kill -9 at an arbitrary moment, resume: the same losses as a run that
# went straight to the same step (constant lr, so the schedule does not depend
# on the total)
CONST=(--threads 1 --set trace.samples=8 --set eval.samples=8 --set train.schedule=~
       --set output.checkpoint_every=4)
"$BIN" run "$TMP/quick.yaml" "${CONST[@]}" --set train.steps=100000 --out "$TMP/k" >"$TMP/k.out" 2>&1 &
pid=$!
for _ in $(seq 300); do
  [ -s "$TMP/k/checkpoint.safetensors" ] && break
  sleep 0.05
done
sleep 0.3
kill -9 $pid
wait $pid 2>/dev/null
K=$(grep -ao '"step":"[0-9]*"' "$TMP/k/checkpoint.safetensors" | grep -o '[0-9]*')
if [ -z "$K" ]; then
  fail "no checkpoint before kill -9"
else
  N=$((K + 5))
  "$BIN" --threads 1 run --resume "$TMP/k" --set train.steps=$N >"$TMP/k2.out" 2>&1 ||
    { fail "resume after kill -9 exited $?"; cat "$TMP/k2.out"; }
  "$BIN" run "$TMP/quick.yaml" "${CONST[@]}" --set train.steps=$N --out "$TMP/kref" >"$TMP/kref.out" 2>&1 ||
    { fail "reference run exited $?"; cat "$TMP/kref.out"; }
  if ! diff <(losses "$TMP/kref") <(losses "$TMP/k") >"$TMP/diff"; then
    fail "loss curve after kill -9 at step >= $K and resume differs:"
    head "$TMP/diff"
  fi
fi

# --- a run folder is never reused silently -------------------------------------
"$BIN" run "$TMP/quick.yaml" "${SMALL[@]}" --out "$TMP/a" >"$TMP/again.out" 2>&1 && fail "reusing a run folder succeeded"
expect_in "$TMP/again.out" "already holds a run"

# --- divergence: exit 2, last good checkpoint kept -----------------------------
"$BIN" run "$TMP/quick.yaml" "${SMALL[@]}" --set train.lr=1e30 --set output.checkpoint_every=1 \
  --out "$TMP/nan" >"$TMP/nan.out" 2>&1
rc=$?
[ $rc = 2 ] || fail "diverging run exited $rc, not 2"
grep -qE "strata: error: step [0-9]+: loss is (nan|inf)" "$TMP/nan.out" || { fail "no loss-is-nan message"; cat "$TMP/nan.out"; }
[ -s "$TMP/nan/checkpoint.safetensors" ] || fail "the last good checkpoint is gone"
"$BIN" --threads 1 run --resume "$TMP/nan" >"$TMP/nan2.out" 2>&1
expect_in "$TMP/nan2.out" "resuming $TMP/nan at step"

# --- bad recipes and bad plans --------------------------------------------------
printf 'include: %s\ntrain:\n  lrr: 0.1\n' "$TMP/quick.yaml" >"$TMP/bad.yaml"
"$BIN" run "$TMP/bad.yaml" --out "$TMP/bad" >"$TMP/bad.out" 2>&1
rc=$?
[ $rc = 2 ] || fail "bad key exited $rc, not 2"
expect_in "$TMP/bad.out" "$TMP/bad.yaml:3:3:"
[ -e "$TMP/bad" ] && fail "a bad recipe created its run folder"

cat >"$TMP/seven.lua" <<'LUA'
return {plan = function(ctx) return {layers = {7}} end}
LUA
"$BIN" plan "$TMP/quick.yaml" --threads 1 --set trace.samples=8 --set policy.script="$TMP/seven.lua" >"$TMP/seven.out" 2>&1
[ $? = 2 ] || fail "an out-of-range plan did not exit 2"
expect_in "$TMP/seven.out" "policy $TMP/seven.lua returned layer 7 but the model has 5 layers (0..4)"

# LoRA on the semantic choice (with dropout, whose stream must resume too):
# stop/resume reproduces the losses, and the adapters are exported for PEFT
LORA=(--set policy.params.lora=true --set 'lora={rank: 4, alpha: 8, modules: [q, v], dropout: 0.1}')
"$BIN" run "$TMP/quick.yaml" "${SMALL[@]}" "${LORA[@]}" --out "$TMP/r1" >"$TMP/r1.out" 2>&1 ||
  { fail "lora run exited $?"; cat "$TMP/r1.out"; }
expect_in "$TMP/r1.out" "lora"
[ -s "$TMP/r1/adapter/adapter_config.json" ] || fail "no PEFT adapter folder"
[ "$(ls "$TMP/r1" | grep -c '^lora-.*\.safetensors$')" = 1 ] || fail "not exactly one LoRA checkpoint file"
cmp -s "$TMP/r1/lora.safetensors" "$TMP/r1/lora-6.safetensors" || fail "lora.safetensors is not the latest adapters"
"$BIN" run "$TMP/quick.yaml" "${SMALL[@]}" "${LORA[@]}" --out "$TMP/r2" --stop-at 3 >"$TMP/r2.out" 2>&1 &&
  "$BIN" --threads 1 run --resume "$TMP/r2" >>"$TMP/r2.out" 2>&1 ||
  { fail "lora stop/resume exited $?"; cat "$TMP/r2.out"; }
if ! diff <(losses "$TMP/r1") <(losses "$TMP/r2") >"$TMP/diff"; then
  fail "resumed LoRA loss curve differs:"
  cat "$TMP/diff"
fi

# --- strata plan prints the table and writes nothing --------------------------
(cd "$TMP" && "$BIN" plan quick.yaml --threads 1 --set trace.samples=8) >"$TMP/plan.out" 2>&1 ||
  { fail "strata plan exited $?"; cat "$TMP/plan.out"; }
expect_in "$TMP/plan.out" "basis_dev"
expect_in "$TMP/plan.out" "% of full fine-tuning"
[ -e "$TMP/runs" ] && fail "strata plan wrote a run folder"

[ $fails = 0 ] && echo "ok"
exit $((fails > 0))
