-- freezeout.lua - FreezeOut (Brock et al. 2017): all layers start training
-- and the bottom ones freeze one after another, so later steps backprop
-- through ever fewer layers.
--   layer i stops training after step  t_i = ceil(total * (t0 + (1 - t0) * i / L))
--   (linear schedule; the top layer trains to the end)
-- params: t0 (default 0.5), the fraction of training before layer 0 freezes
local P = require "policy"

local function trained(L, t0, step, total)
  local set = {}
  for i = 0, L - 1 do
    local ti = math.ceil(total * (t0 + (1 - t0) * i / L))
    if step < ti or i == L - 1 then set[#set + 1] = i end
  end
  return set
end

local M = {}

function M.plan(ctx)
  return P.plan(P.range(0, ctx.model.n_layers - 1), ctx.params)
end

function M.on_step(state)
  local L, t0 = state.model.n_layers, state.params.t0 or 0.5
  local now = trained(L, t0, state.step, state.total)
  local before = trained(L, t0, state.step - 1, state.total)
  if #now ~= #before then return P.plan(now, state.params) end
end

return M
