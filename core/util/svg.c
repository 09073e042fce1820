/* svg.c - plain SVG plots (see svg.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "fs.h"
#include "svg.h"

enum { W = 720, H = 420, ML = 70, MR = 170, MT = 40, MB = 60 };
static const char *palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                "#bcbd22", "#17becf"};
#define NPAL (int)(sizeof palette / sizeof *palette)

/* text content: XML-escaped */
static void esc(FILE *f, const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '&': fputs("&amp;", f); break;
    case '"': fputs("&quot;", f); break;
    default: fputc(*s, f);
    }
  }
}

typedef struct axis { double lo, hi; } axis;

/* a range with a little headroom, and a "nice" tick step */
static axis span(double lo, double hi, int zero) {
  if (zero && lo > 0) lo = 0;
  if (!(hi > lo)) hi = lo + 1;
  double pad = (hi - lo) * 0.05;
  return (axis){zero && lo == 0 ? 0 : lo - pad, hi + pad};
}

static double nice_step(axis a) {
  double raw = (a.hi - a.lo) / 5, p = pow(10, floor(log10(raw)));
  double m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static double px(axis a, double v) { return ML + (v - a.lo) / (a.hi - a.lo) * (W - ML - MR); }
static double py(axis a, double v) { return H - MB - (v - a.lo) / (a.hi - a.lo) * (H - MT - MB); }

static int finish(st_atomic *a) {
  fputs("</svg>\n", a->f);
  return st_atomic_commit(a);
}

static void header(FILE *f, const char *title) {
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
             "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
          W, H, W, H);
  fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
  fprintf(f, "<text x=\"%d\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">", (W - MR + ML) / 2);
  esc(f, title);
  fputs("</text>\n", f);
}

static void yaxis(FILE *f, axis a, const char *label) {
  double st = nice_step(a);
  for (double v = ceil(a.lo / st) * st; v <= a.hi + 1e-12; v += st) {
    double y = py(a, v);
    fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", ML,
            W - MR, y, y);
    fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", ML - 6, y + 4,
            fabs(v) < st * 1e-6 ? 0 : v);
  }
  fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", ML, ML, MT,
          H - MB);
  fprintf(f, "<text transform=\"translate(16 %d) rotate(-90)\" text-anchor=\"middle\">",
          (H - MB + MT) / 2);
  esc(f, label);
  fputs("</text>\n", f);
}

static void xaxis_numeric(FILE *f, axis a, const char *label) {
  double st = nice_step(a);
  for (double v = ceil(a.lo / st) * st; v <= a.hi + 1e-12; v += st)
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", px(a, v),
            H - MB + 18, fabs(v) < st * 1e-6 ? 0 : v);
  fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", ML, W - MR,
          H - MB, H - MB);
  fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (W - MR + ML) / 2, H - 16);
  esc(f, label);
  fputs("</text>\n", f);
}

static const char *color_of(const st_series *s, int k) {
  return palette[(s && s[k].color > 0 ? s[k].color - 1 : k) % NPAL];
}

static void legend(FILE *f, int i, const char *name, int marker, const char *color) {
  int y = MT + 10 + 18 * i, x = W - MR + 14;
  if (marker == 1)
    fprintf(f, "<circle cx=\"%d\" cy=\"%d\" r=\"4\" fill=\"%s\"/>\n", x + 6, y - 4, color);
  else if (marker == 2) /* a dashed line */
    fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" "
               "stroke-width=\"2\" stroke-dasharray=\"4 3\"/>\n", x, x + 12, y - 4, y - 4, color);
  else
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"8\" fill=\"%s\"/>\n", x, y - 8,
            color);
  fprintf(f, "<text x=\"%d\" y=\"%d\">", x + 18, y);
  esc(f, name);
  fputs("</text>\n", f);
}

int st_svg_bars(const char *path, const char *title, const char *ylabel, int n,
                const char *const *labels, int ngroups, const char *const *group_names,
                const double *const *values, const int *marked) {
  st_atomic out;
  FILE *f = st_atomic_open(&out, path);
  if (!f) return ST_ERR;
  double lo = 0, hi = 0;
  for (int g = 0; g < ngroups; g++)
    for (int i = 0; i < n; i++)
      if (isfinite(values[g][i])) {
        if (values[g][i] < lo) lo = values[g][i];
        if (values[g][i] > hi) hi = values[g][i];
      }
  axis a = span(lo, hi, 1);
  header(f, title);
  yaxis(f, a, ylabel);
  double slot = (double)(W - ML - MR) / (n > 0 ? n : 1), bw = slot * 0.8 / (ngroups ? ngroups : 1);
  for (int i = 0; i < n; i++) {
    double x0 = ML + slot * i + slot * 0.1;
    if (marked && marked[i])
      fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#fff3bf\"/>\n",
              ML + slot * i, MT, slot, H - MT - MB);
    for (int g = 0; g < ngroups; g++) {
      double v = values[g][i];
      if (!isfinite(v)) continue;
      double y0 = py(a, 0), y1 = py(a, v);
      fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                 "<title>",
              x0 + bw * g, fmin(y0, y1), bw, fabs(y1 - y0), palette[g % NPAL]);
      esc(f, labels[i]);
      fputs(" ", f);
      esc(f, group_names[g]);
      fprintf(f, " = %.6g</title></rect>\n", v);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", ML + slot * (i + 0.5),
            H - MB + 18);
    esc(f, labels[i]);
    fprintf(f, "%s</text>\n", marked && marked[i] ? "*" : "");
  }
  fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", ML, W - MR,
          py(a, 0), py(a, 0));
  for (int g = 0; g < ngroups; g++) legend(f, g, group_names[g], 0, palette[g % NPAL]);
  if (marked) {
    int y = MT + 10 + 18 * ngroups;
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"8\" fill=\"#fff3bf\" "
               "stroke=\"#ccc\"/>\n<text x=\"%d\" y=\"%d\">selected (*)</text>\n",
            W - MR + 14, y - 8, W - MR + 32, y);
  }
  return finish(&out);
}

static void data_range(int ns, const st_series *s, axis *ax, axis *ay, int zero_y) {
  double xl = INFINITY, xh = -INFINITY, yl = INFINITY, yh = -INFINITY;
  for (int k = 0; k < ns; k++)
    for (int i = 0; i < s[k].n; i++) {
      double e = s[k].err ? s[k].err[i] : 0;
      if (!isfinite(s[k].x[i]) || !isfinite(s[k].y[i])) continue;
      xl = fmin(xl, s[k].x[i]);
      xh = fmax(xh, s[k].x[i]);
      yl = fmin(yl, s[k].y[i] - e);
      yh = fmax(yh, s[k].y[i] + e);
    }
  if (!isfinite(xl)) xl = 0, xh = 1, yl = 0, yh = 1;
  *ax = span(xl, xh, 0);
  *ay = span(yl, yh, zero_y);
}

/* opens the file and draws the frame of an x-y plot scaled to the data */
static FILE *xy_frame(st_atomic *a, const char *path, const char *title,
                      const char *xlabel, const char *ylabel, int ns, const st_series *s,
                      axis *ax, axis *ay) {
  FILE *f = st_atomic_open(a, path);
  if (!f) return NULL;
  data_range(ns, s, ax, ay, 0);
  header(f, title);
  yaxis(f, *ay, ylabel);
  xaxis_numeric(f, *ax, xlabel);
  return f;
}

int st_svg_lines(const char *path, const char *title, const char *xlabel, const char *ylabel,
                 int ns, const st_series *s) {
  st_atomic out;
  axis ax, ay;
  FILE *f = xy_frame(&out, path, title, xlabel, ylabel, ns, s, &ax, &ay);
  if (!f) return ST_ERR;
  for (int k = 0; k < ns; k++) {
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s points=\"",
            color_of(s, k), s[k].dashed ? " stroke-dasharray=\"4 3\"" : "");
    for (int i = 0; i < s[k].n; i++)
      if (isfinite(s[k].y[i])) fprintf(f, "%.1f,%.1f ", px(ax, s[k].x[i]), py(ay, s[k].y[i]));
    fputs("\"><title>", f);
    esc(f, s[k].name);
    fputs("</title></polyline>\n", f);
    legend(f, k, s[k].name, s[k].dashed ? 2 : 0, color_of(s, k));
  }
  return finish(&out);
}

int st_svg_points(const char *path, const char *title, const char *xlabel, const char *ylabel,
                  int ns, const st_series *s) {
  st_atomic out;
  axis ax, ay;
  FILE *f = xy_frame(&out, path, title, xlabel, ylabel, ns, s, &ax, &ay);
  if (!f) return ST_ERR;
  for (int k = 0; k < ns; k++) {
    for (int i = 0; i < s[k].n; i++) {
      double x = px(ax, s[k].x[i]), y = py(ay, s[k].y[i]);
      if (!isfinite(s[k].y[i])) continue;
      if (s[k].err && s[k].err[i] > 0)
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", x,
                x, py(ay, s[k].y[i] - s[k].err[i]), py(ay, s[k].y[i] + s[k].err[i]),
                color_of(s, k));
      fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"><title>", x, y,
              color_of(s, k));
      esc(f, s[k].name);
      fprintf(f, ": x = %.6g, y = %.6g", s[k].x[i], s[k].y[i]);
      if (s[k].err) fprintf(f, " +/- %.6g", s[k].err[i]);
      fputs("</title></circle>\n", f);
      /* the name beside the point: colours repeat past ten series */
      fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#333\">", x + 7, y - 5);
      esc(f, s[k].name);
      fputs("</text>\n", f);
    }
    legend(f, k, s[k].name, 1, color_of(s, k));
  }
  return finish(&out);
}
