-- lens_drop.lua - train the k layers whose transition lowers the logit-lens
-- loss the most. ctx.trace[s] holds latent space s (0..L); layer i maps
-- space i to space i+1. ctx.params is the recipe's policy.params.
return {
  plan = function(ctx)
    local L, k = ctx.model.n_layers, ctx.params.k or 2
    local function drop(i)
      return ctx.trace[i].lens_loss.mean - ctx.trace[i + 1].lens_loss.mean
    end
    local order = {}
    for i = 0, L - 1 do order[#order + 1] = i end
    table.sort(order, function(a, b) return drop(a) > drop(b) end)
    local layers = {}
    for j = 1, k do layers[order[j]] = "full" end
    return {layers = layers, final_norm = true}
  end,
}
