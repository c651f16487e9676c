/* What is already done: the state of a trial from its run file in the out
 * folder. A finished file (any final status) is never touched again, so a
 * rerun skips it; an interrupted one (NAME.h5.tmp) is continued from its
 * checkpoint, or set aside as NAME.h5.bad-N and restarted when it cannot
 * be (runner/cli/trial.c); no file means a new trial. */
#ifndef SWEEPRUN_TRIAL_STATE_H
#define SWEEPRUN_TRIAL_STATE_H

typedef enum {
    TRIAL_NEW = 0,        /* no run file */
    TRIAL_UNFINISHED,     /* a .tmp: continue it (or set it aside and restart when it cannot be resumed) */
    TRIAL_COMPLETE,       /* finished files, by status */
    TRIAL_PRUNED,
    TRIAL_DIVERGED,
    TRIAL_FAILED,
    TRIAL_UNREADABLE,     /* a final file that cannot be read: never overwritten, so never run */
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

/* What a finished trial's final run file says, for choosing among trials:
 * its status, and at its best epoch by validation (run_epochs_best_row)
 * the validation accuracy and loss and the test accuracy (shown, never
 * chosen on); its parameter count; the mean seconds of its epochs. NaN
 * where the file has none. */
typedef struct TrialResult {
    char status[32];
    double best_val_accuracy, best_val_loss, best_epoch_test_accuracy;
    double params, seconds_per_epoch;
} TrialResult;
/* 0, or -1 when run_file is missing or unreadable. */
int trial_read_result(const char *run_file, TrialResult *out);
/* Nothing to run: complete, pruned, diverged, failed, or an unreadable
 * final file (which a sweep reports as not done: it never ran here). */
int trial_state_finished(TrialState s);
/* The state for a final status text, TRIAL_UNREADABLE if it is none. */
TrialState trial_state_of_status(const char *status);

/* A .tmp that cannot be resumed (damaged, inconsistent, another trial's)
 * is kept for inspection under a name no scan looks at: run_file.bad-N,
 * the first N in 1..TRIAL_MAX_SET_ASIDE not taken. moved_to gets it.
 * Only a regular file is moved (a folder or link at that name is left).
 * 0 ok; -1 with err (the .tmp is where it was). */
#define TRIAL_MAX_SET_ASIDE 99
int trial_set_aside(const char *run_file, char *moved_to, int size, char *err, int err_size);
/* Whether run_file.tmp holds a finished epoch, so setting it aside keeps
 * something (1 also when it cannot be read: it may be recoverable). A .tmp
 * killed before its first epoch ended holds nothing and is replaced. */
int trial_tmp_holds_epochs(const char *run_file);

#endif
