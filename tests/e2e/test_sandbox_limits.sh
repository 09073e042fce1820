#!/usr/bin/env bash
# test_sandbox_limits.sh - a recipe script cannot hang or exhaust the host:
# an endless loop in a policy fails on its instruction budget naming the
# script; a policy that allocates without bound fails on the memory cap; an
# error whose __tostring loops and a __gc that loops do not hang the error
# report (finalizers, which Lua runs with hooks off, are refused); the
# host's string and file-handle metatables are out of a script's reach.
# Every command runs under `timeout`, so a hang is a failure, not a stall.
set -u
. tests/e2e/assets.sh
fail() { echo "FAIL: $*"; exit 1; }
policy() { printf '%s\n' "$2" >"$tmp/$1.lua"; }
plan() { # NAME [sets...]: strata plan with policy $tmp/NAME.lua
  local name=$1; shift
  timeout -s KILL 120 "$bin" --threads 1 plan recipes/quickstart.yaml "${asset_sets[@]}" --set trace.samples=4 \
    --set "policy.script=$tmp/$name.lua" "$@" >"$tmp/$name.out" 2>&1
}
ret='return {plan = function(ctx) return {layers = {[4] = "full"}} end}'

policy loop 'return {plan = function(ctx) while true do end end}'
plan loop --set sandbox.instructions=1000000
rc=$?
[ $rc = 2 ] && grep -q "loop.lua.*ran past its instruction budget of 1000000 (" "$tmp/loop.out" ||
  { cat "$tmp/loop.out"; fail "endless loop: exit $rc"; }

policy caught 'return {plan = function(ctx) for i = 1, 10 do pcall(function() while true do end end) end return {layers = {[4] = "full"}} end}'
plan caught --set sandbox.instructions=1000000
rc=$?
[ $rc = 2 ] && grep -q "instruction budget" "$tmp/caught.out" ||
  { cat "$tmp/caught.out"; fail "a loop caught with pcall went on: exit $rc"; }

policy hog 'local t = {} return {plan = function(ctx) for i = 1, 1e9 do t[i] = string.rep("x", 1000) .. i end end}'
plan hog --set sandbox.memory_mb=32
rc=$?
[ $rc = 2 ] && grep -q "memory cap of 32 MB (sandbox.memory_mb)" "$tmp/hog.out" ||
  { cat "$tmp/hog.out"; fail "unbounded allocation: exit $rc"; }

policy tostr 'return {plan = function(ctx) error(setmetatable({}, {__tostring = function() while true do end end})) end}'
plan tostr --set sandbox.instructions=1000000
rc=$?
[ $rc = 2 ] || { cat "$tmp/tostr.out"; fail "an error whose __tostring loops: exit $rc"; }

# Lua runs finalizers with hooks off, so no budget could stop a looping
# __gc: the sandbox refuses finalizers
policy gc "local keep = setmetatable({}, {__gc = function() while true do end end}) $ret"
plan gc
rc=$?
[ $rc = 2 ] && grep -q "__gc is not allowed in the recipe sandbox" "$tmp/gc.out" ||
  { cat "$tmp/gc.out"; fail "a looping __gc: exit $rc (124: it hung)"; }

policy meta "assert(getmetatable(io.stdout) == nil and getmetatable('') == nil, 'a host metatable is reachable') $ret"
plan meta
rc=$?
[ $rc = 0 ] || { cat "$tmp/meta.out"; fail "getmetatable reaches the host's metatables"; }
# a chat template is a recipe script too: the recipe's budget stops it
printf '%s\n' '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}' \
  >"$tmp/chat.jsonl"
printf '%s\n' 'return function(messages) while true do end end' >"$tmp/loop_tmpl.lua"
cat >"$tmp/chat.yaml" <<Y
model: $shared/models/stories260K/stories260K.bin
data: {train: $tmp/chat.jsonl, format: chat, chat_template: $tmp/loop_tmpl.lua}
train: {steps: 1, batch_size: 1, seq_len: 32}
trace: {samples: 1}
sandbox: {instructions: 1000000}
Y
timeout -s KILL 120 "$bin" --threads 1 plan "$tmp/chat.yaml" >"$tmp/chat.out" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "loop_tmpl.lua.*instruction budget of 1000000 (" "$tmp/chat.out" ||
  { cat "$tmp/chat.out"; fail "a looping chat template: exit $rc"; }
echo ok
