/* 2-D convolution as im2col + GEMM, one image at a time per thread.
 *
 * For image n the column matrix col_n[C*kh*kw, OH*OW] holds, in row
 * (c,i,j) and column (oh,ow), the input pixel x[n, c, oh*s - p + i,
 * ow*s - p + j] (0 in the padding). Then, with P = OH*OW:
 *   forward:  y[n] (= [K, P], already NCHW) = W[K, C*kh*kw] col_n + b
 *   backward: dW += dy[n] col_n^T,  dcol = W^T dy[n],  dx[n] += col2im(dcol)
 * All cols are kept (arena scratch, laid out image after image) for dW.
 *
 * Why per image rather than one GEMM over the whole batch: col_n (~1 MB
 * for 32x28x28 with 3x3) is still in L2 when the GEMM reads it, y[n] and
 * dy[n] are used in place (no scatter/gather to a K-major layout), and
 * dcol never leaves a per-thread L2-sized tile. Measured on the 2-core
 * target, x[64,32,28,28], w[32,32,3,3], pad 1, forward + backward: 34 ms
 * batch-wide (im2col / col2im over 58 MB dominate the non-GEMM time) vs
 * 22 ms per image (7 forward, 15 backward; GEMM-bound at ~64 GFLOPS/core).
 *
 * Threading: one OpenMP region per pass, images split across threads, and
 * BLAS called single-threaded inside it, so only one thread pool ever runs.
 * With the pthread build of OpenBLAS starting its own workers next to
 * OpenMP's, libgomp's idle workers busy-wait after each loop and starve the
 * BLAS threads (measured: 60 ms instead of 34 for the batch-wide variant).
 *
 * On CUDA the trade-off is the other way round: one GEMM over the whole
 * batch keeps the GPU busy where 64 small ones would not. The columns of
 * all images sit side by side, col[C*kh*kw, N*P], the product is K-major,
 * y_k[K, N*P] = W col, and a permute (plus bias) makes it NCHW. Backward:
 * dy_k = permute(dy), db += row sums of dy_k, dW += dy_k col^T (one GEMM
 * with inner dimension N*P: the sum over images inside cuBLAS, no atomics),
 * dcol = W^T dy_k written over col (no longer needed), dx += col2im(dcol).
 * Kernels in cuda/conv.cu. */
#include "ops.h"
#include "backend.h"
#include "util.h"
#include <cblas.h>
#include <omp.h>
#include <string.h>

typedef struct ConvGeom {
    int n, c, h, w;       /* input */
    int k, kh, kw;        /* filters */
    int stride, pad;
    int oh, ow;           /* output */
} ConvGeom;

static long geom_rows(const ConvGeom *g) { return (long)g->c * g->kh * g->kw; }
static long geom_plane(const ConvGeom *g) { return (long)g->oh * g->ow; }
static long geom_image(const ConvGeom *g) { return (long)g->c * g->h * g->w; }

static ConvGeom conv_geom(const Tensor *x, const Tensor *w, int stride, int pad)
{
    CHECK(x->ndim == 4 && w->ndim == 4, "op_conv2d: x and w must be 4-D");
    CHECK(w->dims[1] == x->dims[1], "op_conv2d: input has %d channels, weight expects %d",
          x->dims[1], w->dims[1]);
    CHECK(stride >= 1 && pad >= 0, "op_conv2d: stride %d, pad %d", stride, pad);
    ConvGeom g = {x->dims[0], x->dims[1], x->dims[2], x->dims[3],
                  w->dims[0], w->dims[2], w->dims[3], stride, pad, 0, 0};
    CHECK(g.h + 2 * pad >= g.kh && g.w + 2 * pad >= g.kw,
          "op_conv2d: %dx%d kernel larger than padded %dx%d input", g.kh, g.kw, g.h, g.w);
    g.oh = (g.h + 2 * pad - g.kh) / stride + 1;
    g.ow = (g.w + 2 * pad - g.kw) / stride + 1;
    return g;
}

/* The output positions o in [lo, hi) whose input column o*s - p + j lies
 * inside [0, size): outside it the window reads zero padding. */
static void valid_range(int out, int size, int s, int p, int j, int *lo, int *hi)
{
    int a = 0, b = out;
    while (a < b && a * s - p + j < 0) a++;
    while (b > a && (b - 1) * s - p + j >= size) b--;
    *lo = a;
    *hi = b;
}

/* col[C*kh*kw, P] of one image x[C, H, W]. */
static void im2col_image(const ConvGeom *g, const float *x, float *col)
{
    long plane = geom_plane(g);
    for (int ch = 0; ch < g->c; ch++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                const float *src = x + (long)ch * g->h * g->w;
                float *row = col + (((long)ch * g->kh + i) * g->kw + j) * plane;
                int lo, hi;
                valid_range(g->ow, g->w, g->stride, g->pad, j, &lo, &hi);
                for (int oh = 0; oh < g->oh; oh++) {
                    float *dst = row + (long)oh * g->ow;
                    int ih = oh * g->stride - g->pad + i;
                    if (ih < 0 || ih >= g->h) {
                        memset(dst, 0, (size_t)g->ow * sizeof(float));
                        continue;
                    }
                    const float *in = src + (long)ih * g->w - g->pad + j;
                    for (int ow = 0; ow < lo; ow++) dst[ow] = 0.0f;
                    if (g->stride == 1)
                        memcpy(dst + lo, in + lo, (size_t)(hi - lo) * sizeof(float));
                    else
                        for (int ow = lo; ow < hi; ow++) dst[ow] = in[(long)ow * g->stride];
                    for (int ow = hi; ow < g->ow; ow++) dst[ow] = 0.0f;
                }
            }
}

/* dst += src; restrict lets the compiler vectorise without an overlap
 * check (the generic strided loop below is not vectorised at all). */
static void add_row(float *restrict dst, const float *restrict src, int n)
{
    for (int i = 0; i < n; i++) dst[i] += src[i];
}

/* dx[C, H, W] += the columns col[C*kh*kw, P] folded back onto the image. */
static void col2im_image(const ConvGeom *g, const float *col, float *dx)
{
    long plane = geom_plane(g);
    for (int ch = 0; ch < g->c; ch++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                float *dst = dx + (long)ch * g->h * g->w;
                const float *row = col + (((long)ch * g->kh + i) * g->kw + j) * plane;
                int lo, hi;
                valid_range(g->ow, g->w, g->stride, g->pad, j, &lo, &hi);
                for (int oh = 0; oh < g->oh; oh++) {
                    int ih = oh * g->stride - g->pad + i;
                    if (ih < 0 || ih >= g->h) continue;
                    const float *src = row + (long)oh * g->ow;
                    float *out = dst + (long)ih * g->w - g->pad + j;
                    if (g->stride == 1)
                        add_row(out + lo, src + lo, hi - lo);
                    else
                        for (int ow = lo; ow < hi; ow++) out[(long)ow * g->stride] += src[ow];
                }
            }
}

/* Row-major sgemm C[m,n] = op(A) op(B) + beta C. */
static void gemm(int ta, int tb, long m, long n, long k, const float *a, long lda,
                 const float *b, long ldb, float beta, float *c, long ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* BLAS must run single-threaded inside our parallel regions. The OpenMP
 * build of OpenBLAS (the one CMake prefers) does so by itself when called
 * from a parallel region. The pthread build would start its own workers,
 * so there we switch it to one thread and restore the setting afterwards
 * (returns 0 when nothing was changed). */
static int blas_threads_off(void)
{
    if (openblas_get_parallel() != OPENBLAS_THREAD) return 0;
    int n = openblas_get_num_threads();
    openblas_set_num_threads(1);
    return n;
}

static void blas_threads_restore(int n)
{
    if (n > 0) openblas_set_num_threads(n);
}

/* ---- forward ------------------------------------------------------------ */

/* y[n] = W col_n + b, written straight into the NCHW output. */
static void forward_image(const ConvGeom *g, const float *x, const float *w, const float *bias,
                          float *col, float *y)
{
    long rows = geom_rows(g), plane = geom_plane(g);
    im2col_image(g, x, col);
    if (bias)
        for (int k = 0; k < g->k; k++)
            for (long p = 0; p < plane; p++) y[k * plane + p] = bias[k];
    gemm(0, 0, g->k, plane, rows, w, rows, col, plane, bias ? 1.0f : 0.0f, y, plane);
}

/* keep_cols: write image n's columns to col + n*rows*P and keep them for
 * backward; otherwise (no gradient needed) each thread reuses one tile,
 * which stays in cache and saves the N-image buffer. */
static void conv2d_forward(const ConvGeom *g, int threads, const float *x, const float *w,
                           const float *bias, float *col, int keep_cols, float *y)
{
    long per_image = geom_rows(g) * geom_plane(g), img = geom_image(g);
    int saved = blas_threads_off();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int n = 0; n < g->n; n++) {
        float *cn = col + (keep_cols ? n : omp_get_thread_num()) * per_image;
        forward_image(g, x + n * img, w, bias, cn, y + (long)n * g->k * geom_plane(g));
    }
    blas_threads_restore(saved);
}

/* ---- backward ----------------------------------------------------------- */

/* Per-thread scratch, allocated in forward (backward has no arena): a dW
 * partial sum, a db partial sum and a dcol tile, so threads never write
 * the same memory. */
typedef struct ThreadScratch { float *dw, *db, *dcol; } ThreadScratch;

static long scratch_per_thread(const ConvGeom *g)
{
    return (long)g->k * geom_rows(g) + g->k + geom_rows(g) * geom_plane(g);
}

static ThreadScratch thread_scratch(const ConvGeom *g, float *base, int t)
{
    float *mine = base + t * scratch_per_thread(g);
    ThreadScratch s = {mine, mine + (long)g->k * geom_rows(g), NULL};
    s.dcol = s.db + g->k;
    return s;
}

typedef struct ConvGrads { float *dx, *dw, *db; } ConvGrads;

static void backward_image(const ConvGeom *g, const float *dy, const float *col, const float *w,
                           const ThreadScratch *s, const ConvGrads *gr, float *dx)
{
    long rows = geom_rows(g), plane = geom_plane(g);
    if (gr->dw) gemm(0, 1, g->k, rows, plane, dy, plane, col, plane, 1.0f, s->dw, rows);
    if (gr->db)
        for (int k = 0; k < g->k; k++) {
            float sum = 0.0f;
            for (long p = 0; p < plane; p++) sum += dy[k * plane + p];
            s->db[k] += sum;
        }
    if (gr->dx) {
        gemm(1, 0, rows, plane, g->k, w, rows, dy, plane, 0.0f, s->dcol, plane);
        col2im_image(g, s->dcol, dx);
    }
}

/* dW and db are summed per chunk of consecutive images (in the thread's
 * partial), and the chunk partials are added to the gradient in chunk
 * order: the chunks and both orders are the same for any thread count, so
 * the result is bit-identical at 1 or N threads (docs/determinism.md). The
 * ordered additions are k*(rows+1) per chunk, against the chunk's GEMMs. */
#define GRAD_CHUNKS 16

static void add_partial(float *grad, const float *partial, long n)
{
    for (long i = 0; i < n; i++) grad[i] += partial[i];
}

static void backward_region(const ConvGeom *g, const float *dy, const float *w,
                            const float *col, float *scratch, const ConvGrads *gr)
{
    long rows = geom_rows(g), plane = geom_plane(g);
    int chunks = g->n < GRAD_CHUNKS ? g->n : GRAD_CHUNKS;
    ThreadScratch s = thread_scratch(g, scratch, omp_get_thread_num());
#pragma omp for ordered schedule(static, 1)
    for (int chunk = 0; chunk < chunks; chunk++) {
        memset(s.dw, 0, (size_t)(g->k * rows + g->k) * sizeof(float));
        for (int n = g->n * chunk / chunks; n < g->n * (chunk + 1) / chunks; n++)
            backward_image(g, dy + (long)n * g->k * plane, col + n * rows * plane, w, &s, gr,
                           gr->dx ? gr->dx + n * geom_image(g) : NULL);
#pragma omp ordered
        {
            if (gr->dw) add_partial(gr->dw, s.dw, g->k * rows);
            if (gr->db) add_partial(gr->db, s.db, g->k);
        }
    }
}

/* The tape entry's TapeConv (tape_args.h) says what saved and scratch
 * hold on each path; the rest of the geometry comes from x and w. */
#ifdef SWEEPRUN_HAVE_CUDA
static CudaConvShape cuda_shape(const ConvGeom *g)
{
    CudaConvShape s = {g->n, g->c, g->h, g->w, g->k, g->kh, g->kw, g->stride, g->pad, g->oh, g->ow};
    return s;
}

/* saved: col [rows, N*P]; scratch: the K-major buffer [K, N*P]. */
static void conv2d_backward_cuda(TapeEntry *e, const ConvGeom *g)
{
    Tensor *x = e->in[0], *w = e->in[1], *b = e->in[2];
    const Ctx *c = e->ctx;
    long rows = geom_rows(g), np = g->n * geom_plane(g);
    float *col = e->args.conv.saved, *dyk = e->args.conv.scratch;
    cuda_nchw_to_kmajor(c->cuda, e->out->grad, dyk, g->n, g->k, geom_plane(g));
    if (b && b->grad) cuda_row_sums_add(c->cuda, dyk, g->k, np, b->grad);
    if (w->grad) bk_gemm(c, 0, 1, g->k, rows, np, 1.0f, dyk, np, col, np, 1.0f, w->grad, rows);
    if (x->grad) {
        bk_gemm(c, 1, 0, rows, np, g->k, 1.0f, w->data, rows, dyk, np, 0.0f, col, np);
        cuda_col2im_add(c->cuda, cuda_shape(g), col, x->grad);
    }
}

static void conv2d_forward_cuda(Ctx *c, const ConvGeom *g, const Tensor *x, const Tensor *w,
                                const Tensor *b, float *col, float *yk, float *y)
{
    long rows = geom_rows(g), np = g->n * geom_plane(g);
    cuda_im2col(c->cuda, cuda_shape(g), x->data, col);
    bk_gemm(c, 0, 0, g->k, np, rows, 1.0f, w->data, rows, col, np, 0.0f, yk, np);
    cuda_kmajor_to_nchw(c->cuda, yk, b ? b->data : NULL, y, g->n, g->k, geom_plane(g));
}
#endif

static void conv2d_backward(TapeEntry *e)
{
    Tensor *x = e->in[0], *w = e->in[1], *b = e->in[2];
    const TapeConv *a = &e->args.conv;
    ConvGeom g = conv_geom(x, w, a->stride, a->pad);
    if (ON_CUDA(e->ctx)) {
        CUDA_ONLY(conv2d_backward_cuda(e, &g));
        return;
    }
    ConvGrads gr = {x->grad, w->grad, b ? b->grad : NULL};
    /* Counted here because the per-image GEMMs bypass bk_gemm. */
    double per_pass = 2.0 * g.k * geom_rows(&g) * geom_plane(&g) * g.n;
    bk_flops_add(per_pass * ((gr.dw != NULL) + (gr.dx != NULL)));
    int saved = blas_threads_off();
#pragma omp parallel num_threads(a->threads)
    backward_region(&g, e->out->grad, w->data, a->saved, a->scratch, &gr);
    blas_threads_restore(saved);
}

/* ---- small output planes: one GEMM over the whole batch ----------------- */

/* Deep ResNet stages end on 4x4, 2x2 and 1x1 maps with up to 2048 x 4608
 * weights: per image, the GEMM above would be a matrix-vector product that
 * re-packs the whole weight matrix for every image (measured: BLAS packing
 * plus OpenMP spinning was ~45% of a ResNet-18 step). For planes of at most
 * SMALL_PLANE positions the batch is one GEMM instead, over "rows" of
 * receptive fields:
 *   row[(n, p), (c, i, j)] = x[n, c, oh*s - pad + i, ow*s - pad + j]
 *   forward:  Yt[N*P, K] = row W^T (+ b), then y[n, k, p] = Yt[(n, p), k]
 *   backward: dYt = transpose of dy; dW += dYt^T row; drow = dYt W, folded
 *             back onto dx. */
#define SMALL_PLANE 16

static void im2row(const ConvGeom *g, const float *x, float *row)
{
    long rows = geom_rows(g), plane = geom_plane(g);
#pragma omp parallel for schedule(static)
    for (long np = 0; np < (long)g->n * plane; np++) {
        int n = (int)(np / plane), p = (int)(np % plane), oy = p / g->ow, ox = p % g->ow;
        float *dst = row + np * rows;
        for (int ch = 0; ch < g->c; ch++)
            for (int i = 0; i < g->kh; i++)
                for (int j = 0; j < g->kw; j++) {
                    int iy = oy * g->stride - g->pad + i, ix = ox * g->stride - g->pad + j;
                    int inside = iy >= 0 && iy < g->h && ix >= 0 && ix < g->w;
                    *dst++ = inside ? x[(((long)n * g->c + ch) * g->h + iy) * g->w + ix] : 0.0f;
                }
    }
}

/* dx += drow folded back; images are independent, so split by image. */
static void row2im(const ConvGeom *g, const float *drow, float *dx)
{
    long rows = geom_rows(g), plane = geom_plane(g);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < g->n; n++)
        for (long p = 0; p < plane; p++) {
            int oy = (int)(p / g->ow), ox = (int)(p % g->ow);
            const float *src = drow + ((long)n * plane + p) * rows;
            for (int ch = 0; ch < g->c; ch++)
                for (int i = 0; i < g->kh; i++)
                    for (int j = 0; j < g->kw; j++, src++) {
                        int iy = oy * g->stride - g->pad + i, ix = ox * g->stride - g->pad + j;
                        if (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w)
                            dx[(((long)n * g->c + ch) * g->h + iy) * g->w + ix] += *src;
                    }
        }
}

/* This thread's share [lo, hi) of n items (contiguous, in thread order). */
static void thread_share(long n, long *lo, long *hi)
{
    int t = omp_get_thread_num(), team = omp_get_num_threads();
    *lo = n * t / team;
    *hi = n * (t + 1) / team;
}

/* The GEMMs are split by hand across one OpenMP team with BLAS
 * single-threaded inside, as above (never BLAS threads next to OpenMP's
 * spinning workers): C[m, n] = A[m, k] op(B) in row blocks of A and C. */
static void gemm_rows_parallel(int tb, long m, long n, long k, const float *a, long lda,
                               const float *b, long ldb, float beta, float *c, long ldc)
{
    int saved = blas_threads_off();
#pragma omp parallel
    {
        long lo, hi;
        thread_share(m, &lo, &hi);
        if (hi > lo) gemm(0, tb, hi - lo, n, k, a + lo * lda, lda, b, ldb, beta, c + lo * ldc, ldc);
    }
    blas_threads_restore(saved);
}

/* saved: the rows [N*P, C*kh*kw]; scratch: dYt [N*P, K] and drow
 * [N*P, C*kh*kw]. */
static void conv2d_small_backward(TapeEntry *e)
{
    Tensor *x = e->in[0], *w = e->in[1], *b = e->in[2];
    const TapeConv *a = &e->args.conv;
    ConvGeom g = conv_geom(x, w, a->stride, a->pad);
    long rows = geom_rows(&g), plane = geom_plane(&g), np = (long)g.n * plane;
    const float *row = a->saved, *dy = e->out->grad;
    float *dyt = a->scratch, *drow = dyt + np * g.k;
    for (int n = 0; n < g.n; n++)
        for (int k = 0; k < g.k; k++)
            for (long p = 0; p < plane; p++)
                dyt[((long)n * plane + p) * g.k + k] = dy[((long)n * g.k + k) * plane + p];
    if (w->grad) {
        /* dW[k0:k1] += dYt[:, k0:k1]^T row, filters split across threads. */
        int saved = blas_threads_off();
#pragma omp parallel
        {
            long lo, hi;
            thread_share(g.k, &lo, &hi);
            if (hi > lo) gemm(1, 0, hi - lo, rows, np, dyt + lo, g.k, row, rows, 1.0f, w->grad + lo * rows, rows);
        }
        blas_threads_restore(saved);
    }
    if (b && b->grad)
        for (long q = 0; q < np; q++)
            for (int k = 0; k < g.k; k++) b->grad[k] += dyt[q * g.k + k];
    if (x->grad) {
        gemm_rows_parallel(0, np, rows, g.k, dyt, g.k, w->data, rows, 0.0f, drow, rows);
        row2im(&g, drow, x->grad);
    }
}

/* The tape entry every convolution path records: inputs and TapeConv. */
static void record_conv(Ctx *c, BackwardFn backward, Tensor *y, Tensor *x, Tensor *w, Tensor *b, TapeConv args)
{
    TapeEntry *e = ctx_record(c, backward, y);
    e->in[0] = x;
    e->in[1] = w;
    e->in[2] = b;
    e->args.conv = args;
}

static Tensor *conv2d_small(Ctx *c, const ConvGeom *g, Tensor *x, Tensor *w, Tensor *b, int needs, Tensor *y)
{
    long rows = geom_rows(g), plane = geom_plane(g), np = (long)g->n * plane;
    float *row = ctx_scratch(c, np * rows), *yt = ctx_scratch(c, np * g->k);
    im2row(g, x->data, row);
    gemm_rows_parallel(1, np, g->k, rows, row, rows, w->data, rows, 0.0f, yt, g->k);
    for (int n = 0; n < g->n; n++)
        for (int k = 0; k < g->k; k++)
            for (long p = 0; p < plane; p++)
                y->data[((long)n * g->k + k) * plane + p] =
                    yt[((long)n * plane + p) * g->k + k] + (b ? b->data[k] : 0.0f);
    if (needs) {
        TapeConv args = {.stride = g->stride, .pad = g->pad, .saved = row,
                         .scratch = ctx_scratch(c, np * (g->k + rows))};
        record_conv(c, conv2d_small_backward, y, x, w, b, args);
    }
    return y;
}

/* ---- entry point -------------------------------------------------------- */

Tensor *op_conv2d(Ctx *c, Tensor *x, Tensor *w, Tensor *b, int stride, int pad)
{
    ConvGeom g = conv_geom(x, w, stride, pad);
    CHECK(!b || b->numel == g.k, "op_conv2d: bias has %ld elements, expected %d",
          b ? b->numel : 0L, g.k);
    Tensor *ins[3] = {x, w, b};
    int needs = ctx_any_grad(c, 3, ins);
    int ydims[4] = {g.n, g.k, g.oh, g.ow};
    Tensor *y = ctx_tensor(c, 4, ydims, needs);
#ifdef SWEEPRUN_HAVE_CUDA
    if (ON_CUDA(c)) {
        long np = g.n * geom_plane(&g);
        float *col = ctx_scratch(c, geom_rows(&g) * np), *yk = ctx_scratch(c, g.k * np);
        conv2d_forward_cuda(c, &g, x, w, b, col, yk, y->data);
        if (needs)
            record_conv(c, conv2d_backward, y, x, w, b,
                        (TapeConv){.stride = stride, .pad = pad, .saved = col, .scratch = yk});
        return y;
    }
#endif
    bk_flops_add(2.0 * g.k * geom_rows(&g) * geom_plane(&g) * g.n);
    if (geom_plane(&g) <= SMALL_PLANE) return conv2d_small(c, &g, x, w, b, needs, y);
    /* The team size, fixed here so backward's per-thread scratch matches. */
    int threads = omp_get_max_threads();
    long images = needs ? g.n : threads;
    float *col = ctx_scratch(c, images * geom_rows(&g) * geom_plane(&g));
    conv2d_forward(&g, threads, x->data, w->data, b ? b->data : NULL, col, needs, y->data);
    if (needs) {
        TapeConv args = {.stride = stride, .pad = pad, .threads = threads, .saved = col,
                         .scratch = ctx_scratch(c, threads * scratch_per_thread(&g))};
        record_conv(c, conv2d_backward, y, x, w, b, args);
    }
    return y;
}
