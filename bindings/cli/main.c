/* main.c - the strata command line: dispatch to a subcommand. Each command
 * parses its own arguments from its option table (cli_opts.h); `strata
 * <command> --help` prints that table. */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "commands.h"
#include "error.h"

static const st_command commands[] = {
    {"info", "architecture, dimensions and parameter counts of a model", cmd_info},
    {"generate", "print a prompt and the model's continuation", cmd_generate},
    {"convert", "write a model (e.g. a llama2.c .bin) as a Hugging Face folder", cmd_convert},
    {"trace", "per-layer transition trace of a model on a data file", cmd_trace},
    {"eval", "loss, perplexity, accuracy and macro-F1 of a model on a data file", cmd_eval},
    {"data", "print a recipe's data as training sees it: tokens and loss mask", cmd_data},
    {"bench", "time a training step of a random model, masked vs full fine-tuning", cmd_bench},
    {"run", "fine-tune as a recipe says, into a run folder", cmd_run},
    {"plan", "trace, run a recipe's policy and print its plan; trains nothing", cmd_plan},
    {"sweep", "run variants x seeds of a recipe; tables and figures", cmd_sweep},
    {"score", "per-token log-probabilities (and logits) of texts, to compare with other tools", cmd_score},
    {"export", "a run (or model) as an HF folder with its tokenizer, or its adapters as PEFT", cmd_export},
    {"merge", "= export (LoRA merged into the weights)", cmd_merge},
    {"export-adapter", "= export --adapter-only (a PEFT adapter folder)", cmd_export_adapter},
    {"lua", "run a Lua script with the strata module", cmd_lua},
};
#define NCMD ((int)(sizeof commands / sizeof commands[0]))

const char *cli_summary(const char *cmd) {
  for (int i = 0; i < NCMD; i++)
    if (!strcmp(commands[i].name, cmd)) return commands[i].summary;
  return NULL;
}

static void usage(FILE *f) {
  fprintf(f, "usage: strata [--threads N] <command> [args]\n"
             "       strata <command> --help    the command's arguments and options\n\n"
             "commands:\n");
  for (int i = 0; i < NCMD; i++) fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\nglobal options:\n"
             "  --threads N      CPU threads, any command, anywhere on the line\n"
             "                   [integer in 1..1024; default: all cores]\n"
             "  -h, --help       print this list and exit\n");
}

int main(int argc, char **argv) {
  if (cli_threads(&argc, argv) != ST_OK) {
    fprintf(stderr, "strata: error: %s\n", st_errmsg());
    return 2;
  }
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (int i = 0; i < NCMD; i++) {
    if (strcmp(argv[1], commands[i].name)) continue;
    if (commands[i].run(argc - 1, argv + 1) == 0) return 0;
    fprintf(stderr, "strata: error: %s\n", st_errmsg());
    return 2;
  }
  if (argv[1][0] == '-')
    fprintf(stderr, "strata: error: unknown option '%s' (the command comes first: "
                    "strata <command> [options])\n", argv[1]);
  else
    fprintf(stderr, "strata: error: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
