/* cli_util.c - the global --threads option, read before dispatch. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "commands.h"
#include "error.h"

int cli_threads_given;

/* --threads N (or --threads=N) may appear anywhere; it is removed from argv. */
int cli_threads(int *argc, char **argv) {
  for (int i = 1; i < *argc; i++) {
    int joined = !strncmp(argv[i], "--threads=", 10);
    if (strcmp(argv[i], "--threads") && !joined) continue;
    if (!joined && i + 1 >= *argc) return st_err("--threads needs a value (N)");
    const char *v = joined ? argv[i] + 10 : argv[i + 1];
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!*v || *end || errno) return st_err("--threads '%s': expected an integer", v);
    if (n < 1 || n > 1024) return st_err("--threads %s: expected an integer in 1..1024", v);
    st_set_threads((int)n);
    cli_threads_given = 1;
    int drop = joined ? 1 : 2;
    memmove(argv + i, argv + i + drop, (size_t)(*argc - i - drop + 1) * sizeof *argv);
    *argc -= drop;
    return ST_OK;
  }
  st_set_threads(0);
  return ST_OK;
}
