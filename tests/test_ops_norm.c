/* Batch norm beyond the op-case table (op_cases.c, run by test_op_cases,
 * which checks training and evaluation on random 2-D and 4-D shapes, and
 * row normalisation, against float64 references): the running-statistic
 * update, computed by hand. */
#include <math.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batchnorm_running_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
