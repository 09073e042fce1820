-- semantic.lua - the semantic-aware layer choice (arXiv 2406.11753): train
-- the layers whose transition brings the hidden state closest to the target,
-- where backprop through them pays off.
--
-- Layer i (0..L-1) maps latent space i to space i+1. With D_s the mean
-- distance-to-target of space s from the trace:
--   measure = basis_dev (default): D_s = 1 - cos(h_s, s_y)
--   measure = lens_loss:           D_s = logit-lens cross-entropy of h_s
--     gain_i = max(0, D_i - D_{i+1})
--   measure = delta_norm: the semantic deviation itself,
--     gain_i = mean ||h_{i+1} - h_i||
-- mode = contiguous scales each gain by a scaling-law term in the layer's
-- trainable
-- parameters P_i (relative to the mean layer, P_ref):
--     score_i = gain_i * (P_i / P_ref)^alpha          alpha = 0.5
-- Selection:
--   mode = contiguous (default): i* = argmax score_i (ties: higher layer);
--     train i* and every layer above it.
--   mode = greedy: the scaling law also prices a *set* S of layers: trained
--     together they realise their gains in proportion to a power of their
--     parameters,
--       G(S) = (sum_{i in S} gain_i) * (P_S / P_all)^alpha
--     and the backprop cost of S, with lowest member lo, is
--       cost(S) = sum_{i in S} wgrad_i + sum_{i > lo} dgrad_i
--     (weight gradients of S, input gradients through every layer above lo),
--     full = sum_i (wgrad_i + dgrad_i). Repeatedly add the layer with the
--     largest (G(S+i) - G(S)) / (cost(S+i) - cost(S)) among those that keep
--     cost <= budget * full and add at least threshold * G(all layers);
--     stop when none qualifies (at least one layer is always taken: the
--     best affordable, else the top layer).
-- params: measure, alpha (0.5), mode (contiguous), budget (0.5),
--   threshold (0.05), and final_norm/head/embed/modules/lora as in
--   lib/policy.lua
-- The plan carries gains (= scores) and the measure for the plan table.
local P = require "policy"

local M = {}

function M.scores(ctx)
  local p, tr, L = ctx.params, ctx.trace, ctx.model.n_layers
  local measure = p.measure or "basis_dev"
  local alpha = p.alpha or 0.5
  if measure ~= "basis_dev" and measure ~= "lens_loss" and measure ~= "delta_norm" then
    error("semantic: measure must be basis_dev, lens_loss or delta_norm, got "
          .. tostring(measure), 0)
  end
  local pref = 0
  for i = 0, L - 1 do pref = pref + tr[i + 1].params / L end
  local score, gain = {}, {}
  for i = 0, L - 1 do
    local g
    if measure == "delta_norm" then
      g = tr[i + 1].delta_norm.mean
    else
      g = math.max(0, tr[i][measure].mean - tr[i + 1][measure].mean)
    end
    gain[i] = g
    score[i] = g * (tr[i + 1].params / pref) ^ alpha
  end
  return score, measure, gain
end

local function contiguous(score, L)
  local best = L - 1
  for i = L - 2, 0, -1 do
    if score[i] > score[best] then best = i end
  end
  return P.range(best, L - 1)
end

-- G(S): the gains of S scaled by the share of parameters S trains
local function value(sel, gain, tr, L, alpha, p_all)
  local g, p = 0, 0
  for i = 0, L - 1 do
    if sel[i] then g, p = g + gain[i], p + tr[i + 1].params end
  end
  return g * (p / p_all) ^ alpha
end

local function greedy(gain, ctx)
  local p, tr, L = ctx.params, ctx.trace, ctx.model.n_layers
  local budget, threshold = p.budget or 0.5, p.threshold or 0.05
  local alpha = p.alpha or 0.5
  local full, p_all, everything = 0, 0, {}
  for i = 0, L - 1 do
    full = full + tr[i + 1].wgrad_flops + tr[i + 1].dgrad_flops
    p_all = p_all + tr[i + 1].params
    everything[i] = true
  end
  local floor = threshold * value(everything, gain, tr, L, alpha, p_all)
  local sel, set = {}, {}
  while true do
    local c0, v0 = P.cost(sel, tr, L), value(sel, gain, tr, L, alpha, p_all)
    local best, best_ratio = nil, -1
    for i = L - 1, 0, -1 do
      if not sel[i] then
        sel[i] = true
        local c, dv = P.cost(sel, tr, L), value(sel, gain, tr, L, alpha, p_all) - v0
        sel[i] = nil
        local ratio = dv / (c - c0)
        if c <= budget * full and dv >= floor and ratio > best_ratio then
          best, best_ratio = i, ratio
        end
      end
    end
    if not best then break end
    sel[best] = true
    set[#set + 1] = best
  end
  if #set == 0 then set = {L - 1} end
  table.sort(set)
  return set
end

function M.plan(ctx)
  local L = ctx.model.n_layers
  local score, measure, gain = M.scores(ctx)
  local mode = ctx.params.mode or "contiguous"
  local set
  if mode == "contiguous" then set = contiguous(score, L)
  elseif mode == "greedy" then set = greedy(gain, ctx)
  else error("semantic: mode must be contiguous or greedy, got " .. tostring(mode), 0) end
  local plan = P.plan(set, ctx.params)
  plan.gains, plan.measure = score, measure
  return plan
end

return M
