/* Writing one training run into its HDF5 run file (results/runfile.h):
 * the attributes that describe it, then after every epoch the metrics row,
 * test results, weights and a checkpoint, each flushed, so a killed run
 * keeps every finished epoch. */
#ifndef SWEEPRUN_RUN_RECORD_H
#define SWEEPRUN_RUN_RECORD_H
#include "config.h"
#include "dataset.h"
#include "runfile.h"
#include "train.h"

typedef struct RunRecord {
    RunFile *file;
    const Dataset *data;       /* for the pixels of misclassified test images */
    int context;               /* images of the first eval batch to keep (eval_batch_size) */
    /* The best epoch by validation (run_val_better): 1-based, 0 = none yet. */
    int best_epoch;
    double best_val_accuracy, best_val_loss, best_test_accuracy;
    /* Resume only: the checkpoint's epoch is the best one but /best does
     * not hold it yet (the run was killed between the two writes): the
     * caller writes it from the checkpoint (run_record_best). */
    int best_from_checkpoint;
    EarlyStopState early;      /* resume only: early stopping replayed over the kept epochs */
    int early_stopped;         /* the epoch after which early stopping ended the run; 0 = it did not */
    int disk_error;            /* run_record_open failed because the disk refused the file (errno) */
    char err[1024];            /* why the last call failed */
} RunRecord;

/* Create the run file (refusing an existing one) and write the attributes.
 * 0 ok; -1 with rec->err set and nothing left on disk. */
int run_record_open(RunRecord *rec, const char *path, const TrainConfig *cfg,
                    const Dataset *data, long param_count, const char *device, int threads,
                    const char *command_line);
/* Continue the interrupted run in path's .tmp after epochs_done epochs (its
 * checkpoint): checks that the .tmp is this trial's (cfg->trial_id), drops
 * epoch rows after epochs_done, counts the resume (attribute `resumes`).
 * The attributes written when it started are kept. 0 ok; -1 with rec->err
 * when it cannot be reopened for writing; RUN_RECORD_UNUSABLE with rec->err
 * when its content cannot be trusted (another trial's id, an attribute of
 * the wrong type, unreadable epochs): the .tmp is untouched either way. */
#define RUN_RECORD_UNUSABLE (-2)
int run_record_resume(RunRecord *rec, const char *path, const TrainConfig *cfg, int64_t epochs_done);
/* Everything one finished epoch produced: its row, test results, weights,
 * checkpoint, and (when its validation result is the best so far) the
 * best weights after the checkpoint. 0 ok, -1 with rec->err. */
int run_record_epoch(RunRecord *rec, const EpochStats *s, const Evaluation *ev, const Model *m,
                     const Optimizer *opt);
/* Write m's weights as the best epoch's (/best and the best_* attributes). */
int run_record_best(RunRecord *rec, const Model *m, int epoch, double val_accuracy, double val_loss,
                    double test_accuracy);
/* A run stopped by a stop signal at `at` (inside epoch at->epoch + 1,
 * after at->batch of its steps): the checkpoint of that point (m, opt,
 * position and running sums; /weights and the epoch rows stay those of
 * the last finished epoch), then status "interrupted" and the .tmp is
 * closed for a later resume. Releases the file either way. 0 ok, -1 with
 * rec->err (a checkpoint whose rewrite did not complete reads as unusable,
 * epoch -1, as after a kill in the middle of one). */
int run_record_interrupt(RunRecord *rec, const TrainPosition *at, const Model *m, const Optimizer *opt);
/* A run that trained to the epochs it was asked for now (TrialSpec
 * train_until, an ASHA rung) after `epochs` epochs: the epoch-end
 * checkpoint is already written; attribute paused_after_epoch, status
 * "paused", and the .tmp is closed for a later continuation. Releases the
 * file either way. 0 ok, -1 with rec->err. */
int run_record_pause(RunRecord *rec, int epochs);
/* Finish a paused run (run_record_pause) without training it further:
 * the .tmp of run_file, after `epochs` epochs, gets status (e.g. "pruned"
 * for a trial stopped at an ASHA rung), end_time and, when rung >= 0, the
 * attributes stopped_at_rung and stopped_at_epoch; then the rename to
 * run_file. 0 ok; -1 with err (the .tmp is left as it was, or paused). */
int run_record_end_paused(const char *run_file, int epochs, RunStatus status, int rung, char *err, int err_size);
/* Final status and end time, then the rename to the final name. */
int run_record_finish(RunRecord *rec, RunStatus status, const char *error_message);

/* The config as "key=value" lines (the `config` attribute eval re-reads). */
void config_to_text(const TrainConfig *cfg, char *buf, int size);

#endif
