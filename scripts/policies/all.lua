-- all.lua - full fine-tuning: every layer, the embeddings, the final norm
-- and the head train. The baseline every other policy is measured against.
return {
  plan = function(ctx)
    local layers = {}
    for i = 0, ctx.model.n_layers - 1 do layers[i] = "full" end
    return {layers = layers, embed = true, final_norm = true, head = true}
  end,
}
