-- reselect.lua - the semantic policy, re-run during training: every `every`
-- steps the trace is taken again on the current weights (state.retrace())
-- and semantic.lua chooses anew from it, so the choice follows how the
-- layers' roles change as the model adapts.
--   plan at step 0: semantic(trace of the initial model)
--   plan at step s, s % every == 0: semantic(trace of the model after s steps)
-- params: every (default 50) and all of semantic.lua's parameters
local P = require "policy"
local semantic = require "policies.semantic"

local M = {}

M.plan = semantic.plan

function M.on_step(state)
  local every = P.int(state.params, "every", 50, 1, math.maxinteger)
  if state.step % every ~= 0 or state.step >= state.total then return nil end
  if not state.retrace then
    error("reselect: this run cannot re-trace (state.retrace is missing)", 0)
  end
  return semantic.plan{model = state.model, trace = state.retrace(),
                       params = state.params}
end

return M
