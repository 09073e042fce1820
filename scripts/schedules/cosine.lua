-- cosine.lua - linear warmup, then half a cosine down to min_lr.
--   step = 1..total, w = warmup
--   step <= w:  lr = base_lr * step / w
--   else:       p  = (step - w - 1) / (total - w)        (0 at the first step)
--               lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * p)) / 2
-- params: warmup (default 0), min_lr_ratio (min_lr / base_lr, default 0.1)
return function(step, total, base_lr, params)
  local w = params.warmup or 0
  local min_lr = base_lr * (params.min_lr_ratio or 0.1)
  if w > 0 and step <= w then return base_lr * step / w end
  if total <= w then return base_lr end
  local p = (step - w - 1) / (total - w)
  return min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * p)) / 2
end
