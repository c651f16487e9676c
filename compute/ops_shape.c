/* Axis ops that move data without arithmetic: concatenation and slicing
 * along any axis (torch.cat, x.narrow / x[:, a:b]). Both copy: a slice is
 * not contiguous unless it is along the first axis, and every op here hands
 * out contiguous row-major tensors.
 *
 * With the tensor seen as [outer, len, inner] (shape_math.h), one outer
 * index holds a contiguous run of len * inner elements, so concat and slice
 * are memcpy's of runs of (part length) * inner elements. */
#include <string.h>
#include "ops.h"
#include "backend.h"
#include "shape_math.h"
#include "util.h"

#define PAR_MIN 32768L

/* axis in [-ndim, ndim) -> [0, ndim), PyTorch's convention for negatives. */
static int resolve_axis(const Tensor *x, int axis, const char *op)
{
    int a = axis < 0 ? axis + x->ndim : axis;
    CHECK(a >= 0 && a < x->ndim, "%s: axis %d out of range for a %d-D tensor", op, axis, x->ndim);
    return a;
}

static long outer_of(const Tensor *x, int axis) { return tensor_numel_of(axis, x->dims); }

static long inner_of(const Tensor *x, int axis)
{
    return tensor_numel_of(x->ndim - axis - 1, x->dims + axis + 1);
}

/* ---- concat ----------------------------------------------------------- */

/* e->ptr[0]: the arena copy of the input list; iarg: n, axis. Input k's
 * gradient is the run of its own columns inside each outer block of dy. */
static void concat_backward(TapeEntry *e)
{
    Tensor **xs = e->ptr[0];
    int n = e->iarg[0], axis = e->iarg[1];
    const Tensor *y = e->out;
    long outer = outer_of(y, axis), inner = inner_of(y, axis), total = y->dims[axis];
    long at = 0;
    for (int k = 0; k < n; k++) {
        long run = xs[k]->dims[axis] * inner;
        if (xs[k]->grad) {
            float *dx = xs[k]->grad;
            const float *dy = y->grad;
#pragma omp parallel for if (y->numel >= PAR_MIN)
            for (long o = 0; o < outer; o++) {
                const float *src = dy + axis_index(o, 0, 0, total, inner) + at;
                float *dst = dx + o * run;
                for (long i = 0; i < run; i++) dst[i] += src[i];
            }
        }
        at += run;
    }
}

Tensor *op_concat(Ctx *c, int n, Tensor *const *xs, int axis)
{
    CPU_ONLY_OP(c, "op_concat");
    CHECK(n >= 1, "op_concat: no inputs");
    int a = resolve_axis(xs[0], axis, "op_concat");
    int dims[TENSOR_MAX_DIMS];
    memcpy(dims, xs[0]->dims, sizeof dims);
    dims[a] = 0;
    for (int k = 0; k < n; k++) {
        CHECK(xs[k]->ndim == xs[0]->ndim, "op_concat: input %d has rank %d, input 0 rank %d",
              k, xs[k]->ndim, xs[0]->ndim);
        for (int d = 0; d < xs[0]->ndim; d++)
            CHECK(d == a || xs[k]->dims[d] == xs[0]->dims[d],
                  "op_concat: input %d differs from input 0 in dimension %d (%d vs %d)",
                  k, d, xs[k]->dims[d], xs[0]->dims[d]);
        dims[a] += xs[k]->dims[a];
    }
    int g = ctx_any_grad(c, n, xs);
    Tensor *y = ctx_tensor(c, xs[0]->ndim, dims, g);
    long outer = outer_of(y, a), inner = inner_of(y, a), total = dims[a];
    long at = 0;
    for (int k = 0; k < n; k++) {
        long run = xs[k]->dims[a] * inner;
        const float *src = xs[k]->data;
#pragma omp parallel for if (y->numel >= PAR_MIN)
        for (long o = 0; o < outer; o++)
            memcpy(y->data + axis_index(o, 0, 0, total, inner) + at, src + o * run,
                   (size_t)run * sizeof(float));
        at += run;
    }
    if (g) {
        TapeEntry *e = ctx_record(c, concat_backward, y);
        Tensor **keep = arena_alloc(&c->arena, (size_t)n * sizeof *keep);
        memcpy(keep, xs, (size_t)n * sizeof *keep);
        e->ptr[0] = keep;
        e->iarg[0] = n;
        e->iarg[1] = a;
    }
    return y;
}

/* ---- slice ------------------------------------------------------------ */

/* iarg: axis, start. dx[o, start + j, i] += dy[o, j, i]. */
static void slice_backward(TapeEntry *e)
{
    Tensor *x = e->in[0];
    if (!x->grad) return;
    const Tensor *y = e->out;
    int axis = e->iarg[0];
    long start = e->iarg[1], len = x->dims[axis];
    long outer = outer_of(x, axis), inner = inner_of(x, axis), run = y->dims[axis] * inner;
#pragma omp parallel for if (y->numel >= PAR_MIN)
    for (long o = 0; o < outer; o++) {
        float *dst = x->grad + axis_index(o, start, 0, len, inner);
        const float *src = y->grad + o * run;
        for (long i = 0; i < run; i++) dst[i] += src[i];
    }
}

Tensor *op_slice(Ctx *c, Tensor *x, int axis, int start, int length)
{
    CPU_ONLY_OP(c, "op_slice");
    int a = resolve_axis(x, axis, "op_slice");
    CHECK(start >= 0 && length >= 1 && start + length <= x->dims[a],
          "op_slice: [%d, %d) outside dimension %d of size %d", start, start + length, a, x->dims[a]);
    int dims[TENSOR_MAX_DIMS];
    memcpy(dims, x->dims, sizeof dims);
    dims[a] = length;
    int g = ctx_any_grad(c, 1, &x);
    Tensor *y = ctx_tensor(c, x->ndim, dims, g);
    long len = x->dims[a], outer = outer_of(x, a), inner = inner_of(x, a), run = (long)length * inner;
#pragma omp parallel for if (y->numel >= PAR_MIN)
    for (long o = 0; o < outer; o++)
        memcpy(y->data + o * run, x->data + axis_index(o, start, 0, len, inner),
               (size_t)run * sizeof(float));
    if (g) {
        TapeEntry *e = ctx_record(c, slice_backward, y);
        e->in[0] = x;
        e->iarg[0] = a;
        e->iarg[1] = start;
    }
    return y;
}
