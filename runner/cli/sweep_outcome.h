/* What became of each trial of a sweep in this run, as `sweeprun sweep`
 * counts it for its summary, its exit code and the sweep_end event
 * (cmd_sweep.c for every sweep, sweep_asha.c for ASHA and Hyperband). */
#ifndef SWEEPRUN_SWEEP_OUTCOME_H
#define SWEEPRUN_SWEEP_OUTCOME_H

/* RAN_STOPPED: stopped at an ASHA rung (its run file says pruned, with the
 * rung in stopped_at_rung). */
enum {
    RAN_NOT = 0, RAN_COMPLETE, RAN_DIVERGED, RAN_FAILED, RAN_PRUNED, RAN_INTERRUPTED, RAN_STOPPED, RAN_CODES
};

#endif
