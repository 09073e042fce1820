-- linear.lua - linear warmup, then linear decay to min_lr.
--   step = 1..total, w = warmup
--   step <= w:  lr = base_lr * step / w
--   else:       lr = min_lr + (base_lr - min_lr) * (total - step + 1) / (total - w)
--   (the first step after warmup runs at base_lr, the last at
--    min_lr + (base_lr - min_lr) / (total - w))
-- params: warmup (default 0), min_lr_ratio (min_lr / base_lr, default 0)
return function(step, total, base_lr, params)
  local w = params.warmup or 0
  local min_lr = base_lr * (params.min_lr_ratio or 0)
  if w > 0 and step <= w then return base_lr * step / w end
  if total <= w then return base_lr end
  return min_lr + (base_lr - min_lr) * (total - step + 1) / (total - w)
end
