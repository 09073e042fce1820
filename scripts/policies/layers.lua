-- layers.lua - train exactly the layers named in params.layers (a list, or
-- one index), e.g. one layer alone in a per-layer sweep
-- (strata sweep's per_layer mode).
--   trained = params.layers          params: layers (required)
-- final_norm/head/embed/modules/lora pass through as in lib/policy.lua.
local P = require "policy"

return {
  plan = function(ctx)
    return P.plan(P.layers(ctx.params, ctx.model.n_layers), ctx.params)
  end,
}
