/* assets.c - find, fetch and verify the shared assets (see assets.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "assets.h"
#include "error.h"
#include "fs.h"
#include "sha256.h"

typedef struct {
  const char *rel, *sha256, *url; /* url NULL: no stable public origin */
} asset;

#define TINYLLAMAS "https://huggingface.co/karpathy/tinyllamas/resolve/main/"
#define GPT2_124M "https://openaipublic.blob.core.windows.net/gpt-2/models/124M/"

static const asset assets[] = {
    {"models/stories260K/stories260K.bin",
     "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696",
     TINYLLAMAS "stories260K/stories260K.bin"},
    {"models/stories260K/tok512.bin",
     "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312",
     TINYLLAMAS "stories260K/tok512.bin"},
    {"tokenizers/gpt2/encoder.json",
     "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
     GPT2_124M "encoder.json"},
    {"tokenizers/gpt2/vocab.bpe",
     "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
     GPT2_124M "vocab.bpe"},
    {"data/tinyshakespeare/input.txt",
     "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
     "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/"
     "tinyshakespeare/input.txt"},
    /* SST-2 and CoLA are reformatted splits (SentEval / GLUE) with no
     * per-file public URL; they come only from STRATA_SHARED. */
    {"data/sst2/train.tsv",
     "99c008aa187c95cd6c8f3190894decf667c79c29da492ce07d75107ae1fd8782", NULL},
    {"data/sst2/dev.tsv",
     "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0", NULL},
    {"data/cola/train.tsv",
     "1f8f2b073087998f717d11f4f9fcb0f16dd78b5d29643d57d9126bc915629a4a", NULL},
    {"data/cola/dev.tsv",
     "3840245026c207605975b791b8700bacab286efaf901d5cf3d507aaa8ffbaafb", NULL},
};
#define NASSETS ((int)(sizeof assets / sizeof assets[0]))

static const asset *lookup(const char *rel) {
  for (int i = 0; i < NASSETS; i++)
    if (!strcmp(assets[i].rel, rel)) return &assets[i];
  return NULL;
}

static int is_file(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int verify(const char *path, const asset *a) {
  char hex[65];
  if (st_sha256_file(path, hex) != ST_OK) return ST_ERR;
  if (strcmp(hex, a->sha256))
    return st_err("%s: sha256 mismatch: expected %s, got %s (corrupt or "
                  "different file)", path, a->sha256, hex);
  return ST_OK;
}

static int put(char *out, size_t outsz, const char *a, const char *b,
               const char *c) {
  int n = snprintf(out, outsz, "%s%s%s", a, b, c);
  return n >= 0 && (size_t)n < outsz;
}

/* the download cache's copy of rel */
static int cache_path(const char *rel, char *out, size_t outsz) {
  const char *d = getenv("STRATA_CACHE");
  if (d && *d) return put(out, outsz, d, "/", rel);
  d = getenv("XDG_CACHE_HOME");
  if (d && *d) return put(out, outsz, d, "/strata/", rel);
  d = getenv("HOME");
  if (d && *d) return put(out, outsz, d, "/.cache/strata/", rel);
  return 0;
}

/* steps 1-4 of assets.h; 1 found (verified or not), 0 not found */
static int find_local(const char *rel, char *out, size_t outsz) {
  const char *env = getenv("STRATA_SHARED");
  if (env && *env && put(out, outsz, env, "/", rel) && is_file(out)) return 1;
  if (put(out, outsz, "../shared/", rel, "") && is_file(out)) return 1;
  env = getenv("STRATA_SRC");
  if (env && *env && put(out, outsz, env, "/../shared/", rel) && is_file(out))
    return 1;
  if (cache_path(rel, out, outsz) && is_file(out)) return 1;
  return 0;
}

int st_asset_local(const char *rel, char *out, size_t outsz) {
  const asset *a = lookup(rel);
  if (!a) return st_err("%s: unknown asset (not in the built-in sha256 table)", rel);
  if (!find_local(rel, out, outsz)) return 0;
  return verify(out, a) == ST_OK ? 1 : ST_ERR;
}

/* curl without a shell, so the URL and path are never interpreted */
static int download(const char *url, const char *dst) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) return st_err("fork: %s", strerror(errno));
  if (pid == 0) {
    execlp("curl", "curl", "-fsSL", "--retry", "2", "--connect-timeout", "20",
           "-o", dst, url, (char *)NULL);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return st_err("waitpid: %s", strerror(errno));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    return st_err("%s: downloading needs curl on PATH", url);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return st_err("%s: download failed (curl exit %d)", url,
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return ST_OK;
}

int st_asset(const char *rel, char *out, size_t outsz) {
  int r = st_asset_local(rel, out, outsz);
  if (r == 1) return ST_OK;
  if (r == ST_ERR) return ST_ERR;
  const asset *a = lookup(rel);
  if (!a->url)
    return st_err("%s: not found and not downloadable: set STRATA_SHARED to "
                  "the folder holding it", rel);
  if (!cache_path(rel, out, outsz))
    return st_err("%s: not found and no cache folder (set STRATA_CACHE or "
                  "HOME)", rel);
  char tmp[ST_PATH_MAX];
  if (st_tmp_path(tmp, sizeof tmp, out) || st_mkdirs_parent(out)) return ST_ERR;
  if (download(a->url, tmp) != ST_OK || verify(tmp, a) != ST_OK) {
    remove(tmp);
    return st_err_prefix("%s: ", rel);
  }
  return st_replace(tmp, out);
}
