-- constant.lua - lr = base_lr after a linear warmup.
--   step = 1..total;  lr = base_lr * min(1, step / warmup)
-- params: warmup (steps, default 0)
return function(step, total, base_lr, params)
  local w = params.warmup or 0
  if w > 0 and step <= w then return base_lr * step / w end
  return base_lr
end
