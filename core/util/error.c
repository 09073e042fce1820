#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static _Thread_local char msg[1024];

int st_err(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return ST_ERR;
}

int st_err_prefix(const char *fmt, ...) {
  char old[sizeof msg], pre[512];
  memcpy(old, msg, sizeof msg);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pre, sizeof pre, fmt, ap);
  va_end(ap);
  snprintf(msg, sizeof msg, "%s%s", pre, old);
  return ST_ERR;
}

const char *st_errmsg(void) { return msg[0] ? msg : "unknown error"; }
void st_err_clear(void) { msg[0] = 0; }

void *st_malloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) st_err("out of memory allocating %zu bytes", n);
  return p;
}

void *st_calloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) st_err("out of memory allocating %zu x %zu bytes", n, size);
  return p;
}
