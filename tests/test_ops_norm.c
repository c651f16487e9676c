/* Batch norm beyond the op-case table (op_cases.c, run by test_op_cases,
 * which checks training and evaluation on random 2-D and 4-D shapes, and
 * row normalisation, against float64 references): the running-statistic
 * update, computed by hand; op_batchnorm_relu = op_relu(op_batchnorm), bit
 * for bit, forward and backward (the models use the fused op where the
 * two followed each other). */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "testutil.h"
#include "ops.h"

#define EPS 1e-5f

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

/* One step of relu(batchnorm(x)) on a fresh context: output, running
 * statistics and the gradients of x, gamma, beta from upstream gradient dz.
 * Both CPU loop shapes of ops_norm.c: 5x7 maps (runs shorter than
 * BN_SHORT_RUN) and 9x10 maps, and one of each big enough for the OpenMP
 * loops ([64,64,2,2] and [8,64,8,8]). */
enum { BN_MAX = 64 * 64 * 4 * 4, BN_CH = 64 };
typedef struct BnReluRun {
    float y[BN_MAX], dx[BN_MAX], dgamma[BN_CH], dbeta[BN_CH], rm[BN_CH], rv[BN_CH];
} BnReluRun;

static void run_bn_relu(int fused, const int *dims, const float *x0, const float *dz, BnReluRun *r)
{
    Ctx c;
    ctx_init(&c, 99, 1 << 20);
    ctx_begin(&c, 1, 1);
    int ch = dims[1];
    Tensor *x = ctx_tensor(&c, 4, dims, 1), *gamma = ctx_tensor(&c, 1, &ch, 1), *beta = ctx_tensor(&c, 1, &ch, 1);
    size_t bytes = (size_t)x->numel * sizeof(float);
    memcpy(x->data, x0, bytes);
    for (int k = 0; k < ch; k++) {
        gamma->data[k] = 0.5f + 0.4f * (float)(k % 3);
        beta->data[k] = 0.3f * (float)(k % 3) - 0.3f;   /* a third to two thirds of the outputs clipped */
        r->rm[k] = 0.1f;
        r->rv[k] = 1.5f;
    }
    Tensor *y = fused ? op_batchnorm_relu(&c, x, gamma, beta, r->rm, r->rv, 0.1f, EPS)
                      : op_relu(&c, op_batchnorm(&c, x, gamma, beta, r->rm, r->rv, 0.1f, EPS));
    memcpy(y->grad, dz, bytes);
    for (int i = c.tape_len - 1; i >= 0; i--) c.tape[i].backward(&c.tape[i]);
    memcpy(r->y, y->data, bytes);
    memcpy(r->dx, x->grad, bytes);
    memcpy(r->dgamma, gamma->grad, (size_t)ch * sizeof(float));   /* the rest stays 0 */
    memcpy(r->dbeta, beta->grad, (size_t)ch * sizeof(float));
    ctx_free(&c);
}

static void test_batchnorm_relu_is_the_two_ops(void **state)
{
    (void)state;
    static const int shapes[4][4] = {{2, 3, 5, 7}, {2, 3, 9, 10}, {64, 64, 2, 2}, {8, 64, 8, 8}};
    for (int t = 0; t < 4; t++) {
        int n = shapes[t][0] * shapes[t][1] * shapes[t][2] * shapes[t][3];
        static float x[BN_MAX], dz[BN_MAX];
        uint64_t rng = 5;
        for (int i = 0; i < n; i++) {
            x[i] = (float)test_uniform(&rng, -1, 3);
            dz[i] = (float)test_uniform(&rng, -0.5, 0.5);
        }
        static BnReluRun fused, two;
        memset(&fused, 0, sizeof fused);
        memset(&two, 0, sizeof two);
        run_bn_relu(1, shapes[t], x, dz, &fused);
        run_bn_relu(0, shapes[t], x, dz, &two);
        int clipped = 0;
        for (int i = 0; i < n; i++) clipped += fused.y[i] == 0;
        assert_true(clipped > n / 5 && clipped < 4 * n / 5);   /* both sides of the kink are exercised */
        assert_memory_equal(fused.y, two.y, sizeof fused.y);
        assert_memory_equal(fused.dx, two.dx, sizeof fused.dx);
        assert_memory_equal(fused.dgamma, two.dgamma, sizeof fused.dgamma);
        assert_memory_equal(fused.dbeta, two.dbeta, sizeof fused.dbeta);
        assert_memory_equal(fused.rm, two.rm, sizeof fused.rm);
        assert_memory_equal(fused.rv, two.rv, sizeof fused.rv);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batchnorm_running_stats),
        cmocka_unit_test(test_batchnorm_relu_is_the_two_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
