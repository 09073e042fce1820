/* cli_util.c - option parsing shared by the subcommands. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "commands.h"
#include "error.h"

int cli_threads_given;

/* --threads may appear anywhere; it is removed from argv. */
int cli_threads(int *argc, char **argv) {
  for (int i = 1; i < *argc; i++) {
    if (strcmp(argv[i], "--threads")) continue;
    char *end = NULL;
    long n = i + 1 < *argc ? strtol(argv[i + 1], &end, 10) : 0;
    if (i + 1 >= *argc || *end || n < 1 || n > 1024)
      return st_err("--threads needs a positive integer");
    st_set_threads((int)n);
    cli_threads_given = 1;
    memmove(argv + i, argv + i + 2, (size_t)(*argc - i - 2) * sizeof *argv);
    *argc -= 2;
    return ST_OK;
  }
  st_set_threads(0);
  return ST_OK;
}

const char *cli_opt(int argc, char **argv, const char *flag) {
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], flag)) return argv[i + 1];
  return NULL;
}

int cli_flag(int argc, char **argv, const char *flag) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], flag)) return 1;
  return 0;
}
