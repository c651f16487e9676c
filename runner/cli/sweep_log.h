/* The events `sweeprun sweep` appends to OUT/events.jsonl, built from the
 * runner's own structures. The schema (field names, units, the version) is
 * written down in docs/events.md; sweeps/sweep_status.c is its reader. */
#ifndef SWEEPRUN_SWEEP_LOG_H
#define SWEEPRUN_SWEEP_LOG_H
#include "comm.h"
#include "sweep_events.h"
#include "sweep_expand.h"
#include "trial.h"
#include "trial_state.h"

/* Collective over world: every rank's host name goes into the event. Rank 0
 * appends it. todo[0..n_todo) are the trials this run will train. */
void sweep_log_start(SweepEventLog *log, const ProcessGroup *world, const SweepFile *sf, const SweepTrials *trials,
                     const TrialScan *scans, const int *todo, int n_todo);
/* The group's first rank, when trial x starts (start_epoch > 0: resumed). */
void sweep_log_trial_start(SweepEventLog *log, const ProcessGroup *group, const SweepFile *sf, const SweepTrial *x,
                           int start_epoch, int cuda_index);
void sweep_log_epoch(SweepEventLog *log, const char *sweep, const SweepTrial *x, const EpochStats *st);
/* reason: why it was pruned ("" otherwise). 0 when the line was written. */
/* ASHA paused trial x at a rung after `epochs` epochs: it waits to be
 * promoted (a later trial_start) or stopped there (its trial_end). */
void sweep_log_trial_pause(SweepEventLog *log, const char *sweep, const SweepTrial *x, int epochs);
int sweep_log_trial_end(SweepEventLog *log, const char *sweep, const SweepTrial *x, const TrialOutcome *o,
                         const char *reason, double seconds);
void sweep_log_end(SweepEventLog *log, const char *sweep, const int *outcome_counts, const char *const *outcome_names,
                   int n_outcomes, double seconds, int exit_code);

#endif
