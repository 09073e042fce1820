/* cmd_data.c - `strata data <recipe.yaml>`: a recipe's data as training
 * sees it. The data section is read as `strata run` reads it (the same
 * sl_load_data, tokenizer, train.seq_len and seed), then the first N
 * examples are printed as text with their loss mask: the tokens that carry
 * loss (the assistant's turns in chat data, completions, verbalizers) are
 * shown [[like this]]. Nothing trains; the model is loaded only when
 * train.seq_len is not given (its default depends on the model's context). */
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_opts.h"
#include "commands.h"
#include "error.h"
#include "backend.h"
#include "eval.h"
#include "model_io.h"
#include "strata_lua.h"
#include "tokenizer.h"
#include "workbench_lua.h"

static const cli_opt opts[] = {
    {"recipe.yaml", CLI_ARG, .help = "the recipe whose data section to read"},
    {"--show", CLI_INT, "N", "3", .range = "0..",
     .help = "print the first N examples with their loss mask"},
    {"--eval", CLI_FLAG,
     .help = "show the eval set (data.eval or the eval_fraction split)"},
    {"--ids", CLI_FLAG,
     .help = "also print each example's token ids (trained ones end in *)"},
    {"--set", CLI_LIST, "KEY=VALUE",
     .help = "override a recipe key (VALUE is YAML: 1e-3, [q, v], \"s\")"},
    {"--unsafe-lua", CLI_FLAG, .help = "run the chat template without the sandbox"},
    {0}};
static const cli_spec spec = {
    "data", opts,
    "Each example is printed as the text its tokens decode to; the tokens that\n"
    "carry loss are shown [[like this]]. Trailing padding is left out.",
    NULL};

/* example i as a sequence s[0..*L) (the row's inputs and its last target)
 * and which tokens are trained (predicted with loss); trailing padding
 * dropped. Returns the number trained. */
static int example(const st_dataset *ds, int i, int32_t *s, unsigned char *tr,
                   int *L) {
  int T = ds->T, n = 0;
  const int32_t *tok = ds->tok + (size_t)i * T, *tgt = ds->tgt + (size_t)i * T;
  for (int t = 0; t < T; t++) {
    s[t] = tok[t];
    tr[t] = t > 0 && tgt[t - 1] >= 0;
    n += tr[t];
  }
  *L = T;
  if (tgt[T - 1] >= 0) {
    s[T] = tgt[T - 1];
    tr[T] = 1;
    n++;
    *L = T + 1;
  }
  while (*L > 1 && !tr[*L - 1] && s[*L - 1] == ds->pad) (*L)--;
  return n;
}

static int show(const st_tokenizer *tk, const st_dataset *ds, int i,
                const char *set, int ids) {
  int32_t *s = st_malloc(((size_t)ds->T + 1) * sizeof *s);
  unsigned char *tr = st_malloc((size_t)ds->T + 1);
  int L, rc = s && tr ? ST_OK : ST_ERR;
  if (rc) goto done;
  int n = example(ds, i, s, tr, &L);
  printf("--- %s example %d: %d tokens, %d trained\n", set, i, L, n);
  int ends_nl = 1;
  for (int a = 0, b; a < L && rc == ST_OK; a = b) {
    for (b = a + 1; b < L && tr[b] == tr[a]; b++) {
    }
    char *text = NULL;
    /* decoded after what precedes it, so a SentencePiece space survives */
    if ((rc = st_eval_decode_tail(tk, s, a, b, &text))) break;
    printf(tr[a] ? "[[%s]]" : "%s", text);
    size_t len = strlen(text);
    ends_nl = !tr[a] && len && text[len - 1] == '\n';
    free(text);
  }
  if (!ends_nl) putchar('\n');
  if (ids && rc == ST_OK) {
    printf("ids:");
    for (int t = 0; t < L; t++) printf(" %d%s", s[t], tr[t] ? "*" : "");
    putchar('\n');
  }
done:
  free(s);
  free(tr);
  return rc;
}

static int summary(const char *set, const st_dataset *ds) {
  int32_t *s = st_malloc(((size_t)ds->T + 1) * sizeof *s);
  unsigned char *tr = st_malloc((size_t)ds->T + 1);
  long tokens = 0, trained = 0;
  if (!s || !tr) {
    free(s);
    free(tr);
    return ST_ERR;
  }
  for (int i = 0; i < ds->n; i++) {
    int L;
    trained += example(ds, i, s, tr, &L);
    tokens += L;
  }
  printf("%-6s %d examples of %d positions: %ld tokens, %ld trained (%.1f%%)",
         set, ds->n, ds->T, tokens, trained,
         tokens ? 100.0 * (double)trained / (double)tokens : 0.0);
  if (ds->n_truncated) printf("; %d cut to fit", ds->n_truncated);
  if (ds->n_skipped) printf("; %d skipped (nothing trained within the length)",
                            ds->n_skipped);
  printf("%s\n", ds->from_cache ? " (token cache)" : "");
  free(s);
  free(tr);
  return ST_OK;
}

/* recipe[a][b] on the stack (b may be NULL) */
static int field(lua_State *L, int recipe, const char *a, const char *b) {
  int ty = lua_getfield(L, recipe, a);
  if (!b) return ty;
  if (ty != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_pushnil(L);
    return LUA_TNIL;
  }
  ty = lua_getfield(L, -1, b);
  lua_remove(L, -2);
  return ty;
}

/* the tokenizer and T as `strata run` takes them */
static int setup(lua_State *L, int recipe, st_tokenizer **tk, int *T) {
  field(L, recipe, "model", NULL);
  field(L, recipe, "tokenizer", NULL);
  const char *model = lua_tostring(L, -2), *tok = lua_tostring(L, -1);
  char tp[ST_PATH_MAX];
  int rc = ST_ERR;
  if (!tok) {
    if (st_model_tokenizer(model, tp, sizeof tp)) goto done;
    tok = tp;
  }
  if (st_tokenizer_load(tk, tok)) goto done;
  if (field(L, recipe, "train", "seq_len") == LUA_TNUMBER) {
    *T = (int)lua_tointeger(L, -1);
  } else {
    st_model *m;
    if (st_model_load(&m, model, st_backend_get("cpu"))) {
      lua_pop(L, 1);
      goto done;
    }
    *T = sl_default_seq_len(m);
    st_model_free(m);
  }
  lua_pop(L, 1);
  rc = ST_OK;
done:
  lua_pop(L, 2);
  return rc;
}

int cmd_data(int argc, char **argv) {
  cli_args a;
  int rc = cli_parse(&a, &spec, argc, argv);
  if (rc) return rc == CLI_HELP ? 0 : ST_ERR;
  const char *recipe = cli_str(&a, "recipe.yaml");
  int nshow = (int)cli_int(&a, "--show"), use_eval = cli_on(&a, "--eval");
  int nsets = cli_count(&a, "--set");
  const char **sets = calloc((size_t)nsets + 1, sizeof *sets);
  lua_State *L = luaL_newstate();
  st_tokenizer *tk = NULL;
  st_dataset train = {0}, eval = {0};
  rc = ST_ERR;
  if (!sets || !L) {
    st_err("out of memory");
    goto done;
  }
  for (int i = 0; i < nsets; i++) sets[i] = cli_item(&a, "--set", i);
  luaL_openlibs(L);
  lua_pushboolean(L, cli_on(&a, "--unsafe-lua"));
  lua_setfield(L, LUA_REGISTRYINDEX, "strata.unsafe_lua");
  if (sl_recipe_load(L, recipe, nsets, sets)) goto done;
  int r = lua_gettop(L), T;
  field(L, r, "sandbox", "instructions"); /* the chat template's budget */
  lua_setfield(L, LUA_REGISTRYINDEX, "strata.sandbox_instructions");
  if (setup(L, r, &tk, &T)) goto done;
  field(L, r, "train", "seed");
  uint64_t seed = (uint64_t)lua_tointeger(L, -1);
  field(L, r, "data", NULL);
  int lrc = sl_load_data(L, -1, tk, T, seed, &train, &eval);
  field(L, r, "data", "format");
  field(L, r, "data", "chat_template");
  field(L, r, "data", "train");
  if (lrc) goto done;
  const char *fmt = lua_tostring(L, -3);
  int chat = fmt && (!strcmp(fmt, "chat") || !strcmp(fmt, "alpaca"));
  printf("data   %s (%s%s%s)\n", lua_tostring(L, -1), fmt ? fmt : "text",
         chat ? ", template " : "", chat ? lua_tostring(L, -2) : "");
  if (summary("train", &train) || (eval.n && summary("eval", &eval))) goto done;
  const st_dataset *ds = use_eval ? &eval : &train;
  if (use_eval && !eval.n) {
    st_err("data: the recipe has no eval set (data.eval or data.eval_fraction)");
    goto done;
  }
  for (int i = 0; i < nshow && i < ds->n; i++)
    if (show(tk, ds, i, use_eval ? "eval" : "train", cli_on(&a, "--ids")))
      goto done;
  rc = ST_OK;
done:
  st_dataset_free(&train);
  st_dataset_free(&eval);
  st_tokenizer_free(tk);
  if (L) lua_close(L);
  free(sets);
  return rc;
}
