/* report.c - report.html for a run or a sweep folder (see report.h), and
 * strata.report(dir).
 *
 * The page is XHTML: the same bytes are HTML a browser renders and XML that
 * xmllint checks strictly, which also lets the SVG figures go in as they
 * are. Numbers keep the precision the CLI prints (metrics to 4 decimals). */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "fs.h"
#include "report.h"
#include "strata_lua.h"

/* a figure or a recipe larger than this is left out, not inlined */
#define MAX_INLINE (64u << 20)

/* --- text ----------------------------------------------------------------- */

/* the length of the UTF-8 character at s (n bytes left) when XML may hold
 * it, else 0: invalid or overlong sequences, surrogates, U+FFFE/U+FFFF and
 * the C0 controls other than tab, newline and carriage return */
static size_t xml_char_len(const unsigned char *s, size_t n) {
  unsigned c = s[0], cp, min;
  size_t k;
  if (c < 0x80) return c >= 0x20 || c == '\t' || c == '\n' || c == '\r';
  if (c >= 0xc2 && c <= 0xdf) k = 2, cp = c & 0x1f, min = 0x80;
  else if ((c & 0xf0) == 0xe0) k = 3, cp = c & 0x0f, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4) k = 4, cp = c & 0x07, min = 0x10000;
  else return 0;
  if (n < k) return 0;
  for (size_t i = 1; i < k; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe ||
      cp == 0xffff)
    return 0;
  return k;
}

/* s[0..n) as XML text: with escape, the five markup characters become
 * entities (safe in elements and in attribute values); without, markup is
 * kept (an SVG file). Either way what XML cannot hold becomes U+FFFD. */
static void put_xml(FILE *f, const char *s, size_t n, int escape) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    size_t k = xml_char_len(p + i, n - i);
    if (!k) {
      fputs("\xef\xbf\xbd", f);
      i++;
      continue;
    }
    const char *e = NULL;
    if (escape && k == 1) switch (p[i]) {
      case '<': e = "&lt;"; break;
      case '>': e = "&gt;"; break;
      case '&': e = "&amp;"; break;
      case '"': e = "&quot;"; break;
      case '\'': e = "&#39;"; break;
      }
    if (e) fputs(e, f);
    else fwrite(p + i, 1, k, f);
    i += k;
  }
}

static void esc(FILE *f, const char *s) { put_xml(f, s, strlen(s), 1); }

/* a relative link: percent-encoded, so any file name is a valid URL */
static void put_href(FILE *f, const char *path) {
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        strchr("-._~/", *p))
      fputc(*p, f);
    else
      fprintf(f, "%%%02X", *p);
  }
}

/* a JSON value in a cell: strings escaped, integers whole, reals with fmt
 * (NULL: %.6g), booleans yes/no, null or missing as a dash */
static void put_value(FILE *f, json_t *v, const char *fmt) {
  if (json_is_string(v)) esc(f, json_string_value(v));
  else if (json_is_integer(v) && !fmt) fprintf(f, "%lld", (long long)json_integer_value(v));
  else if (json_is_number(v)) fprintf(f, fmt ? fmt : "%.6g", json_number_value(v));
  else if (json_is_boolean(v)) fputs(json_is_true(v) ? "yes" : "no", f);
  else fputs("\xe2\x80\x93", f);
}

/* --- files ---------------------------------------------------------------- */

/* dir/name into p; ST_ERR when the path does not fit */
static int path_in(char *p, const char *dir, const char *name) {
  return st_path_join(p, ST_PATH_MAX, dir, name);
}

static int exists(const char *dir, const char *name) {
  char p[ST_PATH_MAX];
  struct stat st;
  return !path_in(p, dir, name) && stat(p, &st) == 0;
}

/* dir/name as a JSON object into *out; a missing file leaves *out NULL and
 * is not an error */
static int load_json(const char *dir, const char *name, json_t **out) {
  char p[ST_PATH_MAX];
  *out = NULL;
  if (path_in(p, dir, name)) return ST_ERR;
  struct stat st;
  if (stat(p, &st)) return errno == ENOENT ? ST_OK : st_err("%s: %s", p, strerror(errno));
  json_error_t je;
  json_t *j = json_load_file(p, 0, &je);
  if (!j) return st_err("%s:%d: %s", p, je.line, je.text);
  if (!json_is_object(j)) {
    json_decref(j);
    return st_err("%s: expected a JSON object", p);
  }
  *out = j;
  return ST_OK;
}

/* the whole file (NUL-terminated) and its size; NULL when it cannot be read
 * or is larger than MAX_INLINE */
static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *s = NULL;
  long len = fseek(f, 0, SEEK_END) ? -1 : ftell(f);
  if (len >= 0 && (unsigned long)len <= MAX_INLINE && !fseek(f, 0, SEEK_SET) &&
      (s = malloc((size_t)len + 1))) {
    *n = fread(s, 1, (size_t)len, f);
    s[*n] = 0;
  }
  fclose(f);
  return s;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the names in dir that pass keep(), sorted; *n of them. NULL with *n == 0
 * also when dir cannot be read. */
static char **list_dir(const char *dir, int (*keep)(const char *dir, const char *name),
                       size_t *n) {
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return NULL;
  char **v = NULL;
  size_t cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || !keep(dir, e->d_name)) continue;
    if (*n == cap) {
      char **g = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof *v);
      if (!g) break;
      v = g;
    }
    if (!(v[*n] = strdup(e->d_name))) break;
    (*n)++;
  }
  closedir(d);
  if (*n) qsort(v, *n, sizeof *v, by_name);
  return v;
}

static void free_list(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

static int is_svg(const char *dir, const char *name) {
  size_t n = strlen(name);
  return n > 4 && !strcmp(name + n - 4, ".svg");
}

static int is_dir(const char *dir, const char *name) {
  char p[ST_PATH_MAX];
  struct stat st;
  return !path_in(p, dir, name) && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* --- page ----------------------------------------------------------------- */

static const char css[] =
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;"
    "color:#222}\n"
    "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}\n"
    "table{border-collapse:collapse;margin:.5em 0}\n"
    "th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right;"
    "font-variant-numeric:tabular-nums}\n"
    "th{background:#f4f4f4}td.l,th.l{text-align:left}\n"
    "tr.on td{background:#eef6ee}\n"
    ".figs{display:flex;flex-wrap:wrap;gap:1em}\n"
    "figure{flex:1 1 500px;max-width:720px;margin:0}figcaption{color:#666;font-size:.9em}\n"
    "td a{white-space:nowrap}\n"
    ".scroll{overflow-x:auto}\n"
    "svg{max-width:100%;height:auto}\n"
    "pre{background:#f8f8f8;padding:.8em;overflow:auto}\n"
    ".note{color:#666}\n";

static void page_begin(FILE *f, const char *kind, const char *title) {
  fputs("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n"
        "<head>\n<meta charset=\"utf-8\"/>\n<title>",
        f);
  fprintf(f, "strata %s: ", kind);
  esc(f, title);
  fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>strata %s: ", css, kind);
  esc(f, title);
  fputs("</h1>\n", f);
}

static void page_end(FILE *f, const char *dir) {
  fputs("<p class=\"note\">Written by strata " STRATA_VERSION " from the files in ", f);
  esc(f, dir);
  fputs(".</p>\n</body>\n</html>\n", f);
}

/* one <tr><th>label</th><td>value</td></tr> */
static void kv_row(FILE *f, const char *label, json_t *v, const char *fmt) {
  fputs("<tr><th class=\"l\">", f);
  esc(f, label);
  fputs("</th><td class=\"l\">", f);
  put_value(f, v, fmt);
  fputs("</td></tr>\n", f);
}

/* every *.svg in dir, inlined in name order; the file name is the caption */
static void figures(FILE *f, const char *dir) {
  size_t n;
  char **names = list_dir(dir, is_svg, &n);
  if (!n) return;
  fputs("<h2>Figures</h2>\n<div class=\"figs\">\n", f);
  for (size_t i = 0; i < n; i++) {
    char p[ST_PATH_MAX];
    size_t len = 0;
    char *s = path_in(p, dir, names[i]) ? NULL : slurp(p, &len);
    /* from the root element on: an XML declaration or doctype cannot sit
     * inside the page */
    char *svg = s ? strstr(s, "<svg") : NULL;
    fputs("<figure>\n", f);
    if (svg && strstr(svg, "</svg>")) {
      put_xml(f, svg, len - (size_t)(svg - s), 0);
      fputs("\n<figcaption>", f);
    } else {
      fputs("<figcaption>not an SVG file or too large to inline: ", f);
    }
    esc(f, names[i]);
    fputs("</figcaption>\n</figure>\n", f);
    free(s);
  }
  fputs("</div>\n", f);
  free_list(names, n);
}

/* --- a run ---------------------------------------------------------------- */

static const struct {
  const char *key, *label, *fmt;
} run_fields[] = {
    {"recipe", "recipe", NULL},
    {"model", "model", NULL},
    {"steps", "steps", NULL},
    {"complete", "complete", NULL},
    {"batch_size", "batch size", NULL},
    {"seq_len", "sequence length", NULL},
    {"train_examples", "train examples", NULL},
    {"eval_examples", "eval examples", NULL},
    {"train_wall_s", "training time (s)", "%.2f"},
    {"wall_s", "wall time, all of the run (s)", "%.2f"},
    {"tokens_per_s", "tokens/s", "%.0f"},
    {"backprop_ratio", "backprop FLOPs, share of full fine-tuning's", "%.4f"},
    {"ideal_ratio", "ideal step ratio (forward + backward, vs full)", "%.4f"},
    {"backprop_flops_per_token", "backprop FLOPs per token", "%.0f"},
    {"full_backprop_flops_per_token", "full fine-tuning's backprop FLOPs per token", "%.0f"},
    {"peak_rss_mb", "peak RSS (MB)", "%.1f"},
    {"threads", "threads", NULL},
};
#define N_RUN_FIELDS (sizeof run_fields / sizeof run_fields[0])

static void summary_section(FILE *f, json_t *sum) {
  fputs("<h2>Summary</h2>\n", f);
  if (!sum) {
    fputs("<p class=\"note\">No summary.json: the run has not finished.</p>\n", f);
    return;
  }
  fputs("<table>\n", f);
  for (size_t i = 0; i < N_RUN_FIELDS; i++)
    if (json_object_get(sum, run_fields[i].key))
      kv_row(f, run_fields[i].label, json_object_get(sum, run_fields[i].key), run_fields[i].fmt);
  /* scalars this page does not know (a newer run folder) */
  const char *k;
  json_t *v;
  json_object_foreach(sum, k, v) {
    size_t i = 0;
    while (i < N_RUN_FIELDS && strcmp(k, run_fields[i].key)) i++;
    if (i == N_RUN_FIELDS && !json_is_object(v) && !json_is_array(v)) kv_row(f, k, v, NULL);
  }
  fputs("</table>\n", f);

  /* eval metrics: zero-shot and final, one column per metric */
  static const char *const rows[][2] = {{"zero_shot", "zero-shot"}, {"final", "final"}};
  json_t *cols = json_array();
  for (int r = 1; r >= 0; r--)
    json_object_foreach(json_object_get(sum, rows[r][0]), k, v) {
      size_t i, have = 0;
      json_t *c;
      json_array_foreach(cols, i, c) have |= !strcmp(json_string_value(c), k);
      if (!have) json_array_append_new(cols, json_string(k));
    }
  if (json_array_size(cols)) {
    fputs("<h3>Eval</h3>\n<table>\n<tr><th></th>", f);
    size_t i;
    json_t *c;
    json_array_foreach(cols, i, c) {
      fputs("<th>", f);
      esc(f, json_string_value(c));
      fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    for (int r = 0; r < 2; r++) {
      json_t *m = json_object_get(sum, rows[r][0]);
      if (!json_is_object(m)) continue;
      fprintf(f, "<tr><th class=\"l\">%s</th>", rows[r][1]);
      json_array_foreach(cols, i, c) {
        fputs("<td>", f);
        put_value(f, json_object_get(m, json_string_value(c)), "%.4f");
        fputs("</td>", f);
      }
      fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
  }
  json_decref(cols);
}

/* the mean of a measure in a trace space ({mean, std} or a number) */
static json_t *measure_mean(json_t *space, const char *measure) {
  json_t *m = json_object_get(space, measure);
  return json_is_object(m) ? json_object_get(m, "mean") : m;
}

static void plan_section(FILE *f, json_t *plan, json_t *trace) {
  json_t *layers = json_object_get(plan, "layers");
  if (!json_is_array(layers)) return;
  fputs("<h2>Plan</h2>\n<table>\n", f);
  if (json_object_get(plan, "policy")) kv_row(f, "policy", json_object_get(plan, "policy"), NULL);
  const char *measure = json_string_value(json_object_get(plan, "measure"));
  if (measure) kv_row(f, "measure", json_object_get(plan, "measure"), NULL);
  static const char *const parts[][2] = {
      {"embed", "embedding trains"}, {"final_norm", "final norm trains"}, {"head", "head trains"}};
  for (int i = 0; i < 3; i++)
    if (json_object_get(plan, parts[i][0]))
      kv_row(f, parts[i][1], json_object_get(plan, parts[i][0]), NULL);
  fputs("</table>\n", f);
  json_t *gains = json_object_get(plan, "gains"), *spaces = json_object_get(trace, "spaces");
  int with_measure = measure && json_is_array(spaces);
  fputs("<table>\n<tr><th>layer</th><th class=\"l\">mode</th><th class=\"l\">modules</th>"
        "<th>LoRA rank</th><th>alpha</th>", f);
  if (with_measure) {
    fputs("<th>", f);
    esc(f, measure);
    fputs(" (output)</th>", f);
  }
  if (json_is_array(gains)) fputs("<th>gain</th>", f);
  fputs("</tr>\n", f);
  size_t l;
  json_t *e;
  json_array_foreach(layers, l, e) {
    const char *mode = json_string_value(json_object_get(e, "mode"));
    int on = mode && strcmp(mode, "frozen");
    fprintf(f, "<tr%s><td>", on ? " class=\"on\"" : "");
    put_value(f, json_object_get(e, "layer"), NULL);
    fputs("</td><td class=\"l\">", f);
    put_value(f, json_object_get(e, "mode"), NULL);
    fputs("</td><td class=\"l\">", f);
    json_t *mods = json_object_get(e, "modules"), *m;
    size_t i;
    if (!json_is_array(mods)) fputs(on ? "all" : "", f);
    json_array_foreach(mods, i, m) {
      if (i) fputs(", ", f);
      put_value(f, m, NULL);
    }
    fputs("</td><td>", f);
    if (json_object_get(e, "rank")) put_value(f, json_object_get(e, "rank"), NULL);
    fputs("</td><td>", f);
    if (json_object_get(e, "alpha")) put_value(f, json_object_get(e, "alpha"), "%g");
    fputs("</td>", f);
    /* layer l moves h_l to h_{l+1}: its output space is l + 1 */
    if (with_measure) {
      fputs("<td>", f);
      put_value(f, measure_mean(json_array_get(spaces, l + 1), measure), "%.4g");
      fputs("</td>", f);
    }
    if (json_is_array(gains)) {
      fputs("<td>", f);
      put_value(f, json_array_get(gains, l), "%.4g");
      fputs("</td>", f);
    }
    fputs("</tr>\n", f);
  }
  fputs("</table>\n", f);
}

static void trace_section(FILE *f, json_t *trace) {
  json_t *spaces = json_object_get(trace, "spaces");
  if (!json_is_array(spaces)) return;
  fputs("<h2>Trace</h2>\n<p>", f);
  static const char *const info[] = {"n_layers", "n_tokens", "n_seqs", "seq_len"};
  for (int i = 0; i < 4; i++) {
    fprintf(f, "%s%s ", i ? ", " : "", info[i]);
    put_value(f, json_object_get(trace, info[i]), NULL);
  }
  fputs(". Latent space l is the output of layer l &#8722; 1 (0: the embeddings); "
        "measures are mean &#177; std over tokens.</p>\n",
        f);
  /* the columns: every key of any space, in the order first seen */
  json_t *cols = json_array(), *sp;
  size_t i, j;
  json_array_foreach(spaces, i, sp) {
    const char *k;
    json_t *v, *c;
    json_object_foreach(sp, k, v) {
      size_t have = !strcmp(k, "space");
      json_array_foreach(cols, j, c) have |= !strcmp(json_string_value(c), k);
      if (!have) json_array_append_new(cols, json_string(k));
    }
  }
  fputs("<div class=\"scroll\">\n<table>\n<tr><th>space</th>", f);
  json_t *c;
  json_array_foreach(cols, j, c) {
    fputs("<th>", f);
    esc(f, json_string_value(c));
    fputs("</th>", f);
  }
  fputs("</tr>\n", f);
  json_array_foreach(spaces, i, sp) {
    fprintf(f, "<tr><td>%zu</td>", i);
    json_array_foreach(cols, j, c) {
      json_t *v = json_object_get(sp, json_string_value(c));
      fputs("<td>", f);
      if (json_is_object(v)) {
        put_value(f, json_object_get(v, "mean"), "%.4g");
        fputs(" &#177; ", f);
        put_value(f, json_object_get(v, "std"), "%.2g");
      } else {
        /* FLOP counts are whole numbers stored as reals */
        double x = json_number_value(v);
        int whole = fabs(x) < 1e15 && x == floor(x);
        put_value(f, v, json_is_real(v) ? (whole ? "%.0f" : "%.4g") : NULL);
      }
      fputs("</td>", f);
    }
    fputs("</tr>\n", f);
  }
  fputs("</table>\n</div>\n", f);
  json_decref(cols);
}

static void recipe_section(FILE *f, const char *dir) {
  char p[ST_PATH_MAX];
  size_t n = 0;
  char *s = path_in(p, dir, "recipe.resolved.yaml") ? NULL : slurp(p, &n);
  if (!s) return;
  fputs("<h2>Recipe</h2>\n<details>\n<summary>recipe.resolved.yaml</summary>\n<pre>", f);
  put_xml(f, s, n, 1);
  fputs("</pre>\n</details>\n", f);
  free(s);
}

/* the name a page shows: the summary's recipe, else the folder's name */
static void folder_name(const char *dir, char *out, size_t n) {
  size_t len = strlen(dir);
  while (len > 1 && dir[len - 1] == '/') len--;
  size_t b = len;
  while (b > 0 && dir[b - 1] != '/') b--;
  snprintf(out, n, "%.*s", (int)(len - b), dir + b);
}

int sl_report_run(const char *dir) {
  json_t *sum = NULL, *plan = NULL, *trace = NULL;
  if (load_json(dir, "summary.json", &sum) || load_json(dir, "plan.json", &plan) ||
      load_json(dir, "trace.json", &trace)) {
    json_decref(sum);
    json_decref(plan);
    return ST_ERR;
  }
  if (!sum && !plan && !trace && !exists(dir, "metrics.jsonl"))
    return st_err("%s: not a run folder (no summary.json, plan.json, trace.json or "
                  "metrics.jsonl)", dir);
  char p[ST_PATH_MAX], name[256];
  int rc = ST_ERR;
  st_atomic a;
  FILE *f = path_in(p, dir, "report.html") ? NULL : st_atomic_open(&a, p);
  if (f) {
    if (json_is_string(json_object_get(sum, "recipe")))
      snprintf(name, sizeof name, "%s", json_string_value(json_object_get(sum, "recipe")));
    else
      folder_name(dir, name, sizeof name);
    page_begin(f, "run", name);
    summary_section(f, sum);
    figures(f, dir);
    plan_section(f, plan ? plan : json_object_get(sum, "plan"), trace);
    trace_section(f, trace);
    recipe_section(f, dir);
    page_end(f, dir);
    rc = st_atomic_commit(&a);
  }
  json_decref(sum);
  json_decref(plan);
  json_decref(trace);
  return rc;
}

/* --- a sweep -------------------------------------------------------------- */

/* results.csv as a table: RFC 4180 fields (quoted, "" for a quote); the
 * first row is the header */
static void csv_table(FILE *f, const char *s, size_t n) {
  const char *cell = "th";
  int quoted = 0, open = 0;
  fputs("<div class=\"scroll\">\n<table>\n<tr>", f);
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!open) {
      fprintf(f, "<%s>", cell);
      open = 1;
    }
    if (c == '"' && quoted && i + 1 < n && s[i + 1] == '"') {
      fputs("&quot;", f);
      i++;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && (c == ',' || c == '\n')) {
      fprintf(f, "</%s>", cell);
      open = 0;
      if (c == '\n') {
        cell = "td";
        if (i + 1 < n) fputs("</tr>\n<tr>", f);
      }
    } else if (quoted || c != '\r') {
      size_t k = xml_char_len((const unsigned char *)s + i, n - i);
      put_xml(f, s + i, k ? k : 1, 1);
      i += (k ? k : 1) - 1;
    }
  }
  if (open) fprintf(f, "</%s>", cell);
  fputs("</tr>\n</table>\n</div>\n", f);
}

static void runs_section(FILE *f, const char *dir) {
  char runs[ST_PATH_MAX];
  if (path_in(runs, dir, "runs")) return;
  size_t n;
  char **names = list_dir(runs, is_dir, &n);
  if (!n) return;
  fputs("<h2>Runs</h2>\n<table>\n<tr><th class=\"l\">run</th><th>steps</th><th>complete</th>"
        "<th>backprop vs full</th><th>training time (s)</th><th>final loss</th>"
        "<th>final accuracy</th><th>final macro-F1</th></tr>\n",
        f);
  for (size_t i = 0; i < n; i++) {
    char rd[ST_PATH_MAX], rel[ST_PATH_MAX];
    json_t *sum = NULL;
    if (path_in(rd, runs, names[i]) || load_json(rd, "summary.json", &sum)) sum = NULL;
    int report = exists(rd, "report.html");
    if (st_pathf(rel, sizeof rel, "runs/%s/%s", names[i], report ? "report.html" : "")) continue;
    fputs("<tr><td class=\"l\"><a href=\"", f);
    put_href(f, rel);
    fputs("\">", f);
    esc(f, names[i]);
    fputs("</a></td>", f);
    json_t *fin = json_object_get(sum, "final");
    json_t *v[] = {json_object_get(sum, "steps"), json_object_get(sum, "complete"),
                   json_object_get(sum, "backprop_ratio"), json_object_get(sum, "train_wall_s"),
                   json_object_get(fin, "loss"), json_object_get(fin, "accuracy"),
                   json_object_get(fin, "macro_f1")};
    const char *fmt[] = {NULL, NULL, "%.4f", "%.2f", "%.4f", "%.4f", "%.4f"};
    for (int k = 0; k < 7; k++) {
      fputs("<td>", f);
      put_value(f, v[k], fmt[k]);
      fputs("</td>", f);
    }
    fputs("</tr>\n", f);
    json_decref(sum);
  }
  fputs("</table>\n", f);
  free_list(names, n);
}

int sl_report_sweep(const char *dir) {
  char p[ST_PATH_MAX], name[256];
  size_t n = 0;
  if (path_in(p, dir, "results.csv")) return ST_ERR;
  char *csv = slurp(p, &n);
  if (!csv) return st_err("%s: not a finished sweep folder: cannot read results.csv", dir);
  st_atomic a;
  FILE *f = path_in(p, dir, "report.html") ? NULL : st_atomic_open(&a, p);
  if (!f) {
    free(csv);
    return ST_ERR;
  }
  folder_name(dir, name, sizeof name);
  page_begin(f, "sweep", name);
  fputs("<h2>Results</h2>\n", f);
  csv_table(f, csv, n);
  free(csv);
  figures(f, dir);
  runs_section(f, dir);
  page_end(f, dir);
  return st_atomic_commit(&a);
}

/* --- Lua ------------------------------------------------------------------ */

static int l_report(lua_State *L) {
  const char *dir = luaL_checkstring(L, 1);
  char p[ST_PATH_MAX];
  int sweep = exists(dir, "results.csv");
  if ((sweep ? sl_report_sweep(dir) : sl_report_run(dir)) || path_in(p, dir, "report.html")) {
    lua_pushstring(L, st_errmsg());
    return lua_error(L);
  }
  lua_pushstring(L, p);
  return 1;
}

const luaL_Reg sl_report_funcs[] = {
    {"report", l_report},
    {NULL, NULL},
};
