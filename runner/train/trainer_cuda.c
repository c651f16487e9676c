/* The training loop's CUDA backend (trainer_backend.h; CUDA builds only).
 * Same steps, same micro-batch plan and evaluation shards (batch_plan.h),
 * same dropout offsets and the same epoch permutation as the CPU backend
 * in trainer_cpu.c, arranged so a step never waits for the host:
 *
 *  - the dataset (bytes) is uploaded once; each epoch's permutation is
 *    computed on the GPU (cuda_shuffler_run), and each micro-batch is
 *    gathered and normalised by a kernel that reads the batch number from
 *    device memory (state[1]);
 *  - the dropout offset of micro-batch k, (step x slots + k) << 32, is
 *    written by a kernel from the step counter state[0];
 *  - augmentation (when configured) runs on the gathered raw images with
 *    the CPU's per-image counters epoch x n_train + position in the
 *    epoch (state[2] + state[1] x batch + start; cuda/augment.cu), so both
 *    backends augment image for image alike;
 *  - loss sums and correct counts accumulate in device memory (CudaTotals)
 *    and are read every `tick` steps (progress, divergence) and at the end
 *    of the epoch;
 *  - the optimizer reads its step count t and the learning rate from
 *    device memory (optim.c);
 *  - so, after one eager warm-up step per batch shape, the whole step
 *    (forward, backward, NCCL all-reduce, optimizer, counter advance) is
 *    captured once as a CUDA graph and replayed; the last, partial batch of
 *    an epoch gets a graph of its own. --no-graph (cuda_graph = false)
 *    runs every step eagerly: same kernels, same order, same results.
 *
 * Evaluation runs eagerly in a context of its own, so its batch size never
 * changes the training arena (whose addresses the graphs hold). */
#ifdef SWEEPRUN_HAVE_CUDA
#include "trainer_backend.h"
#include "augment.h"
#include "batch_plan.h"
#include "cuda/cuda_ops.h"
#include "ops.h"
#include "test_hold.h"
#include "util.h"
#include <stdlib.h>
#include <string.h>

enum { SHAPE_FULL = 0, SHAPE_LAST = 1 };

typedef struct TrainerCuda {
    CudaBackend *cu;
    Ctx eval_ctx;
    unsigned char *train_x, *train_y, *test_x, *test_y;   /* the dataset, once */
    unsigned char *val_x, *val_y;                         /* the validation split (NULL: none) */
    int *order;                   /* this epoch's permutation */
    CudaShuffler *shuffler;
    /* [0] optimizer step since the start, [1] batch of the epoch,
     * [2] epoch x n_train (the augmentation counter of the epoch's first image) */
    long long *state;
    uint64_t *rng_base;           /* dropout offset of the current micro-batch */
    CudaTotals *totals;           /* this epoch's training totals */
    CudaTotals *eval_totals;
    int *predictions;             /* n_test */
    float *micro_grad;            /* a later micro-batch's gradient (grad_accum > 1) */
    CudaGraph *graph[2];
    unsigned graph_generation[2]; /* the arena generation each graph holds */
    int eager_runs[2];
} TrainerCuda;

static void *upload(CudaBackend *cu, const void *host, size_t bytes)
{
    void *d = cuda_malloc(bytes ? bytes : 1);
    cuda_copy_to_device(cu, d, host, bytes);
    return d;
}

static void gpu_setup(Trainer *t, int device)
{
    const TrainConfig *cfg = t->cfg;
    const Dataset *d = t->data;
    char err[512];
    CudaBackend *cu = cuda_backend_create(device, cfg->tf32, err, sizeof err);
    CHECK(cu, "%s", err);
    TrainerCuda *g = xcalloc(1, sizeof *g);
    g->cu = cu;
    t->state = g;
    ctx_init_cuda(&t->ctx, cfg->seed, (size_t)64 << 20, cu);
    ctx_init_cuda(&g->eval_ctx, cfg->seed, (size_t)16 << 20, cu);
    model_to_cuda(&t->model, cu);
    optim_to_cuda(&t->opt, cu);
    size_t image = (size_t)d->rows * d->cols;
    g->train_x = upload(cu, d->train_x, (size_t)d->n_train * image);
    g->train_y = upload(cu, d->train_y, (size_t)d->n_train);
    g->test_x = upload(cu, d->test_x, (size_t)d->n_test * image);
    g->test_y = upload(cu, d->test_y, (size_t)d->n_test);
    if (d->n_val > 0) {
        g->val_x = upload(cu, d->val_x, (size_t)d->n_val * image);
        g->val_y = upload(cu, d->val_y, (size_t)d->n_val);
    }
    int most = d->n_test > d->n_val ? d->n_test : d->n_val;
    g->order = cuda_malloc((size_t)(d->n_train ? d->n_train : 1) * sizeof(int));
    g->shuffler = cuda_shuffler_create(cu, d->n_train);
    g->state = cuda_malloc(3 * sizeof(long long));
    g->rng_base = cuda_malloc(sizeof(uint64_t));
    g->totals = cuda_malloc(sizeof(CudaTotals));
    g->eval_totals = cuda_malloc(sizeof(CudaTotals));
    g->predictions = cuda_malloc((size_t)(most ? most : 1) * sizeof(int));
    if (cfg->grad_accum > 1) g->micro_grad = cuda_malloc((size_t)t->model.table.n_params * sizeof(float));
    t->ctx.rng_base = g->rng_base;
}

static void gpu_free(Trainer *t)
{
    TrainerCuda *g = t->state;
    cuda_sync(g->cu);
    for (int s = 0; s < 2; s++) cuda_graph_free(g->graph[s]);
    cuda_shuffler_free(g->shuffler);
    void *bufs[] = {g->train_x, g->train_y, g->test_x, g->test_y, g->val_x, g->val_y, g->order, g->state, g->rng_base,
                    g->totals, g->eval_totals, g->predictions, g->micro_grad};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) cuda_free(bufs[i]);
    ctx_free(&g->eval_ctx);
    ctx_free(&t->ctx);
    cuda_backend_free(g->cu);
    free(g);
    t->state = NULL;
}

static void gpu_describe(const Trainer *t, char *buf, int size)
{
    const TrainerCuda *g = t->state;
    cuda_backend_describe(g->cu, buf, size);
}

static void gpu_to_host(Trainer *t)
{
    model_to_host(&t->model);
    optim_state_to_host(&t->opt);
}

static void gpu_upload(Trainer *t)
{
    model_to_device(&t->model);
    optim_state_to_device(&t->opt);
}

/* ---- one step ---------------------------------------------------------------- */

/* Enqueue micro-batch k of the plan: gather (and augment) its images,
 * forward, loss totals, backward into the model's gradient target. */
static void enqueue_micro_batch(Trainer *t, const MicroBatchPlan *p, int k)
{
    TrainerCuda *g = t->state;
    CudaBackend *cu = g->cu;
    const TrainConfig *cfg = t->cfg;
    const Recipe *r = &cfg->model->recipe;
    int m = micro_batch_images(p, k), start = micro_batch_start(p, k);
    int image = t->data->rows * t->data->cols;
    /* The dropout offset, micro_batch_rng_offset's value from the device
     * step counter. */
    cuda_set_rng_base(cu, g->state, p->slots, k, g->rng_base);
    t->ctx.rng_offset = 0;
    ctx_begin(&t->ctx, 1, 1);
    float *x = ctx_scratch(&t->ctx, (long)m * image);
    int *y = ctx_data(&t->ctx, (size_t)m * sizeof(int));
    if (augment_active(&cfg->augment)) {
        /* As trainer_cpu.c's stage_augmented: raw intensities, augment, normalise. */
        float *raw = ctx_scratch(&t->ctx, (long)m * image);
        cuda_gather_batch(cu, g->train_x, g->train_y, g->order, g->state + 1, cfg->batch_size, start, m, image,
                          0.0f, 1.0f, raw, y);
        cuda_augment_batch(cu, cfg->augment, cfg->seed, g->state + 2, g->state + 1, cfg->batch_size, start, raw,
                           x, m, t->data->rows, t->data->cols, r->norm_mean, r->norm_std);
    } else {
        cuda_gather_batch(cu, g->train_x, g->train_y, g->order, g->state + 1, cfg->batch_size, start, m, image,
                          r->norm_mean, r->norm_std, x, y);
    }
    int dims[4] = {m, 1, t->data->rows, t->data->cols};
    Tensor *xt = ctx_wrap(&t->ctx, x, NULL, 4, dims);
    Tensor *logits = t->model.desc->forward(&t->model, &t->ctx, xt);
    Tensor *loss = model_loss(&t->model, &t->ctx, logits, y);
    cuda_accumulate_totals(cu, loss->data, logits->data, y, m, logits->dims[1], 1, g->totals);
    ctx_backward_scaled(&t->ctx, loss, 1.0f / (float)p->parts);
}

/* Enqueue one optimizer step over a global batch of n images, cut by
 * micro_batch_plan as the CPU backend cuts it. Runs on the host only to
 * enqueue: eagerly, or once while a graph is being captured (so no host
 * sync or allocation in here). */
static void enqueue_step(Trainer *t, int n)
{
    TrainerCuda *g = t->state;
    CudaBackend *cu = g->cu;
    MicroBatchPlan p = micro_batch_plan(n, group_size(t), group_rank(t), t->cfg->grad_accum);
    long np = t->model.table.n_params;
    float *total = t->model.dev_grads;
    cuda_memset_async(cu, total, (size_t)np * sizeof(float));
    for (int k = p.first; k < p.last; k++) {
        /* Later micro-batches backpropagate into a buffer of their own,
         * added to the sum as on the CPU (2 ranks == --grad-accum 2). */
        if (k > p.first) {
            model_set_grad_target(&t->model, g->micro_grad);
            cuda_memset_async(cu, g->micro_grad, (size_t)np * sizeof(float));
        }
        enqueue_micro_batch(t, &p, k);
        model_set_grad_target(&t->model, NULL);
        if (k > p.first) cuda_add_into(cu, total, g->micro_grad, np);
    }
    if (t->nccl) comm_nccl_allreduce_sum_device(t->group, total, np, cuda_backend_stream(cu));
    optim_step_cuda(&t->opt, t->model.dev_params, total);
    cuda_advance_step(cu, g->state);
}

/* Each batch shape runs eagerly once (the arena finds its peak size), then
 * is captured and replayed. A graph holds arena addresses, so it is
 * recaptured if the arena was ever reallocated after its capture. */
static void run_step(Trainer *t, int n)
{
    TrainerCuda *g = t->state;
    int s = n == t->cfg->batch_size ? SHAPE_FULL : SHAPE_LAST;
    if (!t->cfg->cuda_graph || g->eager_runs[s] == 0) {
        enqueue_step(t, n);
        g->eager_runs[s]++;
        return;
    }
    /* Reset outside the capture: freeing spilled blocks is not capturable. */
    ctx_begin(&t->ctx, 1, 1);
    if (g->graph[s] && g->graph_generation[s] != t->ctx.dev_arena.generation) {
        cuda_graph_free(g->graph[s]);
        g->graph[s] = NULL;
    }
    if (!g->graph[s]) {
        cuda_graph_begin(g->cu);
        enqueue_step(t, n);
        g->graph[s] = cuda_graph_end(g->cu);
        g->graph_generation[s] = t->ctx.dev_arena.generation;
    }
    cuda_graph_launch(g->cu, g->graph[s]);
}

/* ---- one epoch --------------------------------------------------------------- */

/* Whether to read the totals after step k: every `tick` steps and at
 * the epoch's end, where the ranks of a group compare stop wishes too
 * (so a group stops at a tick). A rank alone may stop after any step:
 * reading its own flag costs nothing, and the totals are read then. */
static int tick_after(const Trainer *t, int k, int tick, int batches, int *stop_alone)
{
    *stop_alone = group_size(t) == 1 && stop_wanted(t);
    return *stop_alone || (k + 1) % tick == 0 || k == batches - 1;
}

static int gpu_epoch(Trainer *t, int epoch, float lr, const TrainObserver *obs, double t0, TrainPosition *at)
{
    TrainerCuda *g = t->state;
    const TrainConfig *cfg = t->cfg;
    int n = t->data->n_train, b = cfg->batch_size;
    int batches = epoch_batch_count(n, b);
    /* A resumed epoch continues at step at->batch with its sums so far,
     * held by the group's first rank (the ticks sum the ranks' totals).
     * One rank continues its sum exactly; with several, the loss sum of
     * the resumed epoch is grouped (sum before the stop) + (rank sums
     * since), not (rank sums over the epoch), so that epoch's train_loss
     * may differ in the last bits from an uninterrupted run's (counts,
     * parameters and everything else do not). */
    long long state[3] = {(long long)epoch * batches + at->batch, at->batch, (long long)epoch * n};
    CudaTotals start = {0};
    if (group_rank(t) == 0) {
        start.loss_sum = at->loss_sum;
        start.correct = at->correct;
    }
    cuda_copy_to_device(g->cu, g->state, state, sizeof state);
    cuda_copy_to_device(g->cu, g->totals, &start, sizeof start);
    optim_set_lr_cuda(&t->opt, lr);
    cuda_shuffler_run(g->cu, g->shuffler, cfg->seed, epoch, g->order);
    int tick = t->tick_every > 0 ? t->tick_every : (batches / 50 > 1 ? batches / 50 : 1);
    for (int k = at->batch; k < batches; k++) {
        int m = epoch_batch_images(n, b, k);
        run_step(t, m);
        test_hold_point(t, epoch, k);
        int stop_alone;
        if (!tick_after(t, k, tick, batches, &stop_alone)) continue;
        /* A tick: the only point where the host waits for the GPU. */
        CudaTotals h;
        cuda_copy_to_host(g->cu, &h, g->totals, sizeof h);
        double sums[4] = {h.loss_sum, (double)h.correct, (double)h.nonfinite, stop_alone || stop_wanted(t)};
        if (group_size(t) > 1) comm_allreduce_sum_double(t->group, sums, 4);
        if (sums[2] > 0) return -1;
        at->loss_sum = sums[0];
        at->correct = (long)sums[1];
        at->batch = k + 1;
        observe_batch(obs, epoch, k, batches, sums[0], (long)k * b + m, t0);
        if (sums[3] > 0) return 1;
    }
    return 0;
}

/* ---- evaluation -------------------------------------------------------------- */

static void gpu_evaluate(Trainer *t, DataSplit split, Evaluation *ev)
{
    TrainerCuda *g = t->state;
    CudaBackend *cu = g->cu;
    const Recipe *r = &t->cfg->model->recipe;
    memset(ev, 0, sizeof *ev);
    const unsigned char *host_x, *host_y;
    int n;
    dataset_split(t->data, split, &host_x, &host_y, &n);
    const unsigned char *dev_x = split == SPLIT_TEST ? g->test_x : g->val_x;
    const unsigned char *dev_y = split == SPLIT_TEST ? g->test_y : g->val_y;
    int image = t->data->rows * t->data->cols;
    ev->predictions = xcalloc((size_t)(n ? n : 1), sizeof(int));
    if (group_size(t) > 1) {
        /* Every rank scores the first rank's running statistics. */
        model_to_host(&t->model);
        comm_broadcast_float(t->group, t->model.buffers, t->model.table.n_buffers, 0);
        model_to_device(&t->model);
    }
    cuda_memset_async(cu, g->eval_totals, sizeof(CudaTotals));
    cuda_memset_async(cu, g->predictions, (size_t)(n ? n : 1) * sizeof(int));
    for (EvalShard e = eval_shard(n, t->cfg->eval_batch_size, group_rank(t), group_size(t)); eval_shard_next(&e);) {
        int m = e.images;
        Ctx *c = &g->eval_ctx;
        ctx_begin(c, 0, 0);
        float *x = ctx_scratch(c, (long)m * image);
        int *y = ctx_data(c, (size_t)m * sizeof(int));
        cuda_gather_batch(cu, dev_x, dev_y, NULL, NULL, 0, e.start, m, image, r->norm_mean, r->norm_std, x, y);
        int dims[4] = {m, 1, t->data->rows, t->data->cols};
        Tensor *logits = t->model.desc->forward(&t->model, c, ctx_wrap(c, x, NULL, 4, dims));
        Tensor *loss = model_loss(&t->model, c, logits, y);
        cuda_accumulate_totals(cu, loss->data, logits->data, y, m, logits->dims[1], 0, g->eval_totals);
        op_argmax_rows(c, logits, g->predictions + e.start);
    }
    CudaTotals h;
    cuda_copy_to_host(cu, ev->predictions, g->predictions, (size_t)n * sizeof(int));
    cuda_copy_to_host(cu, &h, g->eval_totals, sizeof h);
    evaluation_finish(t, host_y, ev, n, h.loss_sum);
}

const TrainerBackend trainer_cuda_backend = {
    .setup = gpu_setup,
    .epoch = gpu_epoch,
    .evaluate = gpu_evaluate,
    .to_host = gpu_to_host,
    .upload = gpu_upload,
    .describe = gpu_describe,
    .free = gpu_free,
};
#endif
