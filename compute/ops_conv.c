/* 2-D convolution as im2col + one GEMM over the whole batch.
 *
 * The column matrix col[C*kh*kw, N*OH*OW] holds, in row (c,i,j) and column
 * (n,oh,ow), the input pixel x[n, c, oh*s - p + i, ow*s - p + j] (0 in the
 * padding). Then
 *   forward:  Y'[K, N*OH*OW] = W[K, C*kh*kw] col
 *   backward: dW += dY' col^T,  dcol = W^T dY',  dx += col2im(dcol)
 * One large GEMM per product keeps BLAS at peak on a small CPU, where
 * per-image GEMMs of [K, OH*OW] would be thin. Y' is K-major, so a scatter
 * to / gather from NCHW (cheap, memory bound) brackets the GEMMs.
 *
 * Threading: each pass is ONE OpenMP parallel region in which every thread
 * runs its slice of each GEMM through a single-threaded BLAS call, with
 * barriers between phases. Letting OpenBLAS (pthread build) start its own
 * threads right after an OpenMP loop instead puts two thread pools on the
 * same cores: libgomp's idle workers busy-wait for a while after each loop
 * and starve the BLAS threads. Measured on 2 cores, x[64,32,28,28],
 * w[32,32,3,3]: 60 ms forward+backward with BLAS threads vs 34 ms like
 * this. */
#include "ops.h"
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
static long geom_cols(const ConvGeom *g) { return (long)g->n * geom_plane(g); }

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

/* Fill the columns of image n for input channel ch. */
static void im2col_plane(const ConvGeom *g, const float *x, float *col, int n, int ch)
{
    long ncols = geom_cols(g), base = (long)n * geom_plane(g);
    const float *src = x + ((long)n * g->c + ch) * g->h * g->w;
    for (int i = 0; i < g->kh; i++)
        for (int j = 0; j < g->kw; j++) {
            float *row = col + (((long)ch * g->kh + i) * g->kw + j) * ncols + base;
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

/* dx[n, ch] += the columns of image n for channel ch, folded back. Each
 * (n, ch) owns its dx plane, so (n, ch) pairs run in parallel race-free. */
static void col2im_plane(const ConvGeom *g, const float *col, float *dx, int n, int ch)
{
    long ncols = geom_cols(g), base = (long)n * geom_plane(g);
    float *dst = dx + ((long)n * g->c + ch) * g->h * g->w;
    for (int i = 0; i < g->kh; i++)
        for (int j = 0; j < g->kw; j++) {
            const float *row = col + (((long)ch * g->kh + i) * g->kw + j) * ncols + base;
            int lo, hi;
            valid_range(g->ow, g->w, g->stride, g->pad, j, &lo, &hi);
            for (int oh = 0; oh < g->oh; oh++) {
                int ih = oh * g->stride - g->pad + i;
                if (ih < 0 || ih >= g->h) continue;
                const float *src = row + (long)oh * g->ow;
                float *out = dst + (long)ih * g->w - g->pad + j;
                for (int ow = lo; ow < hi; ow++) out[(long)ow * g->stride] += src[ow];
            }
        }
}

/* The phase helpers below hold orphaned `omp for` loops: they run inside
 * the caller's parallel region, and each ends with an implicit barrier. */
static void im2col(const ConvGeom *g, const float *x, float *col)
{
#pragma omp for collapse(2) schedule(static)
    for (int n = 0; n < g->n; n++)
        for (int ch = 0; ch < g->c; ch++) im2col_plane(g, x, col, n, ch);
}

static void col2im(const ConvGeom *g, const float *col, float *dx)
{
#pragma omp for collapse(2) schedule(static)
    for (int n = 0; n < g->n; n++)
        for (int ch = 0; ch < g->c; ch++) col2im_plane(g, col, dx, n, ch);
}

/* y[n, k, :] = Y'[k, n*P : (n+1)*P] + b[k]. */
static void scatter_output(const ConvGeom *g, const float *yk, const float *bias, float *y)
{
    long plane = geom_plane(g), ncols = geom_cols(g);
#pragma omp for collapse(2) schedule(static)
    for (int n = 0; n < g->n; n++)
        for (int k = 0; k < g->k; k++) {
            const float *src = yk + (long)k * ncols + (long)n * plane;
            float *dst = y + ((long)n * g->k + k) * plane;
            float b = bias ? bias[k] : 0.0f;
            for (long p = 0; p < plane; p++) dst[p] = src[p] + b;
        }
}

/* The inverse layout change for the upstream gradient: dY'[k, n*P + p]. */
static void gather_grad(const ConvGeom *g, const float *dy, float *dyk)
{
    long plane = geom_plane(g), ncols = geom_cols(g);
#pragma omp for collapse(2) schedule(static)
    for (int k = 0; k < g->k; k++)
        for (int n = 0; n < g->n; n++)
            memcpy(dyk + (long)k * ncols + (long)n * plane,
                   dy + ((long)n * g->k + k) * plane, (size_t)plane * sizeof(float));
}

static void pack_geom(TapeEntry *e, const ConvGeom *g)
{
    int v[8] = {g->n, g->c, g->h, g->w, g->k, g->kh, g->kw, g->stride};
    memcpy(e->iarg, v, sizeof v);
    e->farg[0] = (float)g->pad;   /* iarg is full; pad is a small integer */
}

static ConvGeom unpack_geom(const TapeEntry *e)
{
    ConvGeom g = {e->iarg[0], e->iarg[1], e->iarg[2], e->iarg[3], e->iarg[4],
                  e->iarg[5], e->iarg[6], e->iarg[7], (int)e->farg[0], 0, 0};
    g.oh = (g.h + 2 * g.pad - g.kh) / g.stride + 1;
    g.ow = (g.w + 2 * g.pad - g.kw) / g.stride + 1;
    return g;
}

/* This thread's share [lo, hi) of `total` items. */
static void my_share(long total, long *lo, long *hi)
{
    long t = omp_get_thread_num(), nt = omp_get_num_threads();
    *lo = total * t / nt;
    *hi = total * (t + 1) / nt;
}

/* Row-major sgemm C[m,n] = alpha op(A) op(B) + beta C with leading
 * dimensions given; a shorthand for the calls below. */
static void gemm(int ta, int tb, long m, long n, long k, const float *a, long lda,
                 const float *b, long ldb, float beta, float *c, long ldc)
{
    if (m <= 0 || n <= 0) return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* BLAS runs single-threaded inside our parallel regions (see the top of the
 * file); the previous setting comes back afterwards for other callers. */
static int blas_threads_off(void)
{
    int n = openblas_get_num_threads();
    openblas_set_num_threads(1);
    return n;
}

static void blas_threads_restore(int n) { openblas_set_num_threads(n); }

static void forward_region(const ConvGeom *g, const float *x, const float *w,
                           const float *bias, float *col, float *yk, float *y)
{
    long rows = geom_rows(g), ncols = geom_cols(g), lo, hi;
    im2col(g, x, col);
    my_share(ncols, &lo, &hi);          /* Y'[:, lo:hi] = W col[:, lo:hi] */
    gemm(0, 0, g->k, hi - lo, rows, w, rows, col + lo, ncols, 0.0f, yk + lo, ncols);
#pragma omp barrier
    scatter_output(g, yk, bias, y);
}

static void bias_grad(const ConvGeom *g, const float *dyk, float *db)
{
    long ncols = geom_cols(g);
#pragma omp for schedule(static)
    for (int k = 0; k < g->k; k++) {
        const float *r = dyk + (long)k * ncols;
        float s = 0.0f;
        for (long p = 0; p < ncols; p++) s += r[p];
        db[k] += s;
    }
}

/* dW is split by its columns (rows of col), so threads write disjoint parts
 * of w->grad and need no reduction; dcol is split by columns. dcol reuses
 * the col buffer, which is dead once every thread has finished dW. */
static void backward_region(const ConvGeom *g, const float *dy, const float *w, float *col,
                            float *dyk, float *dw, float *db, float *dx)
{
    long rows = geom_rows(g), ncols = geom_cols(g), lo, hi;
    gather_grad(g, dy, dyk);
    if (dw) {
        my_share(rows, &lo, &hi);       /* dW[:, lo:hi] += dY' col[lo:hi, :]^T */
        gemm(0, 1, g->k, hi - lo, ncols, dyk, ncols, col + lo * ncols, ncols, 1.0f, dw + lo, rows);
    }
    if (db) bias_grad(g, dyk, db);
    if (!dx) return;
#pragma omp barrier
    my_share(ncols, &lo, &hi);          /* dcol[:, lo:hi] = W^T dY'[:, lo:hi] */
    gemm(1, 0, rows, hi - lo, g->k, w, rows, dyk + lo, ncols, 0.0f, col + lo, ncols);
#pragma omp barrier
    col2im(g, col, dx);
}

/* ptr[0] is the saved col buffer, ptr[1] the K x N*OH*OW buffer that held
 * Y' in forward and takes dY' in backward. */
static void conv2d_backward(TapeEntry *e)
{
    Tensor *x = e->in[0], *w = e->in[1], *b = e->in[2];
    ConvGeom g = unpack_geom(e);
    float *db = b ? b->grad : NULL;
    int threads = omp_get_max_threads(), saved = blas_threads_off();
#pragma omp parallel num_threads(threads)
    backward_region(&g, e->out->grad, w->data, e->ptr[0], e->ptr[1], w->grad, db, x->grad);
    blas_threads_restore(saved);
}

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

Tensor *op_conv2d(Ctx *c, Tensor *x, Tensor *w, Tensor *b, int stride, int pad)
{
    ConvGeom g = conv_geom(x, w, stride, pad);
    CHECK(!b || b->numel == g.k, "op_conv2d: bias has %ld elements, expected %d",
          b ? b->numel : 0L, g.k);
    Tensor *ins[3] = {x, w, b};
    int needs = ctx_any_grad(c, 3, ins);
    int ydims[4] = {g.n, g.k, g.oh, g.ow};
    Tensor *y = ctx_tensor(c, 4, ydims, needs);
    long rows = geom_rows(&g), ncols = geom_cols(&g);
    float *col = ctx_scratch(c, rows * ncols);
    float *yk = ctx_scratch(c, (long)g.k * ncols);
    /* Read before blas_threads_off: with an OpenMP build of OpenBLAS,
     * openblas_set_num_threads(1) also sets OpenMP's default to 1. */
    int threads = omp_get_max_threads(), saved = blas_threads_off();
#pragma omp parallel num_threads(threads)
    forward_region(&g, x->data, w->data, b ? b->data : NULL, col, yk, y->data);
    blas_threads_restore(saved);
    if (needs) {
        TapeEntry *e = ctx_record(c, conv2d_backward, y);
        e->in[0] = x;
        e->in[1] = w;
        e->in[2] = b;
        e->ptr[0] = col;
        e->ptr[1] = yk;   /* Y' is dead after the scatter: backward reuses it for dY' */
        pack_geom(e, &g);
    }
    return y;
}
