#!/usr/bin/env bash
# test_sweep_policies.sh - the policies the sweeps add: gradnorm (from the
# trace's gradient probe) and layers (exactly the listed layers, for the
# per-layer mode), on a hand-made trace whose expected plans are worked out
# in the comments; bad parameters and a trace without the probe are errors
# that say what to do.
set -u
bin=${STRATA_BIN:-build/strata}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/t.lua" <<'LUA'
local strata = require "strata"
local fails = 0
local function check(cond, what)
  if not cond then fails = fails + 1; print("FAIL: " .. what) end
end
local function trained(plan)
  local t = {}
  for i = 0, 9 do if plan.layers[i] == "full" then t[#t + 1] = i end end
  return table.concat(t, ",")
end
-- 4 layers, wgrad 200 and dgrad 300 FLOPs each: full = 2000.
-- grad_ratio of layers 0..3: 0.2 0.5 0.1 0.5 (1 and 3 tie: 3 ranks first)
-- grad_norm: 4 1 2 3
local model = {n_layers = 4}
local tr = {n_layers = 4}
local ratio, norm = {0.2, 0.5, 0.1, 0.5}, {4, 1, 2, 3}
for s = 0, 4 do
  tr[s] = {delta_norm = {mean = 1, std = 0}}
  if s > 0 then
    tr[s].params, tr[s].wgrad_flops, tr[s].dgrad_flops = 100, 200, 300
    tr[s].grad_ratio, tr[s].grad_norm = {mean = ratio[s]}, {mean = norm[s]}
  end
end
local function run(name, params, t)
  return strata.policy(name).plan{model = model, trace = t or tr, params = params or {}}
end
-- k: the top k of the ranking 3, 1, 0, 2
check(trained(run("gradnorm", {k = 1})) == "3", "gradnorm k=1 (tie goes to the higher layer)")
check(trained(run("gradnorm", {k = 2})) == "1,3", "gradnorm k=2")
check(trained(run("gradnorm", {k = 3})) == "0,1,3", "gradnorm k=3")
-- grad_norm ranks 0, 3, 2, 1
check(trained(run("gradnorm", {k = 2, measure = "grad_norm"})) == "0,3", "gradnorm grad_norm k=2")
-- budget 0.5 (1000): 3 (200); + 1: 400 + dgrad of 2, 3 (600) = 1000 fits;
-- + 0: 600 + 900 = 1500 no; + 2: lowest stays 1, 600 + 600 = 1200 no
check(trained(run("gradnorm", {})) == "1,3", "gradnorm budget 0.5")
-- budget 0.3 (600): 3 (200); + 1 (1000) no; + 0 (1100) no; + 2: 400 + 300 = 700 no
check(trained(run("gradnorm", {budget = 0.3})) == "3", "gradnorm budget 0.3")
-- budget 0.1 (200): the first-ranked layer is always taken
check(trained(run("gradnorm", {budget = 0.05})) == "3", "gradnorm tiny budget")
local p = run("gradnorm", {k = 2})
check(p.measure == "grad_ratio" and p.gains[1] == 0.5 and p.gains[2] == 0.1, "gradnorm gains")
check(p.final_norm == true and not p.head and not p.embed, "gradnorm flags")
check(run("gradnorm", {k = 1, lora = true}).layers[3] == "lora", "gradnorm lora")
local ok, err = pcall(run, "gradnorm", {}, {[0] = {}, {delta_norm = {mean = 1}}, n_layers = 1})
check(not ok and err:find("trace.gradients: true", 1, true), "gradnorm without the probe: " .. tostring(err))
check(not pcall(run, "gradnorm", {measure = "basis_dev"}), "gradnorm bad measure")
check(not pcall(run, "gradnorm", {k = 5}), "gradnorm k out of range")
check(not pcall(run, "gradnorm", {budget = 0}), "gradnorm budget 0")

-- layers
check(trained(run("layers", {layers = {2}})) == "2", "layers {2}")
check(trained(run("layers", {layers = 1})) == "1", "layers 1")
check(trained(run("layers", {layers = {3, 0, 3}})) == "0,3", "layers {3, 0, 3}")
local lp = run("layers", {layers = {2}})
check(lp.final_norm == true and not lp.head, "layers: final norm trains")
ok, err = pcall(run, "layers", {layers = {4}})
check(not ok and err:find("4 is not a layer (0..3)", 1, true), "layers out of range: " .. tostring(err))
check(not pcall(run, "layers", {}), "layers missing")
check(not pcall(run, "layers", {layers = {}}), "layers empty")
if fails > 0 then print(fails .. " check(s) failed"); os.exit(1) end
print("ok")
LUA
"$bin" --threads 1 lua "$tmp/t.lua"
