/* Where a sweep stands, folded from its event log (sweep_events.h): the
 * totals, the trials running, the best so far, the time left. The live view
 * of `sweeprun sweep` and `sweeprun status` both read a sweep through this,
 * so they agree by construction. No run file is opened: a reader never
 * touches an HDF5 file another process writes.
 *
 * Totals are those of the latest sweep run in the log (a rerun appends a
 * new sweep_start): trials finished before it (counted by that run's scan
 * of the run files), plus the trials it ended, plus the ones it is running;
 * the rest are queued. A trial started and never ended is running while a
 * sweep holds the out folder's lock, and interrupted once none does (a
 * rerun continues it from its checkpoint). */
#ifndef SWEEPRUN_SWEEP_STATUS_H
#define SWEEPRUN_SWEEP_STATUS_H
#include <cjson/cJSON.h>

typedef enum {
    STATUS_RUNNING = 0,
    STATUS_COMPLETE,
    STATUS_PRUNED,        /* median pruning */
    STATUS_STOPPED,       /* early stopping on validation (its run file says complete) */
    STATUS_DIVERGED,
    STATUS_FAILED,
    STATUS_INTERRUPTED,   /* started, never ended, and no sweep is running */
    STATUS_WAITING,       /* ASHA: paused at a rung (trial_pause), waiting to be promoted or stopped */
    STATUS_KINDS
} TrialStatusKind;

#define STATUS_MAX_SWEPT 12
#define STATUS_MAX_MODELS 32

typedef struct StatusTrial {
    char id[16], model[64];
    int index;                     /* in the sweep's trial list */
    int epochs;                    /* to train in all */
    int epoch;                     /* epochs done (start_epoch when resumed, then each epoch event) */
    int start_epoch;
    int run;                       /* the sweep run (1, 2, ...) that last started or ended it */
    TrialStatusKind state;
    char ranks[64], host[64], device[24];
    int n_swept;
    char swept_key[STATUS_MAX_SWEPT][48], swept_value[STATUS_MAX_SWEPT][48];
    double last_val, last_test;    /* the last epoch's accuracies (NaN: none) */
    double best_val, best_val_test; /* the best validation accuracy so far and that epoch's test accuracy */
    int best_epoch;                /* 1-based; 0: no validation numbers */
    double epoch_seconds;          /* the last epoch's wall time */
    double started_t, ended_t;
    char error[256];
} StatusTrial;

typedef struct StatusModelPlan {
    char model[64];
    int trials;                    /* trials of this model the latest run had to run */
    long epochs;                   /* their epochs in all */
    double seconds;                /* measured epoch seconds (all runs) */
    long timed_epochs;
} StatusModelPlan;

typedef struct SweepStatus {
    char sweep[128], file[4096], hash[40];
    int runs;                      /* sweep_start events seen */
    int n_trials, to_run, ranks, groups, ranks_per_trial;
    int finished_before[STATUS_KINDS];   /* counted by the latest run's scan, by kind */
    int unreadable_before;
    double run_started_t, run_ended_t;  /* the latest run (ended 0: no sweep_end yet) */
    double last_event_t;
    int exit_code;                 /* of the latest sweep_end (-1: none) */
    StatusModelPlan models[STATUS_MAX_MODELS];
    int n_models;
    StatusTrial *trials;
    int n, capacity;
    /* reading */
    long offset, lines;
    int bad_lines;
    long first_bad_line;
    long torn_bytes;               /* a last line without its newline */
} SweepStatus;

typedef struct StatusTotals {
    int by_kind[STATUS_KINDS];     /* RUNNING: running now (or INTERRUPTED when no sweep runs) */
    int queued;
    int done;                      /* complete + pruned + stopped + diverged + failed */
} StatusTotals;

void sweep_status_init(SweepStatus *s);
void sweep_status_free(SweepStatus *s);
/* Fold one event into s (unknown events and fields are ignored: a newer
 * writer's log stays readable). */
void sweep_status_apply(SweepStatus *s, const cJSON *event);
/* Read what was appended to path since the last call. 0 ok (new lines or
 * none); -1 when the file cannot be opened (errno). */
int sweep_status_read(SweepStatus *s, const char *path);
/* Running trials become interrupted when no sweep holds the lock. */
void sweep_status_mark_interrupted(SweepStatus *s);

void sweep_status_totals(const SweepStatus *s, StatusTotals *t);
/* The trial with the best validation accuracy so far (any run), or NULL
 * when no trial has validation numbers (val_split = 0). Never the test set. */
const StatusTrial *sweep_status_best(const SweepStatus *s);
/* Seconds left: each running trial's epochs to go at its model's measured
 * seconds per epoch, plus the queued trials' epochs, spread over the
 * groups. NaN until every model still to train has a timed epoch
 * (*untimed counts those models). */
double sweep_status_eta(const SweepStatus *s, int *untimed);
/* Seconds left of one running trial (NaN before its first timed epoch). */
double sweep_status_trial_eta(const SweepStatus *s, const StatusTrial *t);
const char *status_kind_name(TrialStatusKind k);
/* The whole picture as JSON (`sweeprun status --json`). running_now: a
 * sweep holds the lock. */
cJSON *sweep_status_json(const SweepStatus *s, int running_now);

#endif
