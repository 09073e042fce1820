#!/usr/bin/env bash
# test_cpu_libs.sh - a CPU process of strata never maps cuBLAS: it is opened
# when the CUDA backend starts (core/cuda/cublas_load.cu), because linked it
# costs every process ~150 MB of resident memory. A Lua script loads a model
# and runs a training step on the CPU, then reads its own /proc/self/maps.
# Also checked: the same reading finds a library that is mapped (libopenblas),
# so the check can fail.
set -u
. tests/e2e/assets.sh
[ -r /proc/self/maps ] || { echo "skipped: no /proc/self/maps"; exit 77; }
cat > "$tmp/maps.lua" <<'LUA'
local strata = require "strata"
local m = strata.model(arg[1])
local train = strata.data(m, {train = arg[2], format = "tsv-classification",
                              template = "Review: {1}\nSentiment:", label_column = 0,
                              verbalizers = {[0] = " bad", [1] = " good"}, max_samples = 64},
                          {seq_len = 32})
local t = strata.trainer(m, "all", {batch_size = 4, seq_len = 32})
t:step(train)
local f = assert(io.open("/proc/self/maps"))
local maps = f:read("a")
f:close()
for _, lib in ipairs{"libcublas", "libcublasLt", "libopenblas"} do
  print(lib .. " " .. (maps:find(lib, 1, true) and "mapped" or "absent"))
end
LUA
"$bin" --threads 1 lua "$tmp/maps.lua" "$shared/models/stories260K/stories260K.bin" \
  "$shared/data/sst2/train.tsv" > "$tmp/out" 2>&1 || { cat "$tmp/out"; exit 1; }
cat "$tmp/out"
grep -qx "libopenblas mapped" "$tmp/out" || { echo "FAIL: the maps reading did not find libopenblas"; exit 1; }
grep -qx "libcublas absent" "$tmp/out" && grep -qx "libcublasLt absent" "$tmp/out" ||
  { echo "FAIL: a CPU process maps cuBLAS"; exit 1; }
echo ok
