/* The CUDA half of the training loop (train_cuda.c), called by train.c
 * when a Trainer runs on a GPU. Runner-internal. */
#ifndef SWEEPRUN_TRAIN_CUDA_H
#define SWEEPRUN_TRAIN_CUDA_H
#include "train.h"
#include "comm.h"

typedef struct TrainerCuda TrainerCuda;

/* Backend, device copies of model, optimizer and dataset (aborts on failure). */
void trainer_cuda_setup(Trainer *t, int device);
void trainer_cuda_free(Trainer *t);
/* One epoch of training; loss_sum/correct get the epoch's totals. 0, or -1
 * when a loss became NaN or infinite (on any rank). */
int trainer_cuda_epoch(Trainer *t, int epoch, float lr, const TrainObserver *obs, double t0,
                       double *loss_sum, long *correct);
void trainer_cuda_evaluate(Trainer *t, Evaluation *ev);
/* Parameters, buffers and optimizer state: device -> host copies. */
void trainer_cuda_to_host(Trainer *t);
/* Host -> device after the host copies were changed. */
void trainer_cuda_upload(Trainer *t);
void trainer_cuda_describe(const Trainer *t, char *buf, int size);

/* The trainer's place in its data-parallel group (a group of one without). */
static inline int group_size(const Trainer *t) { return t->group ? t->group->size : 1; }
static inline int group_rank(const Trainer *t) { return t->group ? t->group->rank : 0; }

/* Shared by both loops (train.c): sum the ranks' predictions and loss
 * (each prediction was written by one rank, the others hold 0), then fill
 * the confusion matrix, counts, loss and accuracy of ev. */
void evaluation_finish(const Trainer *t, Evaluation *ev, int n, double loss_sum);

#endif
