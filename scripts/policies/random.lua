-- random.lua - train k layers drawn at random (a control for the semantic
-- choice).
--   trained = the first k of a seeded shuffle of 0..L-1
--   params: k (default L/2), seed (default 1)
local P = require "policy"

return {
  plan = function(ctx)
    local L = ctx.model.n_layers
    local k = P.int(ctx.params, "k", math.max(1, L // 2), 1, L)
    local order = P.shuffle(L, ctx.params.seed or 1)
    return P.plan({table.unpack(order, 1, k)}, ctx.params)
  end,
}
