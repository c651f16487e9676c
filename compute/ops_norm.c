/* Normalisation ops: batch norm (PyTorch BatchNorm1d/2d semantics) and the
 * row normalisation x / rowsum(x).
 *
 * Batch-norm layout: x is [N, C] or [N, C, H, W]; channel ch's n = N*H*W
 * values sit at n_idx*C*HW + ch*HW + hw, so each channel is N strided runs
 * of HW contiguous floats. Statistics are reduced in double (eight partial
 * sums per channel, bn_channel_stats): with fp32 sums
 * the variance E[(x-mean)^2] of large, offset batches loses digits that the
 * gradient check (and training over many steps) would notice.
 *
 * CUDA twins (cuda/norm.cu) use one block per channel (per row for the
 * row normalisation) with the same double sums in a fixed tree order; the
 * formulas applied to the sums are norm_math.h's, shared by both.
 *
 * op_batchnorm_relu is relu(batchnorm(x)) in one op, bit for bit the two
 * ops on the CPU: forward writes max(0, y) in the apply pass; backward
 * masks the output gradient in place (relu_mask_in_place), then runs the
 * batch norm's. Against batch norm then ReLU that spares the forward
 * ReLU pass, and the tensor between them (data and gradient: two writes
 * and a read-modify-write of the gradient). On CUDA the op runs the two
 * ops' kernels in turn. */
#include "ops.h"
#include "backend.h"
#include "elementwise_math.h"
#include "norm_math.h"
#include "util.h"

typedef struct BnShape {
    int N, C;
    long hw;      /* H*W, or 1 for 2-D input */
    long count;   /* values per channel: N*hw */
} BnShape;

static BnShape bn_shape(const Tensor *x)
{
    CHECK(x->ndim == 2 || x->ndim == 4, "batchnorm: input rank %d (want 2 or 4)", x->ndim);
    BnShape s = {.N = x->dims[0], .C = x->dims[1], .hw = 1};
    if (x->ndim == 4) s.hw = (long)x->dims[2] * x->dims[3];
    s.count = (long)s.N * s.hw;
    return s;
}

/* Pointer to the start of sample n's run of channel ch. */
static inline long bn_offset(const BnShape *s, int n, int ch)
{
    return ((long)n * s->C + ch) * s->hw;
}

/* Sums in double over a channel's N runs of hw floats. A single running
 * sum is a chain of dependent double adds (4 cycles an element: 6 ms of a
 * baseline_cnn step went into these chains). BN_LANES partial sums,
 * element i of a run going to partial i % BN_LANES, vectorise into four
 * AVX-512 registers, four independent chains, and are combined in a fixed
 * tree at the end: the same bits at any thread count (a channel is never
 * split across threads). With 8 partials (one register, one chain) batch
 * norm + ReLU on baseline_cnn's x[64,32,28,28] took 1.18-1.27 ms forward
 * and 1.18-1.25 ms backward on 2 threads, with 32 0.95-1.05 and
 * 1.07-1.26 ms. */
#define BN_LANES 32

static double lanes_total(const double *acc)
{
    double t[BN_LANES];
    for (int i = 0; i < BN_LANES; i++) t[i] = acc[i];
    for (int w = BN_LANES / 2; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) t[i] += t[i + w];
    return t[0];
}

/* Mean and biased variance of one channel (two passes, in double). */
static void bn_channel_stats(const BnShape *s, const float *x, int ch,
                             double *mean_out, double *var_out)
{
    double acc[BN_LANES] = {0};
    for (int n = 0; n < s->N; n++) {
        const float *p = x + bn_offset(s, n, ch);
        long i = 0;
        for (; i + BN_LANES <= s->hw; i += BN_LANES)
            for (int j = 0; j < BN_LANES; j++) acc[j] += p[i + j];
        for (; i < s->hw; i++) acc[i % BN_LANES] += p[i];
    }
    double mean = lanes_total(acc) / (double)s->count;
    double sq[BN_LANES] = {0};
    for (int n = 0; n < s->N; n++) {
        const float *p = x + bn_offset(s, n, ch);
        long i = 0;
        for (; i + BN_LANES <= s->hw; i += BN_LANES)
            for (int j = 0; j < BN_LANES; j++) {
                double d = p[i + j] - mean;
                sq[j] += d * d;
            }
        for (; i < s->hw; i++) {
            double d = p[i] - mean;
            sq[i % BN_LANES] += d * d;
        }
    }
    *mean_out = mean;
    *var_out = lanes_total(sq) / (double)s->count;
}

/* Channel ch's backward sums: sum(dy) and sum(dy * xhat), as above. */
static void bn_grad_sums(const BnShape *s, const float *x, const float *dy, int ch, float mean, float invstd,
                         double *sum_dy, double *sum_dy_xhat)
{
    double a[BN_LANES] = {0}, b[BN_LANES] = {0};
    for (int n = 0; n < s->N; n++) {
        long o = bn_offset(s, n, ch), i = 0;
        for (; i + BN_LANES <= s->hw; i += BN_LANES)
            for (int j = 0; j < BN_LANES; j++) {
                a[j] += dy[o + i + j];
                b[j] += dy[o + i + j] * bn_xhat(x[o + i + j], mean, invstd);
            }
        for (; i < s->hw; i++) {
            a[i % BN_LANES] += dy[o + i];
            b[i % BN_LANES] += dy[o + i] * bn_xhat(x[o + i], mean, invstd);
        }
    }
    *sum_dy = lanes_total(a);
    *sum_dy_xhat = lanes_total(b);
}

/* Training-mode statistics: batch mean / inverse std into mean[], invstd[],
 * and the PyTorch running-stat update (unbiased variance for running_var). */
static void bn_batch_stats(const BnShape *s, const float *x, float momentum, float eps,
                           float *mean, float *invstd, float *run_mean, float *run_var)
{
    CHECK(s->count > 1, "batchnorm: training needs more than 1 value per channel (got %ld)",
          s->count);
    #pragma omp parallel for if (s->count * s->C >= PAR_MIN) schedule(static)
    for (int ch = 0; ch < s->C; ch++) {
        double m, v;
        bn_channel_stats(s, x, ch, &m, &v);
        bn_store_stats(ch, m, v, s->count, momentum, eps, mean, invstd, run_mean, run_var);
    }
}

/* Evaluation-mode statistics from the running ones. */
static void bn_running_stats(const float *run_mean, const float *run_var, int channels, float eps,
                             float *mean, float *invstd)
{
    for (int ch = 0; ch < channels; ch++) {
        mean[ch] = run_mean[ch];
        invstd[ch] = bn_invstd(run_var[ch], eps);
    }
}

/* y = gamma * (x - mean) * invstd + beta (gamma/beta NULL mean 1/0),
 * then max(0, y) with relu. */
static void bn_apply(const BnShape *s, const float *x, const float *mean, const float *invstd,
                     const Tensor *gamma, const Tensor *beta, int relu, float *y)
{
    #pragma omp parallel for collapse(2) if (s->count * s->C >= PAR_MIN) schedule(static)
    for (int n = 0; n < s->N; n++)
        for (int ch = 0; ch < s->C; ch++) {
            float scale = bn_scale(invstd, gamma ? gamma->data : NULL, ch);
            float shift = bn_shift(mean, beta ? beta->data : NULL, ch, scale);
            long o = bn_offset(s, n, ch);
            if (relu)
                for (long i = 0; i < s->hw; i++) y[o + i] = relu_fwd(x[o + i] * scale + shift);
            else
                for (long i = 0; i < s->hw; i++) y[o + i] = x[o + i] * scale + shift;
        }
}

/* ---- short runs: small maps and 2-D input ---------------------------------
 * Below BN_SHORT_RUN values a channel's runs are too short for the loops
 * above to vectorise: resnet's 2x2 and 1x1 maps give runs of 4 and 1, and
 * its 97 batch-norm layers took 98 ms of a 690 ms step, 85 of them on maps
 * of 4x4 and smaller. These loops run instead along a sample's contiguous
 * C*hw values, a block of whole channels at a time, with a partial sum per
 * position (summed over the batch in order, then over the channel's
 * positions in order) and the channel's constants copied per position.
 * Blocks depend on the shape alone, so the bits do not depend on the
 * thread count. The formulas are norm_math.h's, as above. */
#define BN_SHORT_RUN 64
#define BN_BLOCK 256   /* positions per block: whole channels */

typedef struct BnBlock {
    int c0, c1;       /* channels [c0, c1) */
    long at, len;     /* positions [at, at + len) of a sample's C*hw */
} BnBlock;

static int bn_short_runs(const BnShape *s) { return s->hw < BN_SHORT_RUN; }

static int bn_block_channels(const BnShape *s) { return (int)(BN_BLOCK / s->hw); }

static int bn_blocks(const BnShape *s) { return (s->C + bn_block_channels(s) - 1) / bn_block_channels(s); }

static BnBlock bn_block(const BnShape *s, int b)
{
    int per = bn_block_channels(s);
    BnBlock k = {.c0 = b * per, .c1 = b * per + per};
    if (k.c1 > s->C) k.c1 = s->C;
    k.at = (long)k.c0 * s->hw;
    k.len = (long)(k.c1 - k.c0) * s->hw;
    return k;
}

/* Sample n's values of the block's channels (len contiguous floats). */
static const float *bn_sample(const BnShape *s, const float *x, int n, const BnBlock *k)
{
    return x + (long)n * s->C * s->hw + k->at;
}

/* A channel's total from its hw position partials, in order. */
static double bn_channel_total(const BnShape *s, const double *acc, const BnBlock *k, int ch)
{
    double t = 0;
    for (long i = 0; i < s->hw; i++) t += acc[(long)(ch - k->c0) * s->hw + i];
    return t;
}

static void bn_short_forward_block(const BnShape *s, const float *x, const BnBlock *k, int batch_stats,
                                   float momentum, float eps, float *mean, float *invstd, float *run_mean,
                                   float *run_var, const float *gamma, const float *beta, int relu, float *y)
{
    double acc[BN_BLOCK], mpos[BN_BLOCK];
    float scale[BN_BLOCK], shift[BN_BLOCK];
    if (batch_stats) {
        for (long j = 0; j < k->len; j++) acc[j] = 0;
        for (int n = 0; n < s->N; n++) {
            const float *p = bn_sample(s, x, n, k);
            for (long j = 0; j < k->len; j++) acc[j] += p[j];
        }
        double m[BN_BLOCK];
        for (int ch = k->c0; ch < k->c1; ch++) m[ch - k->c0] = bn_channel_total(s, acc, k, ch) / (double)s->count;
        for (long j = 0; j < k->len; j++) {
            mpos[j] = m[j / s->hw];
            acc[j] = 0;
        }
        for (int n = 0; n < s->N; n++) {
            const float *p = bn_sample(s, x, n, k);
            for (long j = 0; j < k->len; j++) {
                double d = p[j] - mpos[j];
                acc[j] += d * d;
            }
        }
        for (int ch = k->c0; ch < k->c1; ch++)
            bn_store_stats(ch, m[ch - k->c0], bn_channel_total(s, acc, k, ch) / (double)s->count, s->count,
                           momentum, eps, mean, invstd, run_mean, run_var);
    }
    for (long j = 0; j < k->len; j++) {
        int ch = k->c0 + (int)(j / s->hw);
        scale[j] = bn_scale(invstd, gamma, ch);
        shift[j] = bn_shift(mean, beta, ch, scale[j]);
    }
    for (int n = 0; n < s->N; n++) {
        const float *p = bn_sample(s, x, n, k);
        float *q = y + (p - x);
        if (relu)
            for (long j = 0; j < k->len; j++) q[j] = relu_fwd(p[j] * scale[j] + shift[j]);
        else
            for (long j = 0; j < k->len; j++) q[j] = p[j] * scale[j] + shift[j];
    }
}

static void bn_short_forward(const BnShape *s, const float *x, int batch_stats, float momentum, float eps,
                             float *mean, float *invstd, float *run_mean, float *run_var, const Tensor *gamma,
                             const Tensor *beta, int relu, float *y)
{
    int blocks = bn_blocks(s);
    #pragma omp parallel for if (s->count * s->C >= PAR_MIN) schedule(static)
    for (int b = 0; b < blocks; b++) {
        BnBlock k = bn_block(s, b);
        bn_short_forward_block(s, x, &k, batch_stats, momentum, eps, mean, invstd, run_mean, run_var,
                               gamma ? gamma->data : NULL, beta ? beta->data : NULL, relu, y);
    }
}

static void bn_short_backward_block(const BnShape *s, const float *x, const float *dy, const BnBlock *k,
                                    const float *mean, const float *invstd, int batch_stats, const float *gamma,
                                    float *dgamma, float *dbeta, float *dx)
{
    double a[BN_BLOCK], b[BN_BLOCK], kk[BN_BLOCK], mdy[BN_BLOCK], mxh[BN_BLOCK];
    float mpos[BN_BLOCK], ipos[BN_BLOCK];
    for (long j = 0; j < k->len; j++) {
        int ch = k->c0 + (int)(j / s->hw);
        mpos[j] = mean[ch];
        ipos[j] = invstd[ch];
        a[j] = b[j] = 0;
    }
    for (int n = 0; n < s->N; n++) {
        const float *p = bn_sample(s, x, n, k), *g = dy + (p - x);
        for (long j = 0; j < k->len; j++) {
            a[j] += g[j];
            b[j] += g[j] * bn_xhat(p[j], mpos[j], ipos[j]);
        }
    }
    for (int ch = k->c0; ch < k->c1; ch++) {
        double sum_dy = bn_channel_total(s, a, k, ch), sum_dy_xhat = bn_channel_total(s, b, k, ch);
        if (dgamma) dgamma[ch] += (float)sum_dy_xhat;
        if (dbeta) dbeta[ch] += (float)sum_dy;
        BnDx t = bn_dx_terms(gamma, invstd, ch, batch_stats, sum_dy, sum_dy_xhat, s->count);
        for (long i = 0; i < s->hw; i++) {
            long j = (long)(ch - k->c0) * s->hw + i;
            kk[j] = t.k, mdy[j] = t.mdy, mxh[j] = t.mxh;
        }
    }
    if (!dx) return;
    for (int n = 0; n < s->N; n++) {
        const float *p = bn_sample(s, x, n, k), *g = dy + (p - x);
        float *d = dx + (p - x);
        for (long j = 0; j < k->len; j++) {
            BnDx t = {kk[j], mdy[j], mxh[j]};
            d[j] += bn_dx(&t, g[j], bn_xhat(p[j], mpos[j], ipos[j]));
        }
    }
}

static void bn_short_backward(const BnShape *s, const float *x, const float *dy, const float *mean,
                              const float *invstd, int batch_stats, const Tensor *gamma, const Tensor *beta,
                              float *dx)
{
    int blocks = bn_blocks(s);
    #pragma omp parallel for if (s->count * s->C >= PAR_MIN) schedule(static)
    for (int b = 0; b < blocks; b++) {
        BnBlock k = bn_block(s, b);
        bn_short_backward_block(s, x, dy, &k, mean, invstd, batch_stats, gamma ? gamma->data : NULL,
                                gamma ? gamma->grad : NULL, beta ? beta->grad : NULL, dx);
    }
}

#ifdef SWEEPRUN_HAVE_CUDA
/* CUDA: the batch norm's backward from dy, after the fused ReLU's into
 * the scratch e->aux[2] when there is one. */
static void bn_backward_cuda(TapeEntry *e, const BnShape *s)
{
    Tensor *x = e->in[0], *gamma = e->in[1], *beta = e->in[2];
    const float *dy = e->out->grad;
    if (e->args.batchnorm.relu) {
        float *g = e->aux[2]->data;
        bk_fill(e->ctx, g, e->out->numel, 0);
        cuda_relu_backward(e->ctx->cuda, e->out->data, dy, g, e->out->numel);
        dy = g;
    }
    cuda_bn_backward(e->ctx->cuda, x->data, dy, s->N, s->C, s->hw, e->aux[0]->data, e->aux[1]->data,
                     gamma ? gamma->data : NULL, e->args.batchnorm.batch_stats, gamma ? gamma->grad : NULL,
                     beta ? beta->grad : NULL, x->grad);
}
#endif

/* The fused ReLU's backward, in place: dz = relu_bwd(z, dz), z its
 * output (z > 0 exactly where the batch norm's output was). dz is the
 * op's own output gradient, read by nothing after this op's backward.
 * (Masking inside the batch norm's two passes instead kept GCC 12 from
 * vectorising them: 17 ms a step for baseline_cnn's four layers against
 * 7 + 2.5 for the two ops; this pass is the ReLU's, without its tensor.) */
static void relu_mask_in_place(const float *z, float *dz, long n)
{
    #pragma omp parallel for if (n >= PAR_MIN) schedule(static)
    for (long i = 0; i < n; i++) dz[i] = relu_bwd(z[i], dz[i]);
}

/* e->in = {x, gamma, beta}; e->aux = {mean, invstd[, CUDA's ReLU scratch]}.
 * xhat is recomputed from x (cheaper in memory than saving it). */
static void bn_backward(TapeEntry *e)
{
    Tensor *x = e->in[0], *gamma = e->in[1], *beta = e->in[2];
    const float *mean = e->aux[0]->data, *invstd = e->aux[1]->data;
    const float *dy = e->out->grad;
    int batch_stats = e->args.batchnorm.batch_stats;
    BnShape s = bn_shape(x);
    if (ON_CUDA(e->ctx)) {
        CUDA_ONLY(bn_backward_cuda(e, &s));
        return;
    }
    if (e->args.batchnorm.relu) relu_mask_in_place(e->out->data, e->out->grad, e->out->numel);
    if (bn_short_runs(&s)) {
        bn_short_backward(&s, x->data, dy, mean, invstd, batch_stats, gamma, beta, x->grad);
        return;
    }
    #pragma omp parallel for if (s.count * s.C >= PAR_MIN) schedule(static)
    for (int ch = 0; ch < s.C; ch++) {
        double sum_dy, sum_dy_xhat;
        bn_grad_sums(&s, x->data, dy, ch, mean[ch], invstd[ch], &sum_dy, &sum_dy_xhat);
        if (gamma && gamma->grad) gamma->grad[ch] += (float)sum_dy_xhat;
        if (beta && beta->grad) beta->grad[ch] += (float)sum_dy;
        if (!x->grad) continue;
        BnDx t = bn_dx_terms(gamma ? gamma->data : NULL, invstd, ch, batch_stats, sum_dy, sum_dy_xhat, s.count);
        for (int n = 0; n < s.N; n++) {
            long o = bn_offset(&s, n, ch);
            for (long i = 0; i < s.hw; i++)
                x->grad[o + i] += bn_dx(&t, dy[o + i], bn_xhat(x->data[o + i], mean[ch], invstd[ch]));
        }
    }
}

/* op_batchnorm (relu 0) and op_batchnorm_relu (relu 1). */
static Tensor *batchnorm(Ctx *c, Tensor *x, Tensor *gamma, Tensor *beta, float *running_mean,
                         float *running_var, float momentum, float eps, int relu)
{
    BnShape s = bn_shape(x);
    CHECK(!gamma || gamma->numel == s.C, "batchnorm: gamma has %ld values for %d channels",
          gamma ? gamma->numel : 0, s.C);
    CHECK(!beta || beta->numel == s.C, "batchnorm: beta has %ld values for %d channels",
          beta ? beta->numel : 0, s.C);
    Tensor *mean = ctx_tensor(c, 1, &s.C, 0), *invstd = ctx_tensor(c, 1, &s.C, 0);
    if (c->training) {
        CHECK(s.count > 1, "batchnorm: training needs more than 1 value per channel (got %ld)", s.count);
        if (ON_CUDA(c))
            CUDA_ONLY(cuda_bn_batch_stats(c->cuda, x->data, s.N, s.C, s.hw, momentum, eps, mean->data,
                                          invstd->data, running_mean, running_var));
        else if (!bn_short_runs(&s))   /* else in bn_short_forward, with the apply */
            bn_batch_stats(&s, x->data, momentum, eps, mean->data, invstd->data, running_mean, running_var);
    } else {
        CHECK(running_mean && running_var, "batchnorm: evaluation without running statistics");
        if (ON_CUDA(c))
            CUDA_ONLY(cuda_bn_running_stats(c->cuda, running_mean, running_var, s.C, eps, mean->data,
                                            invstd->data));
        else
            bn_running_stats(running_mean, running_var, s.C, eps, mean->data, invstd->data);
    }
    Tensor *ins[3] = {x, gamma, beta};
    int needs_grad = ctx_any_grad(c, 3, ins);
    Tensor *y = ctx_tensor_like(c, x, needs_grad);
    if (ON_CUDA(c)) {
        CUDA_ONLY(cuda_bn_apply(c->cuda, x->data, s.N, s.C, s.hw, mean->data, invstd->data,
                                gamma ? gamma->data : NULL, beta ? beta->data : NULL, y->data));
        if (relu) CUDA_ONLY(cuda_relu_forward(c->cuda, y->data, y->data, y->numel));
    } else if (bn_short_runs(&s)) {
        bn_short_forward(&s, x->data, c->training, momentum, eps, mean->data, invstd->data, running_mean,
                         running_var, gamma, beta, relu, y->data);
    } else {
        bn_apply(&s, x->data, mean->data, invstd->data, gamma, beta, relu, y->data);
    }
    if (needs_grad) {
        TapeEntry *e = ctx_record(c, bn_backward, y);
        for (int i = 0; i < 3; i++) e->in[i] = ins[i];
        e->aux[0] = mean;
        e->aux[1] = invstd;
        if (relu && ON_CUDA(c)) e->aux[2] = ctx_tensor_like(c, x, 0);   /* the masked gradient */
        e->args.batchnorm.batch_stats = c->training;
        e->args.batchnorm.relu = relu;
    }
    return y;
}

Tensor *op_batchnorm(Ctx *c, Tensor *x, Tensor *gamma, Tensor *beta, float *running_mean, float *running_var,
                     float momentum, float eps)
{
    return batchnorm(c, x, gamma, beta, running_mean, running_var, momentum, eps, 0);
}

Tensor *op_batchnorm_relu(Ctx *c, Tensor *x, Tensor *gamma, Tensor *beta, float *running_mean,
                          float *running_var, float momentum, float eps)
{
    return batchnorm(c, x, gamma, beta, running_mean, running_var, momentum, eps, 1);
}

/* ---- row normalisation ---------------------------------------------------- */

static double row_sum(const float *row, int n)
{
    double s = 0;
    for (int j = 0; j < n; j++) s += row[j];
    return s;
}

/* y = x / s with s = sum(x): dx_k = (dy_k - sum_j dy_j y_j) / s. */
static void row_normalize_backward(TapeEntry *e)
{
    Tensor *x = e->in[0], *y = e->out;
    int rows = x->dims[0], cols = x->dims[1];
    if (ON_CUDA(e->ctx)) {
        CUDA_ONLY(cuda_row_normalize_backward(e->ctx->cuda, x->data, y->data, y->grad, x->grad, rows, cols));
        return;
    }
    #pragma omp parallel for if ((long)rows * cols >= PAR_MIN) schedule(static)
    for (int i = 0; i < rows; i++) {
        const float *xr = x->data + (long)i * cols, *yr = y->data + (long)i * cols;
        const float *dy = y->grad + (long)i * cols;
        double s = row_sum(xr, cols), dot = 0;
        for (int j = 0; j < cols; j++) dot += (double)dy[j] * yr[j];
        float *dx = x->grad + (long)i * cols;
        for (int j = 0; j < cols; j++) dx[j] += row_normalize_dx(dy[j], dot, s);
    }
}

static void row_normalize_cpu(const float *x, float *y, int rows, int cols)
{
    #pragma omp parallel for if ((long)rows * cols >= PAR_MIN) schedule(static)
    for (int i = 0; i < rows; i++) {
        const float *xr = x + (long)i * cols;
        float *yr = y + (long)i * cols;
        double s = row_sum(xr, cols);
        for (int j = 0; j < cols; j++) yr[j] = row_normalized(xr[j], s);
    }
}

Tensor *op_row_normalize(Ctx *c, Tensor *x)
{
    CHECK(x->ndim == 2, "row_normalize: input rank %d (want 2)", x->ndim);
    int needs_grad = ctx_any_grad(c, 1, &x);
    Tensor *y = ctx_tensor_like(c, x, needs_grad);
    int rows = x->dims[0], cols = x->dims[1];
    if (ON_CUDA(c)) CUDA_ONLY(cuda_row_normalize_forward(c->cuda, x->data, y->data, rows, cols));
    else row_normalize_cpu(x->data, y->data, rows, cols);
    if (needs_grad) {
        TapeEntry *e = ctx_record(c, row_normalize_backward, y);
        e->in[0] = x;
    }
    return y;
}
