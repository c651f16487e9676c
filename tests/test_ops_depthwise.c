/* op_depthwise_conv2d beyond the op-case table (op_cases.c, run by
 * test_op_cases): the same numbers as op_conv2d with a block-diagonal
 * weight (a depthwise conv IS a full conv whose filter k only sees
 * channel k). */
#include "testutil.h"
#include "ops.h"
#include <math.h>

/* Same numbers as op_conv2d with W_full[k, c] = (k == c) ? w[k] : 0. */
static void test_depthwise_equals_block_diagonal_conv(void **state)
{
    (void)state;
    uint64_t rng = 52;
    Ctx *c = test_ctx();
    int xd[4] = {2, 5, 8, 7}, wd[4] = {5, 1, 3, 3}, fd[4] = {5, 5, 3, 3}, bd[1] = {5};
    Tensor *x = random_tensor(c, &rng, 4, xd, -1, 1, 0);
    Tensor *w = random_tensor(c, &rng, 4, wd, -1, 1, 0);
    Tensor *b = random_tensor(c, &rng, 1, bd, -1, 1, 0);
    Tensor *full = ctx_tensor(c, 4, fd, 0);
    for (int k = 0; k < 5; k++)
        for (int ch = 0; ch < 5; ch++)
            for (int i = 0; i < 9; i++) full->data[(k * 5 + ch) * 9 + i] = k == ch ? w->data[k * 9 + i] : 0.0f;
    Tensor *y = op_depthwise_conv2d(c, x, w, b, 2, 1);
    Tensor *z = op_conv2d(c, x, full, b, 2, 1);
    assert_int_equal(y->numel, z->numel);
    for (long i = 0; i < y->numel; i++) assert_float_equal(y->data[i], z->data[i], 1e-5);
    assert_int_equal(c->tape_len, 0);
    ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depthwise_equals_block_diagonal_conv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
