/* The training loop: shuffled mini-batches, forward, tape backward,
 * optional gradient accumulation, optimizer step, per-epoch evaluation.
 * It knows nothing about files or terminals: whoever calls it observes
 * progress through TrainObserver (the CLI draws a progress bar and writes
 * the run file; tests just look at the numbers). */
#ifndef SWEEPRUN_TRAIN_H
#define SWEEPRUN_TRAIN_H
#include "config.h"
#include "ctx.h"
#include "dataset.h"
#include "model.h"
#include "optim.h"

/* PRUNED: stopped early by a sweep's pruning rule (see sweeps/prune_board.h).
 * INTERRUPTED: stopped on request (Trainer.stop_requested: a stop signal)
 * after the step in Trainer.stopped_at; not finished, to be continued.
 * PAUSED: trained to Trainer.train_until < epochs (an ASHA rung); not
 * finished, to be continued with a larger train_until. */
typedef enum {
    RUN_COMPLETE = 0, RUN_DIVERGED = 1, RUN_FAILED = 2, RUN_PRUNED = 3, RUN_INTERRUPTED = 4, RUN_PAUSED = 5
} RunStatus;
const char *run_status_name(RunStatus s);

typedef struct EpochStats {
    int epoch;                 /* 0-based */
    double train_loss, train_accuracy;
    double test_loss, test_accuracy;
    double val_loss, val_accuracy;   /* NaN without a validation split */
    double lr;
    double seconds;            /* training + evaluation wall time */
    double train_images_per_second;
} EpochStats;

typedef struct Evaluation {
    double loss, accuracy;
    long correct, count;
    long confusion[DATASET_CLASSES][DATASET_CLASSES];  /* [true][predicted] */
    int *predictions;          /* count entries, owned */
    const unsigned char *labels;  /* the true labels (the dataset's, not owned) */
} Evaluation;

/* A point inside training: after `batch` optimizer steps of the 0-based
 * epoch `epoch`, with that epoch's running training sums over all ranks
 * (what its row's train_loss and train_accuracy are made of). Everything
 * else a step depends on (permutation, augmentation counters, dropout
 * offsets, learning rate) is a function of epoch and step, and the rest
 * of the state is the model's and optimizer's, so a run continued from
 * here takes exactly the steps it would have taken. */
typedef struct TrainPosition {
    int epoch;                 /* the epoch in progress (= epochs finished) */
    int batch;                 /* its optimizer steps done; 0 = at its start */
    double loss_sum;           /* sum of loss x images over those steps */
    long correct;              /* correct training predictions over those steps */
    double seconds;            /* wall time spent in the epoch so far */
} TrainPosition;

enum { TRAIN_GO_ON = 0, TRAIN_STOP_FAILED = 1, TRAIN_STOP_PRUNED = 2 };

typedef struct TrainObserver {
    void *user;
    /* After each optimizer step: batches done this epoch, of total. */
    void (*on_batch)(void *user, int epoch, int batch, int batches, double running_loss,
                     double elapsed_seconds, long images);
    /* After each epoch's evaluation; return TRAIN_GO_ON, or TRAIN_STOP_FAILED
     * (e.g. I/O failed) or TRAIN_STOP_PRUNED to stop with that status. */
    int (*on_epoch)(void *user, const EpochStats *stats, const Evaluation *eval,
                    const Model *model, const Optimizer *opt);
} TrainObserver;

struct ProcessGroup;
struct TrainerBackend;

typedef struct Trainer {
    const TrainConfig *cfg;
    const Dataset *data;
    Model model;
    Optimizer opt;
    Ctx ctx;                   /* on the device trained on */
    /* Data-parallel training (trainer_set_group); NULL: this process alone. */
    const struct ProcessGroup *group;
    int nccl;                  /* sum gradients with NCCL instead of MPI */
    /* The device trained on: the CPU's or the CUDA backend
     * (trainer_backend.h), and that backend's working state. */
    const struct TrainerBackend *backend;
    void *state;
    /* CUDA: read the device's loss totals (progress, divergence check)
     * every this many steps; 0 = about 50 times per epoch. */
    int tick_every;
    /* Early stopping (cfg->early_stop) so far; trial.c replays a resumed
     * run's epochs into it. stopped_early: the epoch (1-based) after which
     * it ended the run, 0 when it did not. */
    EarlyStopState early;
    int stopped_early;
    /* Stopping on request: asked on every rank after each optimizer
     * step's own work and before its all-reduce, which carries the answer
     * to the other ranks of the group, so all of them stop after the same
     * step (the CUDA backend asks at its totals ticks). NULL: never. */
    int (*stop_requested)(void *user);
    void *stop_user;
    /* resume_at (set before trainer_run): where in start_epoch training
     * continues (batch 0 = at its start). stopped_at: where a run that
     * returned RUN_INTERRUPTED stopped (host copies of the model and the
     * optimizer are up to date for a checkpoint there). */
    TrainPosition resume_at, stopped_at;
    /* Train only until this many epochs in all (0 = cfg->epochs), then
     * return RUN_PAUSED. The configuration keeps its full epochs, so the
     * learning-rate schedule, the RNG streams and the trial id are those
     * of the whole run: pausing at T and continuing from the checkpoint
     * gives exactly the run trained straight through. */
    int train_until;
} Trainer;

/* Where cfg->device says to train: returns 0 for the CPU, 1 for CUDA device
 * *index ("auto" picks cuda:0 when a GPU is usable). -1 with a one-line
 * reason in err when CUDA was asked for and cannot be used. When "auto"
 * falls back to the CPU because no GPU is usable, note (if not NULL) gets
 * a one-line explanation, else it is "". */
int train_resolve_device(const TrainConfig *cfg, int *index, char *note, int note_size,
                         char *err, int err_size);
/* trainer_init_on with train_resolve_device's choice (which must succeed). */
void trainer_init(Trainer *t, const TrainConfig *cfg, const Dataset *data);
/* cuda_index < 0: the CPU; else that CUDA device: the dataset, parameters,
 * gradients and optimizer state go to device memory once, and every epoch
 * runs there (trainer_cuda.c). Aborts if the device cannot be set up. */
void trainer_init_on(Trainer *t, const TrainConfig *cfg, const Dataset *data, int cuda_index);
/* "cpu: ..." or "cuda:0: NVIDIA ..." for run files and benchmarks. */
void trainer_device_name(const Trainer *t, char *buf, int size);
/* The host copies of the parameters and buffers were changed (weights
 * loaded from a file): push them to the device (no-op on the CPU). */
void trainer_weights_loaded(Trainer *t);
/* Train data-parallel over the ranks of group (every rank calls this and
 * then trainer_run with the same configuration). Each optimizer step,
 * the shuffled global batch (identical on every rank) is cut into
 * size x grad_accum micro-batches exactly as one process cuts it into
 * that many with --grad-accum; group rank r takes micro-batches
 * [r*grad_accum, (r+1)*grad_accum). Each backward is seeded with
 * 1/(number of micro-batches) and the flat gradient buffer is summed over
 * the ranks, so every rank takes the same optimizer step as the single
 * process would. Batch norm normalises with each rank's local batch and
 * keeps each rank's running statistics; the group's first rank's are
 * broadcast to all before each evaluation (as PyTorch DDP's
 * broadcast_buffers). Evaluation batches are shared out and the results
 * summed, so every rank ends an epoch with the same Evaluation.
 * Broadcasts the parameters and buffers from the group's first rank now.
 * use_nccl: sum gradients with NCCL (comm_nccl_init done on group). */
void trainer_set_group(Trainer *t, const struct ProcessGroup *group, int use_nccl);
void trainer_free(Trainer *t);
/* Train cfg->epochs epochs starting at start_epoch (after
 * t->resume_at.batch of its steps when that is > 0). Returns the status;
 * the diverged case stops at the first non-finite loss, the interrupted
 * one after the step where stop_requested said so (t->stopped_at). After each epoch
 * the validation split (when there is one) and the test set are scored;
 * the observer sees the test Evaluation and both in stats. Early stopping
 * ends the run as complete (t->stopped_early). */
RunStatus trainer_run(Trainer *t, int start_epoch, const TrainObserver *obs, EpochStats *last);
/* The epochs trainer_run trains to: cfg->epochs, or train_until below it. */
int trainer_end_epoch(const Trainer *t);
/* Score a split (the test set, or the validation images) in eval mode, in
 * batches of eval_batch_size, in order. */
void trainer_evaluate(Trainer *t, DataSplit split, Evaluation *ev);
void evaluation_free(Evaluation *ev);
/* Logits [n, 10] of n images (rows x cols bytes each, as t->data's) in
 * eval mode, in batches of eval_batch_size in the given order, as
 * trainer_evaluate batches the test set (GECCO's batch attention mixes the
 * images of a batch, so the same images in the same batches give the same
 * logits). A trainer on the CPU only. */
void trainer_logits(Trainer *t, const unsigned char *pixels, int n, float *logits);
/* The permutation of epoch e, identical on every rank and every backend
 * for the same seed: image i gets the key rng_u32(seed, SHUFFLE,
 * epoch << 32 | i), and the order is the indices sorted by (key, index).
 * (A sort, unlike Fisher-Yates, is parallel: the GPU computes the same
 * order with one radix sort, cuda/data.cu.) */
void epoch_permutation(uint64_t seed, int epoch, int n, int *order);
/* Set OpenMP and OpenBLAS thread counts (0 = all cores). Returns the count. */
int set_compute_threads(int threads);

#endif
