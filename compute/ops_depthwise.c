/* Depthwise 2-D convolution (groups = channels, one kh x kw filter per
 * channel), as direct loops: each output reads kh*kw inputs of ONE plane,
 * so there is no GEMM to hand to BLAS. Efficient-CapsNet's primary
 * capsules are the only user: a 9x9 filter over a 9x9 map, i.e. one dot
 * product of 81 values per channel.
 *
 * Threading: forward over (image, channel) planes; backward over channels,
 * each thread looping over the images of its channels, so dw[c] and db[c]
 * are written by one thread only and no partial sums are needed.
 *
 * The CUDA twin (cuda/depthwise.cu) computes every output with the same
 * dw_output (depthwise_math.h) and gathers each gradient element in the
 * order in which the CPU's scatter below adds to it. */
#include "ops.h"
#include "backend.h"
#include "depthwise_math.h"
#include "util.h"

static DwGeom dw_geom(const Tensor *x, const Tensor *w, int stride, int pad)
{
    CHECK(x->ndim == 4 && w->ndim == 4, "op_depthwise_conv2d: x and w must be 4-D");
    CHECK(w->dims[0] == x->dims[1] && w->dims[1] == 1,
          "op_depthwise_conv2d: weight [%d,%d,..] does not fit %d channels (want [C,1,kh,kw])",
          w->dims[0], w->dims[1], x->dims[1]);
    CHECK(stride >= 1 && pad >= 0, "op_depthwise_conv2d: stride %d, pad %d", stride, pad);
    DwGeom g = {x->dims[0], x->dims[1], x->dims[2], x->dims[3], w->dims[2], w->dims[3], stride, pad, 0, 0};
    CHECK(g.h + 2 * pad >= g.kh && g.w + 2 * pad >= g.kw,
          "op_depthwise_conv2d: %dx%d kernel larger than padded %dx%d input", g.kh, g.kw, g.h, g.w);
    g.oh = (g.h + 2 * pad - g.kh) / stride + 1;
    g.ow = (g.w + 2 * pad - g.kw) / stride + 1;
    return g;
}

/* One output plane from one input plane and its filter. */
static void dw_forward_plane(const DwGeom *g, const float *x, const float *w, float bias, float *y)
{
    for (int r = 0; r < g->oh; r++)
        for (int q = 0; q < g->ow; q++) y[r * g->ow + q] = dw_output(g, x, w, bias, r, q);
}

static void dw_forward_cpu(const DwGeom *g, const float *x, const float *w, const float *b, float *y)
{
    long planes = (long)g->n * g->c, in_plane = (long)g->h * g->w, out_plane = (long)g->oh * g->ow;
    long filt = (long)g->kh * g->kw;
#pragma omp parallel for if (planes * in_plane >= PAR_MIN) schedule(static)
    for (long p = 0; p < planes; p++) {
        int ch = (int)(p % g->c);
        dw_forward_plane(g, x + p * in_plane, w + ch * filt, b ? b[ch] : 0.0f, y + p * out_plane);
    }
}

/* Gradients of one plane: dx += W^T-scatter of dy, dw += x * dy, db += sum dy
 * (each pointer may be NULL). */
static void dw_backward_plane(const DwGeom *g, const float *x, const float *w, const float *dy,
                              float *dx, float *dw, float *db)
{
    for (int r = 0; r < g->oh; r++)
        for (int q = 0; q < g->ow; q++) {
            float d = dy[r * g->ow + q];
            if (db) *db += d;
            for (int i = 0; i < g->kh; i++) {
                int ih = r * g->stride - g->pad + i;
                if (ih < 0 || ih >= g->h) continue;
                for (int j = 0; j < g->kw; j++) {
                    int iw = q * g->stride - g->pad + j;
                    if (iw < 0 || iw >= g->w) continue;
                    if (dx) dx[ih * g->w + iw] += w[i * g->kw + j] * d;
                    if (dw) dw[i * g->kw + j] += x[ih * g->w + iw] * d;
                }
            }
        }
}

static void dw_backward_cpu(const DwGeom *g, const float *x, const float *w, const float *dy, float *dx,
                            float *dw, float *db)
{
    long in_plane = (long)g->h * g->w, out_plane = (long)g->oh * g->ow, filt = (long)g->kh * g->kw;
#pragma omp parallel for if ((long)g->n * g->c * in_plane >= PAR_MIN) schedule(static)
    for (int ch = 0; ch < g->c; ch++)
        for (int n = 0; n < g->n; n++) {
            long p = (long)n * g->c + ch;
            dw_backward_plane(g, x + p * in_plane, w + ch * filt, dy + p * out_plane,
                              dx ? dx + p * in_plane : NULL, dw ? dw + ch * filt : NULL, db ? db + ch : NULL);
        }
}

static void depthwise_backward(TapeEntry *e)
{
    Tensor *x = e->in[0], *w = e->in[1], *b = e->in[2];
    DwGeom g = dw_geom(x, w, e->args.depthwise.stride, e->args.depthwise.pad);
    float *db = b && b->grad ? b->grad : NULL;
    if (ON_CUDA(e->ctx))
        CUDA_ONLY(cuda_depthwise_backward(e->ctx->cuda, g, x->data, w->data, e->out->grad, x->grad,
                                          w->grad, db));
    else dw_backward_cpu(&g, x->data, w->data, e->out->grad, x->grad, w->grad, db);
}

Tensor *op_depthwise_conv2d(Ctx *c, Tensor *x, Tensor *w, Tensor *b, int stride, int pad)
{
    DwGeom g = dw_geom(x, w, stride, pad);
    CHECK(!b || b->numel == g.c, "op_depthwise_conv2d: bias has %ld elements, expected %d",
          b ? b->numel : 0L, g.c);
    Tensor *ins[3] = {x, w, b};
    int needs = ctx_any_grad(c, 3, ins);
    int dims[4] = {g.n, g.c, g.oh, g.ow};
    Tensor *y = ctx_tensor(c, 4, dims, needs);
    const float *bias = b ? b->data : NULL;
    if (ON_CUDA(c)) CUDA_ONLY(cuda_depthwise_forward(c->cuda, g, x->data, w->data, bias, y->data));
    else dw_forward_cpu(&g, x->data, w->data, bias, y->data);
    if (needs) {
        TapeEntry *e = ctx_record(c, depthwise_backward, y);
        e->in[0] = x;
        e->in[1] = w;
        e->in[2] = b;
        e->args.depthwise = (TapeDepthwise){.stride = stride, .pad = pad};
    }
    return y;
}
