-- low_deviation_frozen.lua - freeze the k layers whose transition moves the
-- hidden state least (the seed's semantic deviation), train the rest.
--   dev_i = mean ||h_{i+1} - h_i||  (trace[i+1].delta_norm.mean)
--   frozen = the k smallest dev_i (ties: lower layer first)
--   params: k (default L/2)
local P = require "policy"

return {
  plan = function(ctx)
    local L = ctx.model.n_layers
    local k = P.int(ctx.params, "k", L // 2, 0, L - 1)
    local order = P.sorted(P.range(0, L - 1),
                           function(i) return P.deviation(ctx.trace, i) end)
    return P.plan({table.unpack(order, k + 1, L)}, ctx.params)
  end,
}
