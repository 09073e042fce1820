/* main.c - the strata command line: dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "commands.h"
#include "error.h"

static const st_command commands[] = {
    {"info", "info <model>                      architecture and parameter counts", cmd_info},
    {"generate", "generate <model> --prompt TEXT [--temperature T] [--max-tokens N] [--seed S] [--tokenizer F] [--device cpu|cuda]", cmd_generate},
    {"convert", "convert <llama2c.bin> <out-folder>  write an HF Llama folder", cmd_convert},
    {"bench", "bench [--json] [--trainable all|top:K|3,5,7] [--lora r=8,modules=q,v] [--precision fp32|bf16] [--device cpu|cuda] [-B N] [-T N] [--no-trace]", cmd_bench},
    {"trace", "trace <model> --data FILE [--samples M] [--seq-len T] [--keep K] [--json F]  per-layer transition trace", cmd_trace},
    {"sweep", "sweep <sweep.yaml> [--out DIR]    run variants x seeds, tables and figures", cmd_sweep},
    {"lua", "lua [--unsafe-lua] <script.lua> [args]  run a Lua script with the strata module", cmd_lua},
    {"eval", "eval <model> --data FILE [--template T --verbalizers '0= no,1= yes'] [--json F]  loss, accuracy, macro-F1 (--help)", cmd_eval},
    {"run", "run <recipe.yaml> [--set k=v]... [--out DIR] [--resume DIR] [--unsafe-lua]  fine-tune as the recipe says", cmd_run},
    {"plan", "plan <recipe.yaml> [--set k=v]...   trace, run the policy and print the plan", cmd_plan},
    {"merge", "merge <run-dir | adapter> <out-folder> [--model M]  fold LoRA adapters into the weights (HF folder)", cmd_merge},
    {"export-adapter", "export-adapter <run-dir | adapter> <out-folder> [--model M]  write a PEFT LoRA adapter folder", cmd_export_adapter},
};
#define NCMD ((int)(sizeof commands / sizeof commands[0]))

static void usage(FILE *f) {
  fprintf(f, "usage: strata [--threads N] <command> [args]\n\ncommands:\n");
  for (int i = 0; i < NCMD; i++) fprintf(f, "  %s\n", commands[i].usage);
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
  fprintf(stderr, "strata: error: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
