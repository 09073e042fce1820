/* cmd_bench.c - strata bench: one training step of a random-init model
 * (GPT-2-124M shape unless flags say otherwise), timed for a mask and for
 * full fine-tuning in the same process, against the sgemm rate measured on
 * the step's own GEMM shapes, and against the plan's ideal FLOP ratio. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "commands.h"
#include "error.h"
#include "layer.h"
#include "model.h"
#include "plan.h"
#include "sampler.h"
#include "train.h"
#include "trace.h"

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

/* Mean ms per step over `steps` timed steps after one warm-up. */
static int time_plan(st_model *m, const st_plan *p, int B, int T, int steps,
                     const int32_t *tok, const int32_t *tgt, double *ms,
                     double *loss_out) {
  st_trainer *t;
  if (st_trainer_new(&t, m, p, B, T)) return ST_ERR;
  st_optim o = st_optim_default();
  o.lr = 1e-5f; /* small: the weights barely move between the two timings */
  float loss = 0;
  if (st_trainer_step(t, tok, tgt, &o, &loss, NULL)) goto fail;
  m->be->sync();
  double t0 = now();
  for (int i = 0; i < steps; i++)
    if (st_trainer_step(t, tok, tgt, &o, &loss, NULL)) goto fail;
  m->be->sync();
  *ms = (now() - t0) * 1e3 / steps;
  *loss_out = loss;
  st_trainer_free(t);
  return ST_OK;
fail:
  st_trainer_free(t);
  return ST_ERR;
}

/* The GEMMs of one full training step, each shape with its count per step;
 * their combined rate is the ceiling a step could reach. */
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
  size_t maxa = 0, maxb = 0, maxc = 0;
  for (size_t i = 0; i < sizeof g / sizeof *g; i++) {
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
  for (size_t i = 0; i < sizeof g / sizeof *g; i++) {
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
    double dt = (now() - t0) / reps;
    flops += 2.0 * g[i].M * g[i].Nn * g[i].K * g[i].count;
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
    {"--precision", CLI_ENUM, "fp32|bf16", "fp32",
     .help = "bf16: bf16 products with fp32 master weights and\n"
     "optimiser state, where the backend has it (cuda); cpu\n"
     "times fp32 and says so"},
    {"--device", CLI_ENUM, "cpu|cuda", "cpu", .help = "backend"},
    {"--batch-size", CLI_INT, "N", "4",
     .help = "sequences per step (recipe: train.batch_size; 4 and\n"
             "--seq-len 64 are the benchmark's fixed shape, the one the\n"
             "README and the peer benchmarks report, not a recipe's\n"
             "defaults of 16 and 128)",
     .range = "1..", .alias = "-B"},
    {"--seq-len", CLI_INT, "T", "64", .help = "tokens per sequence (recipe: train.seq_len)", .range = "1..",
     .alias = "-T"},
    {"--steps", CLI_INT, "N", "3", .help = "timed steps per measurement, after one warm-up step",
     .range = "1.."},
    {"--no-trace", CLI_FLAG, .help = "skip timing the trace of the same tokens (and the\n"
                                     "pseudo-inverse of the unembedding)"},
    {"--json", CLI_FLAG, .help = "print one JSON object (a line) instead of the report"},
    /* the random model: GPT-2-124M unless these say otherwise */
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
    "Times one training step of a random-init model for the mask (--trainable,\n"
    "--lora) and for full fine-tuning in the same process, against the sgemm rate\n"
    "measured on the step's own GEMM shapes and the plan's ideal FLOP ratio.\n"
    "Progress goes to stderr, the report (or --json) to stdout.",
    NULL};

int cmd_bench(int argc, char **argv) {
  cli_args a;
  int prc = cli_parse(&a, &spec, argc, argv);
  if (prc) return prc == CLI_HELP ? 0 : ST_ERR;
  int B = (int)cli_int(&a, "--batch-size"), T = (int)cli_int(&a, "--seq-len");
  int steps = (int)cli_int(&a, "--steps");
  const char *spec = cli_str(&a, "--trainable");
  int json = cli_on(&a, "--json");
  if ((long long)B * T > 1 << 30) return st_err("bench: --batch-size x --seq-len is too large");
  st_config cfg = {.arch = cli_enum(&a, "--arch") == 1 ? ST_ARCH_LLAMA : ST_ARCH_GPT2,
                   .n_layers = (int)cli_int(&a, "--layers"),
                   .dim = (int)cli_int(&a, "--dim"),
                   .n_heads = (int)cli_int(&a, "--heads"),
                   .vocab = (int)cli_int(&a, "--vocab"),
                   .max_seq = 1024,
                   .norm_eps = 1e-5f,
                   .tied = 1};
  cfg.n_kv_heads = cli_given(&a, "--kv-heads") ? (int)cli_int(&a, "--kv-heads") : cfg.n_heads;
  if (cfg.dim % cfg.n_heads)
    return st_err("bench: --dim %d is not a multiple of --heads %d", cfg.dim, cfg.n_heads);
  if (cfg.n_heads % cfg.n_kv_heads)
    return st_err("bench: --kv-heads %d does not divide --heads %d", cfg.n_kv_heads,
                  cfg.n_heads);
  cfg.head_dim = cfg.dim / cfg.n_heads;
  cfg.hidden = cli_given(&a, "--hidden") ? (int)cli_int(&a, "--hidden") : 4 * cfg.dim;
  cfg.rope_theta = 10000;
  if (T > cfg.max_seq) cfg.max_seq = T;
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
  st_model *m;
  if (st_model_new(&m, &cfg, be)) return ST_ERR;
  st_model_init_random(m, 1);
  st_plan plan, full;
  if (st_plan_parse(&plan, m, spec)) { st_model_free(m); return ST_ERR; }
  if (st_plan_parse(&full, m, "all")) { st_plan_free(&plan); st_model_free(m); return ST_ERR; }
  /* --lora: the mask's layers get adapters; also timed: LoRA on all layers */
  const char *lora_s = cli_str(&a, "--lora");
  st_lora_spec ls;
  st_plan lall = {0};
  if (lora_s && (parse_lora(lora_s, m, &ls) || st_plan_parse(&lall, m, "all"))) {
    st_plan_free(&plan), st_plan_free(&full), st_model_free(m);
    return ST_ERR;
  }
  if (lora_s) to_lora(&plan, &ls), to_lora(&lall, &ls);

  int N = B * T, rc = ST_ERR;
  int32_t *tok = malloc((size_t)N * sizeof *tok), *tgt = malloc((size_t)N * sizeof *tgt);
  if (!tok || !tgt) {
    st_err("out of memory");
    goto done;
  }
  st_rng rng;
  st_rng_seed(&rng, 7);
  for (int i = 0; i < N; i++) tok[i] = (int32_t)(st_rng_next(&rng) % cfg.vocab);
  for (int i = 0; i < N; i++) tgt[i] = (int32_t)(st_rng_next(&rng) % cfg.vocab);

  /* mask first: peak RSS only grows, so its peak is read before full runs */
  double ms_mask = 0, ms_full = 0, loss_mask = 0, loss_full = 0;
  double rss_base = peak_rss_mb();
  if (!json) fprintf(stderr, "bench: timing mask %s ...\n", spec);
  if (time_plan(m, &plan, B, T, steps, tok, tgt, &ms_mask, &loss_mask)) goto done;
  double rss_mask = peak_rss_mb();
  if (strcmp(spec, "all") || lora_s) {
    if (!json) fprintf(stderr, "bench: timing full fine-tuning ...\n");
    if (time_plan(m, &full, B, T, steps, tok, tgt, &ms_full, &loss_full)) goto done;
  } else {
    ms_full = ms_mask;
  }
  double rss_full = peak_rss_mb();
  double ms_lall = ms_mask, loss_lall;
  if (lora_s && strcmp(spec, "all")) {
    if (!json) fprintf(stderr, "bench: timing LoRA on all layers ...\n");
    if (time_plan(m, &lall, B, T, steps, tok, tgt, &ms_lall, &loss_lall)) goto done;
  }
  double sg = sgemm_rate(m, B, T);
  if (!(sg > 0)) goto done; /* the probe could not allocate */
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
  double step_flops = (f.fwd + f.lora_fwd + f.bwd) * N, full_flops = (ff.fwd + ff.full_bwd) * N;
  double gflops = full_flops / (ms_full * 1e-3) / 1e9;
  size_t nparams = m->n_params;

  json_t *o = json_object();
  json_object_set_new(o, "device", json_string(be->name));
  json_object_set_new(o, "precision", json_string(prec));
  json_object_set_new(o, "arch", json_string(cfg.arch == ST_ARCH_GPT2 ? "gpt2" : "llama"));
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
  json_object_set_new(o, "ms_per_step_full", json_real(ms_full));
  json_object_set_new(o, "gflops_full", json_real(gflops));
  json_object_set_new(o, "efficiency_full", json_real(gflops / sg));
  json_object_set_new(o, "step_ratio", json_real(ms_mask / ms_full));
  json_object_set_new(o, "ideal_ratio", json_real(f.ideal_ratio));
  json_object_set_new(o, "step_vs_ideal", json_real(ms_mask / ms_full / f.ideal_ratio));
  json_object_set_new(o, "peak_rss_mb", json_real(rss_mask));
  json_object_set_new(o, "peak_rss_full_mb", json_real(rss_full));
  json_object_set_new(o, "rss_before_mb", json_real(rss_base));
  json_object_set_new(o, "loss", json_real(loss_mask));
  if (isfinite(trace_ms)) {
    json_object_set_new(o, "trace_ms", json_real(trace_ms));
    json_object_set_new(o, "trace_steps", json_real(trace_ms / ms_full));
    json_object_set_new(o, "pinv_ms", json_real(pinv_ms));
  }
  st_flops fl = lora_s ? st_plan_flops(&lall, m, T) : f;
  double ideal_lall = (f.fwd + f.lora_fwd + f.bwd) / (fl.fwd + fl.lora_fwd + fl.bwd);
  if (lora_s) {
    json_object_set_new(o, "lora", json_pack("{s:i,s:f,s:f}", "rank", ls.rank, "alpha",
                                             (double)ls.alpha, "dropout", (double)ls.dropout));
    json_object_set_new(o, "ms_per_step_lora_all", json_real(ms_lall));
    json_object_set_new(o, "step_ratio_vs_lora_all", json_real(ms_mask / ms_lall));
    json_object_set_new(o, "ideal_ratio_lora_all", json_real(fl.ideal_ratio));
    json_object_set_new(o, "ideal_ratio_vs_lora_all", json_real(ideal_lall));
  }
  if (json) {
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    puts(s);
    free(s);
  } else {
    printf("%s %s %s B=%d T=%d threads=%d params=%.1fM mask=%s\n", be->name,
           prec, cfg.arch == ST_ARCH_GPT2 ? "gpt2" : "llama", B, T,
           st_get_threads(), nparams / 1e6, spec);
    printf("  step %.1f ms (%.0f tok/s), full %.1f ms\n", ms_mask,
           N / (ms_mask * 1e-3), ms_full);
    printf("  %.1f GFLOP/s vs sgemm %.1f GFLOP/s: efficiency %.2f (full %.2f)\n",
           step_flops / (ms_mask * 1e-3) / 1e9, sg,
           step_flops / (ms_mask * 1e-3) / 1e9 / sg, gflops / sg);
    printf("  step_ratio %.3f, ideal_ratio %.3f (%.2fx ideal)\n", ms_mask / ms_full,
           f.ideal_ratio, ms_mask / ms_full / f.ideal_ratio);
    if (lora_s)
      printf("  LoRA r=%d on all layers %.1f ms (ideal_ratio %.3f): step_ratio vs "
             "it %.3f, ideal %.3f\n", ls.rank, ms_lall, fl.ideal_ratio,
             ms_mask / ms_lall, ideal_lall);
    printf("  peak RSS %.0f MB (full %.0f MB)\n", rss_mask, rss_full);
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
  if (lora_s) st_plan_free(&lall);
  st_model_free(m);
  return rc;
}
