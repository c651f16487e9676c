/* The training loop's CPU backend (trainer_backend.h): micro-batches are
 * staged on the host, trained one after the other and their gradients
 * summed on the host; MPI (or NCCL from host memory) sums over the ranks.
 * Also trainer_logits and the CPU's thread count (train.h). */
#include "trainer_backend.h"
#include "augment.h"
#include "batch_plan.h"
#include "device.h"
#include "ops.h"
#include "test_hold.h"
#include "util.h"
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef struct TrainerCpu {
    float *batch_x;            /* staging for one micro-batch of images */
    int *batch_y;
    float *batch_raw;          /* un-normalised images before augmentation (augment on) */
    int *in_order;             /* indices of one evaluation batch */
    int *order;                /* this epoch's permutation of the training set */
    float *micro_grad;         /* one later micro-batch's gradient (grad_accum > 1) */
} TrainerCpu;

int set_compute_threads(int threads)
{
    if (threads <= 0) threads = omp_get_num_procs();
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    return threads;
}

static void cpu_setup(Trainer *t, int device)
{
    const TrainConfig *cfg = t->cfg;
    const Dataset *data = t->data;
    TrainerCpu *s = xcalloc(1, sizeof *s);
    t->state = s;
    ctx_init(&t->ctx, cfg->seed, (size_t)64 << 20);
    int most = cfg->batch_size > cfg->eval_batch_size ? cfg->batch_size : cfg->eval_batch_size;
    long image = (long)data->rows * data->cols;
    s->batch_x = xmalloc((size_t)most * image * sizeof(float));
    s->batch_y = xmalloc((size_t)most * sizeof(int));
    if (augment_active(&cfg->augment)) s->batch_raw = xmalloc((size_t)most * image * sizeof(float));
    s->in_order = xmalloc((size_t)cfg->eval_batch_size * sizeof(int));
    s->order = xmalloc((size_t)(data->n_train ? data->n_train : 1) * sizeof(int));
    if (cfg->grad_accum > 1) s->micro_grad = xmalloc((size_t)t->model.table.n_params * sizeof(float));
}

static void cpu_free(Trainer *t)
{
    TrainerCpu *s = t->state;
    ctx_free(&t->ctx);
    free(s->batch_x);
    free(s->batch_y);
    free(s->batch_raw);
    free(s->in_order);
    free(s->order);
    free(s->micro_grad);
    free(s);
    t->state = NULL;
}

static void cpu_describe(const Trainer *t, char *buf, int size) { device_cpu_name(buf, size); }

/* ---- staging and forward ----------------------------------------------------- */

/* Stage training images with augmentation: gather raw intensities
 * (background 0), augment image i with RNG counter `position + i`, then
 * normalise exactly as dataset_gather does ((p/255 - mean)/std, and p/255
 * is what a gather with mean 0, std 1 leaves). */
static void stage_augmented(Trainer *t, const unsigned char *pixels, const int *index, int n,
                            uint64_t position)
{
    TrainerCpu *s = t->state;
    const TrainConfig *cfg = t->cfg;
    int rows = t->data->rows, cols = t->data->cols;
    long count = (long)n * rows * cols;
    dataset_gather(pixels, rows * cols, index, n, 0.0f, 1.0f, s->batch_raw);
    augment_batch(&cfg->augment, cfg->seed, position, s->batch_raw, s->batch_x, n, rows, cols);
    float mean = cfg->model->recipe.norm_mean, std = cfg->model->recipe.norm_std;
    for (long i = 0; i < count; i++) s->batch_x[i] = (s->batch_x[i] - mean) / std;
}

/* Forward one batch of images (indices into the split), leave the logits
 * (and the labels in batch_y).
 * position >= 0: training images, augmented (when configured) with the
 * per-image counters position, position + 1, ...: their place in the
 * epoch's stream of images (epoch * n_train + index in the permutation),
 * the same however the batch is split into micro-batches and ranks. */
static Tensor *forward_batch(Trainer *t, const unsigned char *pixels, const unsigned char *labels,
                             const int *index, int n, int64_t position)
{
    TrainerCpu *s = t->state;
    const Recipe *r = &t->cfg->model->recipe;
    int image = t->data->rows * t->data->cols;
    if (position >= 0 && s->batch_raw) stage_augmented(t, pixels, index, n, (uint64_t)position);
    else dataset_gather(pixels, image, index, n, r->norm_mean, r->norm_std, s->batch_x);
    for (int i = 0; i < n; i++) s->batch_y[i] = labels ? labels[index[i]] : 0;
    int dims[4] = {n, 1, t->data->rows, t->data->cols};
    Tensor *x = ctx_wrap(&t->ctx, s->batch_x, NULL, 4, dims);
    return t->model.desc->forward(&t->model, &t->ctx, x);
}

/* Forward images [start, start + n) of pixels in eval mode. */
static Tensor *forward_in_order(Trainer *t, const unsigned char *pixels, const unsigned char *labels, int start,
                                int n)
{
    TrainerCpu *s = t->state;
    for (int i = 0; i < n; i++) s->in_order[i] = start + i;
    ctx_begin(&t->ctx, 0, 0);
    return forward_batch(t, pixels, labels, s->in_order, n, -1);
}

/* ---- one step ---------------------------------------------------------------- */

/* Forward and backward of one micro-batch of n images into the model's
 * gradient target, the backward seeded with `seed`; adds loss x images
 * and correct predictions to sums. 0, or -1 (no backward) when the loss
 * is not finite. */
static int train_micro_batch(Trainer *t, const int *index, int n, int64_t position, float seed, double sums[2])
{
    TrainerCpu *s = t->state;
    ctx_begin(&t->ctx, 1, 1);
    Tensor *logits = forward_batch(t, t->data->train_x, t->data->train_y, index, n, position);
    Tensor *loss = model_loss(&t->model, &t->ctx, logits, s->batch_y);
    if (!isfinite(loss->data[0])) return -1;
    sums[0] += (double)loss->data[0] * n;
    sums[1] += count_correct(logits, s->batch_y);
    ctx_backward_scaled(&t->ctx, loss, seed);
    return 0;
}

/* One optimizer step over the global batch index[0..n), cut by
 * micro_batch_plan into ranks x grad_accum micro-batches whose gradients
 * are averaged: each backward is seeded with 1/parts, this rank's share is
 * summed locally and then over the ranks. step counts optimizer steps
 * since the start (dropout offsets: micro_batch_rng_offset). Returns 0;
 * -1 (on every rank, no update) when any rank's loss is not finite; 1 (on
 * every rank, after the update) when any rank wants to stop.
 *
 * The stop wish rides in the all-reduce of the step's sums that every
 * data-parallel step makes anyway (a fourth double beside loss, correct
 * and the non-finite flag), so agreeing on the step to stop after costs
 * no message of its own; a rank alone only reads its flag. Measured on
 * the shared 2-core machine, Open MPI 4.1.4, 2 ranks, best of 3 x 100,000:
 * that all-reduce takes 2.6-5.0 us with 3 or with 4 doubles (no
 * difference above the noise), against about 2.4 ms for a gecco step of
 * 64 images at 1 thread; reading the flag is one call and one load. */
static int train_step(Trainer *t, const int *index, int n, int64_t position, long step, float lr, TrainPosition *at)
{
    TrainerCpu *s = t->state;
    MicroBatchPlan p = micro_batch_plan(n, group_size(t), group_rank(t), t->cfg->grad_accum);
    long np = t->model.table.n_params;
    float *total = t->model.grads;
    /* This rank's sums: loss x images, correct predictions, non-finite flag, stop wish. */
    double local[4] = {0, 0, 0, 0};
    memset(total, 0, (size_t)np * sizeof(float));
    for (int k = p.first; k < p.last; k++) {
        int start = micro_batch_start(&p, k);
        /* Each micro-batch after the first backpropagates into its own
         * buffer, then is added to the running sum, exactly as the
         * all-reduce adds the ranks' gradients: 2 ranks give the same bits
         * as --grad-accum 2. */
        if (k > p.first) {
            model_set_grad_target(&t->model, s->micro_grad);
            memset(s->micro_grad, 0, (size_t)np * sizeof(float));
        }
        t->ctx.rng_offset = micro_batch_rng_offset(&p, step, k);
        int finite = train_micro_batch(t, index + start, micro_batch_images(&p, k), position + start,
                                       1.0f / (float)p.parts, local) == 0;
        model_set_grad_target(&t->model, NULL);
        if (!finite) {
            local[2] = 1;
            break;
        }
        if (k > p.first)
            for (long i = 0; i < np; i++) total[i] += s->micro_grad[i];
    }
    test_hold_point(t, at->epoch, at->batch);   /* at->batch: this step's index until the epoch loop moves it */
    local[3] = stop_wanted(t);
    if (group_size(t) > 1) comm_allreduce_sum_double(t->group, local, 4);
    if (local[2] > 0) return -1;
    at->loss_sum += local[0];
    at->correct += (long)local[1];
    if (t->nccl) comm_nccl_allreduce_sum_host(t->group, total, np);
    else if (group_size(t) > 1) comm_allreduce_sum_float(t->group, total, np);
    optim_step(&t->opt, t->model.params, total, lr);
    return local[3] > 0;
}

/* ---- one epoch, evaluation ----------------------------------------------------- */

static int cpu_epoch(Trainer *t, int epoch, float lr, const TrainObserver *obs, double t0, TrainPosition *at)
{
    TrainerCpu *s = t->state;
    const TrainConfig *cfg = t->cfg;
    int n = t->data->n_train, b = cfg->batch_size;
    int batches = epoch_batch_count(n, b);
    epoch_permutation(cfg->seed, epoch, n, s->order);
    for (int k = at->batch; k < batches; k++) {
        int m = epoch_batch_images(n, b, k);
        long step = (long)epoch * batches + k;
        int64_t position = (int64_t)epoch * n + (int64_t)k * b;
        int rc = train_step(t, s->order + (long)k * b, m, position, step, lr, at);
        if (rc < 0) return -1;
        observe_batch(obs, epoch, k, batches, at->loss_sum, (long)k * b + m, t0);
        at->batch = k + 1;
        if (rc > 0) return 1;
    }
    return 0;
}

static void cpu_evaluate(Trainer *t, DataSplit split, Evaluation *ev)
{
    TrainerCpu *s = t->state;
    memset(ev, 0, sizeof *ev);
    const unsigned char *x, *y;
    int n;
    dataset_split(t->data, split, &x, &y, &n);
    ev->predictions = xcalloc((size_t)(n ? n : 1), sizeof(int));
    double loss_sum = 0;
    /* Data-parallel: every rank scores the first rank's running statistics. */
    if (group_size(t) > 1) comm_broadcast_float(t->group, t->model.buffers, t->model.table.n_buffers, 0);
    for (EvalShard e = eval_shard(n, t->cfg->eval_batch_size, group_rank(t), group_size(t)); eval_shard_next(&e);) {
        Tensor *logits = forward_in_order(t, x, y, e.start, e.images);
        Tensor *loss = model_loss(&t->model, &t->ctx, logits, s->batch_y);
        loss_sum += (double)loss->data[0] * e.images;
        argmax_rows(logits, ev->predictions + e.start);
    }
    evaluation_finish(t, y, ev, n, loss_sum);
}

void trainer_logits(Trainer *t, const unsigned char *pixels, int n, float *logits)
{
    CHECK(t->backend == &trainer_cpu_backend, "trainer_logits: a trainer on the CPU only");
    for (EvalShard e = eval_shard(n, t->cfg->eval_batch_size, 0, 1); eval_shard_next(&e);) {
        Tensor *out = forward_in_order(t, pixels, NULL, e.start, e.images);
        memcpy(logits + (long)e.start * DATASET_CLASSES, out->data,
               (size_t)e.images * DATASET_CLASSES * sizeof(float));
    }
}

/* to_host and upload: NULL, the host copies are the ones trained. */
const TrainerBackend trainer_cpu_backend = {
    .setup = cpu_setup,
    .epoch = cpu_epoch,
    .evaluate = cpu_evaluate,
    .describe = cpu_describe,
    .free = cpu_free,
};
