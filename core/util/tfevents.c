/* tfevents.c - TensorBoard event files: TFRecord framing and the few Event
 * protobuf fields strata writes, encoded by hand (see tfevents.h).
 *
 * The messages, from tensorflow/core/util/event.proto and
 * tensorflow/core/framework/summary.proto (field number: type):
 *   Event          1 wall_time: double, 2 step: int64, 3 file_version: string,
 *                  5 summary: Summary, 10 source_metadata: SourceMetadata
 *   SourceMetadata 1 writer: string
 *   Summary        1 value: repeated Value
 *   Value          1 tag: string, 2 simple_value: float, 8 tensor: TensorProto,
 *                  9 metadata: SummaryMetadata
 *   SummaryMetadata 1 plugin_data: PluginData { 1 plugin_name: string }
 *   TensorProto    1 dtype: enum (DT_STRING = 7), 2 tensor_shape: {} (a
 *                  scalar), 8 string_val: repeated bytes
 * Fields go in field-number order and proto3 leaves out zero scalars
 * (wall_time 0, step 0) while a oneof member (simple_value 0) or a repeated
 * element (an empty text) is always written, as Python's protobuf does, so
 * the bytes match its. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fs.h"
#include "tfevents.h"

struct st_tfevents {
  FILE *f;
  char path[ST_PATH_MAX];
  unsigned char *buf; /* one encoded Event, reused */
  size_t cap;
};

/* Bitwise, without a table: records are a few hundred bytes once per step,
 * and no table means no shared state to initialise. */
uint32_t st_crc32c(const void *data, size_t n) {
  const unsigned char *p = data;
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
  }
  return c ^ 0xffffffffu;
}

/* TFRecord stores CRCs masked, so a CRC of data that holds CRCs stays
 * well-behaved */
static uint32_t masked_crc(const void *data, size_t n) {
  uint32_t c = st_crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* --- protobuf wire format ------------------------------------------------ */

static size_t varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) v >>= 7, n++;
  return n;
}

/* a length-delimited field of n bytes, its key and length included (every
 * field number here is below 16: a one-byte key) */
static size_t field_len(size_t n) { return 1 + varint_len(n) + n; }

static unsigned char *put_varint(unsigned char *p, uint64_t v) {
  for (; v >= 0x80; v >>= 7) *p++ = (unsigned char)(v | 0x80);
  *p++ = (unsigned char)v;
  return p;
}

static unsigned char *put_le(unsigned char *p, uint64_t v, int nbytes) {
  for (int i = 0; i < nbytes; i++) *p++ = (unsigned char)(v >> 8 * i);
  return p;
}

/* key (field number, wire type 2) and length; the caller writes the body */
static unsigned char *put_head(unsigned char *p, int field, size_t n) {
  *p++ = (unsigned char)(field << 3 | 2);
  return put_varint(p, n);
}

static unsigned char *put_bytes(unsigned char *p, int field, const void *s, size_t n) {
  p = put_head(p, field, n);
  memcpy(p, s, n);
  return p + n;
}

/* Event fields 1 and 2; the step is an int64 varint (two's complement) */
static size_t time_step_len(double wall_time, int64_t step) {
  return (wall_time != 0 ? 9 : 0) + (step != 0 ? 1 + varint_len((uint64_t)step) : 0);
}

static unsigned char *put_time_step(unsigned char *p, double wall_time, int64_t step) {
  if (wall_time != 0) {
    uint64_t bits;
    memcpy(&bits, &wall_time, 8);
    *p++ = 1 << 3 | 1; /* fixed64 */
    p = put_le(p, bits, 8);
  }
  if (step != 0) {
    *p++ = 2 << 3 | 0; /* varint */
    p = put_varint(p, (uint64_t)step);
  }
  return p;
}

/* --- records -------------------------------------------------------------- */

static unsigned char *reserve(st_tfevents *w, size_t n) {
  if (n > w->cap) {
    unsigned char *b = realloc(w->buf, n);
    if (!b) {
      st_err("%s: out of memory for a %zu-byte event", w->path, n);
      return NULL;
    }
    w->buf = b;
    w->cap = n;
  }
  return w->buf;
}

static int write_record(st_tfevents *w, size_t n) {
  unsigned char head[12], foot[4];
  put_le(head, n, 8);
  put_le(head + 8, masked_crc(head, 8), 4);
  put_le(foot, masked_crc(w->buf, n), 4);
  if (fwrite(head, 1, 12, w->f) != 12 || fwrite(w->buf, 1, n, w->f) != n ||
      fwrite(foot, 1, 4, w->f) != 4)
    return st_err("%s: cannot write: %s", w->path, strerror(errno));
  return ST_OK;
}

static int check_tag(const st_tfevents *w, const char *tag) {
  if (!tag || !*tag) return st_err("%s: an event needs a non-empty tag", w->path);
  return ST_OK;
}

/* the Event that wraps a Summary of one Value of v bytes: reserves the
 * buffer and writes everything up to the Value's body */
static unsigned char *summary_head(st_tfevents *w, double wall_time, int64_t step, size_t v,
                                   size_t *total) {
  size_t s = field_len(v); /* Summary: its one value */
  *total = time_step_len(wall_time, step) + field_len(s);
  unsigned char *p = reserve(w, *total);
  if (!p) return NULL;
  p = put_time_step(p, wall_time, step);
  p = put_head(p, 5, s);
  return put_head(p, 1, v);
}

int st_tfevents_scalar(st_tfevents *w, const char *tag, int64_t step, double wall_time,
                       double value) {
  if (check_tag(w, tag)) return ST_ERR;
  size_t g = strlen(tag), total;
  unsigned char *p = summary_head(w, wall_time, step, field_len(g) + 5, &total);
  if (!p) return ST_ERR;
  p = put_bytes(p, 1, tag, g);
  float f = (float)value;
  uint32_t bits;
  memcpy(&bits, &f, 4);
  *p++ = 2 << 3 | 5; /* fixed32 */
  put_le(p, bits, 4);
  return write_record(w, total);
}

int st_tfevents_text(st_tfevents *w, const char *tag, int64_t step, double wall_time,
                     const char *text) {
  if (check_tag(w, tag)) return ST_ERR;
  static const unsigned char plugin[] = {0x0a, 0x06, 0x0a, 0x04, 't', 'e', 'x', 't'};
  size_t g = strlen(tag), t = strlen(text), total;
  size_t tensor = 2 + 2 + field_len(t); /* dtype, empty shape, the string */
  size_t v = field_len(g) + field_len(tensor) + field_len(sizeof plugin);
  unsigned char *p = summary_head(w, wall_time, step, v, &total);
  if (!p) return ST_ERR;
  p = put_bytes(p, 1, tag, g);
  p = put_head(p, 8, tensor);
  *p++ = 1 << 3 | 0; /* dtype: DT_STRING */
  *p++ = 7;
  p = put_head(p, 2, 0); /* tensor_shape {}: a scalar, set but empty */
  p = put_bytes(p, 8, text, t);
  put_bytes(p, 9, plugin, sizeof plugin);
  return write_record(w, total);
}

static int write_header(st_tfevents *w, double wall_time) {
  static const char version[] = "brain.Event:2", writer[] = "strata";
  size_t meta = field_len(sizeof writer - 1);
  size_t total = time_step_len(wall_time, 0) + field_len(sizeof version - 1) + field_len(meta);
  unsigned char *p = reserve(w, total);
  if (!p) return ST_ERR;
  p = put_time_step(p, wall_time, 0);
  p = put_bytes(p, 3, version, sizeof version - 1);
  p = put_head(p, 10, meta);
  put_bytes(p, 1, writer, sizeof writer - 1);
  if (write_record(w, total)) return ST_ERR;
  return st_tfevents_flush(w);
}

/* --- files ---------------------------------------------------------------- */

/* *exists is set when path was there already (nothing is written then) */
static int create(st_tfevents **out, const char *path, double wall_time, int *exists) {
  *out = NULL;
  *exists = 0;
  st_tfevents *w = st_calloc(1, sizeof *w);
  if (!w) return ST_ERR;
  if (st_pathf(w->path, sizeof w->path, "%s", path)) {
    free(w);
    return ST_ERR;
  }
  w->f = fopen(path, "wbx"); /* never append to or replace another log */
  if (!w->f) {
    *exists = errno == EEXIST;
    st_err("%s: cannot create: %s", path, strerror(errno));
    free(w);
    return ST_ERR;
  }
  if (write_header(w, wall_time)) {
    st_tfevents_close(w);
    return ST_ERR;
  }
  *out = w;
  return ST_OK;
}

int st_tfevents_open_file(st_tfevents **w, const char *path, double wall_time) {
  int exists;
  return create(w, path, wall_time, &exists);
}

int st_tfevents_open(st_tfevents **w, const char *dir) {
  *w = NULL;
  if (st_mkdirs(dir)) return ST_ERR;
  char host[256] = "localhost";
  if (gethostname(host, sizeof host) || !host[0]) snprintf(host, sizeof host, "localhost");
  host[sizeof host - 1] = 0;
  for (char *c = host; *c; c++)
    if (*c == '/') *c = '_';
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  double now = (double)ts.tv_sec + ts.tv_nsec * 1e-9;
  for (int k = 0; k < 100; k++) {
    char path[ST_PATH_MAX];
    int rc = k ? st_pathf(path, sizeof path, "%s/events.out.tfevents.%lld.%s.%d", dir,
                          (long long)ts.tv_sec, host, k)
               : st_pathf(path, sizeof path, "%s/events.out.tfevents.%lld.%s", dir,
                          (long long)ts.tv_sec, host);
    int exists;
    if (rc) return ST_ERR;
    if (!create(w, path, now, &exists)) return ST_OK;
    if (!exists) return ST_ERR;
  }
  return st_err("%s: 100 event files of this second exist already", dir);
}

const char *st_tfevents_path(const st_tfevents *w) { return w->path; }

int st_tfevents_flush(st_tfevents *w) {
  if (fflush(w->f) || ferror(w->f)) return st_err("%s: cannot write: %s", w->path, strerror(errno));
  return ST_OK;
}

int st_tfevents_close(st_tfevents *w) {
  if (!w) return ST_OK;
  int bad = ferror(w->f);
  bad |= fclose(w->f) != 0;
  int rc = bad ? st_err("%s: cannot write: %s", w->path, strerror(errno)) : ST_OK;
  free(w->buf);
  free(w);
  return rc;
}
