/* 2-D convolution.
 *
 * Two paths. CPU, except at 1x1 output maps (cpu_wants_batched_gemm):
 * oneDNN's direct convolution (dnn_cpu.c), one primitive per pass
 * (forward, backward data, backward weights) cached by shape, on the
 * blocked layouts its AVX-512 kernels use, with reorders from and to
 * PyTorch's NCHW / OIHW at the op's boundary. Backward accumulates through
 * reorders with a sum post-op. Measured on the 2-core Xeon (model 207),
 * forward + backward of x[64,32,28,28] * w[32,32,3,3] pad 1 at 2 threads:
 * 8.3 ms in the primitives, plus the NCHW <-> nChw16c reorders, against
 * ~100 ms for the im2col + OpenBLAS path it replaced (OpenBLAS 0.3.21 runs
 * its generic SSE3 kernels on that CPU) and 22 ms for that path with
 * AVX-512 OpenBLAS on the AMD EPYC the project had before.
 *
 * CUDA always, and the CPU at 1x1 output maps: the batched GEMM. One
 * GEMM over the whole batch keeps the GPU busy where 64 small ones would
 * not. For image n the column matrix col_n[C*kh*kw, OH*OW]
 * holds, in row (c,i,j) and column (oh,ow), the input pixel
 * x[n, c, oh*s - p + i, ow*s - p + j] (0 in the padding). The columns of
 * all images sit side by side, col[C*kh*kw, N*P], the product is K-major,
 * y_k[K, N*P] = W col, and a permute (plus bias) makes it NCHW. Backward:
 * dy_k = permute(dy), db += row sums of dy_k, dW += dy_k col^T (one GEMM
 * with inner dimension N*P: the sum over images inside cuBLAS, no atomics),
 * dcol = W^T dy_k written over col (no longer needed), dx += col2im(dcol).
 * The products go through bk_gemm (cuBLAS or oneDNN's sgemm); the copies
 * are cuda/conv.cu's kernels or their CPU twins below, both built on
 * conv_math.h's im2col_value and col2im_sum (the same summation order). */
#include "ops.h"
#include "backend.h"
#include "conv_math.h"   /* ConvShape and the index maps, shared with cuda/conv.cu */
#include "dnn_cpu.h"
#include "elementwise_math.h"
#include "util.h"


static long geom_rows(const ConvShape *g) { return (long)g->c * g->kh * g->kw; }
static long geom_plane(const ConvShape *g) { return (long)g->oh * g->ow; }

static ConvShape conv_geom(const Tensor *x, const Tensor *w, int stride, int pad)
{
    CHECK(x->ndim == 4 && w->ndim == 4, "op_conv2d: x and w must be 4-D");
    CHECK(w->dims[1] == x->dims[1], "op_conv2d: input has %d channels, weight expects %d",
          x->dims[1], w->dims[1]);
    CHECK(stride >= 1 && pad >= 0, "op_conv2d: stride %d, pad %d", stride, pad);
    ConvShape g = {x->dims[0], x->dims[1], x->dims[2], x->dims[3],
                  w->dims[0], w->dims[2], w->dims[3], stride, pad, 0, 0};
    CHECK(g.h + 2 * pad >= g.kh && g.w + 2 * pad >= g.kw,
          "op_conv2d: %dx%d kernel larger than padded %dx%d input", g.kh, g.kw, g.h, g.w);
    g.oh = (g.h + 2 * pad - g.kh) / stride + 1;
    g.ow = (g.w + 2 * pad - g.kw) / stride + 1;
    return g;
}

/* ---- the batched-GEMM path (CUDA always; the CPU for small maps) -------- */

/* The CPU twins of cuda/conv.cu's kernels, with the same index maps. */
static void im2col_cpu(const ConvShape *g, const float *x, float *col)
{
    long np = g->n * geom_plane(g), rows = geom_rows(g);
#pragma omp parallel for if (rows * np >= PAR_MIN)
    for (long r = 0; r < rows; r++) {
        int j = (int)(r % g->kw), i = (int)((r / g->kw) % g->kh), ch = (int)(r / ((long)g->kw * g->kh));
        float *dst = col + r * np;
        for (int n = 0; n < g->n; n++)
            for (int oy = 0; oy < g->oh; oy++)
                for (int ox = 0; ox < g->ow; ox++) *dst++ = im2col_value(g, x, n, ch, i, j, oy, ox);
    }
}

/* dx += col2im(col), a pixel at a time as the CUDA kernel does. */
static void col2im_add_cpu(const ConvShape *g, const float *col, float *dx)
{
    long in_plane = (long)g->h * g->w, planes = (long)g->n * g->c;
#pragma omp parallel for if (planes * in_plane >= PAR_MIN)
    for (long q = 0; q < planes; q++) {
        int n = (int)(q / g->c), ch = (int)(q % g->c);
        float *d = dx + q * in_plane;
        for (int iy = 0; iy < g->h; iy++)
            for (int ix = 0; ix < g->w; ix++) d[(long)iy * g->w + ix] += col2im_sum(g, col, n, ch, iy, ix);
    }
}

/* y[n, k, p] = yk[k, n*P + p] (+ bias[k]), and its inverse for gradients. */
static void kmajor_to_nchw_cpu(const ConvShape *g, const float *yk, const float *bias, float *y)
{
    long plane = geom_plane(g), np = g->n * plane, planes = (long)g->n * g->k;
#pragma omp parallel for if (planes * plane >= PAR_MIN)
    for (long q = 0; q < planes; q++) {
        int n = (int)(q / g->k), k = (int)(q % g->k);
        const float *src = yk + k * np + n * plane;
        float add = bias ? bias[k] : 0.0f, *dst = y + q * plane;
        for (long p = 0; p < plane; p++) dst[p] = bias ? src[p] + add : src[p];
    }
}

static void nchw_to_kmajor_cpu(const ConvShape *g, const float *dy, float *dyk)
{
    long plane = geom_plane(g), np = g->n * plane, planes = (long)g->n * g->k;
#pragma omp parallel for if (planes * plane >= PAR_MIN)
    for (long q = 0; q < planes; q++) {
        int n = (int)(q / g->k), k = (int)(q % g->k);
        const float *src = dy + q * plane;
        float *dst = dyk + k * np + n * plane;
        for (long p = 0; p < plane; p++) dst[p] = src[p];
    }
}

/* out[r] += sum of row r of x[rows, cols], in double, in order. */
static void row_sums_add_cpu(const float *x, long rows, long cols, float *out)
{
    for (long r = 0; r < rows; r++) {
        double acc = 0;
        for (long j = 0; j < cols; j++) acc += x[r * cols + j];
        out[r] += (float)acc;
    }
}

/* The column matrix col[C*kh*kw, N*P]: row (c,i,j), column (n, oh, ow)
 * holds x[n, c, oh*s - p + i, ow*s - p + j] (0 in the padding). */
static void im2col(const Ctx *c, const ConvShape *g, const float *x, float *col)
{
    if (ON_CUDA(c)) CUDA_ONLY(cuda_im2col(c->cuda, *g, x, col));
    else im2col_cpu(g, x, col);
}

static void col2im_add(const Ctx *c, const ConvShape *g, const float *col, float *dx)
{
    if (ON_CUDA(c)) CUDA_ONLY(cuda_col2im_add(c->cuda, *g, col, dx));
    else col2im_add_cpu(g, col, dx);
}

static void kmajor_to_nchw(const Ctx *c, const ConvShape *g, const float *yk, const float *bias, float *y)
{
    if (ON_CUDA(c)) CUDA_ONLY(cuda_kmajor_to_nchw(c->cuda, yk, bias, y, g->n, g->k, geom_plane(g)));
    else kmajor_to_nchw_cpu(g, yk, bias, y);
}

static void nchw_to_kmajor(const Ctx *c, const ConvShape *g, const float *dy, float *dyk)
{
    if (ON_CUDA(c)) CUDA_ONLY(cuda_nchw_to_kmajor(c->cuda, dy, dyk, g->n, g->k, geom_plane(g)));
    else nchw_to_kmajor_cpu(g, dy, dyk);
}

static void row_sums_add(const Ctx *c, const float *x, long rows, long cols, float *out)
{
    if (ON_CUDA(c)) CUDA_ONLY(cuda_row_sums_add(c->cuda, x, rows, cols, out));
    else row_sums_add_cpu(x, rows, cols, out);
}

/* saved: col [rows, N*P]; scratch: the K-major buffer [K, N*P]. */
static void batched_backward(TapeEntry *e, const ConvShape *g, const float *dy)
{
    Tensor *x = e->in[0], *w = e->in[1], *b = e->in[2];
    const Ctx *c = e->ctx;
    long rows = geom_rows(g), np = g->n * geom_plane(g);
    float *col = e->args.conv.saved, *dyk = e->args.conv.scratch;
    nchw_to_kmajor(c, g, dy, dyk);
    if (b && b->grad) row_sums_add(c, dyk, g->k, np, b->grad);
    if (w->grad) bk_gemm(c, 0, 1, g->k, rows, np, 1.0f, dyk, np, col, np, 1.0f, w->grad, rows);
    if (x->grad) {
        bk_gemm(c, 1, 0, rows, np, g->k, 1.0f, w->data, rows, dyk, np, 0.0f, col, np);
        col2im_add(c, g, col, x->grad);
    }
}

/* y = max(0, y), in place: op_relu's arithmetic. */
static void relu_in_place(const Ctx *c, float *y, long n)
{
    if (ON_CUDA(c)) {
        CUDA_ONLY(cuda_relu_forward(c->cuda, y, y, n));
        return;
    }
#pragma omp parallel for if (n >= PAR_MIN)
    for (long i = 0; i < n; i++) y[i] = relu_fwd(y[i]);
}

static void batched_forward(Ctx *c, const ConvShape *g, const Tensor *x, const Tensor *w, const Tensor *b,
                            int relu, float *col, float *yk, float *y)
{
    long rows = geom_rows(g), np = g->n * geom_plane(g);
    im2col(c, g, x->data, col);
    bk_gemm(c, 0, 0, g->k, np, rows, 1.0f, w->data, rows, col, np, 0.0f, yk, np);
    kmajor_to_nchw(c, g, yk, b ? b->data : NULL, y);
    if (relu) relu_in_place(c, y, (long)g->n * g->k * geom_plane(g));
}

/* ---- the CPU's oneDNN path ------------------------------------------------ */

/* The oneDNN plan of this convolution (dnn_cpu.h). */
static DnnConv *cpu_plan(const ConvShape *g, int bias, int relu)
{
    DnnConvShape s = {g->n, g->c, g->h, g->w, g->k, g->kh, g->kw, g->stride, g->pad, g->oh, g->ow, bias, relu};
    return dnn_conv_plan(&s);
}

/* The gradient of the convolution's own output. With the fused ReLU it is
 * the op's output gradient masked where the output is 0: in place on the
 * CPU (that gradient is read by nothing after this op's backward), into
 * the scratch aux[0] with op_relu's kernel on CUDA. */
static const float *conv_output_grad(TapeEntry *e)
{
    Tensor *y = e->out;
    if (!e->args.conv.relu) return y->grad;
    if (ON_CUDA(e->ctx)) {
        float *g = e->aux[0]->data;
        bk_fill(e->ctx, g, y->numel, 0);
        CUDA_ONLY(cuda_relu_backward(e->ctx->cuda, y->data, y->grad, g, y->numel));
        return g;
    }
#pragma omp parallel for if (y->numel >= PAR_MIN)
    for (long i = 0; i < y->numel; i++) y->grad[i] = relu_bwd(y->data[i], y->grad[i]);
    return y->grad;
}

static void conv2d_backward(TapeEntry *e)
{
    Tensor *x = e->in[0], *w = e->in[1], *b = e->in[2];
    const TapeConv *a = &e->args.conv;
    ConvShape g = conv_geom(x, w, a->stride, a->pad);
    const float *dy = conv_output_grad(e);
    if (a->scratch) {
        batched_backward(e, &g, dy);
        return;
    }
    double per_pass = 2.0 * g.k * geom_rows(&g) * geom_plane(&g) * g.n;
    bk_flops_add(per_pass * ((w->grad != NULL) + (x->grad != NULL)));
    dnn_conv_backward(cpu_plan(&g, b != NULL, a->relu), x->data, a->saved, w->data, dy, x->grad, w->grad,
                      b ? b->grad : NULL);
}

/* The tape entry every convolution path records: inputs and TapeConv
 * (and CUDA's scratch for the fused ReLU's masked gradient). */
static void record_conv(Ctx *c, Tensor *y, Tensor *x, Tensor *w, Tensor *b, TapeConv args)
{
    TapeEntry *e = ctx_record(c, conv2d_backward, y);
    e->in[0] = x;
    e->in[1] = w;
    e->in[2] = b;
    e->args.conv = args;
    if (args.relu && ON_CUDA(c)) e->aux[0] = ctx_tensor_like(c, y, 0);
}

/* ---- entry point -------------------------------------------------------- */

/* The CPU's choice, by shape alone (so every run, resume and rank computes
 * a configuration the same way): the batched GEMM for 1x1 output maps,
 * oneDNN otherwise. At a 1x1 map (resnet's last stage on 28x28 digits)
 * the convolution is a plain matrix product over the batch, and oneDNN's
 * blocked kernels spent most of their time reordering weights of up to
 * 2048x1024. Forward + backward at batch 64 on 2 threads
 * (sweeprun-bench profile model=resnet), resnet's four 1x1-map layers with
 * 2048 outputs took 74 ms a step there against 19-25 ms here, and all
 * nine of its 1x1-map layers 138 ms against 49-60 ms. At 2x2 maps the two paths tie
 * for 1x1 kernels and the GEMM loses for 3x3 ones (7.3 against 5.4 ms:
 * im2col copies nine taps); at 4x4 and 7x7 it loses by 1.5-2x. */
static int cpu_wants_batched_gemm(const ConvShape *g) { return geom_plane(g) == 1; }

/* op_conv2d (relu 0) and op_conv2d_relu (relu 1). */
static Tensor *conv2d(Ctx *c, Tensor *x, Tensor *w, Tensor *b, int stride, int pad, int relu)
{
    ConvShape g = conv_geom(x, w, stride, pad);
    CHECK(!b || b->numel == g.k, "op_conv2d: bias has %ld elements, expected %d",
          b ? b->numel : 0L, g.k);
    Tensor *ins[3] = {x, w, b};
    int needs = ctx_any_grad(c, 3, ins);
    int ydims[4] = {g.n, g.k, g.oh, g.ow};
    Tensor *y = ctx_tensor(c, 4, ydims, needs);
    if (ON_CUDA(c) || cpu_wants_batched_gemm(&g)) {
        long np = g.n * geom_plane(&g);
        float *col = ctx_scratch(c, geom_rows(&g) * np), *yk = ctx_scratch(c, g.k * np);
        batched_forward(c, &g, x, w, b, relu, col, yk, y->data);
        if (needs)
            record_conv(c, y, x, w, b,
                        (TapeConv){.stride = stride, .pad = pad, .relu = relu, .saved = col, .scratch = yk});
        return y;
    }
    bk_flops_add(2.0 * g.k * geom_rows(&g) * geom_plane(&g) * g.n);
    DnnConv *plan = cpu_plan(&g, b != NULL, relu);
    /* Backward weights reads the input in the forward's layout: kept here
     * (in the arena, alive until backward) when that is not NCHW. */
    long keep = needs ? dnn_conv_saved_floats(plan) : 0;
    float *saved = keep ? ctx_scratch(c, keep) : NULL;
    dnn_conv_forward(plan, x->data, w->data, b ? b->data : NULL, y->data, saved);
    if (needs) record_conv(c, y, x, w, b, (TapeConv){.stride = stride, .pad = pad, .relu = relu, .saved = saved});
    return y;
}

Tensor *op_conv2d(Ctx *c, Tensor *x, Tensor *w, Tensor *b, int stride, int pad)
{
    return conv2d(c, x, w, b, stride, pad, 0);
}

Tensor *op_conv2d_relu(Ctx *c, Tensor *x, Tensor *w, Tensor *b, int stride, int pad)
{
    return conv2d(c, x, w, b, stride, pad, 1);
}
