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

#endif
