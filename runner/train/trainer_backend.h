/* What the training loop (train_loop.c) asks of the device it trains on,
 * and what the backends share. trainer_cpu.c fills one table,
 * trainer_cuda.c (CUDA builds only) the other; the loop calls through
 * t->backend and knows neither. Runner-internal. */
#ifndef SWEEPRUN_TRAINER_BACKEND_H
#define SWEEPRUN_TRAINER_BACKEND_H
#include "comm.h"
#include "train.h"
#include "util.h"

typedef struct TrainerBackend {
    /* The backend's working state in t->state, and t->ctx (model and
     * optimizer are created). device: the CUDA device index (the CPU's
     * ignores it). Aborts if the device cannot be set up. */
    void (*setup)(Trainer *t, int device);
    /* The optimizer steps of one epoch at learning rate lr from at->batch
     * on, adding to at's running sums (t0: when the epoch began, for
     * obs->on_batch). 0 with the epoch's totals over all ranks in at; -1
     * (on every rank) when a loss became NaN or infinite; 1 (on every
     * rank) when stop_requested asked to stop: at holds the steps done. */
    int (*epoch)(Trainer *t, int epoch, float lr, const TrainObserver *obs, double t0, TrainPosition *at);
    /* train.h's trainer_evaluate. */
    void (*evaluate)(Trainer *t, DataSplit split, Evaluation *ev);
    /* Parameters, buffers and optimizer state: working copies -> host
     * copies, and back after the host copies were changed. NULL: the host
     * copies are the working copies. */
    void (*to_host)(Trainer *t);
    void (*upload)(Trainer *t);
    /* "cpu: ..." or "cuda:0: NVIDIA ...". */
    void (*describe)(const Trainer *t, char *buf, int size);
    /* Everything setup made, t->ctx included. */
    void (*free)(Trainer *t);
} TrainerBackend;

extern const TrainerBackend trainer_cpu_backend;
#ifdef SWEEPRUN_HAVE_CUDA
extern const TrainerBackend trainer_cuda_backend;
#endif

/* The trainer's place in its data-parallel group (a group of one without). */
static inline int group_size(const Trainer *t) { return t->group ? t->group->size : 1; }
static inline int group_rank(const Trainer *t) { return t->group ? t->group->rank : 0; }

/* This rank's wish to stop now (Trainer.stop_requested); the backends
 * make the group agree on it. */
static inline int stop_wanted(const Trainer *t) { return t->stop_requested && t->stop_requested(t->stop_user); }

/* After optimizer steps: the running totals of the epoch so far to
 * obs->on_batch (batch k of batches, images of the epoch done). */
static inline void observe_batch(const TrainObserver *obs, int epoch, int k, int batches, double loss_sum,
                                 long images, double t0)
{
    if (obs && obs->on_batch)
        obs->on_batch(obs->user, epoch, k + 1, batches, loss_sum / images, now_seconds() - t0, images);
}

/* Both backends' evaluate ends here (evaluation.c): sum the ranks'
 * predictions and loss (each prediction was written by one rank, the
 * others hold 0), then fill the confusion matrix, counts, loss and
 * accuracy of ev against labels (the split's n). */
void evaluation_finish(const Trainer *t, const unsigned char *labels, Evaluation *ev, int n, double loss_sum);

#endif
