/* What a person sees of a sweep, drawn from its event log (sweep_status.h).
 *
 * `sweeprun sweep` on rank 0 runs a watcher thread that tails OUT/events.jsonl
 * (it makes no MPI or HDF5 call, so the training thread is undisturbed):
 *   live   (stdout is a terminal): a table redrawn in place at most 4 times
 *          a second: totals, one row per running trial, the best so far,
 *          the ETA; each finished trial scrolls above it as one line.
 *   plain  (logs, pipes): one line per trial start and end, and a one-line
 *          summary every `every` seconds; per-epoch lines with --verbose.
 *   quiet  one line per trial end.
 * Every line of every rank goes through rank 0's watcher, so the output of
 * a many-rank sweep never interleaves. `sweeprun status` prints the same
 * table once (sweep_view_print_status). */
#ifndef SWEEPRUN_SWEEP_VIEW_H
#define SWEEPRUN_SWEEP_VIEW_H
#include <stdio.h>
#include "sweep_status.h"

typedef enum { VIEW_QUIET, VIEW_PLAIN, VIEW_LIVE } ViewMode;

typedef struct SweepWatch SweepWatch;

/* Start watching events_path (written from its current end: an earlier
 * run's events are read into the status silently). */
SweepWatch *sweep_watch_start(const char *events_path, FILE *out, ViewMode mode, int verbose, double every_seconds);
/* Read the last events, draw the final state, clear the live table, stop
 * the thread. */
void sweep_watch_stop(SweepWatch *w);

/* Text pieces shared by the live view and `sweeprun status`. */
void view_duration(double seconds, char *buf, int size);          /* 41s, 3m12s, 2h05m, "?" for NaN */
void view_totals_line(const SweepStatus *s, int running_now, char *buf, int size);
void view_best_line(const SweepStatus *s, char *buf, int size);
/* The running (or interrupted) trials as a table fitted to width columns:
 * columns are dropped from the least useful (host, then swept values from
 * the right) until it fits. Returns the number of lines written. */
int view_print_table(const SweepStatus *s, FILE *out, int width);
/* `sweeprun status`: header, totals, table, best, notes about the log. */
void sweep_view_print_status(const SweepStatus *s, const char *out_dir, int running_now, FILE *out, int width);
/* The terminal's width (80 when it cannot be asked). */
int view_terminal_width(FILE *f);

#endif
