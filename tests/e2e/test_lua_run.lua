-- test_lua_run.lua - strata.run from Lua (run by test_lua_run.sh).
-- args: recipe, out dir, then key=value overrides
local strata = require "strata"
local recipe, out = arg[1], arg[2]
-- the overrides end at "--"; a raising policy script may follow it
local sets, i = {}, 3
while arg[i] and arg[i] ~= "--" do sets[#sets + 1] = arg[i]; i = i + 1 end
local function fail(msg) io.stderr:write("FAIL: ", msg, "\n"); os.exit(1) end

-- a path, with overrides
local s = strata.run(recipe, {out = out .. "/path", set = sets})
if s.dir ~= out .. "/path" then fail("summary.dir is " .. tostring(s.dir)) end
if s.steps ~= 6 or s.complete ~= true then fail("summary: steps " .. tostring(s.steps)) end
if type(s.plan) ~= "table" or type(s.plan.layers) ~= "table" then fail("summary lacks the plan") end
if not (s.final and s.final.loss) then fail("summary lacks the final eval") end

-- a table: the same recipe, checked like a file; the caller's table is kept
local t = strata.load_recipe(recipe, sets)
local before = t.train.steps
local s2 = strata.run(t, {out = out .. "/table", name = "from-table"})
if t.train.steps ~= before then fail("strata.run changed the caller's table") end
if s2.recipe ~= "from-table" then fail("name: " .. tostring(s2.recipe)) end

-- errors raise with the reason, and nothing is left half-done
local ok, err = pcall(strata.run, recipe, {out = out .. "/bad", set = {"train.lrr=1"}})
if ok or not tostring(err):find("train.lrr", 1, true) then fail("bad key: " .. tostring(err)) end
t.train.steps = "many"
ok, err = pcall(strata.run, t, {out = out .. "/bad2"})
if ok or not tostring(err):find("train.steps", 1, true) then fail("bad type: " .. tostring(err)) end
ok, err = pcall(strata.run, recipe, {outt = "x"})
if ok or not tostring(err):find("outt", 1, true) then fail("bad option: " .. tostring(err)) end
-- a plan layer given as "lora" takes the schema's lora defaults: rank 8,
-- alpha 16, on the attention query and value
local m = strata.model(t.model)
local tr = strata.trainer(m, {layers = {[4] = "lora"}}, {batch_size = 2, seq_len = 16})
local l4 = tr:plan().layers[4]
if not (type(l4) == "table" and l4.mode == "lora" and l4.rank == 8 and l4.alpha == 16
        and table.concat(l4.modules, ",") == "q,v") then
  fail("a \"lora\" layer without settings")
end

-- opts are checked; --resume takes the folder's own recipe and place
ok, err = pcall(strata.run, nil, {resume = out .. "/path", out = out .. "/x"})
if ok or not tostring(err):find("--out", 1, true) then fail("resume + out: " .. tostring(err)) end
ok, err = pcall(strata.run, recipe, {set = "train.steps=1"})
if ok or not tostring(err):find("opts.set", 1, true) then fail("opts.set: " .. tostring(err)) end
ok, err = pcall(strata.run, recipe, {name = 42})
if ok or not tostring(err):find("opts.name", 1, true) then fail("opts.name: " .. tostring(err)) end

-- the thread count: opts.threads wins over the recipe's `threads: 1`
local s3 = strata.run(recipe, {out = out .. "/threads", set = sets, threads = 2})
if s3.threads ~= 2 then fail("opts.threads: the run used " .. tostring(s3.threads)) end

-- a policy whose plan table raises when read is an error, not a crash,
-- and the next run still works
local bad_policy = arg[i + 1] or fail("no raising policy given after --")
local bs = {table.unpack(sets)}
bs[#bs + 1] = "policy.script=" .. bad_policy
ok, err = pcall(strata.run, recipe, {out = out .. "/badpolicy", set = bs})
if ok or not tostring(err):find("boom", 1, true) then fail("raising policy: " .. tostring(err)) end
local s4 = strata.run(recipe, {out = out .. "/after", set = sets})
if s4.steps ~= 6 then fail("the run after a failed one") end
print("ok")
