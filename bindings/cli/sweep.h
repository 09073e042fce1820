/* sweep.h - strata sweep, in four files: the sweep file and its grid
 * (sweep_file.c), running it (cmd_sweep.c: runs, budget matching and the
 * layer count through `strata plan` children), the results with their
 * statistics (sweep_results.c) and the per-layer analysis
 * (sweep_layers.c).
 *
 * A variant runs once per grid point and seed, each a `strata run` in
 * <out>/runs/<name><label>-seed<S>, where the label names the point's
 * values ("@lr=0.003", "@n=2@lr=0.01"; empty without grid or matching), so
 * a re-run finds every finished point again whatever else changed. */
#ifndef CLI_SWEEP_H
#define CLI_SWEEP_H

#include <jansson.h>
#include <lua.h>

#include "fs.h"
#include "stats.h"

#define SW_MAXV 64     /* variants, per-layer ones included */
#define SW_MAXSET 64   /* overrides per variant */
#define SW_MAXSEED 32
#define SW_MAXKEY 4    /* grid keys per variant */
#define SW_MAXVAL 16   /* values per grid key or matched parameter */
#define SW_MAXPOINT 64 /* grid points per variant */
#define SW_LEVEL 0.95  /* every interval */
#define SW_BOOT 2000   /* bootstrap resamples of Spearman's rho */
#define SW_MAXCMP 16   /* compare: pairs */

/* a recipe key and the values it takes (YAML text for --set, and the
 * short form for folder names and tables) */
typedef struct sw_axis {
  char key[128], tag[128]; /* tag: the key's last part, or all of it when
                              two axes of a variant share that last part */
  int nval;
  char *val[SW_MAXVAL];
  char label[SW_MAXVAL][64];
} sw_axis;

typedef struct sw_variant {
  char name[64];
  int nset;
  char *set[SW_MAXSET]; /* "key=value"; "$seed" stands for the run's seed */
  int nseeds, seeds[SW_MAXSEED];
  int naxes;            /* the grid */
  sw_axis axis[SW_MAXKEY];
  int npoints;          /* product of the axes' sizes (1 without a grid) */
  /* match_budget: the value of `param` whose backprop FLOPs, from `strata
   * plan`, come closest to variant `match`'s */
  char match[64];
  sw_axis param;
  int chosen;                        /* index into param.val, after matching */
  double budget[SW_MAXVAL], target;  /* % of full, mean over the seeds */
  int layer;            /* per-layer mode: the layer it trains alone; -1 */
} sw_variant;

typedef struct sweep {
  /* out leaves room below it for the sweep's own files */
  char recipe[ST_PATH_MAX], out[ST_PATH_MAX - 256], metric[32], file[ST_PATH_MAX];
  char reference[64]; /* variant the others are paired against; "" none */
  int per_layer;      /* add one variant per layer, trained alone */
  /* compare: variant pairs a - b to test beside the reference, each with
   * the claim it tests (for the tables) */
  int ncmp;
  struct {
    char a[64], b[64], claim[256];
  } cmp[SW_MAXCMP];
  int nseeds, seeds[SW_MAXSEED];
  int nbase;
  char *base[SW_MAXSET];
  int nv;
  sw_variant v[SW_MAXV];
} sweep;

/* --- sweep_file.c ------------------------------------------------------- */
/* reads and checks sweep.yaml into s ([raises] on a YAML syntax error:
 * call under lua_pcall); ST_OK or ST_ERR + a message naming the key */
int sw_load(lua_State *L, const char *path, sweep *s);
void sw_free(sweep *s);
/* appends variants layer0..layer{L-1}, each training its layer alone
 * (policy `layers`) plus the final norm */
int sw_add_layers(sweep *s, int n_layers);
/* the reference and compare name variants (after sw_add_layers) */
int sw_check_names(const sweep *s);
/* the label of point p of variant v ("" when it has a single point and no
 * matched parameter) and its overrides "key=value", at most SW_MAXKEY + 1 */
void sw_label(const sw_variant *v, int p, char *out, size_t n);
int sw_point_sets(const sw_variant *v, int p, const char **sets);
/* <out>/runs/<name><label>-seed<S> and the run's log, or a plan's log */
int sw_run_dir(const sweep *s, const sw_variant *v, int p, int seed, char *out, size_t n);
int sw_log_path(const sweep *s, const sw_variant *v, int p, int seed, char *out, size_t n);
/* is higher better for this metric (accuracy, macro_f1, mcc), or lower
 * (loss, perplexity)? */
int sw_higher_better(const char *metric);

/* --- sweep_results.c ---------------------------------------------------- */
/* one finished run */
typedef struct sw_run {
  int seed;
  double test, val, zero_shot; /* the sweep's metric: final, validation, zero-shot */
  double bwd_pct, probe_pct;   /* backprop FLOPs vs full (plan), and the
                                  trace's gradient probe, both % of the run's
                                  full backprop */
  double wall, wall_all, rss; /* training time; the whole run's */
} sw_run;

typedef struct sw_row {
  int npoint_runs[SW_MAXPOINT];
  double val_mean[SW_MAXPOINT]; /* per point, over its finished seeds */
  int chosen;                   /* the point reported: best mean validation */
  int n;                        /* finished runs of the chosen point */
  sw_run run[SW_MAXSEED];       /* ... in seed order */
  st_ci ci;                     /* of the test metric */
  double sd;
  double bwd_pct, probe_pct;    /* per run, mean over the chosen point's seeds */
  double grid_pct, grid_wall;   /* the whole grid: summed over points */
  int grid_runs;                /* points with a finished run */
  double rss;
  st_ci diff;                   /* paired against the reference */
  char verdict[32];
  char policy[64], layers[256], lora[64], err[256], chosen_text[256];
} sw_row;

/* reads every run of every variant, chooses each grid point, pairs against
 * the reference; ST_ERR when a grid needs validation metrics a run lacks */
int sw_collect(const sweep *s, sw_row *rows);
/* results.csv, runs.csv, comparisons.csv, results.md, loss_curves.svg,
 * cost_quality.svg, trace.svg */
int sw_write_results(const sweep *s, sw_row *rows);

/* --- sweep_layers.c ------------------------------------------------------ */
/* per_layer.csv, per_layer.md and per_layer_<measure>.svg: each layer's
 * gain over zero-shot against each trace measure's predicted gain, with
 * Spearman's rho and its bootstrap interval */
int sw_write_layers(const sweep *s, const sw_row *rows);

#endif
