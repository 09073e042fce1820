# assets.sh - sourced by e2e tests that run recipes on the shared assets:
# sets bin, shared and tmp (removed on exit, also the token cache), skips
# (exit 77) when stories260K or SST-2 are missing, and fills asset_sets
# with --set overrides pointing the recipes at $STRATA_SHARED when the
# assets are not at ../shared.
bin=${STRATA_BIN:-build/strata}
shared=${STRATA_SHARED:-../shared}
[ -f "$shared/models/stories260K/stories260K.bin" ] && [ -f "$shared/data/sst2/train.tsv" ] ||
  { echo "skipped: stories260K or SST-2 not found"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export STRATA_CACHE=$tmp/cache
asset_sets=()
[ "$shared" != ../shared ] && asset_sets=(--set "model=$shared/models/stories260K/stories260K.bin"
  --set "data.train=$shared/data/sst2/train.tsv" --set "data.eval=$shared/data/sst2/dev.tsv")
