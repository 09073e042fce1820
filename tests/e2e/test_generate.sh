#!/usr/bin/env bash
# Known output: stories260K's documented greedy continuation.
set -u
bin=${STRATA_BIN:-build/strata}
model=${STRATA_SHARED:-../shared}/models/stories260K/stories260K.bin
[ -f "$model" ] || { echo "skipped: stories260K not found"; exit 77; }
out=$("$bin" generate "$model" --prompt "Once upon a time" --temperature 0 --max-tokens 40) || exit 1
want="Once upon a time, there was a little girl named Lily. She loved to play outside in the park."
case "$out" in
  "$want"*) echo ok ;;
  *) echo "got: $out"; exit 1 ;;
esac
