/* test_tokenizer_find.c - st_tokenizer_find in made-up folders: an HF
 * folder is its own tokenizer, config.json beside tokenizer.json gives the
 * folder, tokenizer.bin wins over tok*.bin, among tok*.bin the first by name
 * (whatever order the directory lists them in), and none is an error naming
 * the model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "test.h"
#include "tokenizer.h"

static char root[64];

static void touch(const char *rel) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  FILE *f = fopen(p, "w");
  if (f) fclose(f);
}

static void rm(const char *rel) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  remove(p);
}

/* finds the tokenizer for root/model and checks it is root/want */
static void expect(const char *model, const char *want) {
  char mp[256], out[600], w[256];
  snprintf(mp, sizeof mp, "%s/%s", root, model);
  snprintf(w, sizeof w, "%s/%s", root, want);
  int rc = st_tokenizer_find(mp, out, sizeof out);
  CHECK_MSG(rc == ST_OK && !strcmp(out, w), "%s: got rc %d '%s', want '%s' (%s)",
            model, rc, rc ? "" : out, w, rc ? st_errmsg() : "");
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/st_tokfind_XXXXXX");
  if (!mkdtemp(root)) SKIP("cannot make a temporary folder");
  char p[256];
  snprintf(p, sizeof p, "%s/hf", root);
  mkdir(p, 0700);
  snprintf(p, sizeof p, "%s/l2c", root);
  mkdir(p, 0700);

  /* an HF folder is passed through as is; its config.json finds the folder */
  touch("hf/config.json");
  touch("hf/tokenizer.json");
  expect("hf", "hf");
  expect("hf/config.json", "hf");

  /* llama2.c: nothing there, then tok*.bin by name, then tokenizer.bin */
  touch("l2c/model.bin");
  char out[600];
  snprintf(p, sizeof p, "%s/l2c/model.bin", root);
  CHECK(st_tokenizer_find(p, out, sizeof out) == ST_ERR);
  CHECK_MSG(strstr(st_errmsg(), p) && strstr(st_errmsg(), "no tokenizer found"),
            "%s", st_errmsg());
  touch("l2c/tok_z.bin");
  touch("l2c/tok512.bin");
  touch("l2c/tok4096.bin");
  touch("l2c/token.txt");
  expect("l2c/model.bin", "l2c/tok4096.bin");
  touch("l2c/tokenizer.bin");
  expect("l2c/model.bin", "l2c/tokenizer.bin");

  const char *files[] = {"hf/config.json", "hf/tokenizer.json", "l2c/model.bin",
                         "l2c/tok_z.bin", "l2c/tok512.bin", "l2c/tok4096.bin",
                         "l2c/token.txt", "l2c/tokenizer.bin", "hf", "l2c", ""};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) rm(files[i]);
  TEST_DONE();
}
