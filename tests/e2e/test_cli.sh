#!/usr/bin/env bash
# test_cli.sh - the command line refuses what it does not understand, and
# says what it does understand. For every command that `strata --help`
# lists: --help exits 0 with a usage line and does no work; an unknown flag
# exits 2 naming it; a malformed number for each numeric flag of its help
# exits 2 naming the flag. Every command and flag of the help texts is in
# README.md or docs/cli.md. No model or data needed.
set -u
bin=${STRATA_BIN:-build/strata}
src=${STRATA_SRC:-.}
[ -x "$bin" ] || { echo "skipped: no strata binary at $bin"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# expect_error RC-PATTERN TEXT ARGS...: exit 2, TEXT in stderr, one line
expect_error() {
  local want=$1 rc
  shift
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ $rc -ne 2 ]; then bad "strata $*: exit $rc, want 2: $(cat "$tmp/err")"; return; fi
  grep -qF -- "$want" "$tmp/err" || { bad "strata $*: '$(cat "$tmp/err")' lacks '$want'"; return; }
  grep -q '^strata: error: ' "$tmp/err" || bad "strata $*: no 'strata: error:' line"
}

"$bin" --help >"$tmp/main" 2>&1 || bad "strata --help exited $?"
grep -q '^usage: strata ' "$tmp/main" || bad "strata --help: no usage line"
"$bin" -h >/dev/null 2>&1 || bad "strata -h exited $?"
cmds=$(sed -n '/^commands:/,/^$/p' "$tmp/main" | awk 'NR > 1 && NF { print $1 }')
[ "$(echo "$cmds" | wc -w)" -ge 12 ] || bad "strata --help lists too few commands: $cmds"
for c in info generate convert trace eval bench run plan sweep merge export-adapter lua; do
  grep -qw "$c" <<<"$cmds" || bad "strata --help does not list $c"
done
expect_error "unknown command 'nonsense'" nonsense
expect_error "--threads 'x'" --threads x info --help
expect_error "--threads 0" --threads 0 info --help

for c in $cmds; do
  # --help and -h: usage from the table, exit 0, no work (bench would run a
  # benchmark for seconds; nothing here may take long)
  start=$(date +%s)
  "$bin" "$c" --help >"$tmp/help.$c" 2>"$tmp/err" || bad "$c --help exited $?: $(cat "$tmp/err")"
  [ $(( $(date +%s) - start )) -le 2 ] || bad "$c --help took more than 2 s: it did work"
  # (run and plan share one usage text: "strata plan" is on its second line)
  grep -q "^usage: strata " "$tmp/help.$c" && grep -qE "^(usage:)? +strata $c( |\$)" "$tmp/help.$c" ||
    bad "$c --help: no 'usage: strata $c' line"
  "$bin" "$c" -h >"$tmp/h" 2>&1 || bad "$c -h exited $?"
  cmp -s "$tmp/h" "$tmp/help.$c" || bad "$c -h differs from $c --help"
  # an unknown flag names itself
  expect_error "--no-such-flag" "$c" --no-such-flag
  # each numeric flag the help types ("[integer ...", "[number ...") refuses "abc"
  awk '/^  -/ { flag = $1; sub(/,$/, "", flag) } /^ +\[(integer|number)/ { print flag }' \
    "$tmp/help.$c" | sort -u >"$tmp/num.$c"
  while read -r f; do
    [ "$f" = --threads ] && continue
    expect_error "$f 'abc'" "$c" "$f" abc
  done <"$tmp/num.$c"
done

# the ones the brief names, and the rest of the parser's errors
grep -qx -- --max-tokens "$tmp/num.generate" || bad "generate --help does not type --max-tokens"
expect_error "generate: --max-tokens 'abc': expected an integer" generate m --prompt x --max-tokens abc
expect_error "generate: --max-tokens -1: expected an integer >= 0" generate m --prompt x --max-tokens -1
expect_error "generate: --temperature 'hot': expected a number" generate m --prompt x --temperature hot
expect_error "trace: unknown option '--samplez' (did you mean --samples?)" trace m --data f --samplez 4
expect_error "trace: --data needs a value" trace m --data
expect_error "trace: --data FILE is required" trace m
expect_error "usage: strata trace <model>" trace --data f
expect_error "generate: --seed is given twice" generate m --prompt x --seed 1 --seed 2
expect_error "unknown device 'tpu'" bench --device tpu
expect_error "bench: --steps 0: expected an integer >= 1" bench --steps 0
expect_error "--stop-at" run r.yaml --stop-at abc
expect_error "sweep: --jobs 17: expected an integer in 1..16" sweep s.yaml --jobs 17
expect_error "info: unexpected argument 'two'" info one two
expect_error "usage: strata info <model>" info
expect_error "--unsafe-lua takes no value" lua --unsafe-lua=1 s.lua
expect_error "--logits and --logits-out go together" merge a b --logits t.safetensors
expect_error "eval: --verbalizers needs a --template" eval m --data f --verbalizers '0=a'
expect_error "eval: --template needs --verbalizers" eval m --data f --template '{0}'
# --label-col stays an alias of --label-column: parsed, then the model is missing
expect_error "$tmp/none" eval "$tmp/none" --data f --template '{0}' --verbalizers '0=a' --label-col 1
expect_error "$tmp/none" trace "$tmp/none" --data f --template '{0}' --verbalizers '0=a' \
  --label-column 1
# -B and -T stay aliases of bench's --batch-size and --seq-len
expect_error "--batch-size 'x'" bench -B x
expect_error "--seq-len 0" bench -T 0
# --name=value works like --name value
expect_error "--samples 'x'" trace m --data=f --samples=x

# lua: what follows the script is the script's, options and --help included
printf 'print(table.concat(arg, " "))\n' >"$tmp/args.lua"
out=$("$bin" lua "$tmp/args.lua" --help --no-such-flag -x 2>&1) || bad "lua script --help: $out"
[ "$out" = "--help --no-such-flag -x" ] || bad "lua passed '$out' to the script"
out=$("$bin" lua -- "$tmp/args.lua" a 2>&1) || bad "lua -- script: $out"
[ "$out" = "a" ] || bad "lua -- script passed '$out'"

# documentation: every command and flag of the help texts
docs="$src/README.md"
[ -f "$src/docs/cli.md" ] && docs="$docs $src/docs/cli.md" || bad "docs/cli.md is missing"
for c in $cmds; do
  grep -q -- "strata $c\b" $docs || bad "command $c is not in README.md or docs/cli.md"
done
cat "$tmp/main" "$tmp"/help.* | grep -oE -- '(^|[ ,[(])(--[a-z][a-z0-9-]*|-[A-Za-z])\b' |
  sed 's/^[ ,[(]//' | sort -u >"$tmp/flags"
while read -r f; do
  grep -qE -- "(^|[^a-z0-9-])$f([^a-z0-9-]|\$)" $docs || bad "flag $f is not in README.md or docs/cli.md"
done <"$tmp/flags"
# each command's own flags in its section of docs/cli.md
for c in $cmds; do
  sect=$(awk -v h="## strata $c" 'index($0, h) == 1 { on = 1; next } /^## / { on = 0 } on' \
    "$src/docs/cli.md" 2>/dev/null)
  [ -n "$sect" ] || { bad "docs/cli.md has no '## strata $c' section"; continue; }
  grep -oE -- '(^|[ ,[(])(--[a-z][a-z0-9-]*|-[A-Z])\b' "$tmp/help.$c" | sed 's/^[ ,[(]//' |
    sort -u | while read -r f; do
      case $f in --threads | --help | -h) continue ;; esac
      grep -qE -- "(^|[^a-z0-9-])$f([^a-z0-9-]|\$)" <<<"$sect" ||
        echo "FAIL: $c's flag $f is not in its docs/cli.md section"
    done >"$tmp/sect"
  [ -s "$tmp/sect" ] && { cat "$tmp/sect"; fail=1; }
done

[ $fail = 0 ] && echo ok
exit $fail
