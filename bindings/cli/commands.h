/* commands.h - the strata subcommands, one file each (cmd_<name>.c).
 * A command returns 0 on success; on failure it leaves the message in
 * st_errmsg() and returns non-zero, and main prints it and exits 2. */
#ifndef ST_COMMANDS_H
#define ST_COMMANDS_H

#include <stddef.h>

/* Each command declares its options in one table and reads its argv with
 * cli_parse (cli_opts.h), which also prints its --help. */
#include "cli_opts.h"

typedef struct st_command {
  const char *name, *summary;        /* summary: one line for strata --help */
  int (*run)(int argc, char **argv); /* argv[0] is the command name */
} st_command;

/* main.c: the one-line summary of a command (NULL if there is none) */
const char *cli_summary(const char *cmd);

/* shared option helpers (cli_util.c) */
int cli_threads(int *argc, char **argv);       /* strips --threads N */
extern int cli_threads_given;                  /* --threads was on the line */
/* the old scanner, for a command not yet on cli_parse: flag on the line */
#define ST_CMD(n) int cmd_##n(int argc, char **argv)
ST_CMD(info);
ST_CMD(generate);
ST_CMD(convert);
ST_CMD(bench);
ST_CMD(trace);
ST_CMD(sweep);
ST_CMD(lua);
ST_CMD(eval);
ST_CMD(data);
ST_CMD(run);
ST_CMD(plan);
ST_CMD(export);
ST_CMD(score);
ST_CMD(merge);
ST_CMD(export_adapter);

#endif
