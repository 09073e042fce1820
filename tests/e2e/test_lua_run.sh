#!/usr/bin/env bash
# test_lua_run.sh - the runner from Lua: strata.run on the quickstart recipe
# (made small) gives the same metrics.jsonl as `strata run` for the same
# recipe and seed, bit for bit (every logged loss, grad norm and eval value;
# only the timing field differs), from a path and from a recipe table; bad
# keys, types and options raise naming them. Then the experiment example
# (docs/examples/experiment.lua) runs its two runs and prints its table.
set -u
. tests/e2e/assets.sh
fail() { echo "FAIL: $*"; exit 1; }
sed "s#\.\./shared/#$shared/#" recipes/quickstart.yaml >"$tmp/quick.yaml"
small=(train.steps=6 eval.every=3 trace.samples=8 eval.samples=24
       output.checkpoint_every=2 train.schedule.params.warmup=2)
sets=()
for s in "${small[@]}"; do sets+=(--set "$s"); done

"$bin" run "$tmp/quick.yaml" "${sets[@]}" --out "$tmp/cli" >"$tmp/cli.out" 2>&1 ||
  { cat "$tmp/cli.out"; fail "strata run"; }
# a policy whose plan table raises when the runner reads it
cat >"$tmp/raising.lua" <<'LUA'
return {plan = function(ctx)
  return setmetatable({}, {__index = function() error("boom") end,
                           __pairs = function() error("boom") end})
end}
LUA
"$bin" lua tests/e2e/test_lua_run.lua "$tmp/quick.yaml" "$tmp/lua" "${small[@]}" -- "$tmp/raising.lua" >"$tmp/lua.out" 2>&1 ||
  { cat "$tmp/lua.out"; fail "strata.run"; }
grep -q '^ok$' "$tmp/lua.out" || { cat "$tmp/lua.out"; fail "no ok"; }

# every metrics line without its timing: the numbers are printed with 9
# significant digits, which tells float32 values apart, so equal text is
# equal bits
strip() { sed 's/,"tokens_per_s":[^,}]*//' "$1/metrics.jsonl"; }
[ "$(wc -l <"$tmp/cli/metrics.jsonl")" -ge 9 ] || fail "cli metrics.jsonl is short"
for d in path table; do
  diff <(strip "$tmp/cli") <(strip "$tmp/lua/$d") >"$tmp/diff" ||
    { cat "$tmp/diff"; fail "strata.run ($d) metrics differ from strata run's"; }
  cmp -s "$tmp/cli/plan.json" "$tmp/lua/$d/plan.json" || fail "plan.json differs ($d)"
done
[ -e "$tmp/lua/bad" ] && fail "a run with a bad recipe key made its folder"
# the same raising policy from the command line: exit 2 with the reason
"$bin" plan "$tmp/quick.yaml" --set trace.samples=8 --set "policy.script=$tmp/raising.lua" \
  >"$tmp/plan.out" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "boom" "$tmp/plan.out" || { cat "$tmp/plan.out"; fail "raising policy: exit $rc"; }
# `strata --threads N lua` fixes the thread count of every run the script starts
cat >"$tmp/thr.lua" <<LUA
local s = require("strata").run("$tmp/quick.yaml", {out = "$tmp/thr", set = {"train.steps=1", "trace.samples=4", "eval.samples=8"}})
assert(s.threads == 2, "threads " .. tostring(s.threads))
LUA
"$bin" --threads 2 lua "$tmp/thr.lua" >"$tmp/thr.out" 2>&1 || { cat "$tmp/thr.out"; fail "--threads with strata.run"; }

# the experiment example: two runs and a comparison table
EXPERIMENT_OUT=$tmp/exp "$bin" lua docs/examples/experiment.lua "$tmp/quick.yaml" \
  "${small[@]}" >"$tmp/exp.out" 2>&1 || { cat "$tmp/exp.out"; fail "experiment.lua"; }
for p in semantic last_n; do
  [ -s "$tmp/exp/$p/summary.json" ] || fail "experiment: no $p run"
  grep -qE "^$p +[0-9]+ +[0-9.]+% +[0-9.]+ " "$tmp/exp.out" || { cat "$tmp/exp.out"; fail "experiment: no $p row"; }
done
grep -q '"n": *1' "$tmp/exp/last_n/recipe.resolved.yaml" 2>/dev/null ||
  grep -qE '^ +n: [0-9]+' "$tmp/exp/last_n/recipe.resolved.yaml" || fail "last_n run lacks its n"
echo ok
