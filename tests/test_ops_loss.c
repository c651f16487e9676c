/* Cross-entropy, count_correct and argmax_rows beyond the op-case table
 * (op_cases.c, run by test_op_cases): logits of +-1000 by hand, and ties
 * going to the first maximum. */
#include <math.h>
#include <string.h>
#include "testutil.h"
#include "ops.h"

/* Logits of +-1000 overflow exp() in any precision without the max shift.
 * Row 0 = {1000, 0, -1000}, label 1: loss 1000, softmax (1, 0, 0).
 * Row 1 = {1000, 1000, 1000}, label 2: loss log 3, softmax 1/3 each. */
static void test_cross_entropy_large_logits(void **state)
{
    (void)state;
    Ctx c;
    ctx_init(&c, 1234, 1 << 20);
    ctx_begin(&c, 1, 1);
    int dims[2] = {2, 3};
    Tensor *z = ctx_tensor(&c, 2, dims, 1);
    const float vals[6] = {1000, 0, -1000, 1000, 1000, 1000};
    memcpy(z->data, vals, sizeof vals);
    int labels[2] = {1, 2};
    Tensor *loss = op_cross_entropy(&c, z, labels);
    assert_true(isfinite(loss->data[0]));
    assert_float_equal(loss->data[0], (1000.0 + log(3.0)) / 2, 1e-3f);
    float up = 2.0f;
    backward_from(&c, loss, &up);
    /* upstream 2 and N = 2 cancel: dz = softmax - onehot. */
    const float want[6] = {1, -1, 0, 1.0f / 3, 1.0f / 3, 1.0f / 3 - 1};
    for (int i = 0; i < 6; i++) {
        assert_true(isfinite(z->grad[i]));
        assert_float_equal(z->grad[i], want[i], 1e-6f);
    }
    ctx_free(&c);
}

/* Ties go to the FIRST maximum, as torch.argmax does on CPU. */
static void test_count_correct_ties(void **state)
{
    (void)state;
    Ctx c;
    ctx_init(&c, 1234, 1 << 20);
    ctx_begin(&c, 0, 0);
    int dims[2] = {4, 3};
    Tensor *z = ctx_tensor(&c, 2, dims, 0);
    const float vals[12] = {
        1, 3, 3,      /* tie between 1 and 2 -> 1 */
        5, 5, 5,      /* all equal -> 0 */
        -2, -1, -1,   /* tie between 1 and 2 -> 1 */
        0, 0, 7,      /* clear max -> 2 */
    };
    memcpy(z->data, vals, sizeof vals);
    int pred[4];
    argmax_rows(z, pred);
    assert_int_equal(pred[0], 1);
    assert_int_equal(pred[1], 0);
    assert_int_equal(pred[2], 1);
    assert_int_equal(pred[3], 2);
    int first[4] = {1, 0, 1, 2}, second[4] = {2, 2, 2, 2}, mixed[4] = {1, 1, 2, 2};
    assert_int_equal(count_correct(z, first), 4);
    assert_int_equal(count_correct(z, second), 1);
    assert_int_equal(count_correct(z, mixed), 2);
    ctx_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_entropy_large_logits),
        cmocka_unit_test(test_count_correct_ties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
