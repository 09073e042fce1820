#!/bin/bash
# test_policies.sh - the shipped policies and schedules against hand-computed
# plans and values (test_policies.lua), and plan validation on stories260K.
set -u
BIN=${STRATA_BIN:?STRATA_BIN must name the strata binary}
SHARED=${STRATA_SHARED:-../shared}
MODEL=$SHARED/models/stories260K/stories260K.bin
DATA=$SHARED/data/tinyshakespeare/input.txt
if [ -f "$MODEL" ] && [ -f "$DATA" ]; then
  exec "$BIN" --threads 1 lua tests/e2e/test_policies.lua "$MODEL" "$DATA"
fi
echo "note: $MODEL not found; plan validation on a real model skipped"
exec "$BIN" --threads 1 lua tests/e2e/test_policies.lua
