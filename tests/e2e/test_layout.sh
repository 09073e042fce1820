#!/usr/bin/env bash
# test_layout.sh - the structure docs/ARCHITECTURE.md draws is the one the
# includes draw: no core file includes a Lua or CLI header; no .c file sits
# at core/'s top level; and every core folder includes headers only from
# the folders its row in the "core/, by concern" table allows. A header is
# attributed to the folder that holds it. Also checked: the rule catches a
# violation (a doc that forbids an include that exists).
set -u
doc=${1:-docs/ARCHITECTURE.md}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

bad=$(grep -rlE '#include [<"](lua|lauxlib|lualib|strata_lua|workbench_lua|runner|commands|cli_opts)\.h[>"]' core)
[ -z "$bad" ] || fail "core includes Lua or CLI headers: $bad"
top=$(ls core/*.c core/*.h 2>/dev/null)
[ -z "$top" ] || fail "files at core/'s top level: $top"

# folder -> allowed folders, from the table rows "| `folder/` | ... | a, b |"
check() { # doc
  local n=0 row folder allowed h hf
  while IFS= read -r row; do
    folder=$(sed -E 's/^\| `([a-z]+)\/` .*/\1/' <<<"$row")
    allowed=" $folder $(awk -F'|' '{print $(NF-1)}' <<<"$row" | tr -d ' ' | tr ',' ' ' | sed 's/nothing//') "
    [ -d "core/$folder" ] || { echo "FAIL: $doc names core/$folder/, which does not exist"; n=$((n + 1)); continue; }
    for h in $(grep -ho '#include "[a-z_0-9]*\.h"' core/$folder/* | sed 's/#include "\(.*\)"/\1/' | sort -u); do
      hf=$(cd core && ls */"$h" 2>/dev/null | head -1 | cut -d/ -f1)
      [ -n "$hf" ] || continue
      case "$allowed" in *" $hf "*) ;; *) echo "FAIL: core/$folder includes $h (core/$hf/), which $doc does not allow"; n=$((n + 1));; esac
    done
  done < <(grep -E '^\| `[a-z]+/` \|' "$1")
  return $n
}
rows=$(grep -cE '^\| `[a-z]+/` \|' "$doc")
[ "$rows" -ge 8 ] || fail "$doc: the folder table has $rows rows"
for d in core/*/; do
  d=$(basename "$d")
  grep -qE "^\| \`$d/\` \|" "$doc" || fail "core/$d/ is not in $doc's folder table"
done
check "$doc" || fails=$((fails + 1))

# the rule can fail: forbid nn/ to include backend/
tmp=$(mktemp); trap 'rm -f "$tmp"' EXIT
sed -E 's/^(\| `nn\/` .*\| )backend, util \|$/\1util |/' "$doc" >"$tmp"
cmp -s "$doc" "$tmp" && fail "could not make the mutated doc"
check "$tmp" >/dev/null && fail "a forbidden include went unnoticed"
[ $fails = 0 ] && echo ok
exit $((fails > 0))
