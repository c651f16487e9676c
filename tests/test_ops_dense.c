/* op_linear and op_matmul beyond the op-case table (op_cases.c, run by
 * test_op_cases): the same tensor as both operands of a product, and a
 * hand-computed accumulation onto existing gradients. */
#include "testutil.h"
#include "ops.h"
#include <math.h>

/* x x^T (the same tensor twice, as in batch attention): both products
 * accumulate into one grad. d/dx sum(R .* x x^T) = (R + R^T) x. */
static void test_matmul_same_operand(void **state)
{
    (void)state;
    uint64_t rng = 25;
    Ctx *c = test_ctx();
    int d[2] = {5, 3};
    Tensor *x = random_tensor(c, &rng, 2, d, -1, 1, 1);
    Tensor *y = op_matmul(c, x, x, 0, 1);
    float up[25];
    fill_uniform(up, 25, &rng, -1, 1);
    backward_from(c, y, up);
    for (int i = 0; i < 5; i++)
        for (int p = 0; p < 3; p++) {
            double g = 0.0;
            for (int j = 0; j < 5; j++) g += (up[i * 5 + j] + up[j * 5 + i]) * x->data[j * 3 + p];
            assert_true(fabs(x->grad[i * 3 + p] - g) < 1e-5);
        }
    ctx_free(c);
}

/* Backward accumulates: a pre-existing gradient is added to, not replaced. */
static void test_linear_accumulates(void **state)
{
    (void)state;
    uint64_t rng = 26;
    Ctx *c = test_ctx();
    int xd[2] = {2, 3}, wd[2] = {4, 3}, bd[1] = {4};
    Tensor *x = random_tensor(c, &rng, 2, xd, -1, 1, 1);
    Tensor *w = random_tensor(c, &rng, 2, wd, -1, 1, 1);
    Tensor *b = random_tensor(c, &rng, 1, bd, -1, 1, 1);
    for (int i = 0; i < 4; i++) b->grad[i] = 10.0f;
    for (int i = 0; i < 12; i++) w->grad[i] = 10.0f;
    Tensor *y = op_linear(c, x, w, b);
    float up[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    backward_from(c, y, up);
    for (int i = 0; i < 4; i++) assert_true(fabs(b->grad[i] - 12.0f) < 1e-6);
    for (int o = 0; o < 4; o++)
        for (int i = 0; i < 3; i++)
            assert_true(fabs(w->grad[o * 3 + i] - (10.0f + x->data[i] + x->data[3 + i])) < 1e-5);
    ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_same_operand),
        cmocka_unit_test(test_linear_accumulates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
