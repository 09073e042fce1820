-- test_lua_train.lua - scripted evaluation and training through the strata
-- module (run by test_lua_train.sh):
--   strata lua test_lua_train.lua MODEL TRAIN_TSV DEV_TSV CLI_LOSS CLI_ACC CLI_F1 CLI_N
-- The CLI_* numbers are `strata eval`'s on the first 100 dev sentences.
local strata = require "strata"
local model, train_tsv, dev_tsv = arg[1], arg[2], arg[3]
local cli = {loss = tonumber(arg[4]), accuracy = tonumber(arg[5]),
             macro_f1 = tonumber(arg[6]), n = tonumber(arg[7])}
local fails = 0
local function check(ok, msg)
  if not ok then
    fails = fails + 1
    print("FAIL: " .. msg)
  end
end
local function near(a, b, tol) return math.abs(a - b) <= tol * math.max(1, math.abs(b)) end
-- pcall(f, ...) must fail with a message containing `want` (plain text)
local function raises(want, f, ...)
  local ok, e = pcall(f, ...)
  check(not ok and tostring(e):find(want, 1, true),
        "expected an error with '" .. want .. "', got " .. tostring(ok) .. " " .. tostring(e))
end

local m = strata.model(model)
local verbs = {[0] = " bad", [1] = " good"}

-- zero-shot eval: the first 100 dev sentences, as `strata eval` scores them
local dev = {train = dev_tsv, format = "tsv-classification", label_column = "label",
             template = "Review: {sentence}\nSentiment:", verbalizers = verbs}
local e = m:eval{data = dev, seq_len = 64, samples = 100}
print(string.format("lua eval: loss %.6f acc %.4f f1 %.4f n %d", e.loss, e.accuracy, e.macro_f1, e.n))
check(e.n == 100 and e.n == cli.n, "eval n " .. e.n .. " vs CLI " .. cli.n)
check(near(e.loss, cli.loss, 1e-6), "eval loss " .. e.loss .. " vs CLI " .. cli.loss)
check(near(e.accuracy, cli.accuracy, 1e-9), "accuracy " .. e.accuracy .. " vs CLI " .. cli.accuracy)
check(near(e.macro_f1, cli.macro_f1, 1e-6), "macro_f1 " .. e.macro_f1 .. " vs CLI " .. cli.macro_f1)
check(near(e.perplexity, math.exp(e.loss), 1e-9), "perplexity is not exp(loss)")
local cm = e.confusion[0][0] + e.confusion[0][1] + e.confusion[1][0] + e.confusion[1][1]
check(cm == 100 and e.n_correct == e.confusion[0][0] + e.confusion[1][1], "confusion matrix")
check(near(e.accuracy, e.n_correct / 100, 1e-12), "accuracy is not n_correct/n")

-- datasets: the recipe data table with a separate eval file
local data = {train = train_tsv, eval = dev_tsv, format = "tsv-classification",
              template = "Review: {1}\nSentiment:", label_column = 0,
              eval_template = "Review: {sentence}\nSentiment:", eval_label_column = "label",
              verbalizers = verbs, max_samples = 2000}
local train, eval = strata.data(m, data, {seq_len = 64})
check(train.n == 2000 and train.T == 64 and train.n_classes == 2, "train dataset " .. tostring(train))
check(eval and eval.n == 872 and #eval == 872, "eval dataset " .. tostring(eval))
local e2 = m:eval{data = eval:head(100)}
check(e2.loss == e.loss and e2.accuracy == e.accuracy, "eval of a dataset userdata differs from the data table's")

-- training: top layer + final norm, then re-planned to layers 3-4 half way
local probe = train:head(64)
local before = m:eval{data = probe, classify = false}
local snap = {}
for _, name in ipairs(m:params()) do snap[name] = m:param(name) end
local t = strata.trainer(m, {layers = {[4] = "full"}, final_norm = true},
                         {batch_size = 16, seq_len = 64, lr = 3e-3, seed = 7})
check(t:loss() == nil and t:steps() == 0, "fresh trainer")
check(t:plan().layers[4] == "full" and t:plan().layers[3] == "frozen" and t:plan().final_norm,
      "t:plan() does not show the plan")
local losses = {}
for i = 1, 30 do
  local loss, gn = t:step(train)
  losses[i] = loss
  check(loss == loss and gn > 0, "step " .. i .. ": loss " .. loss .. " grad norm " .. gn)
  if i == 15 then
    check(t:steps() == 15 and t:loss() == loss, "steps/loss after 15 steps")
    t:set_plan{layers = {[3] = "full", [4] = "full"}, final_norm = true}
    t:set_lr(1e-3)
  end
end
check(t:steps() == 30, "steps after 30 steps: " .. t:steps())
check(math.abs(t:lr() - 1e-3) < 1e-9, "set_lr")
check(t:plan().layers[3] == "full", "set_plan did not take")
local after = m:eval{data = probe, classify = false}
print(string.format("training loss on 64 examples: %.4f -> %.4f; steps: %s", before.loss,
                    after.loss, table.concat(losses, " ", 1, 5) .. " ... " .. losses[30]))
check(after.loss < 0.5 * before.loss, "training did not lower the loss: " .. before.loss .. " -> " .. after.loss)
-- frozen tensors are bit-identical; trained ones moved
for _, name in ipairs(m:params()) do
  local l = tonumber(name:match("layers%.(%d+)%."))
  local moved = snap[name]:sub(m:param(name)):norm()
  local trained = name == "model.norm.weight" or l == 3 or l == 4
  check((moved > 0) == trained, string.format("%s: moved by %g", name, moved))
end

-- errors name the problem
raises("layer 7 but the model has 5 layers (0..4)", t.set_plan, t, {layers = {[7] = "full"}})
raises('layer 0 is "fast"', strata.trainer, m, {layers = {[0] = "fast"}})
raises("trains nothing", strata.trainer, m, {layers = {}})
raises("unknown module 'qq'", t.set_plan, t, {layers = {[4] = {mode = "full", modules = {"qq"}}}})
local t32 = strata.trainer(m, "top:1", {seq_len = 32})
raises("trainer's seq_len is 32", t32.step, t32, train)
raises("data is required", m.eval, m, {})
check(t:steps() == 30 and t:plan().layers[3] == "full", "a refused plan changed the trainer")
-- a diverging run: the step whose loss is not finite raises and leaves the
-- weights alone
do
  local m2 = strata.model(model)
  local t2 = strata.trainer(m2, "top:1", {batch_size = 4, seq_len = 64, lr = 1e30})
  t2:step(train)
  local w = m2:param("model.layers.4.mlp.down_proj.weight")
  raises("step 2: loss is nan", t2.step, t2, train)
  check(w:sub(m2:param("model.layers.4.mlp.down_proj.weight")):norm() == 0,
        "a failed step changed the weights")
end

if fails > 0 then error(fails .. " check(s) failed") end
print("ok")
