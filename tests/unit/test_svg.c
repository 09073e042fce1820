/* The SVG plots are well-formed XML (xmllint) and carry exactly the numbers
 * they were given, in each mark's <title>. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "svg.h"
#include "test.h"

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = calloc(n + 1, 1);
  if (fread(s, 1, n, f) != (size_t)n) n = 0;
  fclose(f);
  return s;
}

static void well_formed(const char *path) {
  if (system("command -v xmllint >/dev/null 2>&1") != 0) {
    printf("xmllint not installed: well-formedness not checked\n");
    return;
  }
  char cmd[600];
  snprintf(cmd, sizeof cmd, "xmllint --noout '%s'", path);
  CHECK_MSG(system(cmd) == 0, "%s is not well-formed XML", path);
}

int main(void) {
  char dir[] = "/tmp/strata_svg_XXXXXX", p[600];
  CHECK(mkdtemp(dir) != NULL);

  /* bars: the values, labels with XML metacharacters, marked layers */
  const char *labels[] = {"0", "1", "2", "<3&>"};
  double a[] = {0.5, 1.25, -0.75, 2.0}, b[] = {0.1, 0.2, 0.3, NAN};
  const double *vals[] = {a, b};
  const char *groups[] = {"delta_norm", "gain \"x\""};
  int marked[] = {0, 1, 0, 1};
  snprintf(p, sizeof p, "%s/bars.svg", dir);
  CHECK(st_svg_bars(p, "trace & gain", "value", 4, labels, 2, groups, vals, marked) == ST_OK);
  well_formed(p);
  char *s = slurp(p);
  CHECK(s && strstr(s, "<title>1 delta_norm = 1.25</title>"));
  CHECK(s && strstr(s, "<title>2 delta_norm = -0.75</title>"));
  CHECK(s && strstr(s, "<title>&lt;3&amp;&gt; delta_norm = 2</title>"));
  CHECK(s && strstr(s, "gain &quot;x&quot; = 0.3"));
  CHECK(s && !strstr(s, "nan")); /* a missing value is not drawn */
  free(s);

  /* lines and points */
  double x[] = {1, 2, 3}, y1[] = {3.5, 2.25, 1.5}, y2[] = {3.0, 2.0, 1.0}, e[] = {0.1, 0.2, 0.05};
  st_series ls[] = {{"full", 3, x, y1, NULL, 0, 0}, {"semantic", 3, x, y2, NULL, 0, 1}};
  snprintf(p, sizeof p, "%s/lines.svg", dir);
  CHECK(st_svg_lines(p, "loss", "step", "loss", 2, ls) == ST_OK);
  well_formed(p);
  s = slurp(p);
  CHECK(s && strstr(s, "<title>semantic</title>"));
  free(s);
  st_series ps[] = {{"semantic", 3, x, y2, e, 0, 0}};
  snprintf(p, sizeof p, "%s/points.svg", dir);
  CHECK(st_svg_points(p, "cost vs quality", "backprop %", "accuracy", 1, ps) == ST_OK);
  well_formed(p);
  s = slurp(p);
  CHECK(s && strstr(s, "<title>semantic: x = 2, y = 2 +/- 0.2</title>"));
  free(s);

  /* an unwritable path is an error, and leaves no .tmp behind */
  CHECK(st_svg_lines("/nonexistent/dir/x.svg", "t", "x", "y", 2, ls) == ST_ERR);
  CHECK(strstr(st_errmsg(), "/nonexistent/dir/x.svg") != NULL);
  snprintf(p, sizeof p, "rm -rf %s", dir);
  CHECK(system(p) == 0);
  TEST_DONE();
}
