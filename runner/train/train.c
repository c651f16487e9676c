#include "train.h"
#include "augment.h"
#include "comm.h"
#include "device.h"
#include "ops.h"
#include "rng.h"
#include "train_cuda.h"
#include "util.h"
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

const char *run_status_name(RunStatus s)
{
    static const char *names[] = {"complete", "diverged", "failed", "pruned"};
    return names[s];
}

int set_compute_threads(int threads)
{
    if (threads <= 0) threads = omp_get_num_procs();
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    return threads;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Key in the high word, index in the low one: sorting these 64-bit values
 * sorts by (key, index), so equal keys keep index order, as the GPU's
 * stable radix sort of (key, index) pairs does. */
void epoch_permutation(uint64_t seed, int epoch, int n, int *order)
{
    uint64_t *keys = xmalloc((size_t)(n ? n : 1) * sizeof *keys);
    uint64_t hi = (uint64_t)(uint32_t)epoch << 32;
    for (int i = 0; i < n; i++)
        keys[i] = (uint64_t)rng_u32(seed, RNG_STREAM_SHUFFLE, hi | (uint64_t)i) << 32 | (uint64_t)i;
    qsort(keys, (size_t)n, sizeof *keys, compare_u64);
    for (int i = 0; i < n; i++) order[i] = (int)(uint32_t)keys[i];
    free(keys);
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

void trainer_init_on(Trainer *t, const TrainConfig *cfg, const Dataset *data, int cuda_index)
{
    memset(t, 0, sizeof *t);
    t->cfg = cfg;
    t->data = data;
    model_create(&t->model, cfg->model, cfg->model_options, cfg->seed);
    OptimConfig oc = cfg->optim;
    optim_init(&t->opt, &oc, &t->model.table);
    ctx_init(&t->ctx, cfg->seed, (size_t)64 << 20);
    int most = cfg->batch_size > cfg->eval_batch_size ? cfg->batch_size : cfg->eval_batch_size;
    long image = (long)data->rows * data->cols;
    t->batch_x = xmalloc((size_t)most * image * sizeof(float));
    t->batch_y = xmalloc((size_t)most * sizeof(int));
    t->order = xmalloc((size_t)(data->n_train ? data->n_train : 1) * sizeof(int));
    if (cfg->grad_accum > 1) t->micro_grad = xmalloc((size_t)t->model.table.n_params * sizeof(float));
    if (augment_active(&cfg->augment)) t->batch_raw = xmalloc((size_t)most * image * sizeof(float));
    if (cuda_index >= 0) trainer_cuda_setup(t, cuda_index);
}

void trainer_device_name(const Trainer *t, char *buf, int size)
{
    if (t->gpu) trainer_cuda_describe(t, buf, size);
    else device_cpu_name(buf, size);
}

void trainer_weights_loaded(Trainer *t)
{
    if (t->gpu) trainer_cuda_upload(t);
}

void trainer_free(Trainer *t)
{
    if (t->gpu) trainer_cuda_free(t);
    model_free(&t->model);
    optim_free(&t->opt);
    ctx_free(&t->ctx);
    free(t->batch_x);
    free(t->batch_y);
    free(t->order);
    free(t->micro_grad);
    free(t->batch_raw);
    memset(t, 0, sizeof *t);
}

/* Stage training images with augmentation: gather raw intensities
 * (background 0), augment image i with RNG counter `position + i`, then
 * normalise exactly as dataset_gather does ((p/255 - mean)/std, and p/255
 * is what a gather with mean 0, std 1 leaves). */
static void stage_augmented(Trainer *t, const unsigned char *pixels, const int *index, int n,
                            uint64_t position)
{
    const TrainConfig *cfg = t->cfg;
    int rows = t->data->rows, cols = t->data->cols;
    long count = (long)n * rows * cols;
    dataset_gather(pixels, rows * cols, index, n, 0.0f, 1.0f, t->batch_raw);
    augment_batch(&cfg->augment, cfg->seed, position, t->batch_raw, t->batch_x, n, rows, cols);
    float mean = cfg->model->recipe.norm_mean, std = cfg->model->recipe.norm_std;
    for (long i = 0; i < count; i++) t->batch_x[i] = (t->batch_x[i] - mean) / std;
}

/* Forward one batch of images (indices into the split), leave the logits.
 * position >= 0: training images, augmented (when configured) with the
 * per-image counters position, position + 1, ...: their place in the
 * epoch's stream of images (epoch * n_train + index in the permutation),
 * the same however the batch is split into micro-batches and ranks. */
static Tensor *forward_batch(Trainer *t, const unsigned char *pixels, const unsigned char *labels,
                             const int *index, int n, int64_t position)
{
    const Recipe *r = &t->cfg->model->recipe;
    int image = t->data->rows * t->data->cols;
    if (position >= 0 && t->batch_raw) stage_augmented(t, pixels, index, n, (uint64_t)position);
    else dataset_gather(pixels, image, index, n, r->norm_mean, r->norm_std, t->batch_x);
    for (int i = 0; i < n; i++) t->batch_y[i] = labels ? labels[index[i]] : 0;
    int dims[4] = {n, 1, t->data->rows, t->data->cols};
    Tensor *x = ctx_wrap(&t->ctx, t->batch_x, NULL, 4, dims);
    return t->model.desc->forward(&t->model, &t->ctx, x);
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


/* One optimizer step over the global batch index[0..n), split into
 * ranks x grad_accum micro-batches (sizes differ by at most one, larger
 * first) whose gradients are averaged: each backward is seeded with
 * 1/parts, this rank's share is summed locally and then over the ranks.
 * step counts optimizer steps since the start (dropout masks are a
 * function of step and micro-batch, so data-parallel and --grad-accum runs
 * draw the same ones). Returns 0, or -1 (on every rank) when any rank's
 * loss is not finite. */
static int train_step(Trainer *t, const int *index, int n, int64_t position, long step, float lr,
                      double *loss_sum, long *correct)
{
    int ranks = group_size(t), accum = t->cfg->grad_accum;
    int slots = ranks * accum;
    int parts = slots < n ? slots : n;
    int base = n / parts, extra = n % parts;
    int first = group_rank(t) * accum, last = first + accum < parts ? first + accum : parts;
    long np = t->model.table.n_params;
    float *total = t->model.grads;
    /* This rank's sums: loss x images, correct predictions, non-finite flag. */
    double local[3] = {0, 0, 0};
    memset(total, 0, (size_t)np * sizeof(float));
    for (int k = first; k < last; k++) {
        int m = base + (k < extra);
        int start = k * base + (k < extra ? k : extra);
        /* Each micro-batch after the first backpropagates into its own
         * buffer, then is added to the running sum, exactly as the
         * all-reduce adds the ranks' gradients: 2 ranks give the same bits
         * as --grad-accum 2. */
        if (k > first) {
            t->model.grads = t->micro_grad;
            memset(t->micro_grad, 0, (size_t)np * sizeof(float));
        }
        t->ctx.rng_offset = ((uint64_t)step * (uint64_t)slots + (uint64_t)k) << 32;
        ctx_begin(&t->ctx, 1, 1);
        Tensor *logits = forward_batch(t, t->data->train_x, t->data->train_y, index + start, m,
                                       position + start);
        Tensor *loss = model_loss(&t->model, &t->ctx, logits, t->batch_y);
        int finite = isfinite(loss->data[0]);
        if (finite) {
            local[0] += (double)loss->data[0] * m;
            local[1] += count_correct(logits, t->batch_y);
            ctx_backward_scaled(&t->ctx, loss, 1.0f / (float)parts);
        }
        t->model.grads = total;
        if (!finite) {
            local[2] = 1;
            break;
        }
        if (k > first)
            for (long i = 0; i < np; i++) total[i] += t->micro_grad[i];
    }
    if (ranks > 1) comm_allreduce_sum_double(t->group, local, 3);
    if (local[2] > 0) return -1;
    *loss_sum += local[0];
    *correct += (long)local[1];
    if (t->nccl) comm_nccl_allreduce_sum_host(t->group, total, np);
    else if (ranks > 1) comm_allreduce_sum_float(t->group, total, np);
    optim_step(&t->opt, t->model.params, total, lr);
    return 0;
}

void evaluation_finish(const Trainer *t, Evaluation *ev, int n, double loss_sum)
{
    if (group_size(t) > 1) {
        /* Each prediction was written by one rank; the others hold 0. */
        comm_allreduce_sum_int(t->group, ev->predictions, n);
        comm_allreduce_sum_double(t->group, &loss_sum, 1);
    }
    for (int i = 0; i < n; i++) {
        int truth = t->data->test_y[i], pred = ev->predictions[i];
        ev->confusion[truth][pred]++;
        ev->correct += truth == pred;
    }
    ev->count = n;
    ev->labels = t->data->test_y;
    ev->loss = n ? loss_sum / n : 0;
    ev->accuracy = n ? (double)ev->correct / n : 0;
}

void trainer_evaluate(Trainer *t, Evaluation *ev)
{
    if (t->gpu) {
        trainer_cuda_evaluate(t, ev);
        return;
    }
    memset(ev, 0, sizeof *ev);
    int n = t->data->n_test, b = t->cfg->eval_batch_size;
    int ranks = group_size(t), rank = group_rank(t);
    ev->predictions = xcalloc((size_t)(n ? n : 1), sizeof(int));
    int *index = xmalloc((size_t)b * sizeof(int));
    double loss_sum = 0;
    /* Data-parallel: every rank scores the first rank's running statistics,
     * and batch i goes to rank i % ranks (whole batches, so GECCO's batch
     * graph sees the same images as in one process). */
    if (ranks > 1) comm_broadcast_float(t->group, t->model.buffers, t->model.table.n_buffers, 0);
    for (int start = (long)rank * b < n ? rank * b : n; start < n; start += ranks * b) {
        int m = n - start < b ? n - start : b;
        for (int i = 0; i < m; i++) index[i] = start + i;
        ctx_begin(&t->ctx, 0, 0);
        Tensor *logits = forward_batch(t, t->data->test_x, t->data->test_y, index, m, -1);
        Tensor *loss = model_loss(&t->model, &t->ctx, logits, t->batch_y);
        loss_sum += (double)loss->data[0] * m;
        argmax_rows(logits, ev->predictions + start);
    }
    evaluation_finish(t, ev, n, loss_sum);
    free(index);
}

void trainer_logits(Trainer *t, const unsigned char *pixels, int n, float *logits)
{
    int b = t->cfg->eval_batch_size;
    int *index = xmalloc((size_t)b * sizeof(int));
    for (int start = 0; start < n; start += b) {
        int m = n - start < b ? n - start : b;
        for (int i = 0; i < m; i++) index[i] = start + i;
        ctx_begin(&t->ctx, 0, 0);
        Tensor *out = forward_batch(t, pixels, NULL, index, m, -1);
        memcpy(logits + (long)start * DATASET_CLASSES, out->data,
               (size_t)m * DATASET_CLASSES * sizeof(float));
    }
    free(index);
}

void evaluation_free(Evaluation *ev)
{
    free(ev->predictions);
    ev->predictions = NULL;
}

RunStatus trainer_run(Trainer *t, int start_epoch, const TrainObserver *obs, EpochStats *last)
{
    const TrainConfig *cfg = t->cfg;
    int n = t->data->n_train, b = cfg->batch_size;
    int batches = (n + b - 1) / b;
    for (int epoch = start_epoch; epoch < cfg->epochs; epoch++) {
        double t0 = now_seconds(), loss_sum = 0;
        long correct = 0;
        float lr = schedule_lr(&cfg->schedule, cfg->lr, epoch);
        if (t->gpu) {
            if (trainer_cuda_epoch(t, epoch, lr, obs, t0, &loss_sum, &correct)) return RUN_DIVERGED;
        } else {
            epoch_permutation(cfg->seed, epoch, n, t->order);
            for (int k = 0; k < batches; k++) {
                int m = n - k * b < b ? n - k * b : b;
                long step = (long)epoch * batches + k;
                int64_t position = (int64_t)epoch * n + (int64_t)k * b;
                if (train_step(t, t->order + (long)k * b, m, position, step, lr, &loss_sum, &correct))
                    return RUN_DIVERGED;
                if (obs && obs->on_batch)
                    obs->on_batch(obs->user, epoch, k + 1, batches, loss_sum / ((long)k * b + m),
                                  now_seconds() - t0, (long)k * b + m);
            }
        }
        double train_seconds = now_seconds() - t0;
        Evaluation ev;
        trainer_evaluate(t, &ev);
        /* Run files and checkpoints read the host copies. */
        if (t->gpu) trainer_cuda_to_host(t);
        EpochStats s = {
            .epoch = epoch,
            .train_loss = loss_sum / n,
            .train_accuracy = (double)correct / n,
            .test_loss = ev.loss,
            .test_accuracy = ev.accuracy,
            .lr = lr,
            .seconds = now_seconds() - t0,
            .train_images_per_second = n / train_seconds,
        };
        if (last) *last = s;
        int stop = obs && obs->on_epoch ? obs->on_epoch(obs->user, &s, &ev, &t->model, &t->opt) : TRAIN_GO_ON;
        /* Only the first rank records and decides; every rank stops with it
         * (a failure outranks pruning). */
        if (group_size(t) > 1) {
            int why[2] = {stop == TRAIN_STOP_FAILED, stop == TRAIN_STOP_PRUNED};
            comm_allreduce_sum_int(t->group, why, 2);
            stop = why[0] ? TRAIN_STOP_FAILED : why[1] ? TRAIN_STOP_PRUNED : TRAIN_GO_ON;
        }
        evaluation_free(&ev);
        if (!isfinite(s.test_loss)) return RUN_DIVERGED;
        if (stop == TRAIN_STOP_FAILED) return RUN_FAILED;
        if (stop == TRAIN_STOP_PRUNED) return RUN_PRUNED;
    }
    return RUN_COMPLETE;
}
