#!/bin/bash
# test_lua_module.sh - the strata Lua module end to end: `require "strata"`
# from a stock lua5.4 (LUA_CPATH=build/lua/?.so), and `strata lua` running a
# script with arguments, sandboxing recipe scripts unless --unsafe-lua, and
# turning a Lua error into file:line on stderr and exit status 2.
set -u
BIN=${STRATA_BIN:?STRATA_BIN must name the strata binary}
BUILD=$(dirname "$BIN")
FIX=tests/fixtures/recipes
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# expect_in FILE TEXT: FILE contains TEXT (fixed string)
expect_in() { grep -qF -- "$2" "$1" || { fail "'$2' not in $1:"; cat "$1"; }; }

# --- stock lua5.4 ------------------------------------------------------------
# a sanitizer build's module cannot load into an uninstrumented interpreter
asan=0
if [ -f "$BUILD/lua/strata.so" ] && ldd "$BUILD/lua/strata.so" 2>/dev/null | grep -q libasan; then
  asan=1
fi
if command -v lua5.4 >/dev/null && [ -f "$BUILD/lua/strata.so" ] && [ $asan -eq 0 ]; then
  LUA_CPATH="$BUILD/lua/?.so" lua5.4 - >"$TMP/stock.out" 2>&1 <<EOF
local strata = require "strata"
print("version " .. strata.version)
for _, f in ipairs{"load_recipe", "check_recipe", "yaml_load", "where", "sandbox", "run_script"} do
  assert(type(strata[f]) == "function", f)
end
local r = strata.load_recipe("$FIX/child.yaml", {"train.steps=12"})
print("steps " .. r.train.steps .. " lr " .. r.train.lr .. " samples " .. r.trace.samples)
print("where " .. strata.where(r.train, "lr"))
local ok, e = pcall(strata.load_recipe, "$FIX/bad_type.yaml")
print("error " .. e)
local env = strata.sandbox(nil, {dirs = {"$FIX"}})
print("probe " .. tostring((strata.run_script("$FIX/sandbox_probe.lua", env))))
EOF
  [ $? -eq 0 ] || fail "stock lua5.4 exited non-zero"
  expect_in "$TMP/stock.out" "version "
  expect_in "$TMP/stock.out" "steps 12 lr 0.0005 samples 64"
  expect_in "$TMP/stock.out" "where $FIX/child.yaml:4:7"
  expect_in "$TMP/stock.out" "error $FIX/bad_type.yaml:4:7: key 'train.lr': expected number > 0, got string \"abc\""
  expect_in "$TMP/stock.out" "probe false"
else
  echo "note: no lua5.4, no $BUILD/lua/strata.so or a sanitizer build: stock interpreter part skipped"
fi

# --- strata lua ---------------------------------------------------------------
"$BIN" lua "$FIX/lua_args.lua" one "two words" >"$TMP/args.out" 2>&1 || fail "strata lua exited $?"
expect_in "$TMP/args.out" "args 2 one,two words"
expect_in "$TMP/args.out" "arg0 $FIX/lua_args.lua arg1 one"
expect_in "$TMP/args.out" "lr 0.25 model models/child.bin"
expect_in "$TMP/args.out" "sandboxed"

"$BIN" lua --unsafe-lua "$FIX/lua_args.lua" >"$TMP/unsafe.out" 2>&1 || fail "strata lua --unsafe-lua exited $?"
expect_in "$TMP/unsafe.out" "unrestricted"

"$BIN" lua "$FIX/lua_error.lua" >"$TMP/err.out" 2>"$TMP/err.err"
rc=$?
[ $rc -eq 2 ] || fail "a Lua error should exit 2, got $rc"
expect_in "$TMP/err.err" "strata: error: $FIX/lua_error.lua:3: attempt to index a nil value"
expect_in "$TMP/err.err" "stack traceback:"
expect_in "$TMP/err.err" "$FIX/lua_error.lua:5: in main chunk"

"$BIN" lua "$FIX/lua_script_error.lua" >/dev/null 2>"$TMP/script.err"
rc=$?
[ $rc -eq 2 ] || fail "an error in a sandboxed script should exit 2, got $rc"
expect_in "$TMP/script.err" "strata: error: $FIX/sandbox_fail.lua:3: bad value 7"

printf 'local x = = 1\n' >"$TMP/syntax.lua"
"$BIN" lua "$TMP/syntax.lua" 2>"$TMP/syntax.err"
rc=$?
[ $rc -eq 2 ] || fail "a syntax error should exit 2, got $rc"
expect_in "$TMP/syntax.err" "$TMP/syntax.lua:1: unexpected symbol"

"$BIN" lua "$TMP/missing.lua" 2>"$TMP/missing.err"
[ $? -eq 2 ] || fail "a missing script should exit 2"
expect_in "$TMP/missing.err" "cannot open $TMP/missing.lua"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "ok"
