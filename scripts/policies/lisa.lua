-- lisa.lua - LISA (Pan et al. 2024, layerwise importance sampling): the
-- embeddings and the head always train; every `interval` steps a fresh set
-- of `gamma` layers is drawn uniformly and only those train in between.
--   at step s with s % interval == 0: layers = first gamma of
--   shuffle(0..L-1, seed + s)      (step 0 is the initial plan)
-- The draw depends on (seed, step) only, so a resumed run redraws the same.
-- params: gamma (default 2), interval (default 20), seed (default 1)
local P = require "policy"

local function draw(L, params, step)
  local gamma = P.int(params, "gamma", math.min(2, L), 1, L)
  local order = P.shuffle(L, (params.seed or 1) + step)
  local plan = P.plan({table.unpack(order, 1, gamma)}, params)
  plan.embed, plan.head = true, true
  return plan
end

local M = {}

function M.plan(ctx)
  return draw(ctx.model.n_layers, ctx.params, 0)
end

function M.on_step(state)
  local interval = P.int(state.params, "interval", 20, 1, math.maxinteger)
  if state.step % interval == 0 and state.step < state.total then
    return draw(state.model.n_layers, state.params, state.step)
  end
end

return M
