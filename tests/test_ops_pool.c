/* Pooling beyond the op-case table (op_cases.c, run by test_op_cases,
 * which checks every shape against float64 references on inputs with
 * unique window maxima): hand-made ties (the first maximum of a window
 * takes the gradient), overlapping windows sharing a maximum, NaN
 * propagation, the stride-2 vector path, ResNet's stem shape and a hand-computed global average. */
#include "testutil.h"
#include "ops.h"
#include <math.h>
#include <stdlib.h>

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

/* The stride-2 vector path (ops_pool.c, sixteen outputs at a time) on
 * planes big enough to use it, padded and not, with ties and NaNs: each
 * output and the position that takes its gradient equal a plain
 * row-major scan's (first maximum; the first NaN wins and sticks). */
static void check_pool_s2(int h, int w, int k, int pad)
{
    Ctx *c = test_ctx();
    int dims[4] = {1, 1, h, w};
    Tensor *x = ctx_tensor(c, 4, dims, 1);
    for (int i = 0; i < h * w; i++) x->data[i] = (float)((i * 7919) % 13) * 0.5f;   /* many ties */
    const int nans[4] = {5 * w + 7, 5 * w + 8, 11 * w + 20, 20 * w + 3};
    for (int t = 0; t < 4; t++) x->data[nans[t]] = NAN;
    Tensor *y = op_maxpool2d_pad(c, x, k, 2, pad);
    int oh = y->dims[2], ow = y->dims[3];
    float *up = malloc((size_t)y->numel * sizeof(float));
    for (long o = 0; o < y->numel; o++) up[o] = (float)(o + 1);
    backward_from(c, y, up);
    float *want = calloc((size_t)h * w, sizeof(float));
    for (int r = 0; r < oh; r++)
        for (int q = 0; q < ow; q++) {
            int best = -1;
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++) {
                    int a = 2 * r - pad + i, b = 2 * q - pad + j;
                    if (a < 0 || a >= h || b < 0 || b >= w) continue;
                    float v = x->data[a * w + b];
                    if (best < 0) best = a * w + b;
                    else if (v > x->data[best] || (isnan(v) && !isnan(x->data[best]))) best = a * w + b;
                }
            float got = y->data[r * ow + q], exp = x->data[best];
            assert_true(isnan(exp) ? isnan(got) : got == exp);
            want[best] += up[r * ow + q];
        }
    for (int i = 0; i < h * w; i++) assert_true(x->grad[i] == want[i]);
    free(up);
    free(want);
    ctx_free(c);
}

static void test_maxpool2d_stride2_vector_path(void **state)
{
    (void)state;
    check_pool_s2(28, 28, 3, 0);   /* baseline_cnn's first pool */
    check_pool_s2(26, 40, 3, 0);   /* rows of 19 outputs: a full chunk and a short one */
    check_pool_s2(28, 28, 3, 1);   /* resnet's stem pool, padded */
    check_pool_s2(24, 36, 2, 0);   /* 2x2/2 */
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

/* Mean of 1..4 is 2.5; each input gets dy/4. */
static void test_global_avgpool_by_hand(void **state)
{
    (void)state;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maxpool2d_ties_first_max),
        cmocka_unit_test(test_maxpool2d_overlap_accumulates),
        cmocka_unit_test(test_maxpool2d_nan),
        cmocka_unit_test(test_maxpool2d_stride2_vector_path),
        cmocka_unit_test(test_maxpool1d_ties),
        cmocka_unit_test(test_maxpool2d_pad_resnet_shape),
        cmocka_unit_test(test_global_avgpool_by_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
