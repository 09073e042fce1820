/* cmd_bench.c - strata bench: one training step timed for a mask and for
 * full fine-tuning in the same process, against the sgemm rate measured on
 * the step's own GEMM shapes and against the plan's ideal FLOP ratio; with
 * --checkpointing also the mask with activation checkpointing (its
 * activation bytes and step time beside the run without); with --eval
 * instead an SST-2 evaluation timed as strata ran it before (logits at every
 * position, two passes) and as it runs now, in the same process.
 *
 * The model is a random init of a shape (GPT-2-124M unless the model flags
 * say otherwise; --shape takes a published config, the flags then override
 * it) or a real model (--model). On the CPU, a run that cannot fit in the
 * memory available is refused (the mask) or skipped (the full baseline)
 * before anything is allocated: the trainer's bytes are known in advance
 * (st_trainer_estimate_bytes).
 *
 * Data parallelism (#16): under mpirun the step runs across the job's ranks,
 * each on --batch-size / N rows of the same global batch, its gradients
 * summed by the reducer (core/dist/); the report gives the job's tokens/s,
 * the reducer's share of the step and the bytes it sums, for the mask and
 * for full fine-tuning. Only rank 0 reports. --ranks N alone gives those
 * bytes for N ranks without a job.
 *
 * --frozen-dtype holds the model in split storage (weights.h): frozen
 * weight matrices in bf16/f16 (a --model's used in place from its file),
 * widened per GEMM; each timed plan widens what it trains and the model is
 * narrowed again after it, so every run starts from the same storage.
 *
 * --fused-update times every plan with fused updates (train.fused_update:
 * AdamW per block during the backward, no clipping; train.h). */
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "assets.h"
#include "commands.h"
#include "dataset.h"
#include "dist.h"
#include "error.h"
#include "eval.h"
#include "layer.h"
#include "model.h"
#include "model_io.h"
#include "model_load.h"
#include "plan.h"
#include "reducer.h"
#include "sampler.h"
#include "tokenizer.h"
#include "train.h"
#include "trace.h"
#include "weights.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double peak_rss_mb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

/* MemAvailable in bytes, or INFINITY when it cannot be read */
static double mem_available(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  char line[256];
  double kb = INFINITY;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
  if (f) fclose(f);
  return kb * 1024;
}

/* whether `bytes` more fit (the CPU backend; another backend's own
 * allocator reports failure instead) */
static int fits(const st_backend *be, double bytes) {
  return strcmp(be->name, "cpu") || bytes <= 0.9 * mem_available();
}

/* ----------------------------------------------------------- the shapes */

/* From each model's published config.json on the Hugging Face hub. */
static const struct shape {
  const char *name, *hub;
  st_config c;
} shapes[] = {
    {"gpt2", "openai-community/gpt2",
     {.arch = ST_ARCH_GPT2, .n_layers = 12, .dim = 768, .hidden = 3072,
      .n_heads = 12, .n_kv_heads = 12, .head_dim = 64, .vocab = 50257,
      .max_seq = 1024, .norm_eps = 1e-5f, .tied = 1}},
    {"smollm2-135m", "HuggingFaceTB/SmolLM2-135M",
     {.arch = ST_ARCH_LLAMA, .n_layers = 30, .dim = 576, .hidden = 1536,
      .n_heads = 9, .n_kv_heads = 3, .head_dim = 64, .vocab = 49152,
      .max_seq = 8192, .norm_eps = 1e-5f, .rope_theta = 100000, .tied = 1}},
    {"qwen2-1.5b", "Qwen/Qwen2-1.5B",
     {.arch = ST_ARCH_LLAMA, .n_layers = 28, .dim = 1536, .hidden = 8960,
      .n_heads = 12, .n_kv_heads = 2, .head_dim = 128, .vocab = 151936,
      .max_seq = 131072, .norm_eps = 1e-6f, .rope_theta = 1000000, .tied = 1,
      .qkv_bias = 1}},
    {"llama-3.2-3b", "meta-llama/Llama-3.2-3B",
     {.arch = ST_ARCH_LLAMA, .n_layers = 28, .dim = 3072, .hidden = 8192,
      .n_heads = 24, .n_kv_heads = 8, .head_dim = 128, .vocab = 128256,
      .max_seq = 131072, .norm_eps = 1e-5f, .rope_theta = 500000, .tied = 1,
      .rope_type = ST_ROPE_LLAMA3, .rope_factor = 32, .rope_low_freq = 1,
      .rope_high_freq = 4, .rope_orig_max = 8192}},
    {"llama-3.1-8b", "meta-llama/Llama-3.1-8B",
     {.arch = ST_ARCH_LLAMA, .n_layers = 32, .dim = 4096, .hidden = 14336,
      .n_heads = 32, .n_kv_heads = 8, .head_dim = 128, .vocab = 128256,
      .max_seq = 131072, .norm_eps = 1e-5f, .rope_theta = 500000, .tied = 0,
      .rope_type = ST_ROPE_LLAMA3, .rope_factor = 8, .rope_low_freq = 1,
      .rope_high_freq = 4, .rope_orig_max = 8192}},
};
#define NSHAPES (int)(sizeof shapes / sizeof *shapes)

/* ------------------------------------------------------------- training */

typedef struct timing {
  double ms, loss;
  size_t act_bytes; /* st_trainer_act_bytes */
  size_t bytes;     /* gradient bytes a data-parallel step sums */
  double comm_ms;   /* the reducer's time per step, in a job */
} timing;

/* Mean ms per step over `steps` timed steps after one warm-up. In a job
 * (even of one rank: the reducer's own cost), each rank steps on its B / N
 * rows of tok/tgt [B,T] through the reducer. */
static int time_plan(st_model *m, const st_plan *p, int B, int T, int steps,
                     int fused, const int32_t *tok, const int32_t *tgt,
                     timing *out) {
  int n = st_dist_size(), rows = B / n;
  size_t off = (size_t)st_dist_rank() * rows * T;
  st_trainer *t;
  st_reducer *red = NULL;
  st_reduce_stats s0 = {0}, s1 = {0};
  if (st_trainer_new_fused(&t, m, p, rows, T, fused)) return ST_ERR;
  if (st_dist_launcher()[0] && st_reducer_new(&red, t, m)) goto fail;
  st_optim o = st_optim_default();
  o.lr = 1e-5f; /* small: the weights barely move between the two timings */
  if (fused) o.grad_clip = 0; /* fused updates cannot clip */
  float loss = 0;
  if (st_trainer_step(t, tok + off, tgt + off, &o, &loss, NULL)) goto fail;
  m->be->sync();
  if (red) st_reducer_stats(red, &s0);
  double t0 = now();
  for (int i = 0; i < steps; i++)
    if (st_trainer_step(t, tok + off, tgt + off, &o, &loss, NULL)) goto fail;
  m->be->sync();
  out->ms = (now() - t0) * 1e3 / steps;
  if (red) st_reducer_stats(red, &s1);
  out->comm_ms = red ? (s1.comm_s - s0.comm_s) * 1e3 / steps : NAN;
  out->loss = loss;
  out->act_bytes = st_trainer_act_bytes(t);
  out->bytes = st_reduce_bytes(t, m);
  st_reducer_free(red);
  st_trainer_free(t);
  /* split storage: what this plan widened goes back to its frozen dtype */
  return m->params ? ST_OK : st_model_narrow_all(m);
fail:
  st_reducer_free(red);
  st_trainer_free(t);
  return ST_ERR;
}

/* The GEMMs of one full training step, each shape with its count per step;
 * their combined rate is the ceiling a step could reach. A GEMM with an
 * operand over PROBE_FLOATS (a large vocabulary's head: 2 GB for
 * Llama-3.1-8B) is timed on a slice, its widest dimension halved until it
 * fits, and counted at full size: the rate is the same, and the probe
 * never needs more memory than the step it measures. */
#define PROBE_FLOATS ((size_t)1 << 26)
static double sgemm_rate(const st_model *m, int B, int T) {
  const st_config *c = &m->cfg;
  const st_backend *be = m->be;
  int N = B * T, C = c->dim, Q = st_qkv_dim(c), A = c->n_heads * c->head_dim;
  int F = st_fc_dim(c), H = c->hidden, V = c->vocab, L = c->n_layers;
  struct { int ta, tb, M, Nn, K, count; } g[] = {
      /* forward: x W^T */
      {0, 1, N, Q, C, L}, {0, 1, N, C, A, L}, {0, 1, N, F, C, L},
      {0, 1, N, C, H, L}, {0, 1, N, V, C, 1},
      /* input gradients: dy W */
      {0, 0, N, C, Q, L}, {0, 0, N, A, C, L}, {0, 0, N, C, F, L},
      {0, 0, N, H, C, L}, {0, 0, N, C, V, 1},
      /* weight gradients: dy^T x */
      {1, 0, Q, C, N, L}, {1, 0, C, A, N, L}, {1, 0, F, C, N, L},
      {1, 0, C, H, N, L}, {1, 0, V, C, N, 1},
  };
  enum { NG = sizeof g / sizeof *g };
  double full[NG];
  size_t maxa = 0, maxb = 0, maxc = 0;
  for (int i = 0; i < NG; i++) {
    full[i] = 2.0 * g[i].M * g[i].Nn * g[i].K;
    for (;;) {
      size_t a = (size_t)g[i].M * g[i].K, b = (size_t)g[i].K * g[i].Nn,
             cc = (size_t)g[i].M * g[i].Nn;
      if (a <= PROBE_FLOATS && b <= PROBE_FLOATS && cc <= PROBE_FLOATS) break;
      int *w = g[i].M >= g[i].Nn && g[i].M >= g[i].K ? &g[i].M
               : g[i].Nn >= g[i].K                  ? &g[i].Nn
                                                    : &g[i].K;
      *w = (*w + 1) / 2;
    }
    size_t a = (size_t)g[i].M * g[i].K, b = (size_t)g[i].K * g[i].Nn,
           cc = (size_t)g[i].M * g[i].Nn;
    if (a > maxa) maxa = a;
    if (b > maxb) maxb = b;
    if (cc > maxc) maxc = cc;
  }
  float *a = be->alloc(maxa * 4), *b = be->alloc(maxb * 4), *cc = be->alloc(maxc * 4);
  if (!a || !b || !cc) {
    if (a) be->free(a);
    if (b) be->free(b);
    if (cc) be->free(cc);
    return 0; /* st_err set by alloc; the caller reports it */
  }
  double flops = 0, secs = 0;
  for (int i = 0; i < NG; i++) {
    int lda = g[i].ta ? g[i].M : g[i].K, ldb = g[i].tb ? g[i].K : g[i].Nn;
    be->gemm(g[i].ta, g[i].tb, g[i].M, g[i].Nn, g[i].K, 1, a, lda, b, ldb, 0,
             cc, g[i].Nn);
    be->sync();
    int reps = 3;
    double t0 = now();
    for (int r = 0; r < reps; r++)
      be->gemm(g[i].ta, g[i].tb, g[i].M, g[i].Nn, g[i].K, 1, a, lda, b, ldb, 0,
               cc, g[i].Nn);
    be->sync();
    double dt = (now() - t0) / reps * (full[i] / (2.0 * g[i].M * g[i].Nn * g[i].K));
    flops += full[i] * g[i].count;
    secs += dt * g[i].count;
  }
  be->free(a);
  be->free(b);
  be->free(cc);
  return flops / secs / 1e9;
}

/* --lora "r=8,alpha=16,modules=q,v[,dropout=0.1][,rslora=1]": the spec
 * LoRA layers get (default rank 8, alpha 16, the PEFT default targets: q,v
 * for Llama, c_attn for GPT-2) */
static int parse_lora(const char *s, const st_model *m, st_lora_spec *out) {
  *out = (st_lora_spec){.rank = 8, .alpha = 16};
  char buf[256], *save = NULL, *key = NULL;
  snprintf(buf, sizeof buf, "%s", s);
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(t, '=');
    const char *v = eq ? eq + 1 : t;
    if (eq) *eq = 0, key = t;
    if (!key) return st_err("bench: --lora '%s': expected key=value", s);
    if (!strcmp(key, "r")) out->rank = atoi(v);
    else if (!strcmp(key, "alpha")) out->alpha = (float)atof(v);
    else if (!strcmp(key, "dropout")) out->dropout = (float)atof(v);
    else if (!strcmp(key, "rslora")) out->rslora = atoi(v);
    else if (!strcmp(key, "modules")) {
      int k = st_module_index(m, v);
      if (k < 0) return st_err("bench: --lora: '%s' is not a module of this model", v);
      out->modules |= 1u << k;
    } else return st_err("bench: --lora: unknown key '%s'", key);
  }
  if (!out->modules)
    out->modules = 1u << st_module_index(m, m->cfg.arch == ST_ARCH_GPT2 ? "c_attn" : "q") |
                   (m->cfg.arch == ST_ARCH_GPT2 ? 0 : 1u << st_module_index(m, "v"));
  return ST_OK;
}

/* the layers a plan trains fully get LoRA instead; nothing else trains */
static void to_lora(st_plan *p, const st_lora_spec *s) {
  for (int l = 0; l < p->n_layers; l++)
    if (p->mode[l] == ST_FULL) p->mode[l] = ST_LORA, p->lora[l] = *s;
  p->embed = p->final_norm = p->head = 0;
}

static const cli_opt opts[] = {
    {"--trainable", CLI_STR, "all|top:K|3,5,7", "all",
     .help = "the mask timed: every tensor, the K layers nearest the\n"
     "output, or these layers (0-based)"},
    {"--lora", CLI_STR, "SPEC",
     .help = "the mask's layers get LoRA adapters instead of full\n"
             "training; also times LoRA on all layers. SPEC:\n"
             "r=8,alpha=16,modules=q,v[,dropout=0.1][,rslora=1]\n"
             "(defaults r=8, alpha=16, modules q,v, or c_attn on GPT-2)"},
    {"--fused-update", CLI_FLAG,
     .help = "every plan with fused updates (train.fused_update: AdamW\n"
             "per block during the backward, one block's gradients held,\n"
             "no clipping)"},
    {"--checkpointing", CLI_FLAG,
     .help = "also time the mask with activation checkpointing\n"
             "(train.checkpointing): its activation bytes and step time\n"
             "beside the run without"},
    {"--precision", CLI_ENUM, "fp32|bf16", "fp32",
     .help = "bf16: bf16 products with fp32 master weights and\n"
     "optimiser state, where the backend has it (cuda); cpu\n"
     "times fp32 and says so"},
    {"--device", CLI_ENUM, "cpu|cuda", "cpu", .help = "backend"},
    {"--batch-size", CLI_INT, "N", "4",
     .help = "sequences per step (recipe: train.batch_size; 4 and\n"
             "--seq-len 64 are the benchmark's fixed shape, the one the\n"
             "README and the peer benchmarks report, not a recipe's\n"
             "defaults of 16 and 128); with --eval, rows per forward\n"
             "(default 32, as strata run evaluates)",
     .range = "1..", .alias = "-B"},
    {"--seq-len", CLI_INT, "T", "64",
     .help = "tokens per sequence (recipe: train.seq_len); with --eval,\n"
             "the examples' length (default 256)",
     .range = "1..", .alias = "-T"},
    {"--steps", CLI_INT, "N", "3", .help = "timed steps per measurement, after one warm-up step",
     .range = "1.."},
    {"--no-trace", CLI_FLAG, .help = "skip timing the trace of the same tokens (and the\n"
                                     "pseudo-inverse of the unembedding)"},
    {"--json", CLI_FLAG, .help = "print one JSON object (a line) instead of the report"},
    {"--frozen-dtype", CLI_ENUM, "auto|bf16|f16|f32",
     .help = "hold frozen weight matrices in this dtype, widened per\n"
             "GEMM (recipe: frozen_dtype); a --model's tensors of\n"
             "that dtype are used in place from its file; auto: the\n"
             "file's dtype (f32 for a random model). Default: every\n"
             "weight in one fp32 buffer"},
    {"--ranks", CLI_INT, "N", .range = "1..",
     .help = "data parallelism: the gradient bytes a step sums over N\n"
             "ranks, for the mask and for full fine-tuning (a ring\n"
             "all-reduce moves 2(N-1)/N of them per rank). Under mpirun\n"
             "N is the job's size and the step runs across the ranks,\n"
             "--batch-size / N rows each, with the reducer's share of\n"
             "the step"},
    /* evaluation */
    {"--eval", CLI_FLAG,
     .help = "time evaluation instead of training: SST-2 loss and\n"
             "classification (template 'Review: {sentence}\\nSentiment:',\n"
             "verbalizers ' negative', ' positive') the way strata ran it\n"
             "before (logits at every position, loss and classification\n"
             "in two passes) and now, in the same process"},
    {"--data", CLI_STR, "FILE",
     .help = "with --eval: a TSV with sentence and label columns\n"
             "(default: the shared SST-2 dev set)"},
    {"--tokenizer", CLI_STR, "PATH",
     .help = "with --eval: the tokenizer (default: the model's; for a\n"
             "random model the GPT-2 one, the vocabulary grown to fit it)"},
    {"--samples", CLI_INT, "N", .range = "1..",
     .help = "with --eval: the first N examples (default all)"},
    /* the model: GPT-2-124M unless these say otherwise */
    {"--model", CLI_STR, "PATH",
     .help = "a real model (llama2.c .bin or Hugging Face folder)\n"
             "instead of a random one; excludes the shape flags"},
    {"--shape", CLI_ENUM, "gpt2|smollm2-135m|qwen2-1.5b|llama-3.2-3b|llama-3.1-8b",
     .help = "a random model of this published shape (config.json on\n"
             "the Hugging Face hub); the flags below override it"},
    {"--arch", CLI_ENUM, "gpt2|llama", "gpt2", .help = "architecture of the random model"},
    {"--layers", CLI_INT, "L", "12", .help = "transformer layers", .range = "1.."},
    {"--dim", CLI_INT, "D", "768", .help = "model width (a multiple of --heads)", .range = "1.."},
    {"--heads", CLI_INT, "H", "12", .help = "attention heads", .range = "1.."},
    {"--kv-heads", CLI_INT, "H", .range = "1..",
     .help = "key/value heads, dividing --heads (llama; default:\n--heads)"},
    {"--hidden", CLI_INT, "F", .range = "1..", .help = "MLP width (default 4 x --dim)"},
    {"--vocab", CLI_INT, "V", "50257", .help = "vocabulary size", .range = "1.."},
    {0}};
static const cli_spec spec = {
    "bench", opts,
    "Times one training step of a model for the mask (--trainable, --lora) and\n"
    "for full fine-tuning in the same process, against the sgemm rate measured on\n"
    "the step's own GEMM shapes and the plan's ideal FLOP ratio; full fine-tuning\n"
    "is skipped when it cannot fit in memory. --eval times evaluation instead.\n"
    "Progress goes to stderr, the report (or --json) to stdout.",
    NULL};

static const char *const shape_flags[] = {"--arch", "--layers", "--dim", "--heads",
                                          "--kv-heads", "--hidden", "--vocab"};

/* The random model's config: --shape (or GPT-2-124M), then the flags given.
 * min_vocab: at least this many tokens (a tokenizer's). */
static int shape_config(const cli_args *a, int min_vocab, st_config *cfg,
                        const char **name, int *grown) {
  int given = cli_given(a, "--shape");
  *cfg = shapes[given ? cli_enum(a, "--shape") : 0].c;
  *name = given ? shapes[cli_enum(a, "--shape")].name : NULL;
  if (!given) cfg->max_seq = 1024;
  if (cli_given(a, "--arch") || !given)
    cfg->arch = cli_enum(a, "--arch") == 1 ? ST_ARCH_LLAMA : ST_ARCH_GPT2;
  if (cli_given(a, "--layers")) cfg->n_layers = (int)cli_int(a, "--layers");
  if (cli_given(a, "--dim") || !given) cfg->dim = (int)cli_int(a, "--dim");
  if (cli_given(a, "--heads") || !given) cfg->n_heads = (int)cli_int(a, "--heads");
  if (cli_given(a, "--vocab") || !given) cfg->vocab = (int)cli_int(a, "--vocab");
  if (!given) {
    cfg->rope_theta = 10000;
    cfg->tied = 1;
  }
  if (cli_given(a, "--kv-heads")) cfg->n_kv_heads = (int)cli_int(a, "--kv-heads");
  else if (!given || cfg->arch == ST_ARCH_GPT2) cfg->n_kv_heads = cfg->n_heads;
  if (cfg->dim % cfg->n_heads)
    return st_err("bench: --dim %d is not a multiple of --heads %d", cfg->dim, cfg->n_heads);
  if (cfg->n_heads % cfg->n_kv_heads)
    return st_err("bench: --kv-heads %d does not divide --heads %d", cfg->n_kv_heads,
                  cfg->n_heads);
  cfg->head_dim = cfg->dim / cfg->n_heads;
  if (cli_given(a, "--hidden")) cfg->hidden = (int)cli_int(a, "--hidden");
  else if (!given || cli_given(a, "--dim")) cfg->hidden = 4 * cfg->dim;
  if (cfg->arch == ST_ARCH_GPT2) { /* what GPT-2 has no use for */
    cfg->rope_type = ST_ROPE_DEFAULT;
    cfg->qkv_bias = 0;
  } else if (!(cfg->rope_theta > 1)) {
    cfg->rope_theta = 10000;
  }
  *grown = cfg->vocab < min_vocab;
  if (*grown) cfg->vocab = min_vocab;
  return ST_OK;
}

/* *m: the real model (--model) or a random one; refuses one whose weights
 * cannot fit. *label names it for the report. */
static int make_model(const cli_args *a, const st_backend *be, int T, int min_vocab,
                      st_model **m, char *label, size_t n) {
  const char *path = cli_str(a, "--model");
  /* --frozen-dtype: split storage (NULL: flat, one fp32 buffer) */
  const char *frozen = cli_str(a, "--frozen-dtype");
  if (path) {
    for (size_t i = 0; i < sizeof shape_flags / sizeof *shape_flags; i++)
      if (cli_given(a, shape_flags[i]) || cli_given(a, "--shape"))
        return st_err("bench: --model %s: the model has its own shape; drop %s", path,
                      cli_given(a, "--shape") ? "--shape" : shape_flags[i]);
    if (st_model_load_as(m, path, be, frozen)) return ST_ERR;
    if (T > (*m)->cfg.max_seq) {
      st_model_free(*m);
      return st_err("bench: --seq-len %d exceeds the model's context of %d", T,
                    (*m)->cfg.max_seq);
    }
    snprintf(label, n, "%s", path);
    return ST_OK;
  }
  st_config cfg;
  const char *name;
  int grown = 0;
  if (shape_config(a, min_vocab, &cfg, &name, &grown)) return ST_ERR;
  if (T > cfg.max_seq) cfg.max_seq = T;
  if (st_model_layout(m, &cfg, be)) return ST_ERR;
  int dt = ST_DT_F32;
  if (frozen && st_frozen_dtype_parse(frozen, &dt)) return ST_ERR;
  if (dt == ST_FROZEN_AUTO) dt = ST_DT_F32; /* a random model has no file */
  double bytes = (double)(*m)->n_params * st_dtype_size((st_dtype)dt);
  if (!fits(be, bytes)) {
    st_err("bench: %s: %.2f billion parameters are %.1f GB in %s; %.1f GB of memory "
           "is available", name ? name : "the model", (*m)->n_params / 1e9, bytes / 1e9,
           frozen ? frozen : "fp32", mem_available() / 1e9);
    st_model_free(*m);
    return ST_ERR;
  }
  if (frozen ? st_model_alloc_as(*m, (st_dtype)dt) : st_model_alloc(*m)) {
    st_model_free(*m);
    return ST_ERR;
  }
  st_model_init_random(*m, 1);
  snprintf(label, n, "%s%s", name ? name : cfg.arch == ST_ARCH_GPT2 ? "gpt2" : "llama",
           grown ? " (vocabulary grown to the tokenizer's)" : "");
  return ST_OK;
}

static json_t *jreal(double x) { return isfinite(x) ? json_real(x) : json_null(); }

/* ----------------------------------------------------------- evaluation */

typedef struct eval_progress {
  double t0;
  int quiet;
} eval_progress;

static void on_eval_progress(void *ctx, int done, int total) {
  eval_progress *p = ctx;
  if (p->quiet) return;
  double dt = now() - p->t0, rate = done / (dt > 0 ? dt : 1e-9);
  int eta = rate > 0 ? (int)((total - done) / rate) : 0;
  fprintf(stderr, "\rbench: eval %d/%d examples  %.1f examples/s  ETA %d:%02d ", done,
          total, rate, eta / 60, eta % 60);
  if (done == total) fputc('\n', stderr);
}

static int bench_eval(const cli_args *a, const st_backend *be, int json) {
  int B = cli_given(a, "--batch-size") ? (int)cli_int(a, "--batch-size") : 32;
  int T = cli_given(a, "--seq-len") ? (int)cli_int(a, "--seq-len") : 256;
  const char *model = cli_str(a, "--model");
  char tp[ST_PATH_MAX], dp[ST_PATH_MAX], label[ST_PATH_MAX + 64];
  const char *tokpath = cli_str(a, "--tokenizer"), *data = cli_str(a, "--data");
  if (!tokpath) {
    if (model ? st_tokenizer_find(model, tp, sizeof tp)
              : st_asset("tokenizers/gpt2/encoder.json", tp, sizeof tp))
      return ST_ERR;
    tokpath = model ? tp : dirname(tp);
  }
  if (!data) {
    if (st_asset("data/sst2/dev.tsv", dp, sizeof dp)) return ST_ERR;
    data = dp;
  }
  st_tokenizer *tk = NULL;
  st_model *m = NULL;
  st_dataset full = {0}, sub = {0};
  st_eval_result old_loss = {0}, old_cls = {0}, now_r = {0};
  int rc = ST_ERR, *idx = NULL;
  if (st_tokenizer_load(&tk, tokpath) ||
      make_model(a, be, 1, model ? 0 : st_tokenizer_vocab(tk), &m, label, sizeof label))
    goto done;
  if (T > m->cfg.max_seq) T = m->cfg.max_seq;
  static const char *const labels[] = {"0", "1"}, *const verbs[] = {" negative", " positive"};
  st_data_opts o = st_data_opts_default();
  o.path = data;
  o.seq_len = T;
  o.templ = "Review: {sentence}\nSentiment:";
  o.n_classes = 2;
  o.labels = labels;
  o.verbalizers = verbs;
  o.no_cache = 1;
  if (st_dataset_load(&full, tk, &o)) goto done;
  const st_dataset *ds = &full;
  int n = cli_given(a, "--samples") ? (int)cli_int(a, "--samples") : full.n;
  if (n < full.n) {
    if (!(idx = st_malloc((size_t)n * sizeof *idx))) goto done;
    for (int i = 0; i < n; i++) idx[i] = i;
    if (st_dataset_subset(&sub, &full, idx, n)) goto done;
    ds = &sub;
  }
  if (!json)
    fprintf(stderr, "bench: eval of %s on %d examples of %s, B=%d T=%d\n", label, ds->n,
            data, B, T);
  /* the old way: logits at every position, in dataset order, then the
   * classification in a second pass, as the runner and strata eval did */
  st_eval_opts before = st_eval_opts_default(B), after = st_eval_opts_default(B);
  before.full_logits = 1;
  eval_progress pr = {0, json};
  after.progress = on_eval_progress;
  after.ctx = &pr;
  /* warm-up: the first batch's allocations and threads, for both */
  st_eval_opts warm = st_eval_opts_default(B);
  st_dataset head = {0};
  int nh = ds->n < 8 ? ds->n : 8, hidx[8];
  for (int i = 0; i < nh; i++) hidx[i] = i;
  if (st_dataset_subset(&head, ds, hidx, nh)) goto done;
  st_eval_result wr = {0};
  int wrc = st_eval_run(m, &head, &warm, &wr, NULL, NULL);
  st_eval_result_free(&wr);
  st_dataset_free(&head);
  if (wrc) goto done;
  if (!json) fprintf(stderr, "bench: eval as before (every position, two passes) ...\n");
  double t0 = now();
  before.classify = 0;
  if (st_eval_run(m, ds, &before, &old_loss, NULL, NULL)) goto done;
  before.classify = 1;
  before.loss = 0;
  if (st_eval_run(m, ds, &before, &old_cls, NULL, NULL)) goto done;
  double s_old = now() - t0;
  if (!json) fprintf(stderr, "bench: eval now (scored positions, one pass) ...\n");
  pr.t0 = t0 = now();
  if (st_eval_run(m, ds, &after, &now_r, NULL, NULL)) goto done;
  double s_new = now() - t0;
  double dloss = fabs(now_r.loss - old_loss.loss);
  if (json) {
    json_t *j = json_pack("{s:b,s:s,s:s,s:s,s:i,s:i,s:i,s:i}", "eval", 1, "device",
                          be->name, "model", label, "data", data, "examples", ds->n, "B",
                          B, "T", T, "threads", st_get_threads());
    json_object_set_new(j, "params", json_integer((json_int_t)m->n_params));
    json_object_set_new(j, "s_before", json_real(s_old));
    json_object_set_new(j, "s_now", json_real(s_new));
    json_object_set_new(j, "speedup", json_real(s_old / s_new));
    json_object_set_new(j, "examples_per_s_before", json_real(ds->n / s_old));
    json_object_set_new(j, "examples_per_s_now", json_real(ds->n / s_new));
    json_object_set_new(j, "loss_before", jreal(old_loss.loss));
    json_object_set_new(j, "loss_now", jreal(now_r.loss));
    json_object_set_new(j, "accuracy_before", jreal(old_cls.accuracy));
    json_object_set_new(j, "accuracy_now", jreal(now_r.accuracy));
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10));
    puts(s);
    free(s);
    json_decref(j);
  } else {
    printf("%s eval %s: %d examples of %s, B=%d T=%d threads=%d params=%.1fM\n", be->name,
           label, ds->n, data, B, T, st_get_threads(), m->n_params / 1e6);
    printf("  before (logits at every position, two passes): %.2f s, %.1f examples/s\n",
           s_old, ds->n / s_old);
    printf("  now (logits where scored, packed rows, one pass): %.2f s, %.1f examples/s: "
           "%.2fx faster\n", s_new, ds->n / s_new, s_old / s_new);
    printf("  loss %.8f vs %.8f (difference %.2g), accuracy %.4f vs %.4f\n", old_loss.loss,
           now_r.loss, dloss, old_cls.accuracy, now_r.accuracy);
  }
  rc = ST_OK;
done:
  free(idx);
  st_eval_result_free(&old_loss);
  st_eval_result_free(&old_cls);
  st_eval_result_free(&now_r);
  st_dataset_free(&sub);
  st_dataset_free(&full);
  st_model_free(m);
  st_tokenizer_free(tk);
  return rc;
}

/* ------------------------------------------------------------- the step */

/* the bytes a trainer of plan p adds to the model by widening the matrices
 * it trains to fp32 (split storage) */
static double widen_bytes(const st_model *m, const st_plan *p) {
  double b = 0;
  for (int i = 0; i < m->n_tab; i++)
    if (m->st[i].dt != ST_DT_F32 && st_plan_param_trainable(p, m, &m->tab[i]))
      b += (double)m->tab[i].rows * m->tab[i].cols * (4 - st_dtype_size(m->st[i].dt));
  return b;
}

static int bench(int argc, char **argv) {
  cli_args a;
  int prc = cli_parse(&a, &spec, argc, argv);
  if (prc) return prc == CLI_HELP ? 0 : ST_ERR;
  int B = (int)cli_int(&a, "--batch-size"), T = (int)cli_int(&a, "--seq-len");
  int steps = (int)cli_int(&a, "--steps");
  const char *spec = cli_str(&a, "--trainable");
  int json = cli_on(&a, "--json"), ckpt = cli_on(&a, "--checkpointing");
  int fused = cli_on(&a, "--fused-update");
  if ((long long)B * T > 1 << 30) return st_err("bench: --batch-size x --seq-len is too large");
  /* a job (mpirun, even -np 1): the step runs across its ranks; rank 0
   * reports */
  int ranks = (int)cli_int(&a, "--ranks"), job;
  if (st_dist_init()) return ST_ERR;
  if ((job = st_dist_launcher()[0] ? st_dist_size() : 0)) {
    if (ranks && ranks != job)
      return st_err("bench: --ranks %d, but the job has %d ranks", ranks, job);
    if (cli_on(&a, "--eval")) return st_err("bench: --eval runs in one process, not under mpirun");
    if (fused) return st_err("bench: --fused-update runs in one process, not under mpirun");
    if (B % job)
      return st_err("bench: --batch-size %d does not divide by the %d ranks of the job: "
                    "each rank takes batch-size / ranks rows", B, job);
    if (st_dist_rank() > 0 && !freopen("/dev/null", "w", stdout))
      return st_err("rank %d: /dev/null: cannot open", st_dist_rank());
    ranks = job;
  }
  int quiet = json || st_dist_rank() > 0; /* progress on stderr */
  const st_backend *be = st_backend_get(cli_str(&a, "--device"));
  if (!be) return ST_ERR;
  /* --precision bf16: mixed precision (bf16 products, fp32 master weights
   * and optimiser state) where the backend has it; a backend without it
   * (cpu) runs fp32, and the JSON says which one ran */
  const char *prec = cli_str(&a, "--precision");
  if (!be->set_bf16 && strcmp(prec, "fp32")) {
    fprintf(stderr, "bench: the %s backend has no bf16 mode: timing fp32\n", be->name);
    prec = "fp32";
  }
  if (be->set_bf16) be->set_bf16(!strcmp(prec, "bf16"));
  if (cli_on(&a, "--eval")) return bench_eval(&a, be, json);
  const char *eval_only[] = {"--data", "--tokenizer", "--samples"};
  for (size_t i = 0; i < sizeof eval_only / sizeof *eval_only; i++)
    if (cli_given(&a, eval_only[i])) return st_err("bench: %s needs --eval", eval_only[i]);
  st_model *m;
  char label[ST_PATH_MAX + 64];
  if (make_model(&a, be, T, 0, &m, label, sizeof label)) return ST_ERR;
  const char *frozen = cli_str(&a, "--frozen-dtype"); /* NULL: flat storage */
  const st_config *c = &m->cfg;
  st_plan plan, full, lall = {0}, pck = {0};
  if (st_plan_parse(&plan, m, spec)) { st_model_free(m); return ST_ERR; }
  if (st_plan_parse(&full, m, "all")) { st_plan_free(&plan); st_model_free(m); return ST_ERR; }
  /* --lora: the mask's layers get adapters; also timed: LoRA on all layers */
  const char *lora_s = cli_str(&a, "--lora");
  st_lora_spec ls;
  int N = B * T, rc = ST_ERR;
  int32_t *tok = NULL, *tgt = NULL;
  if (lora_s && (parse_lora(lora_s, m, &ls) || st_plan_parse(&lall, m, "all"))) goto done;
  if (lora_s) to_lora(&plan, &ls), to_lora(&lall, &ls);
  if (st_plan_copy(&pck, &plan)) goto done;
  pck.recompute = 1;
  tok = malloc((size_t)N * sizeof *tok), tgt = malloc((size_t)N * sizeof *tgt);
  if (!tok || !tgt) {
    st_err("out of memory");
    goto done;
  }
  st_rng rng;
  st_rng_seed(&rng, 7);
  for (int i = 0; i < N; i++) tok[i] = (int32_t)(st_rng_next(&rng) % c->vocab);
  for (int i = 0; i < N; i++) tgt[i] = (int32_t)(st_rng_next(&rng) % c->vocab);

  /* each run must fit beside the model; full fine-tuning only serves as the
   * baseline, so a model too large for it is timed without */
  double need = (double)st_trainer_estimate_bytes(m, &plan, B, T, fused) + widen_bytes(m, &plan);
  if (!fits(be, need)) {
    st_err("bench: the mask %s needs %.1f GB for B=%d T=%d; %.1f GB of memory is "
           "available%s", spec, need / 1e9, B, T, mem_available() / 1e9,
           ckpt ? "" : " (--checkpointing may fit)");
    goto done;
  }
  double need_full = (double)st_trainer_estimate_bytes(m, &full, B, T, fused) + widen_bytes(m, &full);
  int do_full = (strcmp(spec, "all") || lora_s) && fits(be, need_full);
  int do_lall = lora_s && strcmp(spec, "all") &&
                fits(be, (double)st_trainer_estimate_bytes(m, &lall, B, T, 0));

  /* smallest first: peak RSS only grows, so each peak is read before a
   * larger run */
  timing tk = {NAN, NAN, 0, 0, NAN}, tm = {0}, tf = {NAN, NAN, 0, 0, NAN}, tl = {NAN, NAN, 0, 0, NAN};
  double rss_base = peak_rss_mb(), rss_ckpt = NAN;
  if (ckpt) {
    if (!quiet) fprintf(stderr, "bench: timing mask %s with checkpointing ...\n", spec);
    if (time_plan(m, &pck, B, T, steps, fused, tok, tgt, &tk)) goto done;
    rss_ckpt = peak_rss_mb();
  }
  if (!quiet) fprintf(stderr, "bench: timing mask %s ...\n", spec);
  if (time_plan(m, &plan, B, T, steps, fused, tok, tgt, &tm)) goto done;
  double rss_mask = peak_rss_mb();
  if (do_full) {
    if (!quiet) fprintf(stderr, "bench: timing full fine-tuning ...\n");
    if (time_plan(m, &full, B, T, steps, fused, tok, tgt, &tf)) goto done;
  } else if (!strcmp(spec, "all") && !lora_s) {
    tf = tm;
  } else if (!quiet) {
    fprintf(stderr, "bench: full fine-tuning needs %.1f GB, more than the %.1f GB "
            "available: not timed\n", need_full / 1e9, mem_available() / 1e9);
  }
  double rss_full = do_full ? peak_rss_mb() : isfinite(tf.ms) ? rss_mask : NAN;
  if (do_lall) {
    if (!quiet) fprintf(stderr, "bench: timing LoRA on all layers ...\n");
    if (time_plan(m, &lall, B, T, steps, fused, tok, tgt, &tl)) goto done;
  } else if (lora_s && !strcmp(spec, "all")) {
    tl = tm;
  }
  double sg = sgemm_rate(m, B, T);
  if (!(sg > 0)) goto done; /* the probe could not allocate */
  /* a job's rate: every rank measured its own at the same time */
  if (job && st_dist_sum_f64(&sg, 1)) goto done;
  /* selection costs one forward pass: trace the same B x T tokens. The
   * pseudo-inverse of W_U is computed once per model (and cached on disk),
   * so it is timed on its own. */
  double pinv_ms = NAN, trace_ms = NAN;
  if (!cli_on(&a, "--no-trace")) {
    double t0 = now();
    float *pinv = NULL;
    if (st_unembed_pinv_t(m, &pinv)) goto done;
    free(pinv);
    pinv_ms = (now() - t0) * 1e3;
    st_trace tr;
    t0 = now();
    if (st_trace_collect(&tr, m, tok, tgt, B, T, 0, 1)) goto done;
    trace_ms = (now() - t0) * 1e3;
    st_trace_free(&tr);
  }
  st_flops f = st_plan_flops(&plan, m, T), ff = st_plan_flops(&full, m, T);
  st_flops fk = st_plan_flops(&pck, m, T);
  double step_flops = (f.fwd + f.lora_fwd + f.bwd) * N, full_flops = (ff.fwd + ff.full_bwd) * N;
  double gflops = full_flops / (tf.ms * 1e-3) / 1e9;
  double ms_mask = tm.ms, ms_full = tf.ms;
  size_t nparams = m->n_params;

  json_t *o = json_object();
  json_object_set_new(o, "device", json_string(be->name));
  json_object_set_new(o, "precision", json_string(prec));
  json_object_set_new(o, "arch", json_string(c->arch == ST_ARCH_GPT2 ? "gpt2" : "llama"));
  json_object_set_new(o, "model", json_string(label));
  json_object_set_new(o, "params", json_integer((json_int_t)nparams));
  json_object_set_new(o, "B", json_integer(B));
  json_object_set_new(o, "T", json_integer(T));
  json_object_set_new(o, "threads", json_integer(st_get_threads()));
  json_object_set_new(o, "trainable", json_string(spec));
  json_object_set_new(o, "ms_per_step", json_real(ms_mask));
  json_object_set_new(o, "tokens_per_s", json_real(N / (ms_mask * 1e-3)));
  json_object_set_new(o, "gflops", json_real(step_flops / (ms_mask * 1e-3) / 1e9));
  json_object_set_new(o, "sgemm_gflops", json_real(sg));
  json_object_set_new(o, "efficiency", json_real(step_flops / (ms_mask * 1e-3) / 1e9 / sg));
  json_object_set_new(o, "ms_per_step_full", jreal(ms_full));
  json_object_set_new(o, "gflops_full", jreal(gflops));
  json_object_set_new(o, "efficiency_full", jreal(gflops / sg));
  json_object_set_new(o, "step_ratio", jreal(ms_mask / ms_full));
  json_object_set_new(o, "ideal_ratio", json_real(f.ideal_ratio));
  json_object_set_new(o, "step_vs_ideal", jreal(ms_mask / ms_full / f.ideal_ratio));
  json_object_set_new(o, "peak_rss_mb", json_real(rss_mask));
  json_object_set_new(o, "peak_rss_full_mb", jreal(rss_full));
  json_object_set_new(o, "rss_before_mb", json_real(rss_base));
  json_object_set_new(o, "act_bytes", json_integer((json_int_t)tm.act_bytes));
  size_t mapped, model_bytes = st_model_bytes(m, &mapped);
  json_object_set_new(o, "frozen_dtype", frozen ? json_string(frozen) : json_null());
  json_object_set_new(o, "fused_update", json_boolean(fused));
  json_object_set_new(o, "model_bytes", json_integer((json_int_t)model_bytes));
  json_object_set_new(o, "mapped_bytes", json_integer((json_int_t)mapped));
  json_object_set_new(o, "loss", json_real(tm.loss));
  size_t full_bytes = st_reduce_full_bytes(m);
  double ring = ranks ? 2.0 * (ranks - 1) / ranks : 0;
  if (ranks) {
    json_object_set_new(o, "ranks", json_integer(ranks));
    json_object_set_new(o, "bytes_per_step", json_integer((json_int_t)tm.bytes));
    json_object_set_new(o, "full_bytes_per_step", json_integer((json_int_t)full_bytes));
    json_object_set_new(o, "bytes_ratio", json_real((double)tm.bytes / full_bytes));
    json_object_set_new(o, "ring_bytes_per_rank", json_real(ring * tm.bytes));
  }
  if (job) {
    json_object_set_new(o, "comm_ms_per_step", json_real(tm.comm_ms));
    json_object_set_new(o, "comm_share", json_real(tm.comm_ms / ms_mask));
    json_object_set_new(o, "comm_ms_per_step_full", jreal(tf.comm_ms));
    json_object_set_new(o, "comm_share_full", jreal(tf.comm_ms / ms_full));
  }
  if (ckpt) {
    json_object_set_new(o, "ckpt_ms_per_step", json_real(tk.ms));
    json_object_set_new(o, "ckpt_step_vs_without", json_real(tk.ms / ms_mask));
    json_object_set_new(o, "ckpt_act_bytes", json_integer((json_int_t)tk.act_bytes));
    json_object_set_new(o, "ckpt_act_share", json_real((double)tk.act_bytes / tm.act_bytes));
    json_object_set_new(o, "ckpt_ideal_ratio", json_real(fk.ideal_ratio));
    json_object_set_new(o, "ckpt_recompute_flops_share",
                        json_real(fk.recompute_fwd / (f.fwd + f.lora_fwd + f.bwd)));
    json_object_set_new(o, "ckpt_peak_rss_mb", json_real(rss_ckpt));
  }
  if (isfinite(trace_ms)) {
    json_object_set_new(o, "trace_ms", json_real(trace_ms));
    json_object_set_new(o, "trace_steps", jreal(trace_ms / ms_full));
    json_object_set_new(o, "pinv_ms", json_real(pinv_ms));
  }
  st_flops fl = lora_s ? st_plan_flops(&lall, m, T) : f;
  double ideal_lall = (f.fwd + f.lora_fwd + f.bwd) / (fl.fwd + fl.lora_fwd + fl.bwd);
  if (lora_s) {
    json_object_set_new(o, "lora", json_pack("{s:i,s:f,s:f}", "rank", ls.rank, "alpha",
                                             (double)ls.alpha, "dropout", (double)ls.dropout));
    json_object_set_new(o, "ms_per_step_lora_all", jreal(tl.ms));
    json_object_set_new(o, "step_ratio_vs_lora_all", jreal(ms_mask / tl.ms));
    json_object_set_new(o, "ideal_ratio_lora_all", json_real(fl.ideal_ratio));
    json_object_set_new(o, "ideal_ratio_vs_lora_all", json_real(ideal_lall));
  }
  if (json) {
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    puts(s);
    free(s);
  } else {
    printf("%s %s %s B=%d T=%d threads=%d params=%.1fM mask=%s%s", be->name, prec, label,
           B, T, st_get_threads(), nparams / 1e6, spec, fused ? " fused updates" : "");
    if (job) printf(" (each of %d ranks: %d rows, sgemm rate summed)", job, B / job);
    printf("\n");
    printf("  step %.1f ms (%.0f tok/s), full ", ms_mask, N / (ms_mask * 1e-3));
    if (isfinite(ms_full)) printf("%.1f ms\n", ms_full);
    else printf("not timed (needs %.1f GB)\n", need_full / 1e9);
    printf("  %.1f GFLOP/s vs sgemm %.1f GFLOP/s: efficiency %.2f (full %.2f)\n",
           step_flops / (ms_mask * 1e-3) / 1e9, sg,
           step_flops / (ms_mask * 1e-3) / 1e9 / sg, gflops / sg);
    printf("  step_ratio %.3f, ideal_ratio %.3f (%.2fx ideal)\n", ms_mask / ms_full,
           f.ideal_ratio, ms_mask / ms_full / f.ideal_ratio);
    if (lora_s)
      printf("  LoRA r=%d on all layers %.1f ms (ideal_ratio %.3f): step_ratio vs "
             "it %.3f, ideal %.3f\n", ls.rank, tl.ms, fl.ideal_ratio, ms_mask / tl.ms,
             ideal_lall);
    printf("  peak RSS %.0f MB (full %.0f MB); activations %.1f MB\n", rss_mask, rss_full,
           tm.act_bytes / 1e6);
    printf("  weights: %.1f MB held%s%s", model_bytes / 1e6,
           frozen ? ", frozen matrices in " : " in fp32",
           !frozen ? "" : strcmp(frozen, "auto") ? frozen : "the file's dtype");
    if (mapped) printf(", %.1f MB used in place from the file", mapped / 1e6);
    printf("\n");
    if (ranks)
      printf("  data parallel over %d ranks%s: a step sums %.2f MB of gradients, %.1f%% of "
             "full fine-tuning's %.2f MB (a ring moves %.2fx that per rank)\n", ranks,
             job ? " of the job" : "", tm.bytes / 1e6, 100.0 * tm.bytes / full_bytes,
             full_bytes / 1e6, ring);
    if (job)
      printf("  the reducer took %.1f ms = %.1f%% of the step (full fine-tuning: %.1f ms = "
             "%.1f%%)\n", tm.comm_ms, 100 * tm.comm_ms / ms_mask, tf.comm_ms,
             100 * tf.comm_ms / ms_full);
    if (ckpt)
      printf("  checkpointing: step %.1f ms (%.2fx without), activations %.1f MB (%.0f%% "
             "of %.1f MB), peak RSS %.0f MB; recompute +%.1f%% FLOPs, ideal_ratio %.3f\n",
             tk.ms, tk.ms / ms_mask, tk.act_bytes / 1e6,
             100.0 * tk.act_bytes / tm.act_bytes, tm.act_bytes / 1e6, rss_ckpt,
             100.0 * fk.recompute_fwd / (f.fwd + f.lora_fwd + f.bwd), fk.ideal_ratio);
    if (isfinite(trace_ms))
      printf("  trace of the same tokens %.1f ms = %.2f full steps (pinv of W_U, once per "
           "model: %.0f ms)\n", trace_ms, trace_ms / ms_full, pinv_ms);
  }
  json_decref(o);
  rc = ST_OK;
done:
  free(tok);
  free(tgt);
  st_plan_free(&plan);
  st_plan_free(&full);
  st_plan_free(&pck);
  st_plan_free(&lall);
  st_model_free(m);
  return rc;
}

/* In a job, an error on one rank ends every rank (dist.h), after its
 * message with the rank's number */
int cmd_bench(int argc, char **argv) {
  int rc = bench(argc, argv);
  if (rc && st_dist_active()) {
    fprintf(stderr, "strata: error: rank %d of %d: %s\n", st_dist_rank(), st_dist_size(),
            st_errmsg());
    fflush(stderr);
    st_dist_abort(2);
  }
  st_dist_finalize();
  return rc;
}
