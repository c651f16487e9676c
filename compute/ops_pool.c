/* Max pooling (2-D with optional -inf padding, 1-D) and global average
 * pooling. Max-pool forward records, for every output, the position of the
 * winning input inside its plane (an int in arena scratch); backward then
 * is a scatter-add, with no second search and no tie ambiguity.
 *
 * Ties go to the FIRST maximum in window scan order (row-major), as in
 * PyTorch's CPU kernel. A NaN wins over any number, so NaNs propagate. */
#include "ops.h"
#include "backend.h"
#include "pool_math.h"
#include "util.h"
#include <string.h>

static int *alloc_indices(Ctx *c, long n)
{
    return ctx_data(c, (size_t)n * sizeof(int));
}

#ifdef SWEEPRUN_HAVE_CUDA
/* The CUDA gather needs the window geometry (cuda/pool.cu). */
static void pool_backward_cuda(const TapeEntry *e)
{
    const Tensor *x = e->in[0];
    const TapePool *a = &e->args.pool;
    long planes = x->numel / a->in_plane;
    if (a->two_d)
        cuda_maxpool2d_backward(e->ctx->cuda, e->out->grad, a->winner, x->grad, planes, a->h, a->w, a->k,
                                a->stride, a->pad, e->out->dims[2], e->out->dims[3]);
    else
        cuda_maxpool1d_backward(e->ctx->cuda, e->out->grad, a->winner, x->grad, planes, a->w, a->k, a->stride,
                                (int)a->out_plane);
}
#endif

/* Shared backward: planes of in_plane inputs and out_plane outputs; each
 * output's gradient goes to x_plane[idx]. Windows of one plane may
 * overlap, so a plane is never split across threads. */
static void pool_backward(TapeEntry *e)
{
    Tensor *x = e->in[0];
    if (!x->grad) return;
    if (ON_CUDA(e->ctx)) {
        CUDA_ONLY(pool_backward_cuda(e));
        return;
    }
    const TapePool *a = &e->args.pool;
    const int *idx = a->winner;
    const float *dy = e->out->grad;
    long in_plane = a->in_plane, out_plane = a->out_plane, planes = x->numel / in_plane;
#pragma omp parallel for if (e->out->numel >= PAR_MIN)
    for (long p = 0; p < planes; p++) {
        float *dx = x->grad + p * in_plane;
        for (long o = p * out_plane; o < (p + 1) * out_plane; o++) dx[idx[o]] += dy[o];
    }
}

static Tensor *finish(Ctx *c, Tensor *x, Tensor *y, int g, TapePool args)
{
    if (g) {
        TapeEntry *e = ctx_record(c, pool_backward, y);
        e->in[0] = x;
        e->args.pool = args;
    }
    return y;
}

/* ---- 2-D ---------------------------------------------------------------- */

/* The scan is maxpool2d_winner (pool_math.h, shared with CUDA): padded
 * positions never win, the window's first VALID element starts the
 * search. */
static void maxpool2d_plane(const float *x, int h, int w, int k, int s, int pad, int oh, int ow,
                            float *y, int *idx)
{
    for (int r = 0; r < oh; r++)
        for (int q = 0; q < ow; q++) {
            int best_i = maxpool2d_winner(x, h, w, k, s, pad, r, q);
            y[r * ow + q] = x[best_i];
            idx[r * ow + q] = best_i;
        }
}

/* Unpadded windows of other strides: the same scan
 * order and pool_beats, run for a whole output row at once,
 * window position by window position (the output row itself holds the
 * running maxima), with selects the compiler turns into AVX-512 blends.
 * The scalar scan above branches on every compare and, on random data,
 * mispredicts about every other one: 10% of a baseline_cnn step on one
 * core went there. */
static inline __attribute__((always_inline)) void maxpool2d_plane_unpadded(const float *restrict x, int w, int k,
                                                                           int s, int oh, int ow,
                                                                           float *restrict y, int *restrict idx)
{
    for (int r = 0; r < oh; r++) {
        float *restrict yr = y + (long)r * ow;
        int *restrict ir = idx + (long)r * ow;
        int base = r * s * w;
        for (int q = 0; q < ow; q++) {
            yr[q] = x[base + q * s];
            ir[q] = base + q * s;
        }
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                int off = base + i * w + j;
                for (int q = 0; q < ow; q++) {
                    float v = x[off + q * s], b = yr[q];
                    int take = (v > b) | ((v != v) & (b == b));
                    yr[q] = take ? v : b;
                    ir[q] = take ? off + q * s : ir[q];
                }
            }
    }
}

/* Stride 2, any window and padding (baseline_cnn's 3x3/2, resnet's padded
 * 3x3/2, 2x2/2): sixteen outputs of a row at once in GCC vector types.
 * Each window tap loads 32 consecutive inputs and keeps the even ones (one
 * shuffle), then a compare and two blends keep the running maximum and its
 * position: the same scan order and pool_beats as maxpool2d_winner.
 * Outputs whose window reaches into the padding, and chunks whose 32-float
 * loads would pass the end of the plane, take the scalar scan. Lanes past
 * the row's last output read real inputs and are dropped. Against the
 * row loop above (which GCC vectorises only 8 lanes wide, with a scalar
 * tail for rows of 13), baseline_cnn's first pool, x[64,32,28,28], took
 * 1.2 ms instead of 2.1 ms on 2 threads. */
typedef float F16 __attribute__((vector_size(64)));
typedef int I16 __attribute__((vector_size(64)));

/* Through a pointer, not returned: a 64-byte vector return value has no
 * stable ABI where AVX-512 is off (GCC's -Wpsabi). */
static inline void even_of_32(const float *p, F16 *even)
{
    F16 lo, hi;
    memcpy(&lo, p, sizeof lo);
    memcpy(&hi, p + 16, sizeof hi);
    *even = __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}

/* n <= 16 outputs whose windows start at input position start (row-major
 * in the plane) and every second column after it; all inside the plane. */
static void maxpool2d_s2_chunk(const float *x, int w, int k, int start, int n, float *y, int *idx)
{
    const I16 lane = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    F16 best, v;
    even_of_32(x + start, &best);
    I16 at = lane + start;
    for (int i = 0; i < k; i++)
        for (int j = i ? 0 : 1; j < k; j++) {
            int off = start + i * w + j;
            even_of_32(x + off, &v);
            I16 take = (v > best) | ((v != v) & (best == best));
            best = (F16)(((I16)v & take) | ((I16)best & ~take));
            at = ((lane + off) & take) | (at & ~take);
        }
    memcpy(y, &best, (size_t)n * sizeof(float));
    memcpy(idx, &at, (size_t)n * sizeof(int));
}

static void maxpool2d_plane_s2(const float *x, int h, int w, int k, int pad, int oh, int ow, float *y, int *idx)
{
    long in_plane = (long)h * w;
    int q_last = (w - k + pad) / 2;   /* the last output whose window ends inside the row */
    for (int r = 0; r < oh; r++) {
        int r0 = 2 * r - pad, rows_inside = r0 >= 0 && r0 + k <= h;
        for (int q = 0; q < ow;) {
            int c0 = 2 * q - pad, n = q_last - q + 1 < 16 ? q_last - q + 1 : 16;
            long start = (long)r0 * w + c0;
            if (rows_inside && c0 >= 0 && n > 0 && start + (long)(k - 1) * w + (k - 1) + 31 < in_plane) {
                maxpool2d_s2_chunk(x, w, k, (int)start, n, y + (long)r * ow + q, idx + (long)r * ow + q);
                q += n;
                continue;
            }
            int best_i = maxpool2d_winner(x, h, w, k, 2, pad, r, q);
            y[(long)r * ow + q] = x[best_i];
            idx[(long)r * ow + q] = best_i;
            q++;
        }
    }
}

static void maxpool2d_cpu(const float *x, float *y, int *idx, long planes, int h, int w, int k, int stride,
                          int pad, int oh, int ow)
{
    long in_plane = (long)h * w, out_plane = (long)oh * ow;
#pragma omp parallel for if (planes * in_plane >= PAR_MIN)
    for (long p = 0; p < planes; p++) {
        const float *xp = x + p * in_plane;
        float *yp = y + p * out_plane;
        int *ip = idx + p * out_plane;
        if (stride == 2) maxpool2d_plane_s2(xp, h, w, k, pad, oh, ow, yp, ip);
        else if (pad == 0) maxpool2d_plane_unpadded(xp, w, k, stride, oh, ow, yp, ip);
        else maxpool2d_plane(xp, h, w, k, stride, pad, oh, ow, yp, ip);
    }
}

Tensor *op_maxpool2d_pad(Ctx *c, Tensor *x, int k, int stride, int pad)
{
    CHECK(x->ndim == 4, "op_maxpool2d: input must be NCHW");
    CHECK(k >= 1 && stride >= 1, "op_maxpool2d: k %d, stride %d", k, stride);
    CHECK(pad >= 0 && 2 * pad <= k, "op_maxpool2d: padding %d must be in [0, k/2] for k %d", pad, k);
    int h = x->dims[2], w = x->dims[3];
    CHECK(h + 2 * pad >= k && w + 2 * pad >= k, "op_maxpool2d: %dx%d window larger than padded %dx%d input",
          k, k, h, w);
    int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    int g = ctx_any_grad(c, 1, &x);
    int dims[4] = {x->dims[0], x->dims[1], oh, ow};
    Tensor *y = ctx_tensor(c, 4, dims, g);
    int *idx = alloc_indices(c, y->numel);
    long planes = (long)x->dims[0] * x->dims[1];
    if (ON_CUDA(c))
        CUDA_ONLY(cuda_maxpool2d_forward(c->cuda, x->data, y->data, idx, planes, h, w, k, stride, pad, oh, ow));
    else maxpool2d_cpu(x->data, y->data, idx, planes, h, w, k, stride, pad, oh, ow);
    TapePool args = {.winner = idx, .in_plane = (long)h * w, .out_plane = (long)oh * ow, .two_d = 1,
                     .h = h, .w = w, .k = k, .stride = stride, .pad = pad};
    return finish(c, x, y, g, args);
}

Tensor *op_maxpool2d(Ctx *c, Tensor *x, int k, int stride) { return op_maxpool2d_pad(c, x, k, stride, 0); }

/* ---- global average ----------------------------------------------------- */

/* Summed in double, in plane order (pool_math.h: avgpool_plane, shared with
 * the CUDA twin, which runs one plane per thread: the same bits). A 28x28
 * plane of fp32 sums would lose ~3 digits. */
static void global_avgpool_forward_cpu(const float *x, float *y, long planes, long plane)
{
#pragma omp parallel for if (planes * plane >= PAR_MIN)
    for (long p = 0; p < planes; p++) y[p] = avgpool_plane(x + p * plane, plane);
}

/* dx[n,c,:,:] += dy[n,c] / (H*W). */
static void global_avgpool_backward_cpu(const float *dy, float *dx, long planes, long plane)
{
#pragma omp parallel for if (planes * plane >= PAR_MIN)
    for (long i = 0; i < planes * plane; i++) dx[i] += avgpool_share(dy[i / plane], plane);
}

static void global_avgpool_backward(TapeEntry *e)
{
    Tensor *x = e->in[0];
    if (!x->grad) return;
    long planes = e->out->numel, plane = x->numel / planes;
    if (ON_CUDA(e->ctx)) CUDA_ONLY(cuda_global_avgpool_backward(e->ctx->cuda, e->out->grad, x->grad, planes, plane));
    else global_avgpool_backward_cpu(e->out->grad, x->grad, planes, plane);
}

Tensor *op_global_avgpool(Ctx *c, Tensor *x)
{
    CHECK(x->ndim == 4, "op_global_avgpool: input must be NCHW");
    int g = ctx_any_grad(c, 1, &x);
    int dims[2] = {x->dims[0], x->dims[1]};
    Tensor *y = ctx_tensor(c, 2, dims, g);
    long planes = y->numel, plane = (long)x->dims[2] * x->dims[3];
    if (ON_CUDA(c)) CUDA_ONLY(cuda_global_avgpool_forward(c->cuda, x->data, y->data, planes, plane));
    else global_avgpool_forward_cpu(x->data, y->data, planes, plane);
    if (g) {
        TapeEntry *e = ctx_record(c, global_avgpool_backward, y);
        e->in[0] = x;
    }
    return y;
}

/* ---- 1-D ---------------------------------------------------------------- */

static void maxpool1d_row(const float *x, int k, int s, int ol, float *y, int *idx)
{
    for (int o = 0; o < ol; o++) {
        int best_i = maxpool1d_winner(x, k, s, o);
        y[o] = x[best_i];
        idx[o] = best_i;
    }
}

static void maxpool1d_cpu(const float *x, float *y, int *idx, long rows, int len, int k, int stride, int ol)
{
#pragma omp parallel for if (rows * len >= PAR_MIN)
    for (long r = 0; r < rows; r++) maxpool1d_row(x + r * len, k, stride, ol, y + r * ol, idx + r * ol);
}

Tensor *op_maxpool1d(Ctx *c, Tensor *x, int k, int stride)
{
    CHECK(k >= 1 && stride >= 1, "op_maxpool1d: k %d, stride %d", k, stride);
    int len = x->dims[x->ndim - 1];
    CHECK(len >= k, "op_maxpool1d: window %d longer than the last dimension %d", k, len);
    int ol = (len - k) / stride + 1;
    int g = ctx_any_grad(c, 1, &x);
    int dims[TENSOR_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) dims[i] = x->dims[i];
    dims[x->ndim - 1] = ol;
    Tensor *y = ctx_tensor(c, x->ndim, dims, g);
    int *idx = alloc_indices(c, y->numel);
    long rows = x->numel / len;
    if (ON_CUDA(c)) CUDA_ONLY(cuda_maxpool1d_forward(c->cuda, x->data, y->data, idx, rows, len, k, stride, ol));
    else maxpool1d_cpu(x->data, y->data, idx, rows, len, k, stride, ol);
    TapePool args = {.winner = idx, .in_plane = len, .out_plane = ol, .two_d = 0,
                     .h = 1, .w = len, .k = k, .stride = stride, .pad = 0};
    return finish(c, x, y, g, args);
}
