/* report.h - report.html: a run folder or a sweep folder on one
 * self-contained page (inline CSS, the folder's SVG figures inlined, no
 * script, no network), to open from disk or attach to a message.
 *
 * Everything is read from the folder's files, so a report can be written at
 * the end of a run or sweep, while one is under way, or for an old folder.
 * The page is well-formed XHTML (checked with xmllint); every string from
 * the files is escaped, and bytes that are not valid UTF-8 become U+FFFD.
 * Both functions return ST_OK, or ST_ERR with st_err naming the folder or
 * file, and never raise. */
#ifndef SL_REPORT_H
#define SL_REPORT_H

#include <lauxlib.h>

/* RUN/report.html from summary.json (recipe, model, steps, times, tokens/s,
 * backprop and ideal ratios, zero-shot and final eval), plan.json (the plan
 * table), trace.json (per-layer measures), recipe.resolved.yaml and every
 * *.svg in RUN. A missing file leaves its section out (a run under way has
 * no summary.json yet); a folder with none of them, or a file that is not
 * the JSON object it should be, is an error. */
int sl_report_run(const char *run_dir);
/* SWEEP/report.html from results.csv (the results table), every *.svg in
 * SWEEP and each run folder under SWEEP/runs (its summary, with a link to
 * its own report.html when it has one). Without results.csv: an error. */
int sl_report_sweep(const char *sweep_dir);

/* strata.report(dir) -> the report's path: a sweep folder when dir holds
 * results.csv, else a run folder; raises with the message on failure */
extern const luaL_Reg sl_report_funcs[];

#endif
