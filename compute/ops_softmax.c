/* Softmax over one axis of a tensor of any rank (torch.softmax(x, dim)).
 * Each "line" (fixed outer and inner index, shape_math.h) is normalised on
 * its own: y_j = exp(x_j - max) / sum_k exp(x_k - max). Backward uses the
 * saved output: dx_j += y_j (dy_j - sum_k y_k dy_k). The per-line loops are
 * shape_math.h's, run per thread by the CUDA twin (cuda/softmax.cu). */
#include "ops.h"
#include "backend.h"
#include "shape_math.h"
#include "util.h"

static void line_shape(const Tensor *x, int axis, long *outer, long *len, long *inner)
{
    *outer = tensor_numel_of(axis, x->dims);
    *len = x->dims[axis];
    *inner = tensor_numel_of(x->ndim - axis - 1, x->dims + axis + 1);
}

static void softmax_forward_cpu(const float *x, float *y, long outer, long len, long inner)
{
#pragma omp parallel for if (outer * len * inner >= PAR_MIN)
    for (long line = 0; line < outer * inner; line++) {
        long base = line_base(line, len, inner);
        softmax_line_fwd(x + base, y + base, len, inner);
    }
}

static void softmax_backward_cpu(const float *y, const float *dy, float *dx, long outer, long len, long inner)
{
#pragma omp parallel for if (outer * len * inner >= PAR_MIN)
    for (long line = 0; line < outer * inner; line++) {
        long base = line_base(line, len, inner);
        softmax_line_bwd(y + base, dy + base, dx + base, len, inner);
    }
}

static void softmax_backward(TapeEntry *e)
{
    Tensor *x = e->in[0];
    if (!x->grad) return;
    const Tensor *y = e->out;
    long outer, len, inner;
    line_shape(y, e->args.softmax.axis, &outer, &len, &inner);
    if (ON_CUDA(e->ctx))
        CUDA_ONLY(cuda_softmax_backward(e->ctx->cuda, y->data, y->grad, x->grad, outer, len, inner));
    else softmax_backward_cpu(y->data, y->grad, x->grad, outer, len, inner);
}

Tensor *op_softmax(Ctx *c, Tensor *x, int axis)
{
    int a = axis < 0 ? axis + x->ndim : axis;
    CHECK(a >= 0 && a < x->ndim, "op_softmax: axis %d out of range for a %d-D tensor", axis, x->ndim);
    int g = ctx_any_grad(c, 1, &x);
    Tensor *y = ctx_tensor_like(c, x, g);
    long outer, len, inner;
    line_shape(x, a, &outer, &len, &inner);
    if (ON_CUDA(c)) CUDA_ONLY(cuda_softmax_forward(c->cuda, x->data, y->data, outer, len, inner));
    else softmax_forward_cpu(x->data, y->data, outer, len, inner);
    if (g) {
        TapeEntry *e = ctx_record(c, softmax_backward, y);
        e->in[0] = x;
        e->args.softmax.axis = a;
    }
    return y;
}
