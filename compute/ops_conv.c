/* 2-D convolution.
 *
 * CPU: oneDNN's direct convolution (dnn_cpu.c), one primitive per pass
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
 * CUDA: one GEMM over the whole batch keeps the GPU busy where 64 small
 * ones would not. For image n the column matrix col_n[C*kh*kw, OH*OW]
 * holds, in row (c,i,j) and column (oh,ow), the input pixel
 * x[n, c, oh*s - p + i, ow*s - p + j] (0 in the padding). The columns of
 * all images sit side by side, col[C*kh*kw, N*P], the product is K-major,
 * y_k[K, N*P] = W col, and a permute (plus bias) makes it NCHW. Backward:
 * dy_k = permute(dy), db += row sums of dy_k, dW += dy_k col^T (one GEMM
 * with inner dimension N*P: the sum over images inside cuBLAS, no atomics),
 * dcol = W^T dy_k written over col (no longer needed), dx += col2im(dcol).
 * Kernels in cuda/conv.cu. */
#include "ops.h"
#include "backend.h"
#include "dnn_cpu.h"
#include "util.h"

typedef struct ConvGeom {
    int n, c, h, w;       /* input */
    int k, kh, kw;        /* filters */
    int stride, pad;
    int oh, ow;           /* output */
} ConvGeom;

static long geom_rows(const ConvGeom *g) { return (long)g->c * g->kh * g->kw; }
static long geom_plane(const ConvGeom *g) { return (long)g->oh * g->ow; }

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

/* The oneDNN plan of this convolution (dnn_cpu.h). */
static DnnConv *cpu_plan(const ConvGeom *g, int bias)
{
    DnnConvShape s = {g->n, g->c, g->h, g->w, g->k, g->kh, g->kw, g->stride, g->pad, g->oh, g->ow, bias};
    return dnn_conv_plan(&s);
}

static void conv2d_backward(TapeEntry *e)
{
    Tensor *x = e->in[0], *w = e->in[1], *b = e->in[2];
    const TapeConv *a = &e->args.conv;
    ConvGeom g = conv_geom(x, w, a->stride, a->pad);
    if (ON_CUDA(e->ctx)) {
        CUDA_ONLY(conv2d_backward_cuda(e, &g));
        return;
    }
    double per_pass = 2.0 * g.k * geom_rows(&g) * geom_plane(&g) * g.n;
    bk_flops_add(per_pass * ((w->grad != NULL) + (x->grad != NULL)));
    dnn_conv_backward(cpu_plan(&g, b != NULL), x->data, a->saved, w->data, e->out->grad, x->grad, w->grad,
                      b ? b->grad : NULL);
}

/* The tape entry every convolution path records: inputs and TapeConv. */
static void record_conv(Ctx *c, Tensor *y, Tensor *x, Tensor *w, Tensor *b, TapeConv args)
{
    TapeEntry *e = ctx_record(c, conv2d_backward, y);
    e->in[0] = x;
    e->in[1] = w;
    e->in[2] = b;
    e->args.conv = args;
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
        if (needs) record_conv(c, y, x, w, b, (TapeConv){.stride = stride, .pad = pad, .saved = col, .scratch = yk});
        return y;
    }
#endif
    bk_flops_add(2.0 * g.k * geom_rows(&g) * geom_plane(&g) * g.n);
    DnnConv *plan = cpu_plan(&g, b != NULL);
    /* Backward weights reads the input in the forward's layout: kept here
     * (in the arena, alive until backward) when that is not NCHW. */
    long keep = needs ? dnn_conv_saved_floats(plan) : 0;
    float *saved = keep ? ctx_scratch(c, keep) : NULL;
    dnn_conv_forward(plan, x->data, w->data, b ? b->data : NULL, y->data, saved);
    if (needs) record_conv(c, y, x, w, b, (TapeConv){.stride = stride, .pad = pad, .saved = saved});
    return y;
}
