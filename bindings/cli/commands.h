/* commands.h - the strata subcommands, one file each (cmd_<name>.c).
 * A command returns 0 on success; on failure it leaves the message in
 * st_errmsg() and returns non-zero, and main prints it and exits 2. */
#ifndef ST_COMMANDS_H
#define ST_COMMANDS_H

#include <stddef.h>

typedef struct st_command {
  const char *name, *usage;
  int (*run)(int argc, char **argv); /* argv[0] is the command name */
} st_command;

/* shared option helpers (cli_util.c) */
int cli_threads(int *argc, char **argv);       /* strips --threads N */
const char *cli_opt(int argc, char **argv, const char *flag); /* value or NULL */
int cli_flag(int argc, char **argv, const char *flag);
/* the tokenizer beside a llama2.c model, or an HF folder (cmd_generate.c) */
int cli_find_tokenizer(const char *model, char *out, size_t n);

#define ST_CMD(n) int cmd_##n(int argc, char **argv)
ST_CMD(info);
ST_CMD(generate);
ST_CMD(convert);
ST_CMD(bench);
ST_CMD(trace);
ST_CMD(lua);
ST_CMD(eval);

#endif
