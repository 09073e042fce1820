/* test_chat.c - chat and alpaca data around the edges (the rows themselves
 * are checked against transformers in tests/reference/test_chat_ref.c):
 * malformed rows and refused conversations are errors naming file:line,
 * templates that misbehave are errors naming the template, long
 * conversations are cut or skipped and counted, the token cache follows
 * what the template renders, data.text_column is honoured, and the C
 * defaults of the JSON key names are the recipe schema's. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "error.h"
#include "test.h"
#include "test_dataset_tok.h"
#include "tokenizer.h"
#include "workbench_lua.h"

static lua_State *L;
static st_tokenizer *tk; /* the chat fixtures' byte-level BPE */
static char dir[64];

static const char *fpath(const char *name) {
  static char p[4][256];
  static int k;
  k = (k + 1) % 4;
  snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
  return p[k];
}

static int has(const char *needle) {
  int ok = strstr(st_errmsg(), needle) != NULL;
  if (!ok) fprintf(stderr, "  message was: %s\n  wanted: %s\n", st_errmsg(), needle);
  return ok;
}

/* loads `content` (written to data.jsonl) through a recipe data table
 * "k=v;k=v" (string values) with T positions */
static int load(st_dataset *ds, const char *content, const char *kv, int T) {
  put_file(fpath("data.jsonl"), content);
  lua_newtable(L);
  lua_pushstring(L, fpath("data.jsonl"));
  lua_setfield(L, -2, "train");
  char buf[512];
  snprintf(buf, sizeof buf, "%s", kv);
  for (char *save, *p = strtok_r(buf, ";", &save); p; p = strtok_r(NULL, ";", &save)) {
    char *eq = strchr(p, '=');
    *eq = 0;
    lua_pushstring(L, eq + 1);
    lua_setfield(L, -2, p);
  }
  st_dataset eval;
  int rc = sl_load_data(L, -1, tk, T, 1, ds, &eval);
  lua_pop(L, 1);
  if (rc == ST_OK) st_dataset_free(&eval);
  CHECK(lua_gettop(L) == 0);
  return rc;
}

#define ROW1 "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, " \
             "{\"role\": \"assistant\", \"content\": \"Hello there\"}]}\n"

static void test_bad_rows(void) {
  st_dataset ds;
  const char *chat = "format=chat";
  struct { const char *line2, *want; } cases[] = {
      {"{\"text\": \"no messages\"}", "data.jsonl:2: missing key \"messages\""},
      {"{\"messages\": []}", "data.jsonl:2: \"messages\" must be a non-empty list"},
      {"{\"messages\": \"Hi\"}", "data.jsonl:2: \"messages\" must be a non-empty list"},
      {"{\"messages\": [\"Hi\"]}", "data.jsonl:2: messages[0]: a message is an object"},
      {"{\"messages\": [{\"role\": \"user\"}]}", "data.jsonl:2: messages[0]: missing key \"content\""},
      {"{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": 7, \"content\": \"b\"}]}",
       "data.jsonl:2: messages[1]: \"role\" must be a string"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": null}]}",
       "data.jsonl:2: messages[0]: \"content\" must be a string"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": \"no answer\"}]}",
       "data.jsonl:2: nothing to train on"},
      {"{\"messages\": [", "data.jsonl:2: invalid JSON"},
      {"[1, 2]", "data.jsonl:2: expected a JSON object"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char content[512];
    snprintf(content, sizeof content, ROW1 "%s\n" ROW1, cases[i].line2);
    CHECK_MSG(load(&ds, content, chat, 64) == ST_ERR && has(cases[i].want),
              "case %zu", i);
  }
  /* a role the template refuses: its message, on the row's line (line 3:
   * blank lines count) */
  CHECK(load(&ds, ROW1 "\n{\"messages\": [{\"role\": \"system\", \"content\": \"x\"}, "
                  "{\"role\": \"user\", \"content\": \"Hi\"}]}\n",
             "format=chat;chat_template=mistral", 64) == ST_ERR);
  CHECK(has("data.jsonl:3: chat template mistral: Conversation roles must alternate"));
  /* alpaca: output required, input optional but a string */
  CHECK(load(&ds, "{\"instruction\": \"Say hi\"}\n", "format=alpaca", 64) == ST_ERR);
  CHECK(has("data.jsonl:1: missing key \"output\""));
  CHECK(load(&ds, "{\"instruction\": \"a\", \"input\": 3, \"output\": \"b\"}\n",
             "format=alpaca", 64) == ST_ERR);
  CHECK(has("data.jsonl:1: \"input\" must be a string"));
  CHECK(load(&ds, "{\"instruction\": \"a\", \"output\": \"b\"}\n"
                  "{\"instruction\": \"a\", \"input\": null, \"output\": \"b\"}\n"
                  "{\"instruction\": \"a\", \"input\": \"\", \"output\": \"b\"}\n",
             "format=alpaca", 64) == ST_OK);
  CHECK(ds.n == 3 && !memcmp(ds.tok, ds.tok + 64, 64 * sizeof *ds.tok) &&
        !memcmp(ds.tok, ds.tok + 128, 64 * sizeof *ds.tok));
  st_dataset_free(&ds);
  /* renamed keys */
  CHECK(load(&ds, "{\"q\": \"a\", \"a\": \"b\"}\n",
             "format=alpaca;instruction_column=q;output_column=a", 64) == ST_OK);
  st_dataset_free(&ds);
  CHECK(load(&ds, ROW1, "format=chat;chat_template=no_such_template", 64) == ST_ERR);
  CHECK(has("data.chat_template: no template at"));
}

/* templates that break the contract: errors that name them */
static void test_bad_templates(void) {
  st_dataset ds;
  struct { const char *code, *want; } cases[] = {
      {"return 42", "a chat template must return function(messages)"},
      {"return function(m) return 'text' end", "returned string, not a list of segments"},
      {"return function(m) return {{train = true}} end", "segment 1 is not a string"},
      {"return function(m) return {'a', 7} end", "segment 2 is not a string"},
      {"return function(m) error('no thanks', 0) end", "data.jsonl:1: chat template "},
      {"return function(m) return {'untrained only'} end", "nothing to train on"},
      {"os.execute('true') return function(m) end", "not allowed in the recipe sandbox"},
      {"return function(m) while true do end end", "ran past its instruction budget of 1000000"},
      {"return function(m) while true do pcall(error, 'x') end end",
       "ran past its instruction budget"},
      {"while true do end", "ran past its instruction budget"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    put_file(fpath("t.lua"), cases[i].code);
    char kv[256];
    snprintf(kv, sizeof kv, "format=chat;chat_template=%s", fpath("t.lua"));
    CHECK_MSG(load(&ds, ROW1, kv, 64) == ST_ERR && has(cases[i].want), "case %zu", i);
  }
}

/* the conversation's ids as strata encodes them (checked against HF by the
 * reference test): chatml's pieces for ROW1 */
static int row1_ids(int32_t **ids, unsigned char **train) {
  const char *piece[] = {"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
                         "Hello there<|im_end|>", "\n"};
  st_segments s = {0};
  for (int i = 0; i < 3; i++) OK(st_segments_add(&s, piece[i], strlen(piece[i]), i == 1));
  int n;
  OK(st_chat_encode(tk, &s, ids, train, &n));
  st_segments_free(&s);
  return n;
}

static void test_lengths(void) {
  int32_t *ids;
  unsigned char *train;
  int n = row1_ids(&ids, &train), first = 1;
  while (!train[first]) first++;
  CHECK(n > first + 3 && !train[n - 1] && train[n - 2]);
  st_dataset ds;
  /* T + 1 = n: whole; the padding after is untrained */
  CHECK(load(&ds, ROW1, "format=chat", n + 2) == ST_OK);
  for (int t = 0; t < n + 2; t++) {
    CHECK(ds.tok[t] == (t < n ? ids[t] : ds.pad));
    CHECK(ds.tgt[t] == (t + 1 < n && train[t + 1] ? ids[t + 1] : -1));
  }
  CHECK(ds.prompt_len[0] == first && ds.n_truncated == 0 && ds.n_skipped == 0);
  st_dataset_free(&ds);
  /* cut at the end: the first trained token is the last one left */
  int T = first;
  CHECK(load(&ds, ROW1 ROW1, "format=chat", T) == ST_OK);
  CHECK(ds.n == 2 && ds.n_truncated == 2 && ds.n_skipped == 0);
  for (int t = 0; t < T; t++) {
    CHECK(ds.tok[t] == ids[t]);
    CHECK(ds.tgt[t] == (t == T - 1 ? ids[T] : -1));
  }
  st_dataset_free(&ds);
  /* one shorter: nothing trained is left, every conversation is skipped */
  CHECK(load(&ds, ROW1 ROW1, "format=chat", T - 1) == ST_ERR);
  CHECK(has("no examples: all 2 conversations have their first trained token past "
            "seq_len"));
  free(ids);
  free(train);
}

/* the cache keys on what the template renders: a helper it requires
 * changing is seen */
static void test_cache(void) {
  put_file(fpath("helper.lua"), "return '<|im_end|>'");
  put_file(fpath("tmpl.lua"),
           "local e = require 'helper'\n"
           "return function(m) return {m[1].content .. e, {text = m[2].content .. e, "
           "train = true}} end\n");
  char kv[256];
  snprintf(kv, sizeof kv, "format=chat;chat_template=%s", fpath("tmpl.lua"));
  st_dataset a, b, c;
  CHECK(load(&a, ROW1, kv, 32) == ST_OK && !a.from_cache);
  CHECK(load(&b, ROW1, kv, 32) == ST_OK && b.from_cache);
  CHECK(!memcmp(a.tok, b.tok, 32 * sizeof *a.tok) && !memcmp(a.tgt, b.tgt, 32 * sizeof *a.tgt));
  put_file(fpath("helper.lua"), "return '<|eot_id|>'");
  CHECK(load(&c, ROW1, kv, 32) == ST_OK && !c.from_cache);
  CHECK(memcmp(a.tok, c.tok, 32 * sizeof *a.tok));
  st_dataset_free(&a);
  st_dataset_free(&b);
  st_dataset_free(&c);
}

/* data.text_column names the documents' key */
static void test_text_column(void) {
  st_dataset a, b;
  CHECK(load(&a, "{\"text\": \"To be or not\"}\n", "format=jsonl", 16) == ST_OK);
  CHECK(load(&b, "{\"body\": \"To be or not\"}\n", "format=jsonl;text_column=body", 16) == ST_OK);
  CHECK(a.n == 1 && b.n == 1 && !memcmp(a.tok, b.tok, 16 * sizeof *a.tok) &&
        !memcmp(a.tgt, b.tgt, 16 * sizeof *a.tgt));
  st_dataset_free(&a);
  st_dataset_free(&b);
  CHECK(load(&a, "{\"text\": \"To be\"}\n", "format=jsonl;text_column=body", 16) == ST_ERR);
  CHECK(has("data.jsonl:1: expected a \"body\" key"));
}

static void check_default(const char *key, const char *c_default) {
  sl_schema_push_default(L, key);
  CHECK_MSG(lua_isstring(L, -1) && !strcmp(lua_tostring(L, -1), c_default),
            "%s: schema default %s, st_data_opts_default \"%s\"", key,
            lua_isstring(L, -1) ? lua_tostring(L, -1) : "(none)", c_default);
  lua_pop(L, 1);
}

static void test_defaults(void) {
  st_data_opts o = st_data_opts_default();
  check_default("data.text_column", o.text_key);
  check_default("data.messages_column", o.messages_key);
  check_default("data.role_key", o.role_key);
  check_default("data.content_key", o.content_key);
  check_default("data.instruction_column", o.instruction_key);
  check_default("data.input_column", o.input_key);
  check_default("data.output_column", o.output_key);
  /* the default template is a shipped one */
  sl_schema_push_default(L, "data.chat_template");
  char path[512];
  snprintf(path, sizeof path, "scripts/chat_templates/%s.lua", lua_tostring(L, -1));
  lua_pop(L, 1);
  CHECK_MSG(access(path, R_OK) == 0, "%s", path);
}

int main(void) {
  make_tmpdir(dir);
  setenv("STRATA_CACHE", fpath("cache"), 1);
  L = luaL_newstate();
  luaL_openlibs(L);
  /* a small budget, so the looping templates fail fast */
  lua_pushinteger(L, 1000000);
  lua_setfield(L, LUA_REGISTRYINDEX, "strata.sandbox_instructions");
  OK(st_tokenizer_load(&tk, "tests/fixtures/chat/bl.json"));
  test_defaults();
  test_bad_rows();
  test_bad_templates();
  test_lengths();
  test_cache();
  test_text_column();
  st_tokenizer_free(tk);
  lua_close(L);
  rm_tree(dir);
  TEST_DONE();
}
