/* A sweep's `scheduler = ...` against its expanded trials: whether its
 * rungs fit every trial's epochs (checked before anything runs), and the
 * plan --dry-run prints. */
#ifndef SWEEPRUN_SWEEP_SCHEDULER_H
#define SWEEPRUN_SWEEP_SCHEDULER_H
#include <stdio.h>
#include "sweep_expand.h"

/* 1 when sf's scheduler is asha or hyperband (the rung schedulers). */
int sweep_uses_rungs(const SweepFile *sf);

/* scheduler_check_epochs for each distinct `epochs` of the trials, and
 * one epochs for all unless max_epochs is given; each problem at the
 * scheduler's line. Returns the number added. */
int sweep_scheduler_check(const SweepFile *sf, const SweepTrials *trials, SweepProblems *problems);

/* scheduler_describe for the trials' epochs (one block per distinct value
 * when they differ); nothing without a scheduler. */
void sweep_scheduler_print_plan(const SweepFile *sf, const SweepTrials *trials, FILE *f);

#endif
