#!/usr/bin/env bash
# test_docs_schema.sh - docs/recipes.md documents every recipe key with the
# schema's own default (test_docs_schema.lua), so the document cannot go
# stale; and a doc that disagrees is caught (a default changed in a copy).
set -u
bin=${STRATA_BIN:-build/strata}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$bin" lua tests/e2e/test_docs_schema.lua docs/recipes.md || exit 1
sed 's/| `steps` | int in 0..1000000000 | `100` |/| `steps` | int in 0..1000000000 | `200` |/' docs/recipes.md >"$tmp/bad.md"
cmp -s docs/recipes.md "$tmp/bad.md" && { echo "FAIL: the mutation did not apply"; exit 1; }
"$bin" lua tests/e2e/test_docs_schema.lua "$tmp/bad.md" >"$tmp/out" 2>&1 &&
  { echo "FAIL: a wrong default in the docs went unnoticed"; exit 1; }
grep -q "train.steps" "$tmp/out" || { cat "$tmp/out"; exit 1; }
echo ok
