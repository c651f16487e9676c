/* Axis ops beyond the op-case table (op_cases.c, run by test_op_cases,
 * which checks softmax, concat and slice on every axis of 1-D to 4-D
 * shapes against float64 references): extreme logits, SpinalNet's concat
 * of parts with and without gradients, overlapping slices, by hand. */
#include <math.h>
#include <string.h>
#include "testutil.h"
#include "ops.h"

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
        cmocka_unit_test(test_softmax_extreme_logits),
        cmocka_unit_test(test_concat_mixed_grads),
        cmocka_unit_test(test_slices_overlap_accumulate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
