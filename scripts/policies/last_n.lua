-- last_n.lua - train only the top n layers.
--   trained = { i : L - n <= i < L }      params: n (default 1)
local P = require "policy"

return {
  plan = function(ctx)
    local L = ctx.model.n_layers
    local n = P.int(ctx.params, "n", 1, 1, L)
    return P.plan(P.range(L - n, L - 1), ctx.params)
  end,
}
