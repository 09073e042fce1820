/* test.h - the few assertions our C tests need. A failed CHECK prints
 * file:line and the expression, counts, and the test exits 1 at the end. */
#ifndef ST_TEST_H
#define ST_TEST_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"

static int st_test_failures = 0;

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,     \
              #cond);                                                      \
      st_test_failures++;                                                  \
    }                                                                      \
  } while (0)

#define CHECK_MSG(cond, ...)                                               \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__,     \
              #cond);                                                      \
      fprintf(stderr, __VA_ARGS__);                                        \
      fputc('\n', stderr);                                                 \
      st_test_failures++;                                                  \
    }                                                                      \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                              \
  do {                                                                     \
    double _a = (a), _b = (b);                                             \
    if (!(fabs(_a - _b) <= (tol))) {                                       \
      fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s=%g %s=%g tol %g\n",    \
              __FILE__, __LINE__, #a, _a, #b, _b, (double)(tol));          \
      st_test_failures++;                                                  \
    }                                                                      \
  } while (0)

/* a setup call that must succeed: on failure print its message and stop */
#define OK(call)                                                           \
  do {                                                                     \
    if ((call) != ST_OK) {                                                 \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,        \
              st_errmsg());                                                \
      exit(1);                                                             \
    }                                                                      \
  } while (0)

/* skip: ctest counts exit 77 as skipped (SKIP_RETURN_CODE) */
#define SKIP(...)                                                          \
  do {                                                                     \
    printf("skipped: " __VA_ARGS__);                                       \
    putchar('\n');                                                         \
    exit(77);                                                              \
  } while (0)

#define TEST_DONE()                                                        \
  do {                                                                     \
    if (st_test_failures) {                                                \
      fprintf(stderr, "%d check(s) failed\n", st_test_failures);           \
      return 1;                                                            \
    }                                                                      \
    printf("ok\n");                                                        \
    return 0;                                                              \
  } while (0)

#endif
