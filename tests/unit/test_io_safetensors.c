/* test_io_safetensors.c - the safetensors writer's exact bytes, the reader's
 * round trip and half-precision conversion, and each malformed file giving
 * an error that names the file. */
#include <math.h>
#include <string.h>

#include "safetensors.h"
#include "test.h"
#include "test_io_util.h"

static char dir[64], path[512];

/* The exact file Python writes for these tensors (captured once with
 * safetensors 0.8 save_file(..., metadata={"format": "pt"})): F32 before I32,
 * then by name; header padded with spaces to a multiple of 8. */
static void test_exact_bytes(void) {
  float a[2] = {1, 1}, s = 1.5f, z[3] = {1, 1, 1};
  int32_t b[2] = {0, 0}, c[2] = {0, 0};
  st_sft_entry e[] = {
      {"b", ST_SFT_I32, 1, {2}, b},    {"z", ST_SFT_F32, 1, {3}, z},
      {"a", ST_SFT_F32, 2, {1, 2}, a}, {"c", ST_SFT_I32, 1, {2}, c},
      {"s", ST_SFT_F32, 0, {0}, &s},
  };
  pjoin(path, dir, "exact.safetensors");
  CHECK(st_sft_write(path, e, 5, NULL, NULL, 0) == ST_OK);
  const char *hdr =
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[0,8]},"
      "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[8,12]},"
      "\"z\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[12,24]},"
      "\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[24,32]},"
      "\"c\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[32,40]}}       ";
  size_t hl = strlen(hdr);
  CHECK(hl == 312 && hl % 8 == 0);
  uint8_t want[8 + 312 + 40] = {0};
  want[0] = 312 & 0xff;
  want[1] = 312 >> 8;
  memcpy(want + 8, hdr, hl);
  memcpy(want + 8 + hl, a, 8);
  memcpy(want + 8 + hl + 8, &s, 4);
  memcpy(want + 8 + hl + 12, z, 12); /* b and c are zeros */
  uint8_t got[sizeof want + 1];
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(got, 1, sizeof got, f) : 0;
  if (f) fclose(f);
  CHECK_MSG(n == sizeof want, "file is %zu bytes, want %zu", n, sizeof want);
  CHECK(n == sizeof want && !memcmp(got, want, n));
  /* no temp file left behind */
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  CHECK(access(tmp, F_OK) != 0);
}

/* write -> read returns the same values, shapes, metadata and a layout that
 * follows the rules (header %8, space padding, contiguous offsets) */
static void test_round_trip(void) {
  enum { N1 = 6, N2 = 5 };
  float w[N1], v[N2];
  int32_t r[3] = {-7, 0, 123456789};
  for (int i = 0; i < N1; i++) w[i] = 0.1f * i - 0.3f;
  for (int i = 0; i < N2; i++) v[i] = 1e-30f * (i + 1);
  st_sft_entry e[] = {{"layer.w", ST_SFT_F32, 2, {2, 3}, w},
                      {"rng", ST_SFT_I32, 1, {3}, r},
                      {"a \"quoted\"\\name\n", ST_SFT_F32, 3, {1, 5, 1}, v}};
  const char *mk[] = {"step"}, *mv[] = {"42"};
  pjoin(path, dir, "rt.safetensors");
  CHECK(st_sft_write(path, e, 3, mk, mv, 1) == ST_OK);
  st_sft *f = NULL;
  CHECK(st_sft_open(&f, path) == ST_OK);
  if (!f) return;
  CHECK(f->n == 3);
  CHECK(st_sft_meta(f, "format") && !strcmp(st_sft_meta(f, "format"), "pt"));
  CHECK(st_sft_meta(f, "step") && !strcmp(st_sft_meta(f, "step"), "42"));
  CHECK(st_sft_meta(f, "nope") == NULL);
  const st_sft_tensor *t = st_sft_find(f, "layer.w");
  float got[N1];
  CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->numel == N1);
  CHECK(t && st_sft_read_f32(f, t, got, N1) == ST_OK && !memcmp(got, w, sizeof w));
  CHECK(t && st_sft_read_f32(f, t, got, N1 - 1) != ST_OK); /* wrong count */
  t = st_sft_find(f, "a \"quoted\"\\name\n");
  CHECK(t && t->ndim == 3 && st_sft_read_f32(f, t, got, N2) == ST_OK &&
        !memcmp(got, v, sizeof v));
  t = st_sft_find(f, "rng");
  int32_t ri[3];
  CHECK(t && st_sft_read_i32(f, t, ri, 3) == ST_OK && !memcmp(ri, r, sizeof r));
  CHECK(t && st_sft_read_f32(f, t, got, 3) != ST_OK); /* I32 is not float */
  /* layout rules: offsets tile the data section in F32-then-name order */
  size_t hl = (size_t)(f->data - (const uint8_t *)f->map) - 8;
  CHECK(hl % 8 == 0);
  const char *h = (const char *)f->map + 8;
  size_t end = hl;
  while (end > 0 && h[end - 1] == ' ') end--;
  CHECK(end > 0 && h[end - 1] == '}' && hl - end < 8);
  const st_sft_tensor *q = st_sft_find(f, "a \"quoted\"\\name\n"),
                      *lw = st_sft_find(f, "layer.w"), *rg = st_sft_find(f, "rng");
  CHECK(q && lw && rg && q->begin == 0 && lw->begin == q->end &&
        rg->begin == lw->end && rg->end == f->data_len);
  st_sft_close(f);
}

static uint16_t F16[] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff,
                         0x0400, 0x3555, 0x8000, 0x7c00};
static double F16_VAL[] = {1.0, -2.0, 65504.0, 5.9604644775390625e-08,
                           6.097555160522461e-05, 6.103515625e-05,
                           0.333251953125, -0.0, INFINITY};
static uint16_t BF16[] = {0x3f80, 0x4049, 0xc2f7, 0x0000};
static double BF16_VAL[] = {1.0, 3.140625, -123.5, 0.0};

static void test_half(void) {
  pjoin(path, dir, "half.safetensors");
  uint8_t data[18 + 8];
  memcpy(data, F16, 18);
  memcpy(data + 18, BF16, 8);
  write_sft_raw(path,
                "{\"h\":{\"dtype\":\"F16\",\"shape\":[9],\"data_offsets\":[0,18]},"
                "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[18,26]}}",
                data, sizeof data);
  st_sft *f = NULL;
  CHECK(st_sft_open(&f, path) == ST_OK);
  if (!f) return;
  float h[9], b[4];
  CHECK(st_sft_read_f32(f, st_sft_find(f, "h"), h, 9) == ST_OK);
  CHECK(st_sft_read_f32(f, st_sft_find(f, "b"), b, 4) == ST_OK);
  for (int i = 0; i < 9; i++) CHECK_MSG(h[i] == F16_VAL[i], "f16 %04x -> %g", F16[i], h[i]);
  CHECK(signbit(h[7]));
  for (int i = 0; i < 4; i++) CHECK_MSG(b[i] == BF16_VAL[i], "bf16 %04x -> %g", BF16[i], b[i]);
  CHECK(isnan(st_f16_to_f32(0x7e00)));
  st_sft_close(f);
}

static void bad(const char *name, const char *header, size_t data_len,
                const char *what) {
  uint8_t zeros[64] = {0};
  pjoin(path, dir, name);
  write_sft_raw(path, header, zeros, data_len);
  st_sft *f = NULL;
  int rc = st_sft_open(&f, path);
  CHECK_ERR(rc, name, what);
  CHECK(f == NULL);
}

static void test_bad_files(void) {
  bad("gap.st",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, "gap");
  bad("overlap.st",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "overlaps");
  bad("mismatch.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",
      8, "'a'");
  bad("mismatch2.st", "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}",
      16, "needs 8 bytes");
  bad("dtype.st", "{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
      "unsupported dtype F64");
  bad("short.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8,
      "tensors cover 16 bytes");
  bad("extra.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
      "data section has 8");
  bad("notobj.st", "[1, 2, 3]", 0, "does not start with '{'");
  bad("json.st", "{\"a\": ", 0, "header JSON");
  bad("fields.st", "{\"a\":{\"dtype\":\"F32\"}}", 0, "data_offsets");
  bad("backwards.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 0,
      "begin <= end");
  bad("meta.st", "{\"__metadata__\":{\"x\":1}}", 0, "__metadata__");

  /* header length beyond the file */
  pjoin(path, dir, "hlen.st");
  uint8_t b[20] = {0xe8, 0x03};
  memcpy(b + 8, "{\"a\":{}}    ", 12);
  write_bytes(path, b, sizeof b);
  st_sft *f = NULL;
  CHECK_ERR(st_sft_open(&f, path), "hlen.st", "exceeds the file");
  /* shorter than the length field */
  pjoin(path, dir, "tiny.st");
  write_bytes(path, b, 5);
  CHECK_ERR(st_sft_open(&f, path), "tiny.st", "truncated");
  CHECK_ERR(st_sft_open(&f, "/nonexistent/x.safetensors"), "/nonexistent/x.safetensors",
            "No such file");
  /* writer refuses what it cannot write */
  float x = 0;
  st_sft_entry e[] = {{"a", (st_sft_dtype)7, 1, {1}, &x}};
  pjoin(path, dir, "w.st");
  CHECK_ERR(st_sft_write(path, e, 1, NULL, NULL, 0), "w.st", "unknown dtype");
  st_sft_entry d[] = {{"a", ST_SFT_F32, 1, {1}, &x}, {"a", ST_SFT_F32, 1, {1}, &x}};
  CHECK_ERR(st_sft_write(path, d, 2, NULL, NULL, 0), "w.st", "duplicate");
  /* F16/BF16 entries are narrowed from floats, rounding to nearest even;
   * the expected bits are torch's .to(bfloat16/float16) of the same values
   * (ties, overflow, f16 subnormals and underflow, inf, -0) */
  {
    const float v[13] = {1.0f, -2.5f, 65504.0f, 65520.0f, 1e-8f, 6e-8f, 3e-5f,
                         1.00390625f, 1.01171875f, INFINITY, 0.1f, -0.0f, 1e-45f};
    const uint16_t want_bf[13] = {0x3f80, 0xc020, 0x4780, 0x4780, 0x322c, 0x3381, 0x37fc,
                                  0x3f80, 0x3f82, 0x7f80, 0x3dcd, 0x8000, 0x0000};
    const uint16_t want_h[13] = {0x3c00, 0xc100, 0x7bff, 0x7c00, 0x0000, 0x0001, 0x01f7,
                                 0x3c04, 0x3c0c, 0x7c00, 0x2e66, 0x8000, 0x0000};
    st_sft_entry h[] = {{"h", ST_SFT_F16, 1, {13}, v}, {"b", ST_SFT_BF16, 1, {13}, v}};
    pjoin(path, dir, "half.st");
    CHECK(st_sft_write(path, h, 2, NULL, NULL, 0) == ST_OK);
    CHECK(st_sft_open(&f, path) == ST_OK);
    const st_sft_tensor *tb = f ? st_sft_find(f, "b") : NULL, *th = f ? st_sft_find(f, "h") : NULL;
    CHECK(tb && th && tb->dtype == ST_SFT_BF16 && th->dtype == ST_SFT_F16);
    /* safetensors' order: BF16 before F16 */
    CHECK(tb && th && tb->begin < th->begin);
    for (int i = 0; tb && th && i < 13; i++) {
      uint16_t gb, gh;
      memcpy(&gb, f->data + tb->begin + 2 * i, 2);
      memcpy(&gh, f->data + th->begin + 2 * i, 2);
      CHECK_MSG(gb == want_bf[i], "bf16(%g) = %04x, torch %04x", v[i], gb, want_bf[i]);
      CHECK_MSG(gh == want_h[i], "f16(%g) = %04x, torch %04x", v[i], gh, want_h[i]);
    }
    st_sft_close(f);
  }
  /* empty file set is valid */
  pjoin(path, dir, "empty.st");
  CHECK(st_sft_write(path, NULL, 0, NULL, NULL, 0) == ST_OK);
  CHECK(st_sft_open(&f, path) == ST_OK && f && f->n == 0);
  st_sft_close(f);
}

int main(void) {
  tmpdir(dir);
  test_exact_bytes();
  test_round_trip();
  test_half();
  test_bad_files();
  rmtree(dir);
  TEST_DONE();
}
