/* Convolution beyond the op-case table (op_cases.c, run by test_op_cases,
 * which checks op_conv2d and op_conv2d_relu against float64 references on
 * every CPU path): op_conv2d_relu against op_relu(op_conv2d), on the
 * oneDNN path with its ReLU post-op, on Winograd and on the batched GEMM
 * of 1x1 maps. The outputs are equal as numbers (oneDNN's post-op may
 * clip to -0.0 where op_relu writes +0.0), the gradients bit for bit. */
#include "testutil.h"
#include "ops.h"
#include <string.h>

enum { CONV_MAX = 8 * 32 * 20 * 20 };

typedef struct ConvRun {
    float y[CONV_MAX], dx[CONV_MAX], dw[32 * 32 * 9], db[32];
    long ny, nx, nw;
} ConvRun;

/* One forward and backward from the same inputs and upstream gradient. */
static void run_conv(int fused, const int *xd, const int *wd, int stride, int pad, ConvRun *r)
{
    uint64_t rng = 17;
    Ctx *c = test_ctx();
    Tensor *x = random_tensor(c, &rng, 4, xd, -1, 1, 1);
    Tensor *w = random_tensor(c, &rng, 4, wd, -0.5, 0.5, 1);
    Tensor *b = random_tensor(c, &rng, 1, wd, -0.2, 0.2, 1);
    Tensor *y = fused ? op_conv2d_relu(c, x, w, b, stride, pad) : op_relu(c, op_conv2d(c, x, w, b, stride, pad));
    static float up[CONV_MAX];
    fill_uniform(up, y->numel, &rng, -1, 1);
    backward_from(c, y, up);
    r->ny = y->numel, r->nx = x->numel, r->nw = w->numel;
    memcpy(r->y, y->data, (size_t)y->numel * sizeof(float));
    memcpy(r->dx, x->grad, (size_t)x->numel * sizeof(float));
    memcpy(r->dw, w->grad, (size_t)w->numel * sizeof(float));
    memcpy(r->db, b->grad, (size_t)b->numel * sizeof(float));
    ctx_free(c);
}

static void check_fused(const int *xd, const int *wd, int stride, int pad)
{
    static ConvRun fused, two;
    run_conv(1, xd, wd, stride, pad, &fused);
    run_conv(0, xd, wd, stride, pad, &two);
    long clipped = 0;
    for (long i = 0; i < fused.ny; i++) {
        assert_true(fused.y[i] == two.y[i]);
        clipped += two.y[i] == 0.0f;
    }
    assert_true(clipped > fused.ny / 5 && clipped < 4 * fused.ny / 5);   /* the mask matters */
    assert_memory_equal(fused.dx, two.dx, (size_t)fused.nx * sizeof(float));
    assert_memory_equal(fused.dw, two.dw, (size_t)fused.nw * sizeof(float));
    assert_memory_equal(fused.db, two.db, (size_t)wd[0] * sizeof(float));
}

static void test_conv2d_relu_is_the_two_ops(void **state)
{
    (void)state;
    const int x1[4] = {4, 8, 13, 11}, w1[4] = {6, 8, 3, 3};      /* oneDNN direct, post-op */
    check_fused(x1, w1, 1, 1);
    const int x2[4] = {8, 32, 20, 20}, w2[4] = {32, 32, 3, 3};   /* Winograd, OpenMP */
    check_fused(x2, w2, 1, 1);
    const int x3[4] = {6, 16, 2, 2}, w3[4] = {12, 16, 3, 3};     /* 1x1 output: batched GEMM */
    check_fused(x3, w3, 2, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_relu_is_the_two_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
