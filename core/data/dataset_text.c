/* dataset_text.c - plain text and JSONL readers, and the JSONL line reader
 * the chat formats share. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_internal.h"
#include "error.h"

int ds_read_text(ds_build *b, const ds_file *f, const char *separator) {
  if (!separator || !*separator) return ds_add_doc(b, f->data, f->len);
  size_t sl = strlen(separator);
  const char *p = f->data, *end = f->data + f->len;
  while (p <= end) {
    const char *q = memmem(p, (size_t)(end - p), separator, sl);
    if (!q) q = end;
    if (ds_add_doc(b, p, (size_t)(q - p))) return ST_ERR;
    p = q + sl;
  }
  return ST_OK;
}

/* a JSON value as a table field: strings as they are, numbers and
 * booleans as written */
static int field_text(json_t *v, char *buf, size_t n, const char **out) {
  if (json_is_string(v)) *out = json_string_value(v);
  else if (json_is_integer(v))
    snprintf(buf, n, "%lld", (long long)json_integer_value(v)), *out = buf;
  else if (json_is_real(v)) snprintf(buf, n, "%g", json_real_value(v)), *out = buf;
  else if (json_is_boolean(v)) *out = json_is_true(v) ? "true" : "false";
  else return ST_ERR;
  return ST_OK;
}

int ds_jsonl_next(ds_lines *it, json_t **obj) {
  const char *end = it->f->data + it->f->len;
  json_decref(*obj);
  *obj = NULL;
  while (it->p < end) {
    const char *nl = memchr(it->p, '\n', (size_t)(end - it->p));
    if (!nl) nl = end;
    const char *s = it->p;
    size_t len = (size_t)(nl - s), i = 0;
    it->p = nl + 1;
    it->ln++;
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) i++;
    if (i == len) continue;
    snprintf(it->where, sizeof it->where, "%s:%d", it->f->name, it->ln);
    json_error_t err;
    if (!(*obj = json_loadb(s, len, 0, &err)))
      return st_err("%s: invalid JSON: %s", it->where, err.text);
    if (!json_is_object(*obj))
      return st_err("%s: expected a JSON object", it->where);
    return 1;
  }
  return 0;
}

enum { MODE_UNSET, MODE_TEXT, MODE_PROMPT, MODE_CLASSIFY };

const char *ds_json_str(json_t *obj, const char *key, const char *where) {
  json_t *v = json_object_get(obj, key);
  if (!v) {
    st_err("%s: missing key \"%s\"", where, key);
    return NULL;
  }
  if (!json_is_string(v)) {
    st_err("%s: \"%s\" must be a string", where, key);
    return NULL;
  }
  return json_string_value(v);
}

int ds_read_jsonl(ds_build *b, const ds_file *f, const st_data_opts *o) {
  int mode = o->n_classes > 0 ? MODE_CLASSIFY : MODE_UNSET, rc = ST_ERR;
  char **names = NULL;
  const char **fields = NULL;
  char (*num)[64] = NULL;
  int nnames = 0, named = 0, indexed = 0;
  ds_cls c = {0};
  json_t *obj = NULL;
  if (mode == MODE_CLASSIFY) {
    /* the columns are the keys the template and label refer to */
    if (ds_cls_names(o, &names, &nnames, &named, &indexed)) return ST_ERR;
    if (indexed) {
      st_err("%s: JSONL columns are keys: refer to them by name, not index",
             f->name);
      goto done;
    }
    fields = st_calloc((size_t)nnames, sizeof *fields);
    num = st_calloc((size_t)nnames, sizeof *num);
    if (!fields || !num) goto done;
    if (ds_cls_init(&c, o, (const char *const *)names, nnames, f->name))
      goto done;
  }
  ds_lines it = {f, f->data, 0, ""};
  int got;
  while ((got = ds_jsonl_next(&it, &obj)) == 1) {
    const char *where = it.where;
    if (mode == MODE_UNSET) {
      if (json_object_get(obj, o->text_key)) mode = MODE_TEXT;
      else if (json_object_get(obj, "prompt")) mode = MODE_PROMPT;
      else {
        st_err("%s: expected a \"%s\" key, or \"prompt\" and \"completion\" "
               "keys (or give verbalizers for a classification table)", where,
               o->text_key);
        goto done;
      }
    }
    if (mode == MODE_TEXT) {
      const char *t = ds_json_str(obj, o->text_key, where);
      if (!t ||
          ds_add_doc(b, t, json_string_length(json_object_get(obj, o->text_key))))
        goto done;
    } else if (mode == MODE_PROMPT) {
      const char *pr = ds_json_str(obj, "prompt", where);
      const char *co = pr ? ds_json_str(obj, "completion", where) : NULL;
      if (!co || ds_add_example(b, pr, &co, 1, 0, 1, where)) goto done;
    } else {
      for (int k = 0; k < nnames; k++) {
        json_t *v = json_object_get(obj, names[k]);
        if (!v) {
          st_err("%s: missing key \"%s\"", where, names[k]);
          goto done;
        }
        if (field_text(v, num[k], sizeof num[k], &fields[k])) {
          st_err("%s: \"%s\" must be a string, number or boolean", where,
                 names[k]);
          goto done;
        }
      }
      if (ds_cls_row(&c, b, fields, nnames, where)) goto done;
    }
  }
  if (got == 0) rc = ST_OK;
done:
  json_decref(obj);
  ds_cls_free(&c);
  for (int k = 0; k < nnames; k++) free(names[k]);
  free(names);
  free(fields);
  free(num);
  return rc;
}
