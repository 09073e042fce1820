/* test_chat_ref.c - chat and alpaca data against transformers: the rows
 * strata trains on must hold exactly the ids apply_chat_template gives with
 * the model's real Jinja template, and loss exactly on the assistant's
 * tokens. Fixtures: tests/fixtures/chat, written by
 * scripts/make_chat_reference.py (manifest.json lists each file with the
 * recipe `data` section that reads it).
 *
 * Per conversation: tok[t] = ids[t] (then padding), tgt[t] = ids[t+1]
 * where mask[t+1] is 1, else -1; prompt_len = the first trained token. Each
 * file is loaded twice: tokenized, then from the token cache. And every
 * conversation the Mistral template refuses is an error naming the file,
 * the line and transformers' own message. */
#include <jansson.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "error.h"
#include "test.h"
#include "unit/test_dataset_tok.h" /* make_tmpdir, rm_tree */
#include "tokenizer.h"
#include "workbench_lua.h"

#define DIR "tests/fixtures/chat/"

static lua_State *L;
static char tmp[64];

/* pushes a JSON string or object of strings (data.roles) as Lua */
static void push_json(json_t *v) {
  if (json_is_string(v)) {
    lua_pushstring(L, json_string_value(v));
    return;
  }
  lua_newtable(L);
  const char *k;
  json_t *x;
  json_object_foreach(v, k, x) {
    lua_pushstring(L, json_string_value(x));
    lua_setfield(L, -2, k);
  }
}

/* the manifest entry as a recipe data table, reading `path` */
static void push_data(json_t *entry, const char *path) {
  lua_newtable(L);
  const char *k;
  json_t *v;
  json_object_foreach(entry, k, v) {
    if (strcmp(k, "data") && strcmp(k, "tokenizer")) {
      push_json(v);
      lua_setfield(L, -2, k);
    }
  }
  lua_pushstring(L, path);
  lua_setfield(L, -2, "train");
}

static json_t *read_lines(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    perror(path);
    exit(1);
  }
  json_t *a = json_array();
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    json_error_t e;
    json_t *o = json_loads(line, 0, &e);
    if (!o) {
      fprintf(stderr, "%s: %s\n", path, e.text);
      exit(1);
    }
    json_array_append_new(a, o);
  }
  free(line);
  fclose(f);
  return a;
}

static int rows_match(const st_dataset *ds, json_t *rows, const char *name) {
  int bad = 0, T = ds->T;
  CHECK_MSG(ds->n == (int)json_array_size(rows), "%s: %d rows, want %zu", name,
            ds->n, json_array_size(rows));
  for (int i = 0; i < ds->n && i < (int)json_array_size(rows); i++) {
    json_t *r = json_array_get(rows, i), *ids = json_object_get(r, "ids");
    const char *mask = json_string_value(json_object_get(r, "mask"));
    int L = (int)json_array_size(ids), first = -1, ok = 1;
    for (int t = 0; t < T && ok; t++) {
      int want_tok = t < L ? (int)json_integer_value(json_array_get(ids, t)) : ds->pad;
      int want_tgt = t + 1 < L && mask[t + 1] == '1'
                         ? (int)json_integer_value(json_array_get(ids, t + 1)) : -1;
      ok = ds->tok[(size_t)i * T + t] == want_tok && ds->tgt[(size_t)i * T + t] == want_tgt;
      if (!ok)
        fprintf(stderr, "  %s line %d, position %d: tok %d tgt %d, want %d %d\n",
                name, i + 1, t, ds->tok[(size_t)i * T + t],
                ds->tgt[(size_t)i * T + t], want_tok, want_tgt);
    }
    for (int t = 1; t < L && first < 0; t++)
      if (mask[t] == '1') first = t;
    ok = ok && ds->prompt_len && ds->prompt_len[i] == first;
    CHECK_MSG(ok, "%s: conversation %d differs from transformers", name, i + 1);
    bad += !ok;
  }
  return bad;
}

static void check_entry(json_t *entry) {
  const char *data = json_string_value(json_object_get(entry, "data"));
  char path[256], tpath[256];
  snprintf(path, sizeof path, DIR "%s", data);
  snprintf(tpath, sizeof tpath, DIR "%s",
           json_string_value(json_object_get(entry, "tokenizer")));
  st_tokenizer *tk;
  OK(st_tokenizer_load(&tk, tpath));
  json_t *rows = read_lines(path);
  /* T + 1 = the longest conversation: nothing is cut, one row is full */
  int T = 0;
  for (size_t i = 0; i < json_array_size(rows); i++) {
    int L = (int)json_array_size(json_object_get(json_array_get(rows, i), "ids"));
    if (L - 1 > T) T = L - 1;
  }
  for (int pass = 0; pass < 2; pass++) {
    st_dataset train, eval;
    push_data(entry, path);
    int rc = sl_load_data(L, -1, tk, T, 1, &train, &eval);
    lua_pop(L, 1);
    CHECK_MSG(rc == ST_OK, "%s: %s", data, st_errmsg());
    if (rc) break;
    CHECK_MSG(train.from_cache == pass, "%s: pass %d from_cache %d", data, pass,
              train.from_cache);
    CHECK(eval.n == 0 && train.n_truncated == 0 && train.n_skipped == 0);
    int bad = rows_match(&train, rows, data);
    printf("%-22s %s %zu conversations%s\n", data, bad ? "FAIL" : "ok",
           json_array_size(rows), pass ? " (token cache)" : "");
    st_dataset_free(&train);
    st_dataset_free(&eval);
  }
  json_decref(rows);
  st_tokenizer_free(tk);
}

/* a refused conversation on line 2 of a file: file:2 and the reason */
static void check_rejected(void) {
  json_t *good = read_lines(DIR "mistral.jsonl"), *bad = read_lines(DIR "mistral_rejected.jsonl");
  st_tokenizer *tk;
  OK(st_tokenizer_load(&tk, DIR "sp.json"));
  char path[128];
  snprintf(path, sizeof path, "%s/rejected.jsonl", tmp);
  for (size_t i = 0; i < json_array_size(bad); i++) {
    json_t *r = json_array_get(bad, i);
    char *l1 = json_dumps(json_array_get(good, 0), 0);
    json_t *row = json_pack("{s:O}", "messages", json_object_get(r, "messages"));
    char *l2 = json_dumps(row, JSON_SORT_KEYS);
    json_decref(row);
    FILE *f = fopen(path, "w");
    fprintf(f, "%s\n%s\n", l1, l2);
    fclose(f);
    free(l1);
    free(l2);
    lua_newtable(L);
    lua_pushstring(L, path);
    lua_setfield(L, -2, "train");
    lua_pushstring(L, "chat");
    lua_setfield(L, -2, "format");
    lua_pushstring(L, "mistral");
    lua_setfield(L, -2, "chat_template");
    st_dataset train, eval;
    int rc = sl_load_data(L, -1, tk, 256, 1, &train, &eval);
    lua_pop(L, 1);
    char where[160];
    snprintf(where, sizeof where, "%s:2: ", path);
    const char *want = json_string_value(json_object_get(r, "error"));
    CHECK_MSG(rc == ST_ERR && strstr(st_errmsg(), where) && strstr(st_errmsg(), want),
              "rejected conversation %zu: got \"%s\", want %s... %s", i + 1,
              rc ? st_errmsg() : "(loaded)", where, want);
  }
  printf("mistral_rejected.jsonl %zu refusals named\n", json_array_size(bad));
  json_decref(good);
  json_decref(bad);
  st_tokenizer_free(tk);
}

int main(void) {
  make_tmpdir(tmp);
  char cache[96];
  snprintf(cache, sizeof cache, "%s/cache", tmp);
  setenv("STRATA_CACHE", cache, 1);
  L = luaL_newstate();
  luaL_openlibs(L);
  json_error_t e;
  json_t *manifest = json_load_file(DIR "manifest.json", 0, &e);
  if (!manifest) {
    fprintf(stderr, "manifest.json: %s\n", e.text);
    return 1;
  }
  for (size_t i = 0; i < json_array_size(manifest); i++)
    check_entry(json_array_get(manifest, i));
  CHECK(json_array_size(manifest) >= 7);
  check_rejected();
  json_decref(manifest);
  lua_close(L);
  rm_tree(tmp);
  TEST_DONE();
}
