/* dataset_table.c - classification rows: TSV/CSV parsing, the prompt template
 * and the label -> verbalizer lookup (also used for JSONL rows). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_internal.h"
#include "error.h"

static int is_index(const char *s, size_t n) {
  if (n == 0 || n > 6) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isdigit((unsigned char)s[i])) return 0;
  return 1;
}

static const char *label_name(const st_data_opts *o) {
  return o->label_col && *o->label_col ? o->label_col : "label";
}

/* Walks the template: calls fn for each literal run (col = -2) and each
 * {field} reference (name, n). Returns ST_ERR on an unclosed brace. */
typedef int (*tmpl_fn)(void *ctx, const char *s, size_t n, int is_field);
static int tmpl_walk(const char *t, tmpl_fn fn, void *ctx) {
  const char *lit = t;
  for (const char *p = t; *p;) {
    if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
      if (fn(ctx, lit, (size_t)(p - lit) + 1, 0)) return ST_ERR;
      p += 2;
      lit = p;
    } else if (*p == '{') {
      const char *e = strchr(p, '}');
      if (!e) return st_err("template: unclosed '{' in \"%s\"", t);
      if (e == p + 1) return st_err("template: empty {} in \"%s\"", t);
      if (fn(ctx, lit, (size_t)(p - lit), 0) ||
          fn(ctx, p + 1, (size_t)(e - p - 1), 1))
        return ST_ERR;
      p = e + 1;
      lit = p;
    } else {
      p++;
    }
  }
  return fn(ctx, lit, strlen(lit), 0);
}

typedef struct { char **names; int n, named, indexed; } names_ctx;

static int add_name(names_ctx *c, const char *s, size_t n) {
  if (is_index(s, n)) {
    c->indexed = 1;
    return ST_OK;
  }
  c->named = 1;
  for (int i = 0; i < c->n; i++)
    if (strlen(c->names[i]) == n && !memcmp(c->names[i], s, n)) return ST_OK;
  char **nn = realloc(c->names, (size_t)(c->n + 1) * sizeof *nn);
  if (!nn) return st_err("out of memory");
  c->names = nn;
  if (!(c->names[c->n] = strndup(s, n))) return st_err("out of memory");
  c->n++;
  return ST_OK;
}

static int names_fn(void *ctx, const char *s, size_t n, int is_field) {
  return is_field ? add_name(ctx, s, n) : ST_OK;
}

int ds_cls_names(const st_data_opts *o, char ***names, int *n, int *named,
                 int *indexed) {
  names_ctx c = {0};
  const char *lab = label_name(o);
  int rc = tmpl_walk(o->templ, names_fn, &c);
  if (rc == ST_OK) rc = add_name(&c, lab, strlen(lab));
  if (rc) {
    for (int i = 0; i < c.n; i++) free(c.names[i]);
    free(c.names);
    return ST_ERR;
  }
  *names = c.names;
  *n = c.n;
  *named = c.named;
  *indexed = c.indexed;
  return ST_OK;
}

/* ------------------------------------------------------------ template */

typedef struct {
  ds_cls *c;
  const char *const *names;
  int nnames;
  const char *where;
} compile_ctx;

static int resolve(compile_ctx *k, const char *s, size_t n, int *col) {
  if (is_index(s, n)) {
    *col = atoi(s);
    return ST_OK;
  }
  for (int i = 0; k->names && i < k->nnames; i++)
    if (strlen(k->names[i]) == n && !memcmp(k->names[i], s, n)) {
      *col = i;
      return ST_OK;
    }
  char have[256] = "";
  size_t h = 0;
  for (int i = 0; k->names && i < k->nnames && h < sizeof have - 4; i++)
    h += (size_t)snprintf(have + h, sizeof have - h, "%s%s", i ? ", " : "",
                          k->names[i]);
  if (!k->names)
    return st_err("%s: column \"%.*s\" is referred to by name, but the file "
                  "has no header; use its index", k->where, (int)n, s);
  return st_err("%s: no column named \"%.*s\" (columns: %s)", k->where, (int)n,
                s, have);
}

static int compile_fn(void *ctx, const char *s, size_t n, int is_field) {
  compile_ctx *k = ctx;
  ds_cls *c = k->c;
  ds_part part = {s, n, -1};
  if (is_field) {
    if (resolve(k, s, n, &part.col)) return ST_ERR;
    if (part.col > c->max_col) c->max_col = part.col;
  } else if (n == 0) {
    return ST_OK;
  }
  ds_part *np = realloc(c->part, (size_t)(c->nparts + 1) * sizeof *np);
  if (!np) return st_err("out of memory");
  c->part = np;
  c->part[c->nparts++] = part;
  return ST_OK;
}

int ds_cls_init(ds_cls *c, const st_data_opts *o, const char *const *names,
                int nnames, const char *where) {
  memset(c, 0, sizeof *c);
  c->o = o;
  c->max_col = -1;
  compile_ctx k = {c, names, nnames, where};
  const char *lab = label_name(o);
  if (tmpl_walk(o->templ, compile_fn, &k) ||
      resolve(&k, lab, strlen(lab), &c->label_col)) {
    ds_cls_free(c);
    return ST_ERR;
  }
  if (c->label_col > c->max_col) c->max_col = c->label_col;
  return ST_OK;
}

void ds_cls_free(ds_cls *c) {
  free(c->part);
  free(c->text.p);
  memset(c, 0, sizeof *c);
}

int ds_cls_row(ds_cls *c, ds_build *b, const char *const *fields, int nf,
               const char *where) {
  const st_data_opts *o = c->o;
  if (nf <= c->max_col)
    return st_err("%s: %d column%s, but column %d is used", where, nf,
                  nf == 1 ? "" : "s", c->max_col);
  const char *lab = fields[c->label_col];
  int gold = -1;
  for (int k = 0; k < o->n_classes && gold < 0; k++)
    if (!strcmp(lab, o->labels[k])) gold = k;
  if (gold < 0) {
    char have[256] = "";
    size_t h = 0;
    for (int k = 0; k < o->n_classes && h < sizeof have - 4; k++)
      h += (size_t)snprintf(have + h, sizeof have - h, "%s%s", k ? ", " : "",
                            o->labels[k]);
    return st_err("%s: label \"%s\" has no verbalizer (labels: %s)", where,
                  lab, have);
  }
  c->text.n = 0;
  for (int i = 0; i < c->nparts; i++) {
    const ds_part *p = &c->part[i];
    const char *s = p->col >= 0 ? fields[p->col] : p->lit;
    if (st_sbuf_put(&c->text, s, p->col >= 0 ? strlen(s) : p->len))
      return ST_ERR;
  }
  if (st_sbuf_putc(&c->text, 0)) return ST_ERR;
  return ds_add_example(b, c->text.p, o->verbalizers, o->n_classes, gold, 0,
                        where);
}

/* ------------------------------------------------------------ TSV / CSV */

typedef struct {
  const char *p, *end;
  int line;   /* line of the next record */
  int csv;
  st_sbuf buf; /* unescaped fields, NUL-separated */
  size_t *off;
  int nf, cap;
} table;

static int trim_field(table *t, size_t start) {
  /* trim trailing then leading whitespace of the field buf[start..] */
  while (t->buf.n > start && isspace((unsigned char)t->buf.p[t->buf.n - 1]))
    t->buf.n--;
  size_t lead = start;
  while (lead < t->buf.n && isspace((unsigned char)t->buf.p[lead])) lead++;
  if (lead > start) { /* (an empty first field has no buffer yet) */
    memmove(t->buf.p + start, t->buf.p + lead, t->buf.n - lead);
    t->buf.n -= lead - start;
  }
  if (t->nf == t->cap) {
    int cap = t->cap ? 2 * t->cap : 16;
    size_t *o = realloc(t->off, (size_t)cap * sizeof *o);
    if (!o) return st_err("out of memory");
    t->off = o;
    t->cap = cap;
  }
  t->off[t->nf++] = start;
  return st_sbuf_putc(&t->buf, 0);
}

/* next non-blank record; 0 at the end, 1 with fields, ST_ERR */
static int next_record(table *t, const char *name, int *line) {
  for (;;) {
    if (t->p >= t->end) return 0;
    t->buf.n = 0;
    t->nf = 0;
    *line = t->line;
    int blank = 1, quoted = 0;
    size_t start = 0;
    while (t->p < t->end) {
      char ch = *t->p++;
      if (t->csv && quoted) {
        if (ch == '"') {
          if (t->p < t->end && *t->p == '"') t->p++;
          else { quoted = 0; continue; }
        }
        if (ch == '\n') t->line++;
        if (st_sbuf_putc(&t->buf, ch)) return ST_ERR;
        continue;
      }
      if (ch == '\n') { t->line++; break; }
      if (ch == '\r') continue;
      if (ch != ' ' && ch != '\t') blank = 0;
      if (ch == (t->csv ? ',' : '\t')) {
        if (trim_field(t, start)) return ST_ERR;
        start = t->buf.n;
        continue;
      }
      if (t->csv && ch == '"' && t->buf.n == start) {
        quoted = 1;
        blank = 0;
        continue;
      }
      if (st_sbuf_putc(&t->buf, ch)) return ST_ERR;
    }
    if (quoted)
      return st_err("%s:%d: unterminated quoted field", name, *line);
    if (blank && t->nf == 0) continue;
    if (trim_field(t, start)) return ST_ERR;
    return 1;
  }
}

int ds_read_table(ds_build *b, const ds_file *f, const st_data_opts *o,
                  int csv) {
  table t = {f->data, f->data + f->len, 1, csv, {0}, NULL, 0, 0};
  ds_cls c = {0};
  char **names = NULL, where[ST_PATH_MAX + 16]; /* file:line */
  const char **fields = NULL;
  int nnames = 0, named = 0, indexed = 0, line = 0, rc = ST_ERR, r;
  if (ds_cls_names(o, &names, &nnames, &named, &indexed)) return ST_ERR;
  for (int i = 0; i < nnames; i++) free(names[i]);
  free(names);
  int header = o->header < 0 ? named : o->header;
  int inited = 0;
  while ((r = next_record(&t, f->name, &line)) == 1) {
    const char **nf = realloc(fields, (size_t)t.nf * sizeof *nf);
    if (!nf) { st_err("out of memory"); goto done; }
    fields = nf;
    for (int i = 0; i < t.nf; i++) fields[i] = t.buf.p + t.off[i];
    snprintf(where, sizeof where, "%s:%d", f->name, line);
    if (!inited) {
      inited = 1;
      if (ds_cls_init(&c, o, header ? fields : NULL, t.nf, where)) goto done;
      if (header) continue;
    }
    if (ds_cls_row(&c, b, fields, t.nf, where)) goto done;
  }
  if (r == 1 || r == 0) rc = ST_OK;
done:
  ds_cls_free(&c);
  free(fields);
  free(t.buf.p);
  free(t.off);
  return rc;
}
