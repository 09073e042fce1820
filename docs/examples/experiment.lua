-- experiment.lua - an experiment as a Lua script: several runs with logic
-- between them, each one a full `strata run` (strata.run returns its
-- summary).
--
-- Question: at the same number of trained layers, does the semantic
-- policy's choice beat simply training the top layers (last_n)? Run the
-- recipe's semantic policy, count the layers it chose, run last_n with that
-- many, and print both side by side.
--
--   strata lua docs/examples/experiment.lua [recipe.yaml] [key=value ...]
--
-- key=value pairs override the recipe as --set does (e.g. train.steps=50).
-- The runs go to $EXPERIMENT_OUT (default runs/experiment-<time>)/<policy>.
local strata = require "strata"

local recipe_path = arg[1] or "recipes/quickstart.yaml"
local overrides = {table.unpack(arg, 2)}
local out = os.getenv("EXPERIMENT_OUT") or ("runs/experiment-" .. os.date("%Y%m%d-%H%M%S"))

-- one checked recipe table; each run gets its own copy with its own policy
local recipe = strata.load_recipe(recipe_path, overrides)

local function trained_layers(summary)
  local n = 0
  for _, layer in ipairs(summary.plan.layers) do
    if layer.mode ~= "frozen" then n = n + 1 end
  end
  return n
end

local semantic = strata.run(recipe, {out = out .. "/semantic", name = "semantic"})
local k = trained_layers(semantic)

recipe.policy = {script = "last_n", params = {n = k}}
local last = strata.run(recipe, {out = out .. "/last_n", name = "last_n"})

local function metric(s)
  local f = s.final or {}
  return f.accuracy or f.loss or 0 / 0
end

print(string.format("\n%-10s %7s %10s %10s  %s", "policy", "layers", "backprop", "final", "run folder"))
for _, row in ipairs{{"semantic", semantic}, {"last_n", last}} do
  local name, s = row[1], row[2]
  print(string.format("%-10s %7d %9.1f%% %10.4f  %s", name, trained_layers(s),
                      100 * s.backprop_ratio, metric(s), s.dir))
end
local d = metric(semantic) - metric(last)
print(string.format("semantic - last_n: %+.4f (%s)", d,
                    semantic.final and semantic.final.accuracy and "accuracy" or "eval loss"))
