/* Batch norm and row normalisation against plain float64 references.
 *
 * Tolerances (relative, |err| / (|ref| + 1), see testutil.h), ~20x above
 * the largest error measured on these cases (forward 2.3e-7, gradients
 * 1.7e-7):
 *  - forward 5e-6: the op works in fp32 (ulp 6e-8) on O(1..4) values with
 *    the statistics reduced in double, so only a few roundings remain;
 *  - gradients 5e-6: the analytic fp32 gradient is compared with a float64
 *    central difference (step 1e-6, truncation ~1e-10). The BN input
 *    gradient n*dy - sum(dy) - xhat*sum(dy*xhat) would cancel badly in fp32,
 *    but the op forms it in double, so it too is a few ulps. A wrong or
 *    missing term costs O(1/n) >= 2e-3 at the largest n here (425), far
 *    above the tolerance. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "ops.h"

#define FWD_TOL 5e-6
#define GRAD_TOL 5e-6
#define EPS 1e-5f

typedef struct BnArgs {
    int n, ch;
    long hw;
    int eval;                 /* 1: normalise with the given running stats */
    const double *rmean, *rvar;
    double eps;
} BnArgs;

/* Plain BN in float64; in = {x, gamma, beta}. */
static void ref_batchnorm(double *const *in, double *out, const void *vargs)
{
    const BnArgs *a = vargs;
    long cnt = (long)a->n * a->hw;
    for (int c = 0; c < a->ch; c++) {
        double mean, var;
        if (a->eval) {
            mean = a->rmean[c];
            var = a->rvar[c];
        } else {
            double s = 0, sq = 0;
            for (int n = 0; n < a->n; n++)
                for (long i = 0; i < a->hw; i++) s += in[0][((long)n * a->ch + c) * a->hw + i];
            mean = s / cnt;
            for (int n = 0; n < a->n; n++)
                for (long i = 0; i < a->hw; i++) {
                    double d = in[0][((long)n * a->ch + c) * a->hw + i] - mean;
                    sq += d * d;
                }
            var = sq / cnt;   /* biased, as PyTorch normalises with */
        }
        for (int n = 0; n < a->n; n++)
            for (long i = 0; i < a->hw; i++) {
                long o = ((long)n * a->ch + c) * a->hw + i;
                out[o] = in[1][c] * (in[0][o] - mean) / sqrt(var + a->eps) + in[2][c];
            }
    }
}

/* One random BN case with ndim 2 or 4, in training or evaluation. */
static void bn_case(uint64_t *rng, int ndim, int eval, const char *name)
{
    Ctx c;
    ctx_init(&c, 1234, 1 << 20);
    ctx_begin(&c, !eval, 1);
    int n = test_int(rng, eval ? 1 : 2, 17), ch = test_int(rng, 1, 9);
    int dims[4] = {n, ch, test_int(rng, 1, 5), test_int(rng, 1, 5)};
    Tensor *x = random_tensor(&c, rng, ndim, dims, -2.0, 3.0, 1);
    Tensor *gamma = random_tensor(&c, rng, 1, &ch, 0.5, 1.5, 1);
    Tensor *beta = random_tensor(&c, rng, 1, &ch, -1.0, 1.0, 1);
    float rm[9], rv[9], rm0[9], rv0[9];
    double rmd[9], rvd[9];
    fill_uniform(rm, ch, rng, -0.5, 0.5);
    fill_uniform(rv, ch, rng, 0.2, 2.0);
    for (int i = 0; i < ch; i++) {
        rm0[i] = rm[i];
        rv0[i] = rv[i];
        rmd[i] = rm[i];
        rvd[i] = rv[i];
    }
    Tensor *y = op_batchnorm(&c, x, gamma, beta, rm, rv, 0.1f, EPS);
    BnArgs args = {.n = n, .ch = ch, .hw = ndim == 4 ? (long)dims[2] * dims[3] : 1,
                   .eval = eval, .rmean = rmd, .rvar = rvd, .eps = EPS};
    OpCheck chk = {.name = name, .fwd_tol = FWD_TOL, .grad_tol = GRAD_TOL};
    Tensor *ins[3] = {x, gamma, beta};
    check_op(&c, &chk, 3, ins, y, ref_batchnorm, &args, rng);
    if (eval) {   /* evaluation must leave the running statistics alone */
        assert_memory_equal(rm, rm0, sizeof(float) * ch);
        assert_memory_equal(rv, rv0, sizeof(float) * ch);
    }
    ctx_free(&c);
}

static void test_batchnorm_train_2d(void **state)
{
    (void)state;
    uint64_t rng = 11;
    for (int rep = 0; rep < 20; rep++) bn_case(&rng, 2, 0, "batchnorm 2-D train");
}

static void test_batchnorm_train_4d(void **state)
{
    (void)state;
    uint64_t rng = 12;
    for (int rep = 0; rep < 20; rep++) bn_case(&rng, 4, 0, "batchnorm 4-D train");
}

/* Eval mode: normalise with the running statistics (batch 1 is fine) and
 * the backward is the plain affine map. */
static void test_batchnorm_eval(void **state)
{
    (void)state;
    uint64_t rng = 13;
    for (int rep = 0; rep < 10; rep++) {
        bn_case(&rng, 2, 1, "batchnorm 2-D eval");
        bn_case(&rng, 4, 1, "batchnorm 4-D eval");
    }
}

/* Hand-checkable running-stat update, 4-D so that n = N*H*W = 4 per channel.
 * channel 0 = {1,2,3,4}: mean 2.5, unbiased var 5/3;
 * channel 1 = {10,10,10,14}: mean 11, unbiased var (1+1+1+9)/3 = 4.
 * From running (0, 1) with momentum 0.1:
 *   mean 0.25, var 0.9 + 0.1*5/3 = 1.0666667;  mean 1.1, var 0.9 + 0.4 = 1.3. */
static void test_batchnorm_running_stats(void **state)
{
    (void)state;
    Ctx c;
    ctx_init(&c, 1234, 1 << 20);
    ctx_begin(&c, 1, 1);
    int dims[4] = {2, 2, 1, 2}, two = 2;
    Tensor *x = ctx_tensor(&c, 4, dims, 1);
    const float vals[8] = {1, 2, 10, 10, 3, 4, 10, 14};   /* [n][c][w] */
    memcpy(x->data, vals, sizeof vals);
    Tensor *gamma = ctx_tensor(&c, 1, &two, 1), *beta = ctx_tensor(&c, 1, &two, 1);
    gamma->data[0] = gamma->data[1] = 1.0f;
    beta->data[0] = beta->data[1] = 0.0f;
    float rm[2] = {0, 0}, rv[2] = {1, 1};
    Tensor *y = op_batchnorm(&c, x, gamma, beta, rm, rv, 0.1f, EPS);
    assert_float_equal(rm[0], 0.25f, 1e-6f);
    assert_float_equal(rv[0], 0.9f + 0.1f * 5.0f / 3.0f, 1e-6f);
    assert_float_equal(rm[1], 1.1f, 1e-6f);
    assert_float_equal(rv[1], 1.3f, 1e-6f);
    /* Normalised with the BIASED variance: channel 0 has var 1.25, so x=1
     * maps to -1.5/sqrt(1.25 + eps). */
    assert_float_equal(y->data[0], -1.5f / sqrtf(1.25f + EPS), 1e-6f);
    /* 2-D: [N=3, C=1] = {0, 3, 6}: mean 3, unbiased var 9. */
    int d2[2] = {3, 1};
    Tensor *x2 = ctx_tensor(&c, 2, d2, 0);
    x2->data[0] = 0;
    x2->data[1] = 3;
    x2->data[2] = 6;
    float m2 = 1, v2 = 2;
    op_batchnorm(&c, x2, NULL, NULL, &m2, &v2, 0.1f, EPS);
    assert_float_equal(m2, 0.9f * 1 + 0.1f * 3, 1e-6f);
    assert_float_equal(v2, 0.9f * 2 + 0.1f * 9, 1e-6f);
    ctx_free(&c);
}

/* ---- row normalisation ---------------------------------------------------- */

typedef struct { int rows, cols; } RowArgs;

static void ref_row_normalize(double *const *in, double *out, const void *vargs)
{
    const RowArgs *a = vargs;
    for (int i = 0; i < a->rows; i++) {
        double s = 0;
        for (int j = 0; j < a->cols; j++) s += in[0][(long)i * a->cols + j];
        for (int j = 0; j < a->cols; j++) out[(long)i * a->cols + j] = in[0][(long)i * a->cols + j] / s;
    }
}

static void test_row_normalize(void **state)
{
    (void)state;
    uint64_t rng = 14;
    for (int rep = 0; rep < 20; rep++) {
        Ctx c;
        ctx_init(&c, 1234, 1 << 20);
        ctx_begin(&c, 1, 1);
        int dims[2] = {test_int(&rng, 1, 17), test_int(&rng, 1, 13)};
        /* positive entries keep the row sums away from 0 */
        Tensor *x = random_tensor(&c, &rng, 2, dims, 0.5, 2.0, 1);
        Tensor *y = op_row_normalize(&c, x);
        RowArgs args = {dims[0], dims[1]};
        OpCheck chk = {.name = "row_normalize", .fwd_tol = FWD_TOL, .grad_tol = GRAD_TOL};
        check_op(&c, &chk, 1, &x, y, ref_row_normalize, &args, &rng);
        ctx_free(&c);
    }
}

/* ---- gradient accumulation ------------------------------------------------ */


/* in[0..2] = x, gamma, beta; op 0 = batchnorm (training or eval), 1 = row
 * normalisation of x alone. */
static void run_copies(Ctx *c, uint64_t seed, int op, int copies, Tensor **in)
{
    uint64_t rng = seed;
    int dims[4] = {5, 3, 2, 3}, ch = 3;
    in[0] = random_tensor(c, &rng, op == 1 ? 2 : 4, dims, 0.5, 2.0, 1);
    in[1] = random_tensor(c, &rng, 1, &ch, 0.5, 1.5, 1);
    in[2] = random_tensor(c, &rng, 1, &ch, -1.0, 1.0, 1);
    float rm[3] = {0.1f, 0.2f, 0.3f}, rv[3] = {1.0f, 1.5f, 0.5f};
    for (int k = 0; k < copies; k++) {
        Tensor *y = op == 1 ? op_row_normalize(c, in[0])
                            : op_batchnorm(c, in[0], in[1], in[2], rm, rv, 0.1f, EPS);
        uint64_t up_rng = seed + 1;
        fill_uniform(y->grad, y->numel, &up_rng, -1, 1);
    }
    for (int i = c->tape_len - 1; i >= 0; i--) c->tape[i].backward(&c->tape[i]);
}

static void test_grads_accumulate(void **state)
{
    (void)state;
    for (int variant = 0; variant < 3; variant++) {   /* BN train, BN eval, row norm */
        Ctx c1, c2;
        ctx_init(&c1, 1234, 1 << 20);
        ctx_init(&c2, 1234, 1 << 20);
        ctx_begin(&c1, variant != 1, 1);
        ctx_begin(&c2, variant != 1, 1);
        Tensor *once[3], *twice[3];
        run_copies(&c1, 15, variant == 2, 1, once);
        run_copies(&c2, 15, variant == 2, 2, twice);
        for (int i = 0; i < (variant == 2 ? 1 : 3); i++) assert_grad_doubled(once[i], twice[i]);
        ctx_free(&c1);
        ctx_free(&c2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batchnorm_train_2d),
        cmocka_unit_test(test_batchnorm_train_4d),
        cmocka_unit_test(test_batchnorm_eval),
        cmocka_unit_test(test_batchnorm_running_stats),
        cmocka_unit_test(test_row_normalize),
        cmocka_unit_test(test_grads_accumulate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
