/* The training loop: device choice, epochs, evaluation, the observer,
 * stopping. Whatever runs on the device goes through t->backend (the CPU's
 * trainer_cpu.c or CUDA's trainer_cuda.c); nothing here knows which. */
#include "trainer_backend.h"
#include "comm.h"
#include "device.h"
#include "util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *run_status_name(RunStatus s)
{
    static const char *names[] = {"complete", "diverged", "failed", "pruned", "interrupted", "paused"};
    return names[s];
}

int train_resolve_device(const TrainConfig *cfg, int *index, char *note, int note_size,
                         char *err, int err_size)
{
    char why[256];
    if (note && note_size > 0) note[0] = 0;
    *index = -1;
    if (!strcmp(cfg->device, "cpu")) return 0;
    int gpus = device_cuda_count(why, sizeof why);
    if (!strcmp(cfg->device, "auto")) {
        if (gpus > 0) {
            *index = 0;
            return 1;
        }
        if (note) snprintf(note, note_size, "no usable GPU (%s); training on the CPU", why);
        return 0;
    }
    int want = 0;
    if (!strncmp(cfg->device, "cuda:", 5)) want = atoi(cfg->device + 5);
    if (gpus == 0) {
        snprintf(err, err_size, "device %s: %s (use --device cpu or auto)", cfg->device, why);
        return -1;
    }
    if (want >= gpus) {
        snprintf(err, err_size, "device %s: this machine has %d CUDA device%s (cuda:0%s%s)", cfg->device, gpus,
                 gpus == 1 ? "" : "s", gpus > 1 ? " to cuda:" : "", gpus > 1 ? "N" : "");
        return -1;
    }
    *index = want;
    return 1;
}

void trainer_init(Trainer *t, const TrainConfig *cfg, const Dataset *data)
{
    int index;
    char err[512];
    int where = train_resolve_device(cfg, &index, NULL, 0, err, sizeof err);
    CHECK(where >= 0, "trainer_init: %s", err);
    trainer_init_on(t, cfg, data, where ? index : -1);
}

static const TrainerBackend *backend_for(int cuda_index)
{
    if (cuda_index < 0) return &trainer_cpu_backend;
#ifdef SWEEPRUN_HAVE_CUDA
    return &trainer_cuda_backend;
#else
    fatal("CUDA training requested in a build without the CUDA backend");
#endif
}

void trainer_init_on(Trainer *t, const TrainConfig *cfg, const Dataset *data, int cuda_index)
{
    memset(t, 0, sizeof *t);
    t->cfg = cfg;
    t->data = data;
    model_create(&t->model, cfg->model, cfg->model_options, cfg->seed);
    OptimConfig oc = cfg->optim;
    optim_init(&t->opt, &oc, &t->model.table);
    early_stop_reset(&t->early);
    t->backend = backend_for(cuda_index);
    t->backend->setup(t, cuda_index);
}

void trainer_device_name(const Trainer *t, char *buf, int size) { t->backend->describe(t, buf, size); }

void trainer_weights_loaded(Trainer *t)
{
    if (t->backend->upload) t->backend->upload(t);
}

void trainer_free(Trainer *t)
{
    if (t->backend) t->backend->free(t);
    model_free(&t->model);
    optim_free(&t->opt);
    memset(t, 0, sizeof *t);
}

void trainer_set_group(Trainer *t, const ProcessGroup *group, int use_nccl)
{
    t->group = group;
    t->nccl = use_nccl;
    if (!group) return;
    /* Identical already (same seed), but one source of truth is cheap. */
    comm_broadcast_float(group, t->model.params, t->model.table.n_params, 0);
    comm_broadcast_float(group, t->model.buffers, t->model.table.n_buffers, 0);
    trainer_weights_loaded(t);
}

void trainer_evaluate(Trainer *t, DataSplit split, Evaluation *ev) { t->backend->evaluate(t, split, ev); }

/* The observer's verdict on an epoch. Only the first rank records and
 * decides; every rank stops with it (a failure outranks pruning). */
static int observe_epoch(Trainer *t, const TrainObserver *obs, const EpochStats *s, const Evaluation *ev)
{
    int stop = obs && obs->on_epoch ? obs->on_epoch(obs->user, s, ev, &t->model, &t->opt) : TRAIN_GO_ON;
    if (group_size(t) == 1) return stop;
    int why[2] = {stop == TRAIN_STOP_FAILED, stop == TRAIN_STOP_PRUNED};
    comm_allreduce_sum_int(t->group, why, 2);
    return why[0] ? TRAIN_STOP_FAILED : why[1] ? TRAIN_STOP_PRUNED : TRAIN_GO_ON;
}

/* Score the validation split (when there is one) and the test set after
 * an epoch's training and complete its stats (s holds the training half;
 * t0: when the epoch began). ev gets the test set's evaluation. */
static void evaluate_epoch(Trainer *t, Evaluation *ev, EpochStats *s, double t0, double train_seconds)
{
    s->val_loss = s->val_accuracy = NAN;
    if (t->data->n_val > 0) {
        Evaluation val;
        trainer_evaluate(t, SPLIT_VALIDATION, &val);
        s->val_loss = val.loss;
        s->val_accuracy = val.accuracy;
        evaluation_free(&val);
    }
    trainer_evaluate(t, SPLIT_TEST, ev);
    /* Run files and checkpoints read the host copies. */
    if (t->backend->to_host) t->backend->to_host(t);
    s->test_loss = ev->loss;
    s->test_accuracy = ev->accuracy;
    s->seconds = now_seconds() - t0;
    s->train_images_per_second = t->data->n_train / train_seconds;
}

/* Where epoch `epoch` starts: at its beginning, or where a resumed run
 * stopped inside it. */
static TrainPosition epoch_start(const Trainer *t, int epoch, int start_epoch)
{
    TrainPosition at = {.epoch = epoch};
    if (epoch != start_epoch || t->resume_at.batch <= 0) return at;
    CHECK(t->resume_at.epoch == epoch, "trainer_run: resume_at is in epoch %d, the run starts at %d",
          t->resume_at.epoch, epoch);
    return t->resume_at;
}

/* Stopped on request after at's steps: remember where, and bring the
 * host copies up to date for the checkpoint there. */
static RunStatus stop_interrupted(Trainer *t, TrainPosition at, double t0)
{
    at.seconds = now_seconds() - t0;
    t->stopped_at = at;
    if (t->backend->to_host) t->backend->to_host(t);
    return RUN_INTERRUPTED;
}

int trainer_end_epoch(const Trainer *t)
{
    return t->train_until > 0 && t->train_until < t->cfg->epochs ? t->train_until : t->cfg->epochs;
}

RunStatus trainer_run(Trainer *t, int start_epoch, const TrainObserver *obs, EpochStats *last)
{
    const TrainConfig *cfg = t->cfg;
    int n = t->data->n_train;
    int end = trainer_end_epoch(t);
    for (int epoch = start_epoch; epoch < end; epoch++) {
        TrainPosition at = epoch_start(t, epoch, start_epoch);
        /* A resumed epoch's row counts the time spent before the stop too. */
        double t0 = now_seconds() - at.seconds;
        float lr = schedule_lr(&cfg->schedule, cfg->lr, epoch);
        int rc = t->backend->epoch(t, epoch, lr, obs, t0, &at);
        if (rc < 0) return RUN_DIVERGED;
        if (rc > 0) return stop_interrupted(t, at, t0);
        double train_seconds = now_seconds() - t0;
        EpochStats s = {.epoch = epoch, .train_loss = at.loss_sum / n, .train_accuracy = (double)at.correct / n,
                        .lr = lr};
        Evaluation ev;
        evaluate_epoch(t, &ev, &s, t0, train_seconds);
        if (last) *last = s;
        int stop = observe_epoch(t, obs, &s, &ev);
        evaluation_free(&ev);
        if (!isfinite(s.test_loss)) return RUN_DIVERGED;
        if (stop == TRAIN_STOP_FAILED) return RUN_FAILED;
        if (stop == TRAIN_STOP_PRUNED) return RUN_PRUNED;
        /* Every rank holds the same validation numbers, so every rank
         * decides alike. */
        if (early_stop_update(&cfg->early_stop, &t->early, s.val_loss, s.val_accuracy) && epoch + 1 < cfg->epochs) {
            t->stopped_early = epoch + 1;
            return RUN_COMPLETE;
        }
    }
    return end < cfg->epochs ? RUN_PAUSED : RUN_COMPLETE;
}
