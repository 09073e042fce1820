-- test_policies.lua - every shipped policy and schedule on a hand-made trace
-- whose expected plans are worked out by hand in the comments; run by
-- test_policies.sh through `strata lua`. arg[1]: the stories260K model (for
-- the plan-validation checks), or nothing to skip those.
local strata = require "strata"
local fails = 0
local function check(cond, what)
  if not cond then
    fails = fails + 1
    print("FAIL: " .. what)
  end
end
local function trained(plan)
  local t = {}
  for i = 0, 9 do
    if plan.layers[i] == "full" then t[#t + 1] = i end
  end
  return table.concat(t, ",")
end
local function near(a, b) return math.abs(a - b) < 1e-9 end

-- A 4-layer model: layer i maps space i to space i+1. Every layer has
-- P = 100 parameters (unless changed), wgrad 200 and dgrad 300 FLOPs.
local function fake(basis, lens, delta, params)
  local tr = {n_layers = 4}
  for s = 0, 4 do
    tr[s] = {basis_dev = {mean = basis[s + 1], std = 0},
             lens_loss = {mean = lens[s + 1], std = 0},
             delta_norm = {mean = delta[s + 1], std = 0}}
    if s > 0 then
      tr[s].params = params and params[s] or 100
      tr[s].wgrad_flops, tr[s].dgrad_flops = 200, 300
    end
  end
  return tr
end
local model = {n_layers = 4}
local trace = fake({0.9, 0.8, 0.5, 0.45, 0.2}, -- basis_dev gains 0.1 0.3 0.05 0.25
                   {5, 4.5, 4.4, 3.0, 2.9},    -- lens_loss gains 0.5 0.1 1.4 0.1
                   {0, 1.0, 3.0, 2.0, 4.0})    -- delta_norm of layers 1 3 2 4
local function run(name, params, tr)
  local pol = strata.policy(name)
  return pol.plan{model = model, trace = tr or trace, params = params or {}}, pol
end

-- semantic, contiguous: argmax gain and everything above
local p = run("semantic", {})
check(trained(p) == "1,2,3", "semantic basis_dev: " .. trained(p))
check(p.measure == "basis_dev" and near(p.gains[1], 0.3) and near(p.gains[2], 0.05),
      "semantic gains")
check(p.final_norm == true and p.head == false and p.embed == false, "semantic flags")
check(trained(run("semantic", {measure = "lens_loss"})) == "2,3", "semantic lens_loss")
check(trained(run("semantic", {measure = "delta_norm"})) == "3", "semantic delta_norm")
-- the scaling-law term: gains 0.1 0.2 0.05 0.25, P = 100 400 100 100,
-- P_ref = 175. alpha = 0: layer 3 wins (0.25 > 0.2); alpha = 0.5: layer 1
-- scores 0.2 * sqrt(400/175) = 0.302 > 0.25 * sqrt(100/175) = 0.189.
local tr2 = fake({0.9, 0.8, 0.6, 0.55, 0.3}, {5, 4, 3, 2, 1}, {0, 1, 1, 1, 1},
                 {100, 400, 100, 100})
check(trained(run("semantic", {alpha = 0}, tr2)) == "3", "semantic alpha 0")
check(trained(run("semantic", {}, tr2)) == "1,2,3", "semantic alpha 0.5")
-- greedy, gains 0.1 0.3 0.05 0.25, P = 100 each (P_all 400), alpha 0.5,
-- G(S) = sum(gain) * (|S|/4)^0.5, cost wgrad 200 per member + dgrad 300 per
-- layer above the lowest, full = 2000, floor = 0.05 * G(all) = 0.035:
--  budget 0.5 (1000). Singles: G = gain/2; layer 3: 0.125 for 200 (6.3e-4),
--  1: 0.15 for 800, 2: 0.025 < floor, 0: costs 1100. Take 3. Then {1,3}:
--  G = 0.55 * 0.707 = 0.389, +0.264 for +800 (3.3e-4) beats {2,3}: +0.087
--  for +500 (1.7e-4); take 1 (cost 1000). Adding 2 or 0 exceeds 1000.
check(trained(run("semantic", {mode = "greedy"})) == "1,3", "semantic greedy 0.5")
--  budget 1: 3, then 1 (3.3e-4 > {0,3}'s 0.1225/1100), then {1,2,3}:
--  G = 0.6 * 0.866 = 0.520, +0.131 for +200 beats {0,1,3}'s +0.174 for
--  +500; then 0 (+0.180 for +500, cost 1700) -> all
check(trained(run("semantic", {mode = "greedy", budget = 1})) == "0,1,2,3",
      "semantic greedy 1.0")
--  threshold 0.2 (floor 0.14): single 3 adds 0.125 < 0.14, so 1 first
--  (0.15); then 3 (+0.239); then 0 (+0.174); then 2 adds 0.137 < 0.14
check(trained(run("semantic", {mode = "greedy", budget = 1, threshold = 0.2})) == "0,1,3",
      "semantic greedy threshold")
--  the exponent matters: alpha 0 makes G additive, so with budget 1 and
--  threshold 0.2 (floor 0.14) only layers with gain >= 0.14 count: 3 and 1
check(trained(run("semantic", {mode = "greedy", budget = 1, threshold = 0.2, alpha = 0})) ==
      "1,3", "semantic greedy alpha 0")
check(not pcall(run, "semantic", {measure = "nope"}), "semantic bad measure")

-- the simple policies
local a = run("all")
check(trained(a) == "0,1,2,3" and a.embed and a.head and a.final_norm, "all")
local al = run("all", {lora = true})
check(al.layers[0] == "lora" and al.layers[3] == "lora" and not al.embed and not al.head
      and al.final_norm, "all with lora: adapters on every layer")
check(trained(run("first_n_frozen", {n = 2})) == "2,3", "first_n_frozen")
check(trained(run("first_n_frozen", {})) == "2,3", "first_n_frozen default L/2")
check(trained(run("last_n", {n = 1})) == "3", "last_n")
check(not pcall(run, "last_n", {n = 9}), "last_n n out of range")
-- deviations of layers 0..3: 1 3 2 4
check(trained(run("low_deviation_frozen", {k = 2})) == "1,3", "low_deviation_frozen")
check(trained(run("high_deviation_frozen", {k = 1})) == "0,1,2", "high_deviation_frozen")
local r1, r2 = run("random", {k = 2, seed = 7}), run("random", {k = 2, seed = 7})
check(trained(r1) == trained(r2) and #trained(r1) == 3, "random: 2 layers, seeded")

-- LISA: gamma layers + embed + head; redraw every interval steps
local lp, lisa = run("lisa", {gamma = 2, interval = 10})
check(#trained(lp) == 3 and lp.embed and lp.head, "lisa plan")
local st = {model = model, params = {gamma = 2, interval = 10}, total = 100}
st.step = 9
check(lisa.on_step(st) == nil, "lisa no redraw at 9")
st.step = 10
local l10 = lisa.on_step(st)
check(l10 and #trained(l10) == 3, "lisa redraw at 10")
check(trained(lisa.on_step(st)) == trained(l10), "lisa redraw depends on step only")

-- FreezeOut, total 100, t0 0.5: t_i = ceil(100 * (0.5 + 0.5 i / 4)) =
-- 50, 63, 75 for layers 0..2; layer 3 never freezes
local fp, fo = run("freezeout", {})
check(trained(fp) == "0,1,2,3", "freezeout start")
local function fs(step)
  local q = fo.on_step{model = model, params = {}, step = step, total = 100}
  return q and trained(q) or "-"
end
check(fs(49) == "-" and fs(50) == "1,2,3" and fs(51) == "-" and fs(63) == "2,3"
      and fs(75) == "3" and fs(88) == "-", "freezeout steps")

-- reselect: semantic on the re-traced model every `every` steps
local rp, rs = run("reselect", {every = 10})
check(trained(rp) == "1,2,3", "reselect initial")
local rst = {model = model, params = {every = 10}, total = 100, step = 10,
             retrace = function() return tr2 end}
check(trained(rs.on_step(rst)) == "1,2,3", "reselect retrace (alpha 0.5 on tr2)")
rst.params.alpha = 0
check(trained(rs.on_step(rst)) == "3", "reselect retrace alpha 0")
rst.step = 11
check(rs.on_step(rst) == nil, "reselect idle between")

-- schedules
local cos, lin, con = strata.schedule("cosine"), strata.schedule("linear"),
                      strata.schedule("constant")
check(near(cos(1, 10, 1, {warmup = 2}), 0.5) and near(cos(3, 10, 1, {warmup = 2}), 1),
      "cosine warmup")
-- step 10: p = 7/8, 0.1 + 0.9 * (1 + cos(7 pi / 8)) / 2
check(near(cos(10, 10, 1, {warmup = 2}), 0.1 + 0.9 * (1 + math.cos(7 * math.pi / 8)) / 2),
      "cosine end")
check(near(lin(3, 10, 1, {warmup = 2}), 1) and near(lin(10, 10, 1, {warmup = 2}), 0.125),
      "linear")
check(near(con(2, 10, 1, {warmup = 4}), 0.5) and near(con(5, 10, 1, {warmup = 4}), 1),
      "constant")

-- tensors: 3-4-5 and friends
local t, u = strata.tensor{3, 4}, strata.tensor{4, -3}
check(t:size() == 2 and #t == 2 and t[2] == 4 and near(t:norm(), 5), "tensor size/norm")
check(near(t:dot(u), 0) and near(t:cosine(u), 0) and near(t:cosine(t), 1), "tensor dot/cosine")
check(near(t:mean(), 3.5) and t:sub(u)[1] == -1 and t:sub(u)[2] == 7, "tensor mean/sub")
check(t:totable()[1] == 3 and not pcall(t.dot, t, strata.tensor{1}), "tensor totable/size check")

-- plans against a real model: valid ones normalize, invalid ones say why
if arg[1] then
  local m = strata.model(arg[1])
  -- stories260K: dim 64, hidden 172, 8 heads of 8, 4 kv heads. A layer holds
  -- q 64x64 + k,v 32x64 + o 64x64 + gate,up,down 3 x 172x64 + 2 norms of 64
  -- = 4096 + 4096 + 4096 + 33024 + 128 = 45440; its four matrices give
  -- wgrad = 2 * 45312 FLOPs per token, dgrad the same + attention 8*T*64.
  check(m.arch == "llama" and m.n_layers == 5 and m.dim == 64 and m.vocab == 512, "model fields")
  check(m:layer_params(0) == 45440 and #m:modules() == 9, "layer_params/modules")
  local mi = m:info(32)
  check(mi.wgrad_flops[4] == 90624 and mi.dgrad_flops[4] == 90624 + 8 * 32 * 64, "per-layer FLOPs")
  local kt = m:trace{data = arg[2], samples = 2, seq_len = 16, keep = 3}
  check(#kt[5].hidden == 3 and kt[5].hidden[1]:size() == 64 and kt[0].delta_norm.mean == 0
        and kt[5].params == 45440, "trace table with kept vectors")
  local ok, err = pcall(strata.check_plan, m, {layers = {7}}, "policy scripts/policies/x.lua")
  check(not ok and err:find("policy scripts/policies/x.lua returned layer 7 but the model has 5 layers (0..4)", 1, true),
        "out-of-range layer: " .. tostring(err))
  ok, err = pcall(strata.check_plan, m, {layers = {[1] = "half"}}, "p")
  check(not ok and err:find('layer 1 is "half"', 1, true), "bad mode: " .. tostring(err))
  ok, err = pcall(strata.check_plan, m, {layers = {[1] = {mode = "full", modules = {"qq"}}}}, "p")
  check(not ok and err:find("unknown module 'qq'", 1, true), "bad module: " .. tostring(err))
  ok, err = pcall(strata.check_plan, m, {layers = {}}, "p")
  check(not ok and err:find("trains nothing", 1, true), "empty plan: " .. tostring(err))
  ok, err = pcall(strata.check_plan, m, {layers = {1}, heads = true}, "p")
  check(not ok and err:find("unknown key 'heads'", 1, true), "unknown key: " .. tostring(err))
  local q = strata.check_plan(m, {layers = {3, 4}})
  check(q.layers[0] == "frozen" and q.layers[3] == "full" and q.ideal_ratio < 1, "normalized plan")
  local info = m:info(64)
  local sp = strata.policy("semantic").plan{model = info, trace = m:trace{
    data = arg[2], samples = 4, seq_len = 32}, params = {}}
  check(pcall(strata.check_plan, m, sp, "semantic"), "semantic plan on a real trace is valid")
end

if fails > 0 then error(fails .. " check(s) failed", 0) end
print("ok")
