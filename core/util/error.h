/* error.h - the library's one error convention.
 *
 * Functions that can fail on bad input return ST_OK (0) or ST_ERR (-1) and,
 * on failure, leave a one-line message (file, key or line, and the cause) in a
 * thread-local buffer. The library never exits or aborts on bad input: the
 * CLI prints "strata: error: <msg>" and exits 2, the Lua bindings raise it. */
#ifndef ST_ERROR_H
#define ST_ERROR_H

#define ST_OK 0
#define ST_ERR (-1)

#if defined(__GNUC__)
#define ST_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ST_PRINTF(a, b)
#endif

/* Sets the message and returns ST_ERR, so callers can `return st_err(...)`. */
int st_err(const char *fmt, ...) ST_PRINTF(1, 2);
/* Prefixes the current message with more context ("file.bin: " + old). */
int st_err_prefix(const char *fmt, ...) ST_PRINTF(1, 2);
const char *st_errmsg(void);
void st_err_clear(void);

/* Allocation that reports failure through st_err instead of returning a
 * silent NULL; use for sizes derived from input files. */
void *st_malloc(size_t n);
void *st_calloc(size_t n, size_t size);

#endif
