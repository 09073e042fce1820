-- first_n_frozen.lua - freeze the bottom n layers, train layers n..L-1.
--   trained = { i : n <= i < L }          params: n (default L/2)
local P = require "policy"

return {
  plan = function(ctx)
    local L = ctx.model.n_layers
    local n = P.int(ctx.params, "n", L // 2, 0, L - 1)
    return P.plan(P.range(n, L - 1), ctx.params)
  end,
}
