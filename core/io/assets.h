/* assets.h - the shared, read-only inputs (models, tokenizers, data sets)
 * that tests, examples and recipes refer to by a relative name such as
 * "models/stories260K/stories260K.bin".
 *
 * They are never copied into the repository. st_asset() finds one, in order:
 *   1. $STRATA_SHARED/<rel>
 *   2. ../shared/<rel> relative to the working directory
 *   3. $STRATA_SRC/../shared/<rel>
 *   4. the download cache: $STRATA_CACHE/<rel>, else
 *      $XDG_CACHE_HOME/strata/<rel>, else ~/.cache/strata/<rel>; a missing
 *      file is fetched there from its public origin with curl.
 * Whichever copy is found, its sha256 must match the built-in table, so a
 * test never runs on a silently different file. */
#ifndef ST_ASSETS_H
#define ST_ASSETS_H

#include <stddef.h>

#include "sha256.h" /* the hash that verifies them */

/* Writes the verified path of asset `rel` into out. ST_ERR + message when
 * the name is unknown, the file cannot be found or fetched, or its hash
 * differs. */
int st_asset(const char *rel, char *out, size_t outsz);
/* Steps 1-4 without downloading, for tests that skip when offline:
 * 1 = found and verified (path in out), 0 = not present locally,
 * ST_ERR = unknown name or a present copy with the wrong hash. */
int st_asset_local(const char *rel, char *out, size_t outsz);

#endif
