/* TensorBoard event files: CRC-32C against the iSCSI test vectors of RFC 3720
 * (B.4), and the exact bytes of a file against the one tensorboard's own
 * RecordWriter and protos wrote for the same events
 * (tests/fixtures/tfevents, scripts/make_tfevents_reference.py). Then the
 * file name TensorBoard looks for, no overwriting, and bad input. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "tfevents.h"
#include "test.h"

#define FIX "tests/fixtures/tfevents"

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *s = malloc(len + 1);
  *n = fread(s, 1, len, f);
  fclose(f);
  return s;
}

static void crc_vectors(void) {
  unsigned char b[48];
  memset(b, 0, 32);
  CHECK(st_crc32c(b, 32) == 0x8a9136aau);
  memset(b, 0xff, 32);
  CHECK(st_crc32c(b, 32) == 0x62a8ab43u);
  for (int i = 0; i < 32; i++) b[i] = (unsigned char)i;
  CHECK(st_crc32c(b, 32) == 0x46dd794eu);
  for (int i = 0; i < 32; i++) b[i] = (unsigned char)(31 - i);
  CHECK(st_crc32c(b, 32) == 0x113fdb5cu);
  /* an iSCSI read command PDU */
  static const unsigned char pdu[48] = {
      0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
      0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  CHECK(st_crc32c(pdu, 48) == 0xd9963a56u);
  CHECK(st_crc32c("123456789", 9) == 0xe3069283u); /* the usual check value */
  CHECK(st_crc32c("", 0) == 0);
}

/* inputs.json's events through st_tfevents_*, byte for byte as the reference */
static void reference_bytes(const char *dir) {
  json_error_t je;
  json_t *in = json_load_file(FIX "/inputs.json", 0, &je);
  CHECK_MSG(in != NULL, "%s", je.text);
  if (!in) return;
  char path[512];
  snprintf(path, sizeof path, "%s/ref.tfevents", dir);
  st_tfevents *w;
  double t0 = json_number_value(json_object_get(in, "header_wall_time"));
  CHECK_MSG(st_tfevents_open_file(&w, path, t0) == ST_OK, "%s", st_errmsg());
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(in, "events"), i, e) {
    const char *kind = json_string_value(json_object_get(e, "kind"));
    const char *tag = json_string_value(json_object_get(e, "tag"));
    int64_t step = json_integer_value(json_object_get(e, "step"));
    double wall = json_number_value(json_object_get(e, "wall_time"));
    json_t *value = json_object_get(e, "value"), *text = json_object_get(e, "text");
    int rc = !strcmp(kind, "scalar")
                 ? st_tfevents_scalar(w, tag, step, wall, json_number_value(value))
                 : st_tfevents_text(w, tag, step, wall, json_string_value(text));
    CHECK_MSG(rc == ST_OK, "event %zu: %s", i, st_errmsg());
  }
  CHECK(st_tfevents_close(w) == ST_OK);
  json_decref(in);
  size_t n, m;
  unsigned char *got = slurp(path, &n), *want = slurp(FIX "/reference.tfevents", &m);
  CHECK(got && want);
  if (got && want) {
    size_t k = 0;
    while (k < n && k < m && got[k] == want[k]) k++;
    CHECK_MSG(n == m && k == n, "%zu bytes vs the reference's %zu, first difference at byte %zu",
              n, m, k);
  }
  free(got);
  free(want);
}

/* events.out.tfevents.<seconds>.<host>; a second file of the same second
 * gets its own name instead of replacing the first */
static void naming(const char *dir) {
  char sub[512], host[256] = "";
  snprintf(sub, sizeof sub, "%s/run/tb", dir);
  gethostname(host, sizeof host);
  st_tfevents *a, *b;
  CHECK_MSG(st_tfevents_open(&a, sub) == ST_OK, "%s", st_errmsg());
  CHECK_MSG(st_tfevents_open(&b, sub) == ST_OK, "%s", st_errmsg());
  if (!a || !b) return;
  const char *pa = strrchr(st_tfevents_path(a), '/') + 1, *pb = st_tfevents_path(b);
  long long secs = 0;
  int used = 0;
  CHECK_MSG(sscanf(pa, "events.out.tfevents.%lld.%n", &secs, &used) == 1 && used > 0 &&
                !strcmp(pa + used, host) && secs > 1600000000,
            "file name %s", pa);
  CHECK(strcmp(st_tfevents_path(a), pb) != 0);
  CHECK(st_tfevents_scalar(b, "train/loss", 1, 1.0, 2.0) == ST_OK && st_tfevents_flush(b) == ST_OK);
  char first[512];
  snprintf(first, sizeof first, "%s", st_tfevents_path(a));
  CHECK(st_tfevents_close(a) == ST_OK && st_tfevents_close(b) == ST_OK);
  /* the header: one record holding the file version */
  size_t n;
  unsigned char *s = slurp(first, &n);
  CHECK(s && n > 16 && (size_t)s[0] + 16 == n && memmem(s, n, "brain.Event:2", 13));
  free(s);
}

static void bad_input(const char *dir) {
  char path[512];
  st_tfevents *w = (st_tfevents *)1;
  snprintf(path, sizeof path, "%s/ref.tfevents", dir); /* exists: never replaced */
  CHECK(st_tfevents_open_file(&w, path, 1.0) == ST_ERR && w == NULL);
  CHECK_MSG(strstr(st_errmsg(), path) != NULL, "%s", st_errmsg());
  CHECK(st_tfevents_open(&w, path) == ST_ERR); /* a file where the folder goes */
  CHECK_MSG(strstr(st_errmsg(), "ref.tfevents") != NULL, "%s", st_errmsg());
  snprintf(path, sizeof path, "%s/tags.tfevents", dir);
  CHECK(st_tfevents_open_file(&w, path, 1.0) == ST_OK);
  CHECK(st_tfevents_scalar(w, "", 1, 1.0, 1.0) == ST_ERR);
  CHECK_MSG(strstr(st_errmsg(), "tag") && strstr(st_errmsg(), "tags.tfevents"), "%s", st_errmsg());
  CHECK(st_tfevents_text(w, NULL, 1, 1.0, "x") == ST_ERR);
  CHECK(st_tfevents_close(w) == ST_OK);
  CHECK(st_tfevents_close(NULL) == ST_OK);
}

int main(void) {
  char dir[] = "/tmp/strata_tfevents_XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  crc_vectors();
  reference_bytes(dir);
  naming(dir);
  bad_input(dir);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
  TEST_DONE();
}
