/* Softmax over one axis of a tensor of any rank (torch.softmax(x, dim)).
 * Each "line" (fixed outer and inner index, shape_math.h) is normalised on
 * its own: y_j = exp(x_j - max) / sum_k exp(x_k - max). Backward uses the
 * saved output: dx_j += y_j (dy_j - sum_k y_k dy_k). */
#include "ops.h"
#include "backend.h"
#include "shape_math.h"
#include "util.h"

#define PAR_MIN 32768L

static void line_shape(const Tensor *x, int axis, long *outer, long *len, long *inner)
{
    *outer = tensor_numel_of(axis, x->dims);
    *len = x->dims[axis];
    *inner = tensor_numel_of(x->ndim - axis - 1, x->dims + axis + 1);
}

static void softmax_line(const float *x, float *y, long len, long stride)
{
    float max = x[0];
    for (long j = 1; j < len; j++)
        if (x[j * stride] > max) max = x[j * stride];
    float sum = 0.0f;
    for (long j = 0; j < len; j++) sum += expf(x[j * stride] - max);
    float inv = 1.0f / sum;
    for (long j = 0; j < len; j++) y[j * stride] = softmax_value(x[j * stride], max, inv);
}

static void softmax_backward(TapeEntry *e)
{
    Tensor *x = e->in[0];
    if (!x->grad) return;
    const Tensor *y = e->out;
    long outer, len, inner;
    line_shape(y, e->iarg[0], &outer, &len, &inner);
#pragma omp parallel for if (y->numel >= PAR_MIN)
    for (long line = 0; line < outer * inner; line++) {
        long base = axis_index(line / inner, 0, line % inner, len, inner);
        const float *yy = y->data + base, *dy = y->grad + base;
        float *dx = x->grad + base;
        float dot = 0.0f;
        for (long j = 0; j < len; j++) dot += yy[j * inner] * dy[j * inner];
        for (long j = 0; j < len; j++) dx[j * inner] += softmax_bwd(yy[j * inner], dy[j * inner], dot);
    }
}

Tensor *op_softmax(Ctx *c, Tensor *x, int axis)
{
    CPU_ONLY_OP(c, "op_softmax");
    int a = axis < 0 ? axis + x->ndim : axis;
    CHECK(a >= 0 && a < x->ndim, "op_softmax: axis %d out of range for a %d-D tensor", axis, x->ndim);
    int g = ctx_any_grad(c, 1, &x);
    Tensor *y = ctx_tensor_like(c, x, g);
    long outer, len, inner;
    line_shape(x, a, &outer, &len, &inner);
#pragma omp parallel for if (x->numel >= PAR_MIN)
    for (long line = 0; line < outer * inner; line++) {
        long base = axis_index(line / inner, 0, line % inner, len, inner);
        softmax_line(x->data + base, y->data + base, len, inner);
    }
    if (g) {
        TapeEntry *e = ctx_record(c, softmax_backward, y);
        e->in[0] = x;
        e->iarg[0] = a;
    }
    return y;
}
