/* op_depthwise_conv2d against a direct float64 loop, and against op_conv2d
 * with a block-diagonal weight (a depthwise conv IS a full conv whose
 * filter k only sees channel k).
 *
 * Tolerances as test_ops_conv.c: forward 1e-5 (fp32 sums of <= 81
 * products of values in [-1, 1]), gradient 1e-4 (dW sums N*OH*OW
 * products; the float64 central difference of a function linear in each
 * input is exact up to rounding). */
#include "testutil.h"
#include "ops.h"
#include <math.h>

#define FWD_TOL 1e-5
#define GRAD_TOL 1e-4

typedef struct DwArgs { int n, c, h, w, kh, kw, stride, pad, has_bias, oh, ow; } DwArgs;

static void ref_depthwise(double *const *in, double *out, const void *args)
{
    const DwArgs *a = args;
    const double *x = in[0], *w = in[1], *b = a->has_bias ? in[2] : NULL;
    for (int n = 0; n < a->n; n++)
        for (int ch = 0; ch < a->c; ch++)
            for (int oy = 0; oy < a->oh; oy++)
                for (int ox = 0; ox < a->ow; ox++) {
                    double s = b ? b[ch] : 0.0;
                    for (int i = 0; i < a->kh; i++)
                        for (int j = 0; j < a->kw; j++) {
                            int iy = oy * a->stride - a->pad + i, ix = ox * a->stride - a->pad + j;
                            if (iy < 0 || iy >= a->h || ix < 0 || ix >= a->w) continue;
                            s += x[((n * a->c + ch) * a->h + iy) * a->w + ix] * w[(ch * a->kh + i) * a->kw + j];
                        }
                    out[((n * a->c + ch) * a->oh + oy) * a->ow + ox] = s;
                }
}

/* {n, c, h, w, kh, kw, stride, pad}: Efficient-CapsNet's 9x9 kernel on a
 * 9x9 map (one output per channel), strides, padding, non-square kernels,
 * and a case big enough for the OpenMP path. */
static const int CASES[][8] = {
    {3, 8, 9, 9, 9, 9, 1, 0}, {2, 3, 7, 6, 3, 3, 1, 1}, {1, 4, 8, 9, 3, 2, 2, 1},
    {2, 2, 5, 5, 5, 5, 1, 2}, {1, 1, 4, 4, 1, 1, 1, 0}, {4, 128, 9, 9, 9, 9, 1, 0},
};

static void test_depthwise(void **state)
{
    (void)state;
    uint64_t rng = 51;
    for (size_t t = 0; t < sizeof CASES / sizeof CASES[0]; t++)
        for (int has_bias = 0; has_bias <= 1; has_bias++) {
            const int *v = CASES[t];
            DwArgs a = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], has_bias, 0, 0};
            a.oh = (a.h + 2 * a.pad - a.kh) / a.stride + 1;
            a.ow = (a.w + 2 * a.pad - a.kw) / a.stride + 1;
            Ctx *c = test_ctx();
            int xd[4] = {a.n, a.c, a.h, a.w}, wd[4] = {a.c, 1, a.kh, a.kw}, bd[1] = {a.c};
            Tensor *in[3];
            in[0] = random_tensor(c, &rng, 4, xd, -1, 1, 1);
            in[1] = random_tensor(c, &rng, 4, wd, -1, 1, 1);
            in[2] = has_bias ? random_tensor(c, &rng, 1, bd, -1, 1, 1) : NULL;
            Tensor *y = op_depthwise_conv2d(c, in[0], in[1], in[2], a.stride, a.pad);
            assert_int_equal(y->dims[1], a.c);
            assert_int_equal(y->dims[2], a.oh);
            assert_int_equal(y->dims[3], a.ow);
            OpCheck chk = {"depthwise_conv2d", FWD_TOL, GRAD_TOL, 0, 300};
            check_op(c, &chk, 2 + has_bias, in, y, ref_depthwise, &a, &rng);
            ctx_free(c);
        }
}

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

/* Used twice on one tape: every gradient doubles. */
static void test_depthwise_accumulates(void **state)
{
    (void)state;
    uint64_t rng = 53;
    Ctx *c = test_ctx();
    int xd[4] = {2, 3, 5, 5}, wd[4] = {3, 1, 3, 3}, bd[1] = {3};
    Tensor *x = random_tensor(c, &rng, 4, xd, -1, 1, 1);
    Tensor *w = random_tensor(c, &rng, 4, wd, -1, 1, 1);
    Tensor *b = random_tensor(c, &rng, 1, bd, -1, 1, 1);
    Tensor *y = op_depthwise_conv2d(c, x, w, b, 1, 0);
    float *up = test_malloc((size_t)y->numel * sizeof(float));
    fill_uniform(up, y->numel, &rng, -1, 1);
    backward_from(c, y, up);
    Tensor *once[3];
    for (int i = 0; i < 3; i++) {
        Tensor *src = i == 0 ? x : i == 1 ? w : b;
        once[i] = ctx_tensor_like(c, src, 1);
        for (long j = 0; j < src->numel; j++) once[i]->grad[j] = src->grad[j];
    }
    /* A second context: the same op twice, summed. */
    Ctx c2;
    ctx_init(&c2, 1, 1 << 20);
    ctx_begin(&c2, 1, 1);
    Tensor *x2 = ctx_tensor_like(&c2, x, 1), *w2 = ctx_tensor_like(&c2, w, 1), *b2 = ctx_tensor_like(&c2, b, 1);
    for (long j = 0; j < x->numel; j++) x2->data[j] = x->data[j];
    for (long j = 0; j < w->numel; j++) w2->data[j] = w->data[j];
    for (long j = 0; j < b->numel; j++) b2->data[j] = b->data[j];
    Tensor *y2 = op_add(&c2, op_depthwise_conv2d(&c2, x2, w2, b2, 1, 0), op_depthwise_conv2d(&c2, x2, w2, b2, 1, 0));
    backward_from(&c2, y2, up);
    assert_grad_doubled(once[0], x2);
    assert_grad_doubled(once[1], w2);
    assert_grad_doubled(once[2], b2);
    test_free(up);
    ctx_free(&c2);
    ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depthwise),
        cmocka_unit_test(test_depthwise_equals_block_diagonal_conv),
        cmocka_unit_test(test_depthwise_accumulates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
