/* svg.h - the few plots strata draws, written directly as plain SVG (no
 * library, no script): bars per layer, lines over steps, and points with
 * error bars. Every number drawn also appears as text (a <title> tooltip
 * per mark) so a figure can be checked against the table it came from.
 * Files are written to a temporary file and renamed into place (fs.h). */
#ifndef ST_SVG_H
#define ST_SVG_H

typedef struct st_series {
  const char *name;
  int n;
  const double *x, *y;
  const double *err; /* NULL: no error bars */
  int color;         /* 1-based palette index; 0: by position */
  int dashed;        /* lines: dashed stroke */
} st_series;

/* Grouped bars: groups[g] values[g][i] for i < n categories (labels[i]);
 * marked[i] != 0 draws category i highlighted (the selected layers). */
int st_svg_bars(const char *path, const char *title, const char *ylabel,
                int n, const char *const *labels, int ngroups,
                const char *const *group_names, const double *const *values,
                const int *marked);
/* Line plot of several series over a shared x axis. */
int st_svg_lines(const char *path, const char *title, const char *xlabel,
                 const char *ylabel, int ns, const st_series *s);
/* One labelled point (with optional error bar) per series element. */
int st_svg_points(const char *path, const char *title, const char *xlabel,
                  const char *ylabel, int ns, const st_series *s);

#endif
