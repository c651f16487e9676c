/* Running one trial: a resolved configuration, the ranks that train it, its
 * run file. `sweeprun train` runs one trial on the whole job; `sweeprun
 * sweep` runs many, one per group of ranks at a time, each continuing from
 * its checkpoint when an earlier run was interrupted. Both go through
 * trial_run(), so a sweep trial and a plain run are the same code. */
#ifndef SWEEPRUN_TRIAL_H
#define SWEEPRUN_TRIAL_H
#include "comm.h"
#include "config.h"
#include "dataset.h"
#include "train.h"

/* What the caller watches (all on the group's first rank; any may be NULL). */
typedef struct TrialHooks {
    void *user;
    /* The run file is open and the model built; start_epoch > 0 when the
     * trial continues from a checkpoint after that many epochs. */
    void (*on_start)(void *user, const Trainer *t, int start_epoch);
    void (*on_batch)(void *user, int epoch, int batch, int batches, double running_loss,
                     double elapsed_seconds, long images);
    /* After each epoch, once it is in the run file. Non-zero stops the
     * trial with status "pruned" (ignored after the last epoch, and after
     * the last one of a train_until pause). */
    int (*on_epoch)(void *user, const EpochStats *stats);
} TrialHooks;

typedef struct TrialSpec {
    TrainConfig *cfg;               /* resolved; cfg->out is the run file's final name */
    const ProcessGroup *group;      /* the ranks training it (data-parallel when cfg->data_parallel) */
    const Dataset *data;
    int cuda_index;                 /* -1: the CPU; else the CUDA device to train on */
    int threads;
    const char *command;            /* command line for the run file */
    int resume;                     /* continue cfg->out's .tmp from its checkpoint when it has one */
    /* Train until this many epochs in all, then stop with RUN_PAUSED and
     * the .tmp kept (status "paused") for a later call with a larger
     * value; 0 or cfg->epochs: to the end. The configuration keeps its
     * full epochs (trial id, schedule, RNG streams), so pausing and
     * continuing gives exactly the straight run (tests/cli_sweep_asha.sh). */
    int train_until;
    int use_nccl;                   /* sum gradients with NCCL (comm_nccl_init done on group) */
    const TrialHooks *hooks;
    /* Asked on every rank after each step (Trainer.stop_requested): the
     * group stops after the first step where any rank says yes, writes a
     * checkpoint there and ends RUN_INTERRUPTED. NULL: never. */
    int (*stop_requested)(void *user);
    void *stop_user;
} TrialSpec;

typedef struct TrialOutcome {
    int started;                    /* 0: the run file could not be opened; nothing trained */
    int disk_error;                 /* not started because the disk refused the file (full, ...) */
    RunStatus status;
    int start_epoch;                /* epochs already done when it started */
    int resumed;                    /* continued from a checkpoint (at an epoch's end or inside one) */
    TrainPosition resumed_at;       /* where it continued (batch > 0: inside epoch start_epoch + 1) */
    TrainPosition stopped_at;       /* RUN_INTERRUPTED: where it stopped and was checkpointed */
    int epochs_run;                 /* epochs trained now */
    int stopped_early;              /* early stopping ended it after this epoch (0: it did not) */
    int best_epoch;                 /* first rank: the best epoch by validation (0: none) */
    double best_val_accuracy, best_epoch_test_accuracy;
    EpochStats last;                /* the last epoch trained (when epochs_run > 0) */
    char error[1200];               /* why it failed or did not start (first rank) */
} TrialOutcome;

/* Collective over spec->group: every rank of it calls this with the same
 * configuration. The outcome is the same on every rank except error, which
 * only the first rank (the one that writes the run file) fills. */
void trial_run(const TrialSpec *spec, TrialOutcome *out);

/* Checks and choices `train` and `sweep` share before training. */
/* The trial's dataset: full (train_subset already applied) with cfg's
 * validation split held out (dataset_hold_out; out owns copies). 0 ok;
 * -1 with "val_split: ..." in err when the split does not fit. */
int trial_hold_out(const TrainConfig *cfg, const Dataset *full, Dataset *out, char *err, int err_size);
/* The training images left after cfg's validation split of n_train, or -1
 * with the reason in err. */
int trial_train_count(const TrainConfig *cfg, int n_train, char *err, int err_size);
/* Pick the device for this rank (train_resolve_device): *cuda_index >= 0
 * for a GPU (cuda:I as asked, else the node-local rank's share of the
 * GPUs), -1 for the CPU; note (may be NULL) gets why "auto" chose the CPU.
 * 0 ok; -1 with err. */
int trial_resolve_device(const TrainConfig *cfg, const ProcessGroup *world, int *cuda_index, char *note,
                         int note_size, char *err, int err_size);
/* batch_size must split evenly over ranks x grad_accum micro-batches, each
 * (and the last, partial batch's) of at least 2 images for batch norm. */
int trial_check_batches(const TrainConfig *cfg, int n_train, int ranks, char *err, int err_size);
/* All cores, shared among the ranks on a node unless the launcher bound
 * each rank to its own. */
int trial_default_threads(const ProcessGroup *world);

#endif
