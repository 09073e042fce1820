/* cli_opts.h - one declarative option table per command, and the parser
 * that reads the command line, checks it and prints `--help` from it.
 *
 *   static const cli_opt opts[] = {
 *     {"model", CLI_ARG, .help = "llama2.c .bin or Hugging Face folder"},
 *     {"--data", CLI_STR, "FILE", .help = "text to trace", .required = 1},
 *     {"--samples", CLI_INT, "M", "64", .help = "sequences traced", .range = "1.."},
 *     {"--device", CLI_ENUM, "cpu|cuda", "cpu", .help = "backend"},
 *     {"--label-column", CLI_STR, "C", .alias = "--label-col", .help = "..."},
 *     {"--set", CLI_LIST, "KEY=VALUE", .help = "override a recipe key"},
 *     {"--json", CLI_FLAG, .help = "one JSON line"},
 *     {0}};
 *   static const cli_spec spec = {"trace", opts, "text --help prints last", NULL};
 *
 *   int cmd_trace(int argc, char **argv) {
 *     cli_args a;
 *     int rc = cli_parse(&a, &spec, argc, argv);
 *     if (rc) return rc == CLI_HELP ? 0 : ST_ERR;  // help printed / st_err set
 *     int M = (int)cli_int(&a, "--samples");         // 64 unless given
 *     const char *model = cli_str(&a, "model"), *data = cli_str(&a, "--data");
 *     for (int i = 0; (s = cli_item(&a, "--set", i)); i++) ...
 *
 * Entries: name, type, meta and default by position, the rest designated
 * (.help, .range, .alias, .required; -Wextra wants the designators). The
 * table order is the --help order; positionals are listed apart.
 * Types: CLI_FLAG (no value; cli_on), CLI_INT (integer; cli_int), CLI_NUM
 * (number; cli_num), CLI_STR (cli_str), CLI_ENUM (one of meta's '|'-separated
 * choices; cli_enum gives its index, cli_str its text), CLI_LIST (repeatable
 * string; cli_count, cli_item). Positionals: CLI_ARG (required, in table
 * order), CLI_ARG_OPT (optional, after the required ones) and CLI_REST (all
 * that follows the positionals before it, verbatim and unparsed: a script's
 * arguments; cli_rest).
 * range ("1..", "0..16", "0..1", "..0"): inclusive bounds of CLI_INT/CLI_NUM.
 * def: the default as it would be written on the command line (parsed and
 * checked like a given value); NULL: none (cli_str NULL, cli_int 0).
 * The parser takes --name VALUE and --name=VALUE anywhere on the line
 * (positionals may come between options), `--` ends the options, -h/--help
 * prints the help from the table and returns CLI_HELP. Errors name the
 * command and the flag: an unknown option (with the nearest known one), a
 * missing value, a malformed or out-of-range number, a choice not in the
 * enum, an option given twice (except flags and CLI_LIST), a missing
 * required option or positional, an unexpected positional. --threads N is
 * global (cli_threads, before dispatch) and is shown in every help.
 * Accessors abort on a name that is not in the table: a programming error. */
#ifndef ST_CLI_OPTS_H
#define ST_CLI_OPTS_H

#include <stdio.h>

typedef enum cli_type {
  CLI_FLAG,
  CLI_INT,
  CLI_NUM,
  CLI_STR,
  CLI_ENUM,
  CLI_LIST,
  CLI_ARG,
  CLI_ARG_OPT,
  CLI_REST,
} cli_type;

typedef struct cli_opt {
  const char *name;  /* "--samples", "-B"; positionals: "model"; NULL ends */
  cli_type type;
  const char *meta;  /* value name in help ("N", "FILE"); CLI_ENUM: "a|b|c" */
  const char *def;   /* default, as command-line text; NULL: none */
  const char *help;  /* one or more lines (\n) */
  const char *range; /* CLI_INT, CLI_NUM: "lo..hi", either side may be empty */
  const char *alias; /* another accepted spelling ("--label-col", "-B") */
  int required;      /* an option that must be given */
} cli_opt;

typedef struct cli_spec {
  const char *cmd;      /* "trace", as dispatched by main.c */
  const cli_opt *opts;  /* ends with {0} */
  const char *more;     /* text printed after the options, or NULL */
  const char *synopsis; /* replaces the generated "<args> [options]" line(s),
                           or NULL */
} cli_spec;

#define CLI_HELP 1 /* cli_parse: the help was printed; exit 0 */
#define CLI_MAXOPT 64
#define CLI_MAXITEMS 1024

typedef struct cli_args {
  const cli_spec *spec;
  int nopt;
  const char *val[CLI_MAXOPT]; /* value text (or default); NULL: none */
  int given[CLI_MAXOPT];       /* times on the command line */
  long long ival[CLI_MAXOPT];
  double dval[CLI_MAXOPT];
  int nitems;
  short item_opt[CLI_MAXITEMS];
  const char *item[CLI_MAXITEMS];
  int rest_argc;
  char **rest_argv;
} cli_args;

/* argv[0] is the command name. Returns 0 (go on), CLI_HELP, or ST_ERR with
 * st_err set ("<cmd>: ..."). */
int cli_parse(cli_args *a, const cli_spec *s, int argc, char **argv);
/* the help generated from the table (what --help prints) */
void cli_help(const cli_spec *s, FILE *f);

const char *cli_str(const cli_args *a, const char *name);
long long cli_int(const cli_args *a, const char *name);
double cli_num(const cli_args *a, const char *name);
int cli_on(const cli_args *a, const char *name);    /* CLI_FLAG given */
int cli_given(const cli_args *a, const char *name); /* on the command line */
int cli_enum(const cli_args *a, const char *name);  /* choice index; -1: none */
int cli_count(const cli_args *a, const char *name); /* CLI_LIST values */
const char *cli_item(const cli_args *a, const char *name, int i); /* NULL past the end */
/* CLI_REST: the arguments after the positionals before it */
int cli_rest(const cli_args *a, char ***argv);

#endif
