-- all.lua - full fine-tuning: every layer, the embeddings, the final norm
-- and the head train. The baseline every other policy is measured against.
-- With params.lora = true it is "LoRA on every layer" instead: adapters on
-- all layers (the recipe's `lora` section), the final norm trains, the
-- embeddings and head stay frozen, as in the usual PEFT setup.
local P = require "policy"

return {
  plan = function(ctx)
    local L = ctx.model.n_layers
    if ctx.params.lora then return P.plan(P.range(0, L - 1), ctx.params) end
    local layers = {}
    for i = 0, L - 1 do layers[i] = "full" end
    return {layers = layers, embed = true, final_norm = true, head = true}
  end,
}
