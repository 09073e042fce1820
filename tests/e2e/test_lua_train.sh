#!/usr/bin/env bash
# test_lua_train.sh - scripting evaluation and training from Lua
# (test_lua_train.lua): m:eval on the first 100 SST-2 dev sentences gives
# `strata eval`'s loss, accuracy and macro-F1; a 30-step strata.trainer loop
# with a top-layer plan, re-planned half way, lowers the training loss and
# leaves frozen tensors bit-identical; bad plans and a diverging step raise
# errors naming the problem. Also under a stock lua5.4 when there is one.
set -u
bin=${STRATA_BIN:-build/strata}
shared=${STRATA_SHARED:-../shared}
model=$shared/models/stories260K/stories260K.bin
train=$shared/data/sst2/train.tsv
dev=$shared/data/sst2/dev.tsv
[ -f "$model" ] && [ -f "$train" ] && [ -f "$dev" ] ||
  { echo "skipped: stories260K or SST-2 not found"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export STRATA_CACHE=$tmp/cache
fail() { echo "FAIL: $*"; exit 1; }

head -n 101 "$dev" >"$tmp/dev100.tsv"
"$bin" --threads 1 eval "$model" --data "$tmp/dev100.tsv" --seq-len 64 \
  --template 'Review: {sentence}\nSentiment:' --verbalizers '0= bad,1= good' \
  --json "$tmp/cli.json" >"$tmp/cli.out" 2>&1 || fail "strata eval: $(cat "$tmp/cli.out")"
# "key": value from the JSON file
field() { tr -d '\n' <"$tmp/cli.json" | sed -n "s/.*\"$1\": *\([-0-9.eE+]*\).*/\1/p"; }
args=("$model" "$train" "$dev" "$(field loss)" "$(field accuracy)" "$(field macro_f1)" "$(field n_examples)")
for a in "${args[@]:3}"; do [ -n "$a" ] || fail "cannot read $tmp/cli.json: $(cat "$tmp/cli.json")"; done

"$bin" --threads 1 lua tests/e2e/test_lua_train.lua "${args[@]}" >"$tmp/lua.out" 2>&1
rc=$?
cat "$tmp/lua.out"
[ $rc = 0 ] && grep -q '^ok$' "$tmp/lua.out" || fail "strata lua test_lua_train.lua exited $rc"

# the same script from a stock interpreter (not into a sanitizer build)
so=$(dirname "$bin")/lua/strata.so
if command -v lua5.4 >/dev/null && [ -f "$so" ] && ! ldd "$so" 2>/dev/null | grep -q libasan; then
  OMP_NUM_THREADS=1 LUA_CPATH="$(dirname "$so")/?.so" lua5.4 tests/e2e/test_lua_train.lua \
    "${args[@]}" >"$tmp/stock.out" 2>&1
  rc=$?
  [ $rc = 0 ] && grep -q '^ok$' "$tmp/stock.out" || { cat "$tmp/stock.out"; fail "lua5.4 exited $rc"; }
  echo "stock lua5.4: ok"
else
  echo "note: no lua5.4 or $so (or a sanitizer build): stock interpreter part skipped"
fi
exit 0
