/* dataset_chat.c - conversations (chat and alpaca rows): the rows read into
 * messages, the template's segments (st_segments), and their tokens with the
 * loss mask (st_chat_encode). The template itself is a callback: core knows
 * no Lua (bindings/lua/data_lua.c runs scripts/chat_templates/<name>.lua). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "dataset_internal.h"
#include "error.h"

/* ------------------------------------------------------------ segments */

int st_segments_add(st_segments *s, const char *text, size_t len, int train) {
  if (s->n == s->ncap) {
    int cap = s->ncap ? 2 * s->ncap : 16;
    size_t *e = realloc(s->end, (size_t)cap * sizeof *e);
    if (e) s->end = e;
    unsigned char *t = e ? realloc(s->train, (size_t)cap) : NULL;
    if (t) s->train = t;
    if (!e || !t) return st_err("out of memory");
    s->ncap = cap;
  }
  if (s->len + len + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 256;
    while (cap < s->len + len + 1) cap *= 2;
    char *p = realloc(s->text, cap);
    if (!p) return st_err("out of memory");
    s->text = p;
    s->cap = cap;
  }
  memcpy(s->text + s->len, text, len);
  s->len += len;
  s->text[s->len] = 0;
  s->end[s->n] = s->len;
  s->train[s->n++] = train != 0;
  return ST_OK;
}

void st_segments_clear(st_segments *s) {
  s->n = 0;
  s->len = 0;
}

void st_segments_free(st_segments *s) {
  free(s->text);
  free(s->end);
  free(s->train);
  memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------ the mask */

/* where character c falls in the ids F[0..nf): *k tokens lie wholly
 * before it, and *cut says whether token *k also holds characters before
 * c (see dataset.h) */
static int boundary(const st_tokenizer *tk, const char *text, size_t c,
                    const int32_t *F, int nf, int *k, int *cut) {
  int32_t *P = NULL;
  int np = 0;
  if (st_tokenizer_encode(tk, text, c, 0, &P, &np)) return ST_ERR;
  int i = 0;
  while (i < np && i < nf && P[i] == F[i]) i++;
  *k = i;
  *cut = np > i;
  free(P);
  return ST_OK;
}

int st_chat_encode(const st_tokenizer *tk, const st_segments *s,
                   int32_t **ids, unsigned char **train, int *n) {
  *ids = NULL;
  *train = NULL;
  *n = 0;
  /* runs: stretches of equally-flagged pieces; empty pieces do not count */
  size_t *rs = st_malloc(((size_t)s->n + 1) * 2 * sizeof *rs), *re = rs;
  unsigned char *rf = st_malloc((size_t)s->n + 1);
  int nr = 0, rc = ST_ERR, nf = 0;
  int32_t *F = NULL, *R = NULL;
  unsigned char *tr = NULL;
  if (!rs || !rf) goto done;
  re = rs + s->n + 1;
  for (int i = 0; i < s->n; i++) {
    size_t a = i ? s->end[i - 1] : 0, b = s->end[i];
    if (a == b) continue;
    if (nr && rf[nr - 1] == s->train[i]) {
      re[nr - 1] = b;
    } else {
      rs[nr] = a, re[nr] = b, rf[nr] = s->train[i];
      nr++;
    }
  }
  if (st_tokenizer_encode(tk, s->text, s->len, 0, &F, &nf)) goto done;
  if (!(tr = st_calloc((size_t)nf + 1, 1))) goto done;
  /* each run on its own: when the pieces are the whole ids, each token is
   * in exactly one run */
  int k = 0, same = 1;
  for (int r = 0; r < nr && same; r++) {
    int m = 0;
    if (st_tokenizer_encode(tk, s->text + rs[r], re[r] - rs[r], 0, &R, &m))
      goto done;
    same = k + m <= nf && (m == 0 || !memcmp(F + k, R, (size_t)m * sizeof *R));
    if (same) memset(tr + k, rf[r], (size_t)m);
    k += m;
    free(R);
    R = NULL;
  }
  if (!same || k != nf) {
    memset(tr, 0, (size_t)nf);
    for (int r = 0; r < nr; r++) {
      if (!rf[r]) continue;
      int first = 0, last = nf, cut = 0;
      if (rs[r] > 0 && boundary(tk, s->text, rs[r], F, nf, &first, &cut))
        goto done;
      if (re[r] < s->len) {
        if (boundary(tk, s->text, re[r], F, nf, &last, &cut)) goto done;
        last += cut && last < nf;
      }
      if (first < last) memset(tr + first, 1, (size_t)(last - first));
    }
  }
  *ids = F;
  *train = tr;
  *n = nf;
  F = NULL;
  tr = NULL;
  rc = ST_OK;
done:
  free(rs);
  free(rf);
  free(F);
  free(tr);
  return rc;
}

/* ------------------------------------------------------------ rows */

typedef struct chat_row {
  st_chat_msg *msg;
  int n, cap;
  st_sbuf user; /* alpaca: instruction + "\n\n" + input */
  char where[ST_PATH_MAX + 64];
} chat_row;

static int push_msg(chat_row *r, const char *role, const char *content) {
  if (r->n == r->cap) {
    int cap = r->cap ? 2 * r->cap : 8;
    st_chat_msg *m = realloc(r->msg, (size_t)cap * sizeof *m);
    if (!m) return st_err("out of memory");
    r->msg = m;
    r->cap = cap;
  }
  r->msg[r->n++] = (st_chat_msg){role, content};
  return ST_OK;
}

/* {"messages": [{"role": ..., "content": ...}, ...]}, roles renamed */
static int chat_messages(chat_row *r, json_t *obj, const st_data_opts *o,
                         const char *where) {
  json_t *arr = json_object_get(obj, o->messages_key);
  if (!arr) return st_err("%s: missing key \"%s\"", where, o->messages_key);
  if (!json_is_array(arr) || json_array_size(arr) == 0)
    return st_err("%s: \"%s\" must be a non-empty list of messages", where,
                  o->messages_key);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *m = json_array_get(arr, i);
    snprintf(r->where, sizeof r->where, "%s: %s[%zu]", where, o->messages_key, i);
    if (!json_is_object(m))
      return st_err("%s: a message is an object {\"%s\": ..., \"%s\": ...}",
                    r->where, o->role_key, o->content_key);
    const char *role = ds_json_str(m, o->role_key, r->where);
    const char *content = role ? ds_json_str(m, o->content_key, r->where) : NULL;
    if (!content) return ST_ERR;
    for (int k = 0; k < o->n_roles; k++)
      if (!strcmp(role, o->role_from[k])) {
        role = o->role_to[k];
        break;
      }
    if (push_msg(r, role, content)) return ST_ERR;
  }
  return ST_OK;
}

/* {"instruction": ..., "input": ..., "output": ...}; input may be absent */
static int alpaca_messages(chat_row *r, json_t *obj, const st_data_opts *o,
                           const char *where) {
  const char *ins = ds_json_str(obj, o->instruction_key, where);
  const char *out = ins ? ds_json_str(obj, o->output_key, where) : NULL;
  if (!out) return ST_ERR;
  json_t *in = json_object_get(obj, o->input_key);
  if (in && !json_is_null(in) && !json_is_string(in))
    return st_err("%s: \"%s\" must be a string", where, o->input_key);
  r->user.n = 0;
  if (st_sbuf_put(&r->user, ins, strlen(ins))) return ST_ERR;
  if (in && json_string_length(in) > 0 &&
      (st_sbuf_put(&r->user, "\n\n", 2) ||
       st_sbuf_put(&r->user, json_string_value(in), json_string_length(in))))
    return ST_ERR;
  if (st_sbuf_putc(&r->user, 0) || push_msg(r, "user", r->user.p) ||
      push_msg(r, "assistant", out))
    return ST_ERR;
  return ST_OK;
}

int ds_read_chat(ds_build *b, const ds_file *f, const st_data_opts *o,
                 uint64_t *h) {
  ds_lines it = {f, f->data, 0, ""};
  json_t *obj = NULL;
  chat_row r = {0};
  st_segments seg = {0};
  int32_t *ids = NULL;
  unsigned char *train = NULL;
  int got, rc = ST_ERR;
  while ((got = ds_jsonl_next(&it, &obj)) == 1) {
    r.n = 0;
    if (o->format == ST_DS_ALPACA ? alpaca_messages(&r, obj, o, it.where)
                                  : chat_messages(&r, obj, o, it.where))
      goto done;
    st_segments_clear(&seg);
    if (o->render(o->render_ctx, r.msg, r.n, &seg)) {
      st_err_prefix("%s: ", it.where);
      goto done;
    }
    int trained = 0;
    for (int i = 0; i < seg.n; i++)
      trained |= seg.train[i] && seg.end[i] > (i ? seg.end[i - 1] : 0);
    if (!trained) {
      st_err("%s: nothing to train on: the chat template marked no text of "
             "this conversation as trained (it has no assistant message?)",
             it.where);
      goto done;
    }
    if (h) { /* the cache key: every piece, its flag, and where rows end */
      uint64_t nn = (uint64_t)seg.n;
      *h = st_fnv1a(&nn, sizeof nn, *h);
      *h = st_fnv1a(seg.end, (size_t)seg.n * sizeof *seg.end, *h);
      *h = st_fnv1a(seg.train, (size_t)seg.n, *h);
      *h = st_fnv1a(seg.text, seg.len, *h);
    }
    if (b) {
      int n = 0;
      if (st_chat_encode(b->tk, &seg, &ids, &train, &n)) {
        st_err_prefix("%s: ", it.where);
        goto done;
      }
      if (ds_add_masked(b, ids, train, n)) goto done;
      free(ids);
      free(train);
      ids = NULL;
      train = NULL;
    }
  }
  if (got == 0) rc = ST_OK;
done:
  json_decref(obj);
  free(r.msg);
  free(r.user.p);
  st_segments_free(&seg);
  free(ids);
  free(train);
  return rc;
}
