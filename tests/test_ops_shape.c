/* Axis ops: softmax over any axis, concat, slice, against float64
 * references that index the tensor directly by its full coordinates (not
 * through the ops' [outer, len, inner] shortcut), on every axis of 1-D to
 * 4-D shapes, with negative axes, and on one shape large enough (> 32768
 * elements) for the OpenMP path.
 *
 * Tolerances (check_op: |a - b| / (|b| + 1)):
 *  - concat and slice copy and add: forward and gradient must be exact
 *    (tolerance 0; the gradient of a copy is a copy of the upstream, and
 *    the float64 central difference of a linear function is exact up to
 *    rounding, ~(sum of |outputs|) * 1e-16 / h = 1e-8 on the 38,400-element
 *    case, so 1e-7 for gradients);
 *  - softmax forward 1e-6 (fp32 expf and a sum of at most 60 terms,
 *    measured < 2e-7), gradient 1e-5 (fp32 dot of at most 60 products;
 *    the float64 difference with h = 1e-6 is accurate to ~1e-10). */
#include <math.h>
#include <string.h>
#include "testutil.h"
#include "ops.h"

#define SOFTMAX_FWD_TOL 1e-6
#define SOFTMAX_GRAD_TOL 1e-5
#define COPY_GRAD_TOL 1e-7

typedef struct Shape { int ndim; int dims[4]; } Shape;

static const Shape SHAPES[] = {
    {1, {7}}, {2, {1, 5}}, {2, {3, 4}}, {3, {2, 3, 5}}, {4, {2, 3, 4, 5}}, {3, {64, 10, 60}},
};
#define N_SHAPES (int)(sizeof SHAPES / sizeof SHAPES[0])

/* Each probe re-runs the float64 reference twice; on the large shape 40
 * random probes per input keep the test at about a second. */
static long probes_for(long n) { return n > 2000 ? 40 : 0; }

/* Row-major flat index of coordinates idx in dims. */
static long flat(int ndim, const int *dims, const int *idx)
{
    long f = 0;
    for (int d = 0; d < ndim; d++) f = f * dims[d] + idx[d];
    return f;
}

/* Advance coordinates idx through dims (last fastest); 0 when done. */
static int next_index(int ndim, const int *dims, int *idx)
{
    for (int d = ndim - 1; d >= 0; d--) {
        if (++idx[d] < dims[d]) return 1;
        idx[d] = 0;
    }
    return 0;
}

/* ---- softmax ----------------------------------------------------------- */

typedef struct SoftmaxArgs { Shape s; int axis; } SoftmaxArgs;

/* For every element: exp(x) / sum of exp over the elements that share all
 * its coordinates but the axis one (no max subtraction: inputs are small). */
static void ref_softmax(double *const *in, double *out, const void *args)
{
    const SoftmaxArgs *a = args;
    int idx[4] = {0, 0, 0, 0};
    do {
        int k[4];
        memcpy(k, idx, sizeof k);
        double sum = 0;
        for (k[a->axis] = 0; k[a->axis] < a->s.dims[a->axis]; k[a->axis]++)
            sum += exp(in[0][flat(a->s.ndim, a->s.dims, k)]);
        long f = flat(a->s.ndim, a->s.dims, idx);
        out[f] = exp(in[0][f]) / sum;
    } while (next_index(a->s.ndim, a->s.dims, idx));
}

static void test_softmax_every_axis(void **state)
{
    (void)state;
    uint64_t rng = 11;
    for (int s = 0; s < N_SHAPES; s++)
        for (int axis = 0; axis < SHAPES[s].ndim; axis++) {
            Ctx *c = test_ctx();
            Tensor *x = random_tensor(c, &rng, SHAPES[s].ndim, SHAPES[s].dims, -3, 3, 1);
            /* Every second case passes the axis counted from the end. */
            int given = (axis + s) % 2 ? axis - SHAPES[s].ndim : axis;
            Tensor *y = op_softmax(c, x, given);
            SoftmaxArgs a = {SHAPES[s], axis};
            OpCheck chk = {"softmax", SOFTMAX_FWD_TOL, SOFTMAX_GRAD_TOL, 0, probes_for(x->numel)};
            check_op(c, &chk, 1, &x, y, ref_softmax, &a, &rng);
            ctx_free(c);
        }
}

/* Logits of +-1000 (exp overflows fp32 at 89): still a finite softmax,
 * 1 on the maximum and 0 elsewhere; a constant line gives 1/len each. */
static void test_softmax_extreme_logits(void **state)
{
    (void)state;
    Ctx *c = test_ctx();
    int dims[2] = {2, 3};
    Tensor *x = ctx_tensor(c, 2, dims, 0);
    float v[6] = {1000.0f, -1000.0f, 0.0f, 7.0f, 7.0f, 7.0f};
    memcpy(x->data, v, sizeof v);
    Tensor *y = op_softmax(c, x, 1);
    assert_true(y->data[0] == 1.0f && y->data[1] == 0.0f && y->data[2] == 0.0f);
    for (int j = 3; j < 6; j++) assert_float_equal(y->data[j], 1.0 / 3.0, 1e-7);
    ctx_free(c);
}

/* Softmax of a softmax on one tape: the second application's gradient
 * must land on top of the first's (accumulate, not assign). */
static void test_softmax_accumulates(void **state)
{
    (void)state;
    uint64_t rng = 12;
    int dims[3] = {2, 4, 3};
    Ctx *c = test_ctx();
    Tensor *x = random_tensor(c, &rng, 3, dims, -1, 1, 1);
    Tensor *y = op_softmax(c, x, 1);
    float up[24];
    fill_uniform(up, 24, &rng, -1, 1);
    backward_from(c, y, up);
    Ctx c2;
    ctx_init(&c2, 1, 1 << 20);
    ctx_begin(&c2, 1, 1);
    Tensor *x2 = ctx_tensor(&c2, 3, dims, 1);
    memcpy(x2->data, x->data, sizeof(float) * 24);
    Tensor *y2 = op_add(&c2, op_softmax(&c2, x2, 1), op_softmax(&c2, x2, 1));
    backward_from(&c2, y2, up);
    assert_grad_doubled(x, x2);
    ctx_free(&c2);
    ctx_free(c);
}

/* ---- concat ------------------------------------------------------------ */

#define MAX_PARTS 3

typedef struct ConcatArgs { int n, ndim, axis; int dims[MAX_PARTS][4]; int out[4]; } ConcatArgs;

/* out[idx] = input k at idx with the axis coordinate shifted by the sizes
 * of inputs 0..k-1 along the axis. */
static void ref_concat(double *const *in, double *out, const void *args)
{
    const ConcatArgs *a = args;
    int idx[4] = {0, 0, 0, 0};
    do {
        int k = 0, pos = idx[a->axis];
        while (pos >= a->dims[k][a->axis]) pos -= a->dims[k++][a->axis];
        int src[4];
        memcpy(src, idx, sizeof src);
        src[a->axis] = pos;
        out[flat(a->ndim, a->out, idx)] = in[k][flat(a->ndim, a->dims[k], src)];
    } while (next_index(a->ndim, a->out, idx));
}

static void test_concat_every_axis(void **state)
{
    (void)state;
    uint64_t rng = 21;
    for (int s = 0; s < N_SHAPES; s++)
        for (int axis = 0; axis < SHAPES[s].ndim; axis++) {
            Ctx *c = test_ctx();
            ConcatArgs a = {.n = 1 + (s + axis) % MAX_PARTS, .ndim = SHAPES[s].ndim, .axis = axis};
            memcpy(a.out, SHAPES[s].dims, sizeof a.out);
            a.out[axis] = 0;
            Tensor *xs[MAX_PARTS];
            for (int k = 0; k < a.n; k++) {
                memcpy(a.dims[k], SHAPES[s].dims, sizeof a.dims[k]);
                a.dims[k][axis] = 1 + (k * 2 + axis) % 4;   /* unequal parts */
                a.out[axis] += a.dims[k][axis];
                xs[k] = random_tensor(c, &rng, a.ndim, a.dims[k], -2, 2, 1);
            }
            Tensor *y = op_concat(c, a.n, xs, axis - (s % 2 ? a.ndim : 0));
            for (int d = 0; d < a.ndim; d++) assert_int_equal(y->dims[d], a.out[d]);
            OpCheck chk = {"concat", 0.0, COPY_GRAD_TOL, 0, probes_for(y->numel)};
            check_op(c, &chk, a.n, xs, y, ref_concat, &a, &rng);
            ctx_free(c);
        }
}

/* SpinalNet's pattern: [x[:, 128:256], h] where only h needs a gradient
 * path through this concat, then the same slice used twice gets both
 * gradients. Checks exact hand-computed values on a small case. */
static void test_concat_mixed_grads(void **state)
{
    (void)state;
    Ctx *c = test_ctx();
    int da[2] = {2, 2}, db[2] = {2, 1};
    Tensor *a = ctx_tensor(c, 2, da, 0);
    Tensor *b = ctx_tensor(c, 2, db, 1);
    float va[4] = {1, 2, 3, 4}, vb[2] = {5, 6};
    memcpy(a->data, va, sizeof va);
    memcpy(b->data, vb, sizeof vb);
    Tensor *xs[3] = {a, b, b};
    Tensor *y = op_concat(c, 3, xs, 1);
    float want[8] = {1, 2, 5, 5, 3, 4, 6, 6};
    assert_memory_equal(y->data, want, sizeof want);
    float up[8] = {10, 20, 30, 40, 50, 60, 70, 80};
    backward_from(c, y, up);
    assert_null(a->grad);
    assert_float_equal(b->grad[0], 70, 0);   /* 30 + 40 */
    assert_float_equal(b->grad[1], 150, 0);  /* 70 + 80 */
    ctx_free(c);
}

/* ---- slice ------------------------------------------------------------- */

typedef struct SliceArgs { int ndim, axis, start; int in[4], out[4]; } SliceArgs;

static void ref_slice(double *const *in, double *out, const void *args)
{
    const SliceArgs *a = args;
    int idx[4] = {0, 0, 0, 0};
    do {
        int src[4];
        memcpy(src, idx, sizeof src);
        src[a->axis] += a->start;
        out[flat(a->ndim, a->out, idx)] = in[0][flat(a->ndim, a->in, src)];
    } while (next_index(a->ndim, a->out, idx));
}

static void test_slice_every_axis(void **state)
{
    (void)state;
    uint64_t rng = 31;
    for (int s = 0; s < N_SHAPES; s++)
        for (int axis = 0; axis < SHAPES[s].ndim; axis++) {
            Ctx *c = test_ctx();
            SliceArgs a = {.ndim = SHAPES[s].ndim, .axis = axis};
            memcpy(a.in, SHAPES[s].dims, sizeof a.in);
            memcpy(a.out, SHAPES[s].dims, sizeof a.out);
            int len = a.in[axis];
            a.start = len > 1 ? test_int(&rng, 0, len - 1) : 0;
            a.out[axis] = test_int(&rng, 1, len - a.start);
            Tensor *x = random_tensor(c, &rng, a.ndim, a.in, -2, 2, 1);
            Tensor *y = op_slice(c, x, axis - (s % 2 ? 0 : a.ndim), a.start, a.out[axis]);
            for (int d = 0; d < a.ndim; d++) assert_int_equal(y->dims[d], a.out[d]);
            OpCheck chk = {"slice", 0.0, COPY_GRAD_TOL, 0, probes_for(x->numel)};
            check_op(c, &chk, 1, &x, y, ref_slice, &a, &rng);
            ctx_free(c);
        }
}

/* Two overlapping slices of one tensor (SpinalNet reads each half twice):
 * the overlap receives the sum of both upstream gradients, the rest one. */
static void test_slices_overlap_accumulate(void **state)
{
    (void)state;
    Ctx *c = test_ctx();
    int d[2] = {1, 5};
    Tensor *x = ctx_tensor(c, 2, d, 1);
    for (int i = 0; i < 5; i++) x->data[i] = (float)i;
    Tensor *s1 = op_slice(c, x, 1, 0, 3), *s2 = op_slice(c, x, -1, 2, 3);
    assert_float_equal(s2->data[0], 2, 0);
    assert_float_equal(s2->data[2], 4, 0);
    Tensor *parts[2] = {s1, s2};
    Tensor *y = op_concat(c, 2, parts, 1);
    float up[6] = {1, 2, 3, 4, 5, 6};
    backward_from(c, y, up);
    float want[5] = {1, 2, 3 + 4, 5, 6};
    assert_memory_equal(x->grad, want, sizeof want);
    ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_every_axis),
        cmocka_unit_test(test_softmax_extreme_logits),
        cmocka_unit_test(test_softmax_accumulates),
        cmocka_unit_test(test_concat_every_axis),
        cmocka_unit_test(test_concat_mixed_grads),
        cmocka_unit_test(test_slice_every_axis),
        cmocka_unit_test(test_slices_overlap_accumulate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
