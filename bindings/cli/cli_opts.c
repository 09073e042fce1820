/* cli_opts.c - the option-table parser and help printer (cli_opts.h). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_opts.h"
#include "commands.h"
#include "error.h"

static int is_pos(cli_type t) { return t == CLI_ARG || t == CLI_ARG_OPT || t == CLI_REST; }
static int takes_value(cli_type t) { return !is_pos(t) && t != CLI_FLAG; }

static int nopts(const cli_spec *s) {
  int n = 0;
  while (s->opts[n].name) n++;
  return n;
}

static void internal(const cli_spec *s, const char *what, const char *name) {
  fprintf(stderr, "strata: internal error: %s: %s '%s'\n", s->cmd, what, name);
  abort();
}

/* --- numbers and ranges ------------------------------------------------- */

/* "lo..hi" with either side empty; an integer without a bound fits an int */
static void range_of(const cli_opt *o, int fill, double *lo, double *hi) {
  const char *r = o->range;
  *lo = -INFINITY, *hi = INFINITY;
  const char *dots = r ? strstr(r, "..") : NULL;
  if (dots > r) *lo = strtod(r, NULL);
  if (dots && dots[2]) *hi = strtod(dots + 2, NULL);
  if (fill && o->type == CLI_INT) {
    if (isinf(*lo)) *lo = INT_MIN;
    if (isinf(*hi)) *hi = INT_MAX;
  }
}

/* "integer >= 1", "number in 0..1", "integer"; fill: with the int limits */
static void describe_range(const cli_opt *o, int fill, char *out, size_t n) {
  const char *kind = o->type == CLI_INT ? "integer" : "number";
  double lo, hi;
  range_of(o, fill, &lo, &hi);
  if (fill && o->type == CLI_INT && lo == INT_MIN && hi == INT_MAX) lo = -INFINITY, hi = INFINITY;
  if (isinf(lo) && isinf(hi)) snprintf(out, n, "%s", kind);
  else if (isinf(hi)) snprintf(out, n, "%s >= %.15g", kind, lo);
  else if (isinf(lo)) snprintf(out, n, "%s <= %.15g", kind, hi);
  else snprintf(out, n, "%s in %.15g..%.15g", kind, lo, hi);
}

static int parse_value(const cli_spec *s, const cli_opt *o, const char *v, long long *iv,
                       double *dv) {
  char *end = NULL;
  char what[96];
  errno = 0;
  if (o->type == CLI_INT) {
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno)
      return st_err("%s: %s '%s': expected an integer", s->cmd, o->name, v);
    *iv = x, *dv = (double)x;
  } else if (o->type == CLI_NUM) {
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x))
      return st_err("%s: %s '%s': expected a number", s->cmd, o->name, v);
    *dv = x, *iv = 0; /* a number flag is read with cli_num */
  } else if (o->type == CLI_ENUM) {
    const char *c = o->meta;
    size_t len = strlen(v);
    for (int k = 0; c && *c; k++) {
      size_t cl = strcspn(c, "|");
      if (cl == len && !strncmp(c, v, len)) {
        *iv = k;
        return ST_OK;
      }
      c += cl + (c[cl] == '|');
    }
    char list[256];
    size_t w = 0;
    for (const char *p = o->meta; *p && w + 8 < sizeof list; p++)
      if (*p == '|') w += (size_t)snprintf(list + w, sizeof list - w, ", ");
      else list[w++] = *p;
    list[w] = 0;
    /* "unknown measure 'x'": the noun is the flag's name */
    const char *noun = o->name + strspn(o->name, "-");
    return st_err("%s: unknown %s '%s' (%s: expected one of %s)", s->cmd, noun, v, o->name, list);
  } else {
    return ST_OK;
  }
  double lo, hi;
  range_of(o, 1, &lo, &hi);
  describe_range(o, *dv < INT_MIN || *dv > INT_MAX, what, sizeof what);
  if (*dv < lo || *dv > hi)
    return st_err("%s: %s %s: expected %s %s", s->cmd, o->name, v,
                  o->type == CLI_INT ? "an" : "a", what);
  return ST_OK;
}

/* --- finding options ---------------------------------------------------- */

static int find(const cli_spec *s, const char *arg, size_t len) {
  for (int i = 0; s->opts[i].name; i++) {
    const cli_opt *o = &s->opts[i];
    if (is_pos(o->type)) continue;
    if ((strlen(o->name) == len && !strncmp(o->name, arg, len)) ||
        (o->alias && strlen(o->alias) == len && !strncmp(o->alias, arg, len)))
      return i;
  }
  return -1;
}

static int is_help(const char *a) { return !strcmp(a, "-h") || !strcmp(a, "--help"); }

static int edit_distance(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b);
  if (n > 63 || m > 63) return 99;
  int d[64][64];
  for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
  for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
  for (size_t i = 1; i <= n; i++)
    for (size_t j = 1; j <= m; j++) {
      int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
      d[i][j] = c;
    }
  return d[n][m];
}

/* the known option nearest to an unknown one: a unique prefix match, else
 * the closest within two edits */
static const char *nearest(const cli_spec *s, const char *arg, size_t len) {
  const char *best = NULL, *prefix = NULL;
  int bestd = 3, nprefix = 0;
  char a[64];
  snprintf(a, sizeof a, "%.*s", (int)(len < 63 ? len : 63), arg);
  for (int i = 0; s->opts[i].name; i++) {
    const cli_opt *o = &s->opts[i];
    if (is_pos(o->type)) continue;
    const char *names[2] = {o->name, o->alias};
    for (int k = 0; k < 2 && names[k]; k++) {
      if (len >= 3 && !strncmp(names[k], a, len)) prefix = o->name, nprefix++;
      int d = edit_distance(a, names[k]);
      if (d < bestd) bestd = d, best = o->name;
    }
  }
  if (nprefix == 1) return prefix;
  if (!best && edit_distance(a, "--threads") <= 2) return "--threads";
  return best;
}

/* --- parsing ------------------------------------------------------------ */

/* the first error is kept; parsing goes on so that --help anywhere wins */
typedef struct perr {
  int set;
  char msg[1024];
} perr;

static void keep(perr *e) {
  if (e->set) return;
  e->set = 1;
  snprintf(e->msg, sizeof e->msg, "%s", st_errmsg());
}

static void synopsis(const cli_spec *s, char *out, size_t n) {
  size_t w = (size_t)snprintf(out, n, "strata %s", s->cmd);
  int optional = 0;
  for (int i = 0; s->opts[i].name && w < n; i++) {
    const cli_opt *o = &s->opts[i];
    if (o->type == CLI_ARG) w += (size_t)snprintf(out + w, n - w, " <%s>", o->name);
    else if (o->type == CLI_ARG_OPT) w += (size_t)snprintf(out + w, n - w, " [%s]", o->name);
    else if (o->type == CLI_REST) w += (size_t)snprintf(out + w, n - w, " [%s...]", o->name);
    else if (o->required) w += (size_t)snprintf(out + w, n - w, " %s %s", o->name, o->meta ? o->meta : "X");
    else optional = 1;
  }
  /* options come before a script's arguments */
  int rest = 0;
  for (int i = 0; s->opts[i].name; i++) rest |= s->opts[i].type == CLI_REST;
  if (optional && w < n) {
    if (rest) {
      char tail[512];
      const char *p = strstr(out, " <");
      if (p) {
        snprintf(tail, sizeof tail, "%s", p);
        snprintf(out + (p - out), n - (size_t)(p - out), " [options]%s", tail);
      }
    } else {
      snprintf(out + w, n - w, " [options]");
    }
  }
}

int cli_parse(cli_args *a, const cli_spec *s, int argc, char **argv) {
  memset(a, 0, sizeof *a);
  a->spec = s;
  a->nopt = nopts(s);
  if (a->nopt > CLI_MAXOPT) internal(s, "too many options in the table", s->opts[0].name);
  for (int i = 0; i < a->nopt; i++) {
    const cli_opt *o = &s->opts[i];
    if (!o->def) continue;
    a->val[i] = o->def;
    if (parse_value(s, o, o->def, &a->ival[i], &a->dval[i])) internal(s, "bad default of", o->name);
  }
  perr e = {0};
  int help = 0, npos = 0, rest_at = -1, only_pos = 0;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (!only_pos && is_help(arg)) {
      help = 1;
      continue;
    }
    if (!only_pos && !strcmp(arg, "--")) {
      only_pos = 1;
      continue;
    }
    if (only_pos || arg[0] != '-' || !arg[1]) { /* a positional */
      int k = -1, seen = 0;
      for (int j = 0; j < a->nopt; j++)
        if (is_pos(s->opts[j].type) && seen++ == npos) k = j;
      if (k >= 0 && s->opts[k].type == CLI_REST) {
        rest_at = i;
        break;
      }
      if (k < 0) {
        st_err("%s: unexpected argument '%s'", s->cmd, arg);
        keep(&e);
        continue;
      }
      a->val[k] = arg;
      a->given[k]++;
      npos++;
      /* the positionals before a CLI_REST are filled: the rest is the script's */
      int next = -1;
      seen = 0;
      for (int j = 0; j < a->nopt; j++)
        if (is_pos(s->opts[j].type) && seen++ == npos) next = j;
      if (next >= 0 && s->opts[next].type == CLI_REST) {
        rest_at = i + 1;
        break;
      }
      continue;
    }
    const char *eq = arg[1] == '-' ? strchr(arg, '=') : NULL;
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    int k = find(s, arg, len);
    if (k < 0) {
      const char *near = nearest(s, arg, len);
      if (len == 9 && !strncmp(arg, "--threads", len))
        st_err("%s: --threads is given twice", s->cmd);
      else if (near && !strcmp(near, "--threads"))
        st_err("%s: unknown option '%.*s' (did you mean --threads?)", s->cmd, (int)len, arg);
      else if (near)
        st_err("%s: unknown option '%.*s' (did you mean %s?)", s->cmd, (int)len, arg, near);
      else
        st_err("%s: unknown option '%.*s' (strata %s --help lists them)", s->cmd, (int)len,
               arg, s->cmd);
      keep(&e);
      continue;
    }
    const cli_opt *o = &s->opts[k];
    if (o->type == CLI_FLAG) {
      if (eq) {
        st_err("%s: %s takes no value", s->cmd, o->name);
        keep(&e);
      }
      a->given[k]++;
      a->val[k] = "1";
      continue;
    }
    const char *v;
    if (eq) {
      v = eq + 1;
    } else if (i + 1 >= argc || is_help(argv[i + 1]) ||
               (argv[i + 1][0] == '-' && argv[i + 1][1] == '-' &&
                find(s, argv[i + 1], strcspn(argv[i + 1], "=")) >= 0)) {
      st_err("%s: %s needs a value (%s)", s->cmd, o->name, o->meta ? o->meta : "a value");
      keep(&e);
      continue;
    } else {
      v = argv[++i];
    }
    if (o->type == CLI_LIST) {
      if (a->nitems >= CLI_MAXITEMS) {
        st_err("%s: too many %s values", s->cmd, o->name);
        keep(&e);
        continue;
      }
      a->item_opt[a->nitems] = (short)k;
      a->item[a->nitems++] = v;
      a->given[k]++;
      continue;
    }
    if (a->given[k]) {
      st_err("%s: %s is given twice ('%s' and '%s')", s->cmd, o->name, a->val[k], v);
      keep(&e);
      continue;
    }
    if (parse_value(s, o, v, &a->ival[k], &a->dval[k])) {
      keep(&e);
      continue;
    }
    a->val[k] = v;
    a->given[k]++;
  }
  if (help) {
    cli_help(s, stdout);
    return CLI_HELP;
  }
  if (e.set) return st_err("%s", e.msg);
  /* required positionals, then required options */
  int seen = 0;
  for (int j = 0; j < a->nopt; j++) {
    const cli_opt *o = &s->opts[j];
    if (!is_pos(o->type)) continue;
    if (o->type == CLI_ARG && seen++ >= npos) {
      char syn[512];
      if (s->synopsis) snprintf(syn, sizeof syn, "%.*s", (int)strcspn(s->synopsis, "\n"), s->synopsis);
      else synopsis(s, syn, sizeof syn);
      return st_err("usage: %s", syn);
    }
  }
  for (int j = 0; j < a->nopt; j++)
    if (s->opts[j].required && !a->given[j])
      return st_err("%s: %s %s is required", s->cmd, s->opts[j].name,
                    s->opts[j].meta ? s->opts[j].meta : "");
  if (rest_at >= 0) {
    a->rest_argc = argc - rest_at;
    a->rest_argv = argv + rest_at;
  }
  return ST_OK;
}

/* --- accessors ---------------------------------------------------------- */

static int index_of(const cli_args *a, const char *name, int want_type, int any_value) {
  const cli_spec *s = a->spec;
  for (int i = 0; i < a->nopt; i++)
    if (!strcmp(s->opts[i].name, name)) {
      cli_type t = s->opts[i].type;
      if (want_type >= 0 && (int)t != want_type && !(any_value && takes_value(t)))
        internal(s, "wrong accessor for", name);
      return i;
    }
  internal(s, "no such option in the table", name);
  return -1;
}

const char *cli_str(const cli_args *a, const char *name) {
  int i = index_of(a, name, -1, 0);
  if (a->spec->opts[i].type == CLI_LIST || a->spec->opts[i].type == CLI_REST)
    internal(a->spec, "cli_str of a list", name);
  return a->val[i];
}

long long cli_int(const cli_args *a, const char *name) {
  int i = index_of(a, name, CLI_INT, 0);
  return a->val[i] ? a->ival[i] : 0;
}

double cli_num(const cli_args *a, const char *name) {
  int i = index_of(a, name, CLI_NUM, 0);
  return a->val[i] ? a->dval[i] : 0;
}

int cli_on(const cli_args *a, const char *name) {
  return a->given[index_of(a, name, CLI_FLAG, 0)] > 0;
}

int cli_given(const cli_args *a, const char *name) {
  return a->given[index_of(a, name, -1, 0)] > 0;
}

int cli_enum(const cli_args *a, const char *name) {
  int i = index_of(a, name, CLI_ENUM, 0);
  return a->val[i] ? (int)a->ival[i] : -1;
}

int cli_count(const cli_args *a, const char *name) {
  return a->given[index_of(a, name, CLI_LIST, 0)];
}

const char *cli_item(const cli_args *a, const char *name, int i) {
  int k = index_of(a, name, CLI_LIST, 0);
  for (int j = 0; j < a->nitems; j++)
    if (a->item_opt[j] == k && i-- == 0) return a->item[j];
  return NULL;
}

int cli_rest(const cli_args *a, char ***argv) {
  *argv = a->rest_argv;
  return a->rest_argc;
}

/* --- help --------------------------------------------------------------- */

static void help_line(FILE *f, const char *left, const char *text) {
  int w = fprintf(f, "  %s", left);
  const char *p = text;
  int first = 1;
  while (p && *p) {
    size_t n = strcspn(p, "\n");
    if (!first || w > 27) fprintf(f, "\n%30s", ""), w = 30;
    else fprintf(f, "%*s", 30 - w, "");
    fprintf(f, "%.*s", (int)n, p);
    first = 0;
    p += n + (p[n] == '\n');
  }
  fputc('\n', f);
}

/* "[integer >= 1; default 64]" and the like */
static void kind_of(const cli_opt *o, char *out, size_t n) {
  char what[96];
  switch (o->type) {
  case CLI_FLAG: snprintf(what, sizeof what, "flag"); break;
  case CLI_INT:
  case CLI_NUM: describe_range(o, 0, what, sizeof what); break;
  case CLI_STR: snprintf(what, sizeof what, "string"); break;
  case CLI_ENUM: snprintf(what, sizeof what, "choice"); break;
  case CLI_LIST: snprintf(what, sizeof what, "string, repeatable"); break;
  default: snprintf(what, sizeof what, "argument"); break;
  }
  size_t w = (size_t)snprintf(out, n, "[%s", what);
  if (o->required && w < n) w += (size_t)snprintf(out + w, n - w, "; required");
  if (o->def && w < n) w += (size_t)snprintf(out + w, n - w, "; default %s", o->def);
  if (w < n) snprintf(out + w, n - w, "]");
}

void cli_help(const cli_spec *s, FILE *f) {
  char syn[512];
  if (s->synopsis) {
    const char *p = s->synopsis;
    for (int first = 1; *p; first = 0) {
      size_t n = strcspn(p, "\n");
      fprintf(f, "%s%.*s\n", first ? "usage: " : "       ", (int)n, p);
      p += n + (p[n] == '\n');
    }
  } else {
    synopsis(s, syn, sizeof syn);
    fprintf(f, "usage: %s\n", syn);
  }
  const char *sum = cli_summary(s->cmd);
  if (sum) fprintf(f, "\n%s\n", sum);
  int any = 0;
  for (int i = 0; s->opts[i].name; i++) {
    const cli_opt *o = &s->opts[i];
    if (!is_pos(o->type)) continue;
    if (!any++) fprintf(f, "\narguments:\n");
    char left[128];
    snprintf(left, sizeof left, o->type == CLI_ARG ? "<%s>" : o->type == CLI_REST ? "[%s...]" : "[%s]",
             o->name);
    help_line(f, left, o->help);
  }
  fprintf(f, "\noptions:\n");
  for (int i = 0; s->opts[i].name; i++) {
    const cli_opt *o = &s->opts[i];
    if (is_pos(o->type)) continue;
    char left[160], text[1024], kind[160];
    const char *meta = o->type == CLI_FLAG ? NULL : o->meta ? o->meta : "X";
    size_t w = (size_t)snprintf(left, sizeof left, "%s%s%s", o->name, meta ? " " : "", meta ? meta : "");
    if (o->alias)
      snprintf(left + w, sizeof left - w, ", %s%s%s", o->alias, meta ? " " : "", meta ? meta : "");
    kind_of(o, kind, sizeof kind);
    snprintf(text, sizeof text, "%s\n%s", o->help ? o->help : "", kind);
    help_line(f, left, text);
  }
  help_line(f, "--threads N", "CPU threads, global: any command, anywhere on the line\n"
                              "[integer in 1..1024; default: all cores]");
  help_line(f, "-h, --help", "print this help and exit");
  if (s->more) fprintf(f, "\n%s\n", s->more);
}
