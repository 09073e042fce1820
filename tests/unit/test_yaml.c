/* test_yaml.c - the YAML loader, include/extends, --set overrides and the
 * recipe schema. Expected values and positions are worked out by hand from
 * the text (columns count from 1); the syntax-error positions agree with
 * PyYAML's pure-Python parser on the same text. */
#include <string.h>

#include <lualib.h>

#include "error.h"
#include "strata_lua.h"
#include "test.h"

static lua_State *L;
static char err[2048];

#define FIX "tests/fixtures/recipes/"

/* runs f(arg) protected; returns NULL or the error message */
static const char *protect(lua_CFunction f, const void *arg) {
  lua_pushcfunction(L, f);
  lua_pushlightuserdata(L, (void *)arg);
  if (lua_pcall(L, 1, 0, 0) == LUA_OK) return NULL;
  snprintf(err, sizeof err, "%s", lua_tostring(L, -1));
  lua_pop(L, 1);
  return err;
}

/* y = the value of the YAML text (positions as "t.yaml:line:col") */
static int load_text(lua_State *L) {
  const char *s = lua_touserdata(L, 1);
  sl_yaml_load_string(L, s, strlen(s), "t.yaml", 0);
  lua_setglobal(L, "y");
  return 0;
}
static const char *yaml(const char *text) { return protect(load_text, text); }

/* evaluates a Lua expression (globals y, r, strata) */
static int lua_true(const char *expr) {
  char code[1024];
  snprintf(code, sizeof code, "return %s", expr);
  if (luaL_dostring(L, code) != LUA_OK) {
    fprintf(stderr, "lua error in '%s': %s\n", expr, lua_tostring(L, -1));
    lua_pop(L, 1);
    return 0;
  }
  int ok = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return ok;
}
#define CHECK_LUA(expr) CHECK_MSG(lua_true(expr), "%s", expr)

/* runs a Lua chunk; returns NULL or the error */
static const char *lua_run(const char *code) {
  if (luaL_dostring(L, code) == LUA_OK) return NULL;
  snprintf(err, sizeof err, "%s", lua_tostring(L, -1));
  lua_pop(L, 1);
  return err;
}

#define CHECK_ERR(msg, want)                                                   \
  do {                                                                         \
    const char *_m = (msg);                                                    \
    CHECK_MSG(_m && strstr(_m, want), "got '%s', want '%s'",                    \
              _m ? _m : "(no error)", want);                                   \
  } while (0)

/* exact match: the whole message */
#define CHECK_ERR_IS(msg, want)                                                \
  do {                                                                         \
    const char *_m = (msg);                                                    \
    CHECK_MSG(_m && !strcmp(_m, want), "got '%s', want '%s'",                  \
              _m ? _m : "(no error)", want);                                   \
  } while (0)

static void test_scalars(void) {
  CHECK(!yaml("i: 42\nn: -7\np: +3\nh: 0x1F\no: 0o17\nf: 1.5\ne: 1e-3\n"
              "E: -2.5E+2\nd: .5\ninf: .inf\nninf: -.inf\nnan: .nan\n"
              "t: true\nF: False\nnul: ~\nnul2: null\nempty:\n"
              "s: \"42\"\ns2: '1e-3'\ns3: yes\ns4: 1_000\ntag: !!str 12\n"
              "tagf: !!float 3\nbig: 99999999999999999999\n"
              "lit: |\n  two\n  lines\n"));
  CHECK_LUA("math.type(y.i) == 'integer' and y.i == 42");
  CHECK_LUA("math.type(y.n) == 'integer' and y.n == -7");
  CHECK_LUA("y.p == 3 and y.h == 31 and y.o == 15");
  CHECK_LUA("math.type(y.f) == 'float' and y.f == 1.5");
  CHECK_LUA("math.type(y.e) == 'float' and y.e == 1e-3");
  CHECK_LUA("y.E == -250.0 and y.d == 0.5");
  CHECK_LUA("y.inf == math.huge and y.ninf == -math.huge");
  CHECK_LUA("y.nan ~= y.nan");
  CHECK_LUA("y.t == true and y.F == false");
  CHECK_LUA("y.nul == nil and y.nul2 == nil and y.empty == nil");
  /* an explicit null is remembered, so it can delete a base recipe's key */
  CHECK_LUA("strata.where(y, 'nul') == 't.yaml:15:6'");
  CHECK_LUA("y.s == '42' and y.s2 == '1e-3' and y.s3 == 'yes'");
  CHECK_LUA("y.s4 == '1_000' and y.tag == '12'");
  CHECK_LUA("math.type(y.tagf) == 'float' and y.tagf == 3");
  CHECK_LUA("math.type(y.big) == 'float' and y.big == 1e20");
  CHECK_LUA("y.lit == 'two\\nlines\\n'");
  /* positions: value and key */
  CHECK_LUA("strata.where(y, 'f') == 't.yaml:6:4'");
  CHECK_LUA("strata.where(y, 'f', 'key') == 't.yaml:6:1'");
  CHECK_LUA("strata.where(y) == 't.yaml:1:1'");
  /* lists and an integer key */
  CHECK(!yaml("l: [a, 2, {k: v}]\n3: three\n"));
  CHECK_LUA("#y.l == 3 and y.l[1] == 'a' and y.l[2] == 2 and y.l[3].k == 'v'");
  CHECK_LUA("y[3] == 'three'");
  CHECK_LUA("strata.where(y.l, 3) == 't.yaml:1:11'");
  CHECK_LUA("strata.where(y.l[3], 'k') == 't.yaml:1:15'");
  /* empty documents */
  CHECK(!yaml(""));
  CHECK_LUA("y == nil");
  CHECK(!yaml("# only a comment\n"));
  CHECK_LUA("y == nil");
  CHECK(!yaml("42"));
  CHECK_LUA("y == 42");
}

static void test_anchors_merges(void) {
  CHECK(!yaml("base: &b {x: 1, y: [1, 2]}\n"
              "copy: *b\n"
              "m:\n"
              "  <<: *b\n"
              "  y: 3\n"
              "ml:\n"
              "  <<: [{p: 1}, {p: 2, q: 3}]\n"
              "  r: 4\n"
              "n: &nothing ~\n"
              "n2: *nothing\n"
              "s: &s hello\n"
              "s2: *s\n"));
  CHECK_LUA("y.copy.x == 1 and y.copy.y[2] == 2");
  /* an alias is a copy: changing it leaves the anchor alone */
  CHECK_LUA("y.copy ~= y.base and y.copy.y ~= y.base.y");
  CHECK_LUA("(function() y.copy.y[1] = 9; return y.base.y[1] == 1 end)()");
  CHECK_LUA("y.m.x == 1 and y.m.y == 3 and y.m.y ~= y.base.y");
  CHECK_LUA("y.ml.p == 1 and y.ml.q == 3 and y.ml.r == 4");
  CHECK_LUA("y.n == nil and y.n2 == nil and y.s2 == 'hello'");
  /* merged keys remember where their anchor wrote them */
  CHECK_LUA("strata.where(y.m, 'x') == 't.yaml:1:14'");
  CHECK_LUA("strata.where(y.m, 'y') == 't.yaml:5:6'");
  CHECK_LUA("strata.where(y.copy, 'x') == 't.yaml:1:14'");
  CHECK_LUA("strata.where(y.ml, 'q') == 't.yaml:7:26'");
  /* a merged key may be written explicitly; a written key may not repeat */
  CHECK(!yaml("a: &a {k: 1}\nb:\n  k: 2\n  <<: *a\n"));
  CHECK_LUA("y.b.k == 2");
  CHECK_ERR_IS(yaml("a: *nope\n"), "t.yaml:1:4: undefined alias '*nope'");
  CHECK_ERR_IS(yaml("a:\n  <<: 3\n"),
               "t.yaml:2:7: '<<' takes a map or a list of maps");
  CHECK_ERR_IS(yaml("a: &a {x: 1}\nb:\n  <<: [*a, 2]\n"),
               "t.yaml:3:7: '<<' takes a map or a list of maps");
  /* exponential alias expansion stops instead of eating the machine: *e
   * is 111111 nodes, so the 8th copy on line 6 (column 36) passes 10^6 */
  CHECK_ERR(yaml("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                 "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                 "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                 "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                 "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                 "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                 "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"),
            "t.yaml:6:36: too many nodes after alias expansion");
}

static void test_errors(void) {
  CHECK_ERR_IS(yaml("a: 1\nb:\n  c: 2\n  c: 3\n"),
               "t.yaml:4:3: duplicate key 'c' (first at t.yaml:3:3)");
  CHECK_ERR_IS(yaml("1: a\n1: b\n"),
               "t.yaml:2:1: duplicate key '1' (first at t.yaml:1:1)");
  CHECK_ERR_IS(yaml("l: [1, ~]\n"),
               "t.yaml:1:8: null items in a list are not supported");
  CHECK_ERR_IS(yaml("a: 1\n---\nb: 2\n"),
               "t.yaml:2:1: more than one YAML document");
  CHECK_ERR_IS(yaml("a: !!binary abc\n"),
               "t.yaml:1:4: unsupported tag 'tag:yaml.org,2002:binary'");
  CHECK_ERR_IS(yaml("a: !!int x\n"), "t.yaml:1:4: 'x' is not a valid !!int");
  CHECK_ERR_IS(yaml("? [a, b]\n: c\n"),
               "t.yaml:1:3: map and list keys are not supported");
  CHECK_ERR_IS(yaml("~: a\n"), "t.yaml:1:1: null key");
  /* syntax errors name the problem's line:col (PyYAML: the same marks) */
  CHECK_ERR(yaml("a: 1\nb: [1, 2\nc: 3\n"), "t.yaml:3:2: syntax error: ");
  CHECK_ERR(yaml("a: 1\nb: [1, 2\nc: 3\n"),
            "flow sequence at line 2, column 4");
  CHECK_ERR(yaml("a: 1\n\tb: 2\n"), "t.yaml:2:1: syntax error: ");
  CHECK_ERR(yaml("a:\n  b: 1\n c: 2\n"), "t.yaml:3:2: syntax error: ");
  CHECK_ERR(yaml("a: 'x\n"),
            "t.yaml:2:1: syntax error: found unexpected end of stream");
  CHECK_ERR(yaml("key: [a, b]]\n"), "t.yaml:1:12: syntax error: ");
  CHECK_ERR_IS(yaml("a: b: c\n"), "t.yaml:1:5: syntax error: mapping values "
                                  "are not allowed in this context");
  /* a file that is not there */
  CHECK_ERR(lua_run("strata.yaml_load('" FIX "nothing_here.yaml')"),
            FIX "nothing_here.yaml: cannot open: No such file or directory");
  /* an unreadable byte sequence */
  CHECK_ERR(yaml("a: \xff\xfe\xfd\n"), "t.yaml: invalid");
}

static void test_include(void) {
  CHECK(!lua_run("r = strata.load_recipe('" FIX "base.yaml')"));
  CHECK_LUA("r.model == 'models/base.bin' and r.device == 'cpu'");
  CHECK_LUA("r.train.steps == 100 and r.train.lr == 1e-3");
  CHECK_LUA("#r.lora.modules == 2 and r.policy.params.k == 2");
  /* defaults */
  CHECK_LUA(
      "r.trace.samples == 64 and math.type(r.trace.samples) == 'integer'");
  CHECK_LUA("r.trace.keep == 0 and r.data.format == 'text'");
  CHECK_LUA("strata.where(r.trace, 'samples') == '(default)'");

  /* child over base: maps merge, lists and scalars replace */
  CHECK(!lua_run("r = strata.load_recipe('" FIX "child.yaml')"));
  CHECK_LUA("r.include == nil");
  CHECK_LUA("r.model == 'models/child.bin'");
  CHECK_LUA(
      "r.train.lr == 5e-4 and r.train.steps == 100 and r.train.seq_len == 64");
  CHECK_LUA("r.train.batch_size == 8");
  CHECK_LUA("#r.lora.modules == 1 and r.lora.modules[1] == 'q_proj'");
  CHECK_LUA("r.lora.rank == 8 and r.lora.alpha == 16");
  CHECK_LUA("r.policy.script == 'scripts/policies/top_k.lua'");
  CHECK_LUA("r.policy.params.k == 3 and r.policy.params.extra == 'yes'");
  CHECK_LUA("r.data.train == 'data/train.txt'");
  CHECK_LUA("strata.where(r.train, 'lr') == '" FIX "child.yaml:4:7'");
  CHECK_LUA("strata.where(r.train, 'steps') == '" FIX "base.yaml:11:10'");

  /* extends from a subfolder, relative to the including file; an explicit
   * null deletes; 1e3 for an int becomes the int 1000 */
  CHECK(!lua_run("r = strata.load_recipe('" FIX "sub/grand.yaml')"));
  CHECK_LUA("r.lora == nil and r.model == 'models/child.bin'");
  CHECK_LUA("r.train.steps == 1000 and math.type(r.train.steps) == 'integer'");
  CHECK_LUA("r.train.lr == 5e-4");

  /* several bases: later ones win, the child over all */
  CHECK(!lua_run("r = strata.load_recipe('" FIX "multi.yaml')"));
  CHECK_LUA("r.train.steps == 5 and r.train.lr == 1e-3 and r.model == "
            "'models/base.bin'");
  CHECK_LUA("r.eval.every == 10 and r.eval.metrics[1] == 'loss'");

  /* anchors in a recipe; top-level _keys are scratch space */
  CHECK(!lua_run("r = strata.load_recipe('" FIX "anchors.yaml')"));
  CHECK_LUA(
      "r.train.steps == 50 and r.train.batch_size == 4 and r.train.lr == 0.01");

  CHECK_ERR_IS(lua_run("strata.load_recipe('" FIX "cycle_a.yaml')"), FIX
               "cycle_b.yaml:1:10: include cycle: " FIX "cycle_a.yaml -> " FIX
               "cycle_b.yaml -> " FIX "cycle_a.yaml");
  CHECK_ERR_IS(lua_run("strata.load_recipe('" FIX "both.yaml')"), FIX
               "both.yaml:2:10: use either 'include' or 'extends', not both");
  CHECK_ERR_IS(
      lua_run("strata.load_recipe('" FIX "missing_base.yaml')"), FIX
      "missing_base.yaml:1:10: include 'no_such_base.yaml': cannot open '" FIX
      "no_such_base.yaml': No such file or directory");
}

static void test_overrides(void) {
  CHECK(!lua_run("r = strata.load_recipe('" FIX
                 "child.yaml', {'train.lr=0.25', "
                 "'lora.modules=[q, v, o]', 'train.schedule={script: s.lua, "
                 "params: {w: 10}}', "
                 "'data.template=\"Review: {text}\"', 'data.label_column=2', "
                 "'lora.modules.2=k', 'policy.params.k=', 'device=cuda'})"));
  CHECK_LUA("r.train.lr == 0.25 and math.type(r.train.lr) == 'float'");
  CHECK_LUA("#r.lora.modules == 3 and r.lora.modules[2] == 'k' and "
            "r.lora.modules[3] == 'o'");
  CHECK_LUA(
      "r.train.schedule.script == 's.lua' and r.train.schedule.params.w == 10");
  CHECK_LUA("r.data.template == 'Review: {text}' and r.data.label_column == 2");
  CHECK_LUA("r.policy.params.k == nil and r.policy.params.extra == 'yes'");
  CHECK_LUA("r.device == 'cuda'");
  CHECK_LUA("strata.where(r.train, 'lr') == '--set train.lr=0.25'");
  /* the map form, with Lua values */
  CHECK(!lua_run("r = strata.load_recipe('" FIX
                 "child.yaml', {['train.steps'] = 7, "
                 "['eval'] = {every = 5, metrics = {'loss', 'accuracy'}}})"));
  CHECK_LUA("r.train.steps == 7 and r.eval.every == 5 and r.eval.metrics[2] == "
            "'accuracy'");

  /* what --set creates is checked like the rest */
  CHECK_ERR_IS(
      lua_run("strata.load_recipe('" FIX "child.yaml', {'train.lrr=1'})"),
      "--set train.lrr=1: unknown key 'train.lrr' (did you mean 'lr'?)");
  CHECK_ERR_IS(
      lua_run("strata.load_recipe('" FIX "child.yaml', {'train.steps=abc'})"),
      "--set train.steps=abc: key 'train.steps': expected int in 0..1000000000, got string "
      "\"abc\"");
  CHECK_ERR_IS(
      lua_run("strata.load_recipe('" FIX "child.yaml', {'newsection.x=1'})"),
      "--set newsection.x=1: unknown key 'newsection'");
  CHECK_ERR_IS(lua_run("strata.load_recipe('" FIX
                       "child.yaml', {['train.lr'] = 'fast'})"),
               "override train.lr: key 'train.lr': expected number > 0, got "
               "string \"fast\"");
  CHECK_ERR_IS(
      lua_run("strata.load_recipe('" FIX "child.yaml', {'model.x=1'})"),
      "--set model.x=1: 'model' is a string, not a map");
  CHECK_ERR_IS(lua_run("strata.load_recipe('" FIX "child.yaml', {'train.lr'})"),
               "--set train.lr: expected key=value");
  CHECK_ERR_IS(
      lua_run("strata.load_recipe('" FIX "child.yaml', {'train..lr=1'})"),
      "--set train..lr=1: empty key in 'train..lr'");
  CHECK_ERR_IS(
      lua_run("strata.load_recipe('" FIX "child.yaml', {'lora.modules.5=x'})"),
      "--set lora.modules.5=x: 'lora.modules' is a list of 1 item(s); no item "
      "'5'");
  CHECK_ERR(lua_run("strata.load_recipe('" FIX "child.yaml', {'train.lr=[1'})"),
            "--set train.lr=[1: syntax error: ");

  /* the C entry point */
  const char *sets[] = {"train.lr=0.5", "train.steps=3"};
  int top = lua_gettop(L);
  CHECK(sl_recipe_load(L, FIX "child.yaml", 2, sets) == ST_OK);
  CHECK(lua_gettop(L) == top + 1);
  lua_setglobal(L, "r");
  CHECK_LUA("r.train.lr == 0.5 and r.train.steps == 3");
  const char *bad[] = {"train.lr=-1"};
  CHECK(sl_recipe_load(L, FIX "child.yaml", 1, bad) == ST_ERR);
  CHECK(lua_gettop(L) == top);
  CHECK_ERR_IS(
      st_errmsg(),
      "--set train.lr=-1: key 'train.lr': expected number > 0, got int -1");
  /* every int has a range: a step count past it is refused by name, not
   * cut to 32 bits (4294967299 would train 3 steps) */
  const char *big[] = {"train.steps=4294967299"};
  CHECK(sl_recipe_load(L, FIX "child.yaml", 1, big) == ST_ERR);
  CHECK_ERR_IS(st_errmsg(), "--set train.steps=4294967299: key 'train.steps': expected int in "
                            "0..1000000000, got int 4294967299");
  const char *many[] = {"trace.samples=4000000000"};
  CHECK(sl_recipe_load(L, FIX "child.yaml", 1, many) == ST_ERR);
  CHECK(strstr(st_errmsg(), "key 'trace.samples': expected int in 1..1000000") != NULL);
  /* a non-finite number is no learning rate, however large */
  const char *inf[] = {"train.lr=.inf"};
  CHECK(sl_recipe_load(L, FIX "child.yaml", 1, inf) == ST_ERR);
  CHECK(strstr(st_errmsg(), "key 'train.lr': expected number > 0") != NULL);
  const char *nan[] = {"train.weight_decay=.nan"};
  CHECK(sl_recipe_load(L, FIX "child.yaml", 1, nan) == ST_ERR);
  CHECK(strstr(st_errmsg(), "key 'train.weight_decay'") != NULL);
}

/* strata.check_recipe over YAML text, for the schema alone */
static const char *check(const char *text) {
  char code[2048];
  snprintf(code, sizeof code,
           "r = strata.check_recipe(strata.yaml_load([==[%s]==], 'string'))",
           text);
  return lua_run(code);
}

static void test_schema(void) {
  CHECK_ERR_IS(lua_run("strata.load_recipe('" FIX "bad_type.yaml')"),
               FIX "bad_type.yaml:4:7: key 'train.lr': expected number > 0, "
                   "got string \"abc\"");
  CHECK_ERR_IS(
      lua_run("strata.load_recipe('" FIX "unknown_key.yaml')"),
      FIX "unknown_key.yaml:3:3: unknown key 'train.lrr' (did you mean 'lr'?)");
  CHECK(!check("model: m\ndata: {train: t}\n"));
  CHECK_ERR_IS(
      check("model: m\ndata: {train: t}\ntrain: {stpes: 3}\n"),
      "<string>:3:9: unknown key 'train.stpes' (did you mean 'steps'?)");
  CHECK_ERR_IS(check("data: {train: t}\n"),
               "<string>:1:1: key 'model' is required");
  CHECK_ERR_IS(check("model: m\ndata: {eval: e}\n"),
               "<string>:2:7: key 'data.train' is required");
  CHECK_ERR_IS(
      check("model: m\ndata: {train: t, format: csv}\n"),
      "<string>:2:26: key 'data.format': expected one of "
      "text|jsonl|prompt-completion|tsv-classification|csv-classification|"
      "chat|alpaca, got string \"csv\"");
  CHECK_ERR_IS(check("model: m\ndata: {train: t}\nlr: 0.1\n"),
               "<string>:3:1: unknown key 'lr' (it belongs at 'train.lr')");
  CHECK_ERR_IS(
      check("model: m\ndata: {train: t}\nlora: {modules: []}\n"),
      "<string>:3:17: key 'lora.modules': expected non-empty list, got list");
  CHECK_ERR_IS(
      check("model: m\ndata: {train: t}\neval:\n  metrics: [loss, bleu]\n"),
      "<string>:4:19: key 'eval.metrics[2]': expected one of "
      "loss|perplexity|accuracy|f1, got string \"bleu\"");
  CHECK_ERR_IS(check("model: m\ndata: {train: t}\nthreads: 0\n"),
               "<string>:3:10: key 'threads': expected int in 1..1024, got int 0");
  CHECK_ERR_IS(
      check("model: m\ndata: {train: t}\ntrain: {beta2: 1}\n"),
      "<string>:3:16: key 'train.beta2': expected number in [0, 1), got int 1");
  CHECK_ERR_IS(
      check("model: m\ndata: {train: t}\ntrain: {steps: 2.5}\n"),
      "<string>:3:16: key 'train.steps': expected int in 0..1000000000, got number 2.5");
  CHECK_ERR_IS(check("model: m\ndata: {train: t}\nlora: {rslora: yes}\n"),
               "<string>:3:16: key 'lora.rslora': expected bool (true or "
               "false), got string \"yes\"");
  CHECK_ERR_IS(check("model: m\ndata: {train: t}\npolicy: [a]\n"),
               "<string>:3:9: key 'policy': expected map, got list");
  CHECK_ERR_IS(check("model: 3\ndata: {train: t}\n"),
               "<string>:1:8: key 'model': expected string, got int 3");
  /* the first error in file order, and how many more */
  CHECK_ERR_IS(
      check("model: m\ndata: {train: t}\ntrain: {lr: x, steps: y}\nfoo: 1\n"),
      "<string>:3:13: key 'train.lr': expected number > 0, got string \"x\" "
      "(and 2 more errors)");
  /* dictionaries and free-form maps */
  CHECK(!check(
      "model: m\ndata:\n  train: t\n  label_column: 1\n"
      "  verbalizers: {0: negative, 1: positive}\n"
      "policy: {script: p.lua, params: {anything: [1, {b: c}]}}\n"
      "lora: {rank_pattern: {layers.0: 4}, alpha_pattern: {q_proj: 0.5}}\n"));
  CHECK_LUA("r.data.verbalizers[0] == 'negative' and r.data.label_column == 1");
  CHECK_ERR_IS(
      check("model: m\ndata:\n  train: t\n  verbalizers: {0: 1}\n"),
      "<string>:4:20: key 'data.verbalizers[0]': expected string, got int 1");
  CHECK_ERR_IS(
      check("model: m\ndata: {train: t}\nlora: {rank_pattern: {x: 0}}\n"),
      "<string>:3:26: key 'lora.rank_pattern.x': expected int in 1..65536, got int 0");
  CHECK_ERR_IS(
      check("model: m\ndata: {train: t}\nlora: {rank_pattern: {3: 4}}\n"),
      "<string>:3:23: key 'lora.rank_pattern': keys must be strings, got int "
      "3");
  CHECK_ERR_IS(check("model: m\ndata: {train: t, label_column: 1.5}\n"),
               "<string>:2:32: key 'data.label_column': expected string or "
               "int, got number 1.5");
  CHECK_ERR_IS(lua_run("strata.check_recipe({1, 2})"),
               "a recipe is a map of keys, not a list");
}

int main(void) {
  L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "strata", luaopen_strata, 1);
  lua_pop(L, 1);
  test_scalars();
  test_anchors_merges();
  test_errors();
  test_include();
  test_overrides();
  test_schema();
  CHECK(lua_gettop(L) == 0);
  lua_close(L);
  TEST_DONE();
}
