-- policy.lua - helpers shared by the layer-selection policies.
--
-- Layers are 0..L-1; layer i maps latent space i to space i+1, so its entry
-- in the trace (params, FLOPs, delta_norm) is trace[i + 1].
local M = {}

-- The plan that trains exactly the layers in `set` (a list of indices).
-- params.final_norm (default true), params.head and params.embed (default
-- false: with tied embeddings the head IS the embedding, and training it
-- means a full backward pass) and params.modules (restrict every trained
-- layer to these modules) pass through; params.lora = true trains the
-- chosen layers through LoRA adapters (the recipe's `lora` section gives
-- rank, alpha, modules, dropout) instead of fully.
function M.plan(set, params)
  params = params or {}
  local layers = {}
  for _, i in ipairs(set) do layers[i] = params.lora and "lora" or "full" end
  return {
    layers = layers,
    final_norm = params.final_norm ~= false,
    head = params.head == true,
    embed = params.embed == true,
    modules = params.modules,
  }
end

-- layers lo..hi as a list
function M.range(lo, hi)
  local t = {}
  for i = lo, hi do t[#t + 1] = i end
  return t
end

-- the semantic deviation of layer i: mean ||h_{i+1} - h_i||
function M.deviation(trace, i)
  return trace[i + 1].delta_norm.mean
end

-- 0..n-1 in a seeded random order (Fisher-Yates on Lua's generator, reseeded
-- here so the result depends on `seed` only)
function M.shuffle(n, seed)
  math.randomseed(seed)
  local t = M.range(0, n - 1)
  for i = n, 2, -1 do
    local j = math.random(i)
    t[i], t[j] = t[j], t[i]
  end
  return t
end

-- the layers of `list` sorted by key(i), ascending; ties: lower index first
function M.sorted(list, key)
  local t = {table.unpack(list)}
  table.sort(t, function(a, b)
    local ka, kb = key(a), key(b)
    if ka ~= kb then return ka < kb end
    return a < b
  end)
  return t
end

-- Backprop FLOPs per token of training the layers in `sel` (a map layer ->
-- true), from the trace's per-layer costs: the weight gradients of the set
-- and the input gradients through every layer above its lowest member,
--   cost(S) = sum_{i in S} wgrad_i + sum_{i > min S} dgrad_i
-- (the head's share, the same for every set, is left out)
function M.cost(sel, trace, L)
  local lo, c = nil, 0
  for i = 0, L - 1 do
    if sel[i] then
      lo = lo or i
      c = c + trace[i + 1].wgrad_flops
    end
  end
  if lo then
    for i = lo + 1, L - 1 do c = c + trace[i + 1].dgrad_flops end
  end
  return c
end

-- the same for every layer with its input gradient: full fine-tuning's
-- layers, sum_i (wgrad_i + dgrad_i)
function M.full_cost(trace, L)
  local c = 0
  for i = 0, L - 1 do c = c + trace[i + 1].wgrad_flops + trace[i + 1].dgrad_flops end
  return c
end

-- The layers listed in params.layers (a list, or one index), checked
-- against 0..L-1; for policies that are told where to train.
function M.layers(params, L)
  local v = params.layers
  if math.type(v) == "integer" then v = {v} end
  if type(v) ~= "table" or #v == 0 then
    error("policy parameter layers must be a layer index or a non-empty list of them, got "
          .. tostring(v), 0)
  end
  local seen, out = {}, {}
  for _, i in ipairs(v) do
    if math.type(i) ~= "integer" or i < 0 or i >= L then
      error(string.format("policy parameter layers: %s is not a layer (0..%d)", tostring(i), L - 1), 0)
    end
    if not seen[i] then out[#out + 1], seen[i] = i, true end
  end
  table.sort(out)
  return out
end

-- a required integer parameter in lo..hi
function M.int(params, name, default, lo, hi)
  local v = params[name]
  if v == nil then v = default end
  if math.type(v) ~= "integer" or v < lo or v > hi then
    error(string.format("policy parameter %s must be an integer in %d..%d, got %s",
                        name, lo, hi, tostring(v)), 0)
  end
  return v
end

return M
