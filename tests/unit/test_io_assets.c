/* test_io_assets.c - SHA-256 against the FIPS 180-4 test vectors, and
 * asset lookup: precedence, hash verification, unknown names and the
 * not-downloadable message. No network is used. */
#include <string.h>
#include <sys/stat.h>

#include "assets.h"
#include "test.h"
#include "test_io_util.h"

static void hex(const uint8_t d[32], char out[65]) {
  for (int i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

static void check_sha(const char *msg, size_t reps, const char *want) {
  st_sha256_ctx c;
  uint8_t d[32];
  char h[65];
  st_sha256_init(&c);
  for (size_t i = 0; i < reps; i++) st_sha256_update(&c, msg, strlen(msg));
  st_sha256_final(&c, d);
  hex(d, h);
  CHECK_MSG(!strcmp(h, want), "sha256(%zu x '%.20s') = %s", reps, msg, h);
}

static void test_sha256(void) {
  check_sha("", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  check_sha("abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  check_sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  check_sha("a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  /* 55, 56 and 64 bytes straddle the padding boundary */
  char a55[56], a56[57], a64[65];
  memset(a55, 'a', 55), a55[55] = 0;
  memset(a56, 'a', 56), a56[56] = 0;
  memset(a64, 'a', 64), a64[64] = 0;
  check_sha(a55, 1,
            "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  check_sha(a56, 1,
            "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  check_sha(a64, 1,
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

int main(void) {
  test_sha256();
  char dir[64], p[1024], cwd[1024];
  tmpdir(dir);
  CHECK(getcwd(cwd, sizeof cwd) != NULL);

  CHECK_ERR(st_asset("models/nope.bin", p, sizeof p), "models/nope.bin", "unknown asset");

  /* a wrong file under STRATA_SHARED is found first and refused */
  char d2[512], f[600];
  snprintf(d2, sizeof d2, "%s/models/stories260K", dir);
  snprintf(f, sizeof f, "%s/models", dir);
  mkdir(f, 0755);
  mkdir(d2, 0755);
  snprintf(f, sizeof f, "%s/tok512.bin", d2);
  write_str(f, "not the tokenizer");
  setenv("STRATA_SHARED", dir, 1);
  CHECK_ERR(st_asset_local("models/stories260K/tok512.bin", p, sizeof p), f,
            "sha256 mismatch: expected 037cb335");
  CHECK_ERR(st_asset("models/stories260K/tok512.bin", p, sizeof p), f, "sha256 mismatch");

  /* the real file, when present, verifies and is returned from ../shared */
  remove(f);
  int r = st_asset_local("models/stories260K/tok512.bin", p, sizeof p);
  CHECK(r == 0 || r == 1);
  if (r == 1) CHECK(strstr(p, "shared/models/stories260K/tok512.bin") != NULL);

  /* nothing local and no public origin; the working directory is a fresh
   * folder inside dir, so its ../shared is dir/shared, which does not
   * exist whatever lies beside dir */
  snprintf(f, sizeof f, "%s/cwd", dir);
  CHECK(mkdir(f, 0755) == 0);
  CHECK(chdir(f) == 0);
  unsetenv("STRATA_SRC");
  setenv("STRATA_CACHE", dir, 1);
  CHECK(st_asset_local("data/sst2/dev.tsv", p, sizeof p) == 0);
  CHECK_ERR(st_asset("data/sst2/dev.tsv", p, sizeof p), "data/sst2/dev.tsv",
            "not downloadable: set STRATA_SHARED");
  /* the cache is the last place looked */
  snprintf(f, sizeof f, "%s/models/stories260K/stories260K.bin", dir);
  write_str(f, "stale");
  CHECK_ERR(st_asset_local("models/stories260K/stories260K.bin", p, sizeof p), f, "sha256");
  CHECK(chdir(cwd) == 0);
  rmtree(dir);
  TEST_DONE();
}
