/* Max pooling (2-D and 1-D) against plain float64 loops.
 *
 * Inputs for the gradient checks are a random permutation of distinct
 * values 0.01 apart: every window has a unique maximum with a margin far
 * larger than the finite-difference step (1e-6), so the reference is
 * locally linear and the central difference is exact. Ties are tested
 * separately with hand-made inputs.
 *
 * Tolerances: forward 1e-7 (pooling copies values; fp32 -> double is
 * exact, so any error is a wrong pick); gradient 1e-5 (the analytic
 * gradient is a sum of at most a few fp32 upstream values, error ~1e-7,
 * and the central difference of a locally linear function is exact up to
 * rounding ~1e-10). */
#include "testutil.h"
#include "ops.h"
#include <math.h>

#define FWD_TOL 1e-7
#define GRAD_TOL 1e-5


/* Distinct values (p - n/2) * 0.01 for a random permutation p of 0..n-1. */
static Tensor *distinct_tensor(Ctx *c, uint64_t *rng, int ndim, const int *dims)
{
    Tensor *t = ctx_tensor(c, ndim, dims, 1);
    long n = t->numel;
    long *perm = test_malloc((size_t)n * sizeof(long));
    for (long i = 0; i < n; i++) perm[i] = i;
    for (long i = n - 1; i > 0; i--) {
        long j = (long)(test_rng_next(rng) % (uint64_t)(i + 1));
        long s = perm[i];
        perm[i] = perm[j];
        perm[j] = s;
    }
    for (long i = 0; i < n; i++) t->data[i] = (float)((double)(perm[i] - n / 2) * 0.01);
    test_free(perm);
    return t;
}

/* ---- 2-D ---------------------------------------------------------------- */

typedef struct Pool2Args { int planes, h, w, k, s, oh, ow; } Pool2Args;

static void ref_maxpool2d(double *const *in, double *out, const void *args)
{
    const Pool2Args *a = args;
    for (int p = 0; p < a->planes; p++)
        for (int r = 0; r < a->oh; r++)
            for (int q = 0; q < a->ow; q++) {
                double m = -INFINITY;
                for (int i = 0; i < a->k; i++)
                    for (int j = 0; j < a->k; j++) {
                        double v = in[0][((long)p * a->h + r * a->s + i) * a->w + q * a->s + j];
                        if (v > m) m = v;
                    }
                out[((long)p * a->oh + r) * a->ow + q] = m;
            }
}

/* {n, c, h, w, k, stride}: non-overlapping 2x2/2, overlapping 3x3/2 and
 * 2x2/1, floor sizes that drop a border, 1x1, batch 1, a window covering
 * the whole image, and a big case for the OpenMP path. */
static const int POOL2_CASES[][6] = {
    {1, 1, 4, 4, 2, 2}, {2, 3, 7, 9, 3, 2}, {1, 2, 5, 5, 3, 2}, {2, 2, 6, 5, 2, 1},
    {1, 3, 8, 10, 3, 3}, {3, 1, 5, 7, 2, 2}, {1, 1, 3, 3, 1, 1}, {2, 1, 4, 4, 4, 1},
    {8, 16, 17, 16, 3, 2},
};

static void test_maxpool2d(void **state)
{
    (void)state;
    uint64_t rng = 41;
    for (size_t t = 0; t < sizeof POOL2_CASES / sizeof POOL2_CASES[0]; t++) {
        const int *v = POOL2_CASES[t];
        Pool2Args a = {v[0] * v[1], v[2], v[3], v[4], v[5], 0, 0};
        a.oh = (a.h - a.k) / a.s + 1;
        a.ow = (a.w - a.k) / a.s + 1;
        Ctx *c = test_ctx();
        int dims[4] = {v[0], v[1], v[2], v[3]};
        Tensor *x = distinct_tensor(c, &rng, 4, dims);
        Tensor *y = op_maxpool2d(c, x, a.k, a.s);
        assert_int_equal(y->dims[0], v[0]);
        assert_int_equal(y->dims[1], v[1]);
        assert_int_equal(y->dims[2], a.oh);
        assert_int_equal(y->dims[3], a.ow);
        OpCheck chk = {"maxpool2d", FWD_TOL, GRAD_TOL, 0, x->numel > 2000 ? 400 : 0};
        check_op(c, &chk, 1, &x, y, ref_maxpool2d, &a, &rng);
        ctx_free(c);
    }
}

/* All-equal input, 2x2 stride 1 on 3x3: each window's FIRST element (its
 * top-left) takes the gradient, i.e. positions 0, 1, 3, 4. */
static void test_maxpool2d_ties_first_max(void **state)
{
    (void)state;
    Ctx *c = test_ctx();
    int dims[4] = {1, 1, 3, 3};
    Tensor *x = ctx_tensor(c, 4, dims, 1);
    for (int i = 0; i < 9; i++) x->data[i] = 0.5f;
    Tensor *y = op_maxpool2d(c, x, 2, 1);
    float up[4] = {1.0f, 2.0f, 4.0f, 8.0f};
    backward_from(c, y, up);
    const float want[9] = {1, 2, 0, 4, 8, 0, 0, 0, 0};
    for (int i = 0; i < 9; i++) assert_true(x->grad[i] == want[i]);
    ctx_free(c);
}

/* 3x3 stride 2 on 5x5 with the maximum at the centre (2,2): all four
 * overlapping windows pick it, so its gradient is the sum of all four. */
static void test_maxpool2d_overlap_accumulates(void **state)
{
    (void)state;
    Ctx *c = test_ctx();
    int dims[4] = {1, 1, 5, 5};
    Tensor *x = ctx_tensor(c, 4, dims, 1);
    for (int i = 0; i < 25; i++) x->data[i] = (float)i * 0.01f;
    x->data[12] = 1.0f;
    Tensor *y = op_maxpool2d(c, x, 3, 2);
    assert_int_equal(y->numel, 4);
    float up[4] = {1.0f, 2.0f, 4.0f, 8.0f};
    backward_from(c, y, up);
    for (int i = 0; i < 25; i++) assert_true(x->grad[i] == (i == 12 ? 15.0f : 0.0f));
    ctx_free(c);
}

/* A NaN in a window propagates to the output, as in PyTorch. */
static void test_maxpool2d_nan(void **state)
{
    (void)state;
    Ctx *c = test_ctx();
    int dims[4] = {1, 1, 2, 4};
    Tensor *x = ctx_tensor(c, 4, dims, 0);
    const float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    for (int i = 0; i < 8; i++) x->data[i] = v[i];
    x->data[1] = NAN;
    Tensor *y = op_maxpool2d(c, x, 2, 2);
    assert_true(isnan(y->data[0]));
    assert_true(y->data[1] == 8.0f);
    ctx_free(c);
}

/* ---- 1-D ---------------------------------------------------------------- */

typedef struct Pool1Args { long rows; int len, k, s, ol; } Pool1Args;

static void ref_maxpool1d(double *const *in, double *out, const void *args)
{
    const Pool1Args *a = args;
    for (long r = 0; r < a->rows; r++)
        for (int o = 0; o < a->ol; o++) {
            double m = -INFINITY;
            for (int i = 0; i < a->k; i++) {
                double v = in[0][r * a->len + o * a->s + i];
                if (v > m) m = v;
            }
            out[r * a->ol + o] = m;
        }
}

typedef struct Pool1Case { int ndim; int dims[4]; int k, s; } Pool1Case;

/* [B,F] 2/2 (GECCO's use), odd lengths where the floor drops the tail,
 * overlapping 3/2, a plain 1-D vector, 3-D (N,C,L), 4-D, and a large one. */
static const Pool1Case POOL1_CASES[] = {
    {2, {4, 16}, 2, 2}, {2, {1, 9}, 2, 2}, {2, {3, 11}, 3, 2}, {1, {10}, 3, 3},
    {3, {2, 3, 8}, 3, 1}, {4, {2, 2, 3, 7}, 2, 2}, {2, {5, 4}, 4, 1}, {2, {256, 300}, 2, 2},
};

static void test_maxpool1d(void **state)
{
    (void)state;
    uint64_t rng = 42;
    for (size_t t = 0; t < sizeof POOL1_CASES / sizeof POOL1_CASES[0]; t++) {
        const Pool1Case *pc = &POOL1_CASES[t];
        Ctx *c = test_ctx();
        Tensor *x = distinct_tensor(c, &rng, pc->ndim, pc->dims);
        int len = pc->dims[pc->ndim - 1];
        Pool1Args a = {x->numel / len, len, pc->k, pc->s, (len - pc->k) / pc->s + 1};
        Tensor *y = op_maxpool1d(c, x, pc->k, pc->s);
        assert_int_equal(y->ndim, pc->ndim);
        for (int d = 0; d < pc->ndim - 1; d++) assert_int_equal(y->dims[d], pc->dims[d]);
        assert_int_equal(y->dims[pc->ndim - 1], a.ol);
        OpCheck chk = {"maxpool1d", FWD_TOL, GRAD_TOL, 0, x->numel > 2000 ? 400 : 0};
        check_op(c, &chk, 1, &x, y, ref_maxpool1d, &a, &rng);
        ctx_free(c);
    }
}

/* Ties: the first maximum of a window gets the gradient; with overlapping
 * windows (3, stride 1) a shared maximum collects from each window. */
static void test_maxpool1d_ties(void **state)
{
    (void)state;
    Ctx *c = test_ctx();
    int dims[2] = {1, 6};
    Tensor *x = ctx_tensor(c, 2, dims, 1);
    const float v[6] = {1, 3, 3, 2, 3, 0};
    for (int i = 0; i < 6; i++) x->data[i] = v[i];
    Tensor *y = op_maxpool1d(c, x, 3, 1);         /* windows at 0, 1, 2, 3 */
    float up[4] = {1.0f, 2.0f, 4.0f, 8.0f};
    backward_from(c, y, up);
    /* Window 0 -> 1, window 1 -> 1, window 2 (3, 2, 3) -> 2, window 3 -> 4. */
    const float want[6] = {0, 3, 4, 0, 8, 0};
    for (int i = 0; i < 6; i++) assert_true(x->grad[i] == want[i]);
    ctx_free(c);
}

/* ---- 2-D with padding (ResNet's 3x3/2, pad 1 stem pool) ------------------ */

typedef struct PadPoolArgs { int planes, h, w, k, s, p, oh, ow; } PadPoolArgs;

/* Padded positions are -inf, i.e. simply skipped. */
static void ref_maxpool2d_pad(double *const *in, double *out, const void *args)
{
    const PadPoolArgs *a = args;
    for (int q = 0; q < a->planes; q++)
        for (int r = 0; r < a->oh; r++)
            for (int col = 0; col < a->ow; col++) {
                double m = -INFINITY;
                for (int i = 0; i < a->k; i++)
                    for (int j = 0; j < a->k; j++) {
                        int y = r * a->s - a->p + i, x = col * a->s - a->p + j;
                        if (y < 0 || y >= a->h || x < 0 || x >= a->w) continue;
                        double v = in[0][((long)q * a->h + y) * a->w + x];
                        if (v > m) m = v;
                    }
                out[((long)q * a->oh + r) * a->ow + col] = m;
            }
}

/* {n, c, h, w, k, stride, pad}: ResNet's 3/2/1 on its 14x14 map and on odd
 * sizes, 2/2/1 (windows of one valid pixel at the corners), 5/1/2, and
 * pad 0 (must equal op_maxpool2d). */
static const int PADPOOL_CASES[][7] = {
    {2, 3, 14, 14, 3, 2, 1}, {1, 2, 7, 5, 3, 2, 1}, {2, 1, 4, 4, 2, 2, 1},
    {1, 2, 6, 7, 5, 1, 2}, {1, 1, 1, 1, 3, 2, 1}, {2, 2, 5, 5, 3, 2, 0},
};

static void test_maxpool2d_pad(void **state)
{
    (void)state;
    uint64_t rng = 44;
    for (size_t t = 0; t < sizeof PADPOOL_CASES / sizeof PADPOOL_CASES[0]; t++) {
        const int *v = PADPOOL_CASES[t];
        PadPoolArgs a = {v[0] * v[1], v[2], v[3], v[4], v[5], v[6], 0, 0};
        a.oh = (a.h + 2 * a.p - a.k) / a.s + 1;
        a.ow = (a.w + 2 * a.p - a.k) / a.s + 1;
        Ctx *c = test_ctx();
        int dims[4] = {v[0], v[1], v[2], v[3]};
        Tensor *x = distinct_tensor(c, &rng, 4, dims);
        /* All values negative: a padding treated as 0 instead of -inf
         * would win every border window and show in the forward check. */
        for (long i = 0; i < x->numel; i++) x->data[i] -= 100.0f;
        Tensor *y = op_maxpool2d_pad(c, x, a.k, a.s, a.p);
        assert_int_equal(y->dims[2], a.oh);
        assert_int_equal(y->dims[3], a.ow);
        OpCheck chk = {"maxpool2d_pad", FWD_TOL, GRAD_TOL, 0, 0};
        check_op(c, &chk, 1, &x, y, ref_maxpool2d_pad, &a, &rng);
        ctx_free(c);
    }
}

/* ResNet's stem pool on a 28x28 digit's 14x14 map gives 7x7. */
static void test_maxpool2d_pad_resnet_shape(void **state)
{
    (void)state;
    uint64_t rng = 45;
    Ctx *c = test_ctx();
    int dims[4] = {2, 64, 14, 14};
    Tensor *x = random_tensor(c, &rng, 4, dims, -1, 1, 0);
    Tensor *y = op_maxpool2d_pad(c, x, 3, 2, 1);
    assert_int_equal(y->dims[2], 7);
    assert_int_equal(y->dims[3], 7);
    ctx_free(c);
}

/* ---- global average ------------------------------------------------------ */

typedef struct GapArgs { long planes, plane; } GapArgs;

static void ref_global_avgpool(double *const *in, double *out, const void *args)
{
    const GapArgs *a = args;
    for (long q = 0; q < a->planes; q++) {
        double s = 0;
        for (long i = 0; i < a->plane; i++) s += in[0][q * a->plane + i];
        out[q] = s / (double)a->plane;
    }
}

static void test_global_avgpool(void **state)
{
    (void)state;
    uint64_t rng = 46;
    /* {n, c, h, w}: ResNet's 1x1 (an identity), 2x2, odd and large planes. */
    static const int CASES[][4] = {{3, 5, 1, 1}, {2, 4, 2, 2}, {1, 3, 7, 5}, {2, 8, 28, 28}};
    for (size_t t = 0; t < sizeof CASES / sizeof CASES[0]; t++) {
        Ctx *c = test_ctx();
        Tensor *x = random_tensor(c, &rng, 4, CASES[t], -1, 1, 1);
        GapArgs a = {(long)CASES[t][0] * CASES[t][1], (long)CASES[t][2] * CASES[t][3]};
        Tensor *y = op_global_avgpool(c, x);
        assert_int_equal(y->ndim, 2);
        assert_int_equal(y->dims[0], CASES[t][0]);
        assert_int_equal(y->dims[1], CASES[t][1]);
        /* Mean of fp32 values summed in double: error ~1e-7. */
        OpCheck chk = {"global_avgpool", 1e-6, 1e-5, 0, x->numel > 2000 ? 300 : 0};
        check_op(c, &chk, 1, &x, y, ref_global_avgpool, &a, &rng);
        ctx_free(c);
    }
    /* Hand-computed: mean of 1..4 is 2.5; each input gets dy/4. */
    Ctx *c = test_ctx();
    int d[4] = {1, 1, 2, 2};
    Tensor *x = ctx_tensor(c, 4, d, 1);
    for (int i = 0; i < 4; i++) x->data[i] = (float)(i + 1);
    Tensor *y = op_global_avgpool(c, x);
    assert_true(y->data[0] == 2.5f);
    float up[1] = {2.0f};
    backward_from(c, y, up);
    for (int i = 0; i < 4; i++) assert_true(x->grad[i] == 0.5f);
    ctx_free(c);
}

/* Used twice on one tape: each input gets the sum, 2 dy / (H*W) (a
 * backward that assigned instead of adding would leave dy / (H*W)). */
static void test_global_avgpool_accumulates(void **state)
{
    (void)state;
    uint64_t rng = 47;
    Ctx *c = test_ctx();
    int d[4] = {2, 3, 3, 3};
    Tensor *x = random_tensor(c, &rng, 4, d, -1, 1, 1);
    Tensor *y = op_add(c, op_global_avgpool(c, x), op_global_avgpool(c, x));
    float up[6] = {1, -2, 3, 0.5f, 4, -1};
    backward_from(c, y, up);
    for (long i = 0; i < x->numel; i++) assert_float_equal(x->grad[i], 2.0f * up[i / 9] / 9.0f, 1e-6);
    ctx_free(c);
}

/* No input needs a grad: no output grad, no tape entry. */
static void test_pool_no_grad_no_tape(void **state)
{
    (void)state;
    uint64_t rng = 43;
    Ctx *c = test_ctx();
    int d4[4] = {2, 2, 6, 6}, d2[2] = {3, 8};
    Tensor *x = random_tensor(c, &rng, 4, d4, -1, 1, 0);
    Tensor *v = random_tensor(c, &rng, 2, d2, -1, 1, 0);
    assert_null(op_maxpool2d(c, x, 3, 2)->grad);
    assert_null(op_maxpool1d(c, v, 2, 2)->grad);
    assert_null(op_maxpool2d_pad(c, x, 3, 2, 1)->grad);
    assert_null(op_global_avgpool(c, x)->grad);
    assert_int_equal(c->tape_len, 0);
    ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maxpool2d),
        cmocka_unit_test(test_maxpool2d_ties_first_max),
        cmocka_unit_test(test_maxpool2d_overlap_accumulates),
        cmocka_unit_test(test_maxpool2d_nan),
        cmocka_unit_test(test_maxpool1d),
        cmocka_unit_test(test_maxpool1d_ties),
        cmocka_unit_test(test_maxpool2d_pad),
        cmocka_unit_test(test_maxpool2d_pad_resnet_shape),
        cmocka_unit_test(test_global_avgpool),
        cmocka_unit_test(test_global_avgpool_accumulates),
        cmocka_unit_test(test_pool_no_grad_no_tape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
