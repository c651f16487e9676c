/* What is already done: the state of a trial from its run file in the out
 * folder. A finished file (any final status) is never touched again, so a
 * rerun skips it; an interrupted one (NAME.h5.tmp) is continued from its
 * checkpoint; no file means a new trial. */
#ifndef SWEEPRUN_TRIAL_STATE_H
#define SWEEPRUN_TRIAL_STATE_H

typedef enum {
    TRIAL_NEW = 0,        /* no run file */
    TRIAL_UNFINISHED,     /* a .tmp: continue it (or restart when it has no usable checkpoint) */
    TRIAL_COMPLETE,       /* finished files, by status */
    TRIAL_PRUNED,
    TRIAL_DIVERGED,
    TRIAL_FAILED,
    TRIAL_UNREADABLE,     /* a final file that cannot be read, or a .tmp of another trial: left alone */
    TRIAL_STATES
} TrialState;

typedef struct TrialScan {
    TrialState state;
    int epochs;           /* epoch rows recorded */
    char note[512];       /* for UNREADABLE, or a .tmp that will be restarted */
} TrialScan;

/* Look at run_file (final) and run_file.tmp. acc[0..max_epochs) gets the
 * recorded test accuracy per epoch (NaN where none). */
void trial_scan(const char *run_file, const char *trial_id, int max_epochs, TrialScan *out, double *acc);
const char *trial_state_name(TrialState s);
/* Finished in an earlier run: complete, pruned, diverged, failed or unreadable. */
int trial_state_finished(TrialState s);
/* The state for a final status text, TRIAL_UNREADABLE if it is none. */
TrialState trial_state_of_status(const char *status);

#endif
