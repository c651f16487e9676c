/* `sweeprun sweep FILE --dry-run`: the trial list as a table, one row per
 * trial (number, id, model, seed, epochs, every swept key, state of its run
 * file, run file name). */
#ifndef SWEEPRUN_SWEEP_TABLE_H
#define SWEEPRUN_SWEEP_TABLE_H
#include <stdio.h>
#include "sweep_expand.h"
#include "trial_state.h"

/* scans: one per trial (may be NULL: no state column). */
void sweep_print_table(const SweepFile *sf, const SweepTrials *t, const TrialScan *scans, FILE *f);

/* objectives = ... (sf->n_objectives > 0): the Pareto front of the trials
 * whose final run file is complete (results/pareto.h), read from those
 * files: a caption, then one row per trial on the front, best first by the
 * first objective (trial, model, seed, swept keys, each objective, and the
 * test accuracy at the best epoch, shown but never used to choose).
 * Returns the front's size. */
int sweep_print_front(const SweepFile *sf, const SweepTrials *t, FILE *f);

#endif
