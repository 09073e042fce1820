-- gradnorm.lua - the gradient-based baseline (in the spirit of SmartFRZ and
-- AutoFreeze, which choose layers from training-time gradient information):
-- train the layers whose weights the task's loss pulls on hardest, relative
-- to their size. Needs the trace's gradient probe (recipe: trace.gradients:
-- true), one full backward pass over the trace batch, whose cost the run
-- reports; the semantic trace needs only the forward pass.
--
-- Layer i (0..L-1) has, from the probe,
--   grad_ratio_i = ||dLoss/dW_i|| / ||W_i||     (measure = grad_ratio, default)
--   grad_norm_i  = ||dLoss/dW_i||               (measure = grad_norm)
-- Layers are ranked by the measure, largest first (ties: the higher layer).
--   k given: train the first k of the ranking.
--   else budget (default 0.5): walk the ranking and add each layer whose
--     addition keeps the backprop cost of the set within budget * full,
--     with cost and full as in semantic.lua's greedy mode (lib/policy.lua
--     P.cost); the first-ranked layer is always taken.
-- params: measure, k, budget, and final_norm/head/embed/modules/lora as in
--   lib/policy.lua. The plan carries the measure as its gains.
local P = require "policy"

return {
  plan = function(ctx)
    local p, tr, L = ctx.params, ctx.trace, ctx.model.n_layers
    local measure = p.measure or "grad_ratio"
    if measure ~= "grad_ratio" and measure ~= "grad_norm" then
      error("gradnorm: measure must be grad_ratio or grad_norm, got " .. tostring(measure), 0)
    end
    if not (tr[1] and tr[1][measure]) then
      error("gradnorm: the trace has no " .. measure ..
            " (set trace.gradients: true in the recipe)", 0)
    end
    local gains = {}
    for i = 0, L - 1 do gains[i] = tr[i + 1][measure].mean end
    -- largest first; on a tie the higher layer, whose backprop is cheaper
    local order = P.range(0, L - 1)
    table.sort(order, function(a, b)
      if gains[a] ~= gains[b] then return gains[a] > gains[b] end
      return a > b
    end)
    local set = {}
    if p.k ~= nil then
      local k = P.int(p, "k", 1, 1, L)
      set = {table.unpack(order, 1, k)}
    else
      local budget = p.budget or 0.5
      if type(budget) ~= "number" or budget <= 0 or budget > 1 then
        error("gradnorm: budget must be a number in (0, 1], got " .. tostring(budget), 0)
      end
      local sel, full = {}, P.full_cost(tr, L)
      for n, i in ipairs(order) do
        sel[i] = true
        if n > 1 and P.cost(sel, tr, L) > budget * full then sel[i] = nil end
      end
      for i = 0, L - 1 do
        if sel[i] then set[#set + 1] = i end
      end
    end
    table.sort(set)
    local plan = P.plan(set, p)
    plan.gains, plan.measure = gains, measure
    return plan
  end,
}
