/* Axis ops that move data without arithmetic: concatenation and slicing
 * along any axis (torch.cat, x.narrow / x[:, a:b]). Both copy: a slice is
 * not contiguous unless it is along the first axis, and every op here hands
 * out contiguous row-major tensors.
 *
 * With the tensor seen as [outer, len, inner] (shape_math.h), one outer
 * index holds a contiguous run of len * inner elements, so concat and slice
 * are memcpy's of runs of (part length) * inner elements (axis_copy; the
 * CUDA twin, cuda/shape.cu, copies element by element). */
#include <string.h>
#include "ops.h"
#include "backend.h"
#include "shape_math.h"
#include "util.h"

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

/* The one data movement both ops need, forward and backward: for every
 * outer index o, the run of count * inner elements at axis position
 * src_start of src (axis length src_len) goes to axis position dst_start
 * of dst (axis length dst_len), copied or (accumulate) added. Every dst
 * element is written once, so the CUDA twin needs no atomics. */
typedef struct AxisRun {
    long outer, inner, count;
    long src_len, src_start, dst_len, dst_start;
} AxisRun;

static void axis_copy_cpu(const float *src, float *dst, const AxisRun *r, int accumulate)
{
    long run = r->count * r->inner;
#pragma omp parallel for if (r->outer * run >= PAR_MIN)
    for (long o = 0; o < r->outer; o++) {
        const float *s = src + axis_index(o, r->src_start, 0, r->src_len, r->inner);
        float *d = dst + axis_index(o, r->dst_start, 0, r->dst_len, r->inner);
        if (accumulate)
            for (long i = 0; i < run; i++) d[i] += s[i];
        else
            memcpy(d, s, (size_t)run * sizeof(float));
    }
}

static void axis_copy(const Ctx *c, const float *src, float *dst, const AxisRun *r, int accumulate)
{
    if (ON_CUDA(c))
        CUDA_ONLY(cuda_axis_copy(c->cuda, src, dst, r->outer, r->inner, r->count, r->src_len, r->src_start,
                                 r->dst_len, r->dst_start, accumulate));
    else axis_copy_cpu(src, dst, r, accumulate);
}

/* ---- concat ----------------------------------------------------------- */

/* Input k's run inside y: its own axis positions [at, at + dims[axis]). */
static AxisRun concat_run(const Tensor *y, const Tensor *xk, int axis, long at)
{
    AxisRun r = {outer_of(y, axis), inner_of(y, axis), xk->dims[axis], xk->dims[axis], 0, y->dims[axis], at};
    return r;
}

/* Input k's gradient is the run of its own columns inside each outer
 * block of dy. */
static void concat_backward(TapeEntry *e)
{
    Tensor **xs = e->args.concat.inputs;
    int n = e->args.concat.n, axis = e->args.concat.axis;
    const Tensor *y = e->out;
    long at = 0;
    for (int k = 0; k < n; k++) {
        if (xs[k]->grad) {
            /* y -> x_k: the same run with source and destination swapped. */
            AxisRun f = concat_run(y, xs[k], axis, at);
            AxisRun b = {f.outer, f.inner, f.count, f.dst_len, f.dst_start, f.src_len, f.src_start};
            axis_copy(e->ctx, y->grad, xs[k]->grad, &b, 1);
        }
        at += xs[k]->dims[axis];
    }
}

Tensor *op_concat(Ctx *c, int n, Tensor *const *xs, int axis)
{
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
    long at = 0;
    for (int k = 0; k < n; k++) {
        AxisRun r = concat_run(y, xs[k], a, at);
        axis_copy(c, xs[k]->data, y->data, &r, 0);
        at += xs[k]->dims[a];
    }
    if (g) {
        TapeEntry *e = ctx_record(c, concat_backward, y);
        Tensor **keep = arena_alloc(&c->arena, (size_t)n * sizeof *keep);   /* headers: host memory */
        memcpy(keep, xs, (size_t)n * sizeof *keep);
        e->args.concat = (TapeConcat){.inputs = keep, .n = n, .axis = a};
    }
    return y;
}

/* ---- slice ------------------------------------------------------------ */

/* x -> y: positions [start, start + length) of x's axis. */
static AxisRun slice_run(const Tensor *x, int axis, long start, long length)
{
    AxisRun r = {outer_of(x, axis), inner_of(x, axis), length, x->dims[axis], start, length, 0};
    return r;
}

/* dx[o, start + j, i] += dy[o, j, i]. */
static void slice_backward(TapeEntry *e)
{
    Tensor *x = e->in[0];
    if (!x->grad) return;
    int axis = e->args.slice.axis;
    AxisRun f = slice_run(x, axis, e->args.slice.start, e->out->dims[axis]);
    AxisRun b = {f.outer, f.inner, f.count, f.dst_len, f.dst_start, f.src_len, f.src_start};
    axis_copy(e->ctx, e->out->grad, x->grad, &b, 1);
}

Tensor *op_slice(Ctx *c, Tensor *x, int axis, int start, int length)
{
    int a = resolve_axis(x, axis, "op_slice");
    CHECK(start >= 0 && length >= 1 && start + length <= x->dims[a],
          "op_slice: [%d, %d) outside dimension %d of size %d", start, start + length, a, x->dims[a]);
    int dims[TENSOR_MAX_DIMS];
    memcpy(dims, x->dims, sizeof dims);
    dims[a] = length;
    int g = ctx_any_grad(c, 1, &x);
    Tensor *y = ctx_tensor(c, x->ndim, dims, g);
    AxisRun r = slice_run(x, a, start, length);
    axis_copy(c, x->data, y->data, &r, 0);
    if (g) {
        TapeEntry *e = ctx_record(c, slice_backward, y);
        e->in[0] = x;
        e->args.slice = (TapeSlice){.axis = a, .start = start};
    }
    return y;
}
