/* op_conv2d against a direct float64 convolution (seven nested loops, no
 * im2col), over strides, paddings and shapes that stress the edges.
 *
 * Tolerances (check_op measures |a - b| / (|b| + 1)):
 *  - forward 1e-5: an output is an fp32 sum of C*kh*kw <= ~150 products of
 *    values in [-1, 1] plus a bias; worst-case rounding ~150 * 6e-8 ~ 1e-5
 *    relative to sum|terms|, typical error is ~1e-7;
 *  - gradient 1e-4: dW sums N*OH*OW products and dx up to K*kh*kw, in fp32
 *    with the same error profile; the float64 central difference of a
 *    function that is linear in each input is exact up to rounding ~1e-10.
 *    A wrong index or a missing term in backward is off by O(1). */
#include "testutil.h"
#include "ops.h"
#include <math.h>
#include <string.h>

#define FWD_TOL 1e-5
#define GRAD_TOL 1e-4

typedef struct ConvArgs {
    int n, c, h, w, k, kh, kw, stride, pad, has_bias;
    int oh, ow;
} ConvArgs;

static void ref_conv(double *const *in, double *out, const void *args)
{
    const ConvArgs *a = args;
    const double *x = in[0], *w = in[1], *b = a->has_bias ? in[2] : NULL;
    for (int n = 0; n < a->n; n++)
        for (int k = 0; k < a->k; k++)
            for (int oy = 0; oy < a->oh; oy++)
                for (int ox = 0; ox < a->ow; ox++) {
                    double s = b ? b[k] : 0.0;
                    for (int ch = 0; ch < a->c; ch++)
                        for (int i = 0; i < a->kh; i++)
                            for (int j = 0; j < a->kw; j++) {
                                int iy = oy * a->stride - a->pad + i;
                                int ix = ox * a->stride - a->pad + j;
                                if (iy < 0 || iy >= a->h || ix < 0 || ix >= a->w) continue;
                                s += x[((n * a->c + ch) * a->h + iy) * a->w + ix] *
                                     w[((k * a->c + ch) * a->kh + i) * a->kw + j];
                            }
                    out[((n * a->k + k) * a->oh + oy) * a->ow + ox] = s;
                }
}

/* {n, c, h, w, k, kh, kw, stride, pad}: batch 1, a single channel,
 * non-square images and kernels, 1x1 kernels, strides 1-3, padding 0-2,
 * sizes where the floor drops rows/columns, and a kernel larger than the
 * unpadded input. */
static const int CASES[][9] = {
    {1, 1, 5, 5, 1, 3, 3, 1, 0},
    {2, 3, 7, 9, 4, 3, 3, 1, 1},
    {3, 2, 8, 6, 5, 3, 3, 2, 1},
    {1, 4, 9, 7, 3, 5, 5, 2, 2},
    {2, 1, 6, 5, 2, 1, 1, 1, 0},
    {2, 3, 10, 11, 2, 4, 2, 3, 2},
    {1, 2, 4, 4, 3, 5, 5, 1, 2},
    {2, 2, 7, 7, 3, 2, 2, 2, 0},
    {1, 3, 1, 8, 2, 1, 3, 1, 0},
    {2, 2, 9, 9, 2, 3, 3, 2, 2},
};
#define N_CASES (int)(sizeof CASES / sizeof CASES[0])

static ConvArgs args_of(const int *v, int has_bias)
{
    ConvArgs a = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], has_bias, 0, 0};
    a.oh = (a.h + 2 * a.pad - a.kh) / a.stride + 1;
    a.ow = (a.w + 2 * a.pad - a.kw) / a.stride + 1;
    return a;
}

/* One case; max_probes bounds the cost of the finite differences on the
 * larger shapes. */
static void run_case(ConvArgs a, int x_grad, long max_probes, uint64_t *rng)
{
    Ctx c;
    ctx_init(&c, 1234, 1 << 20);
    ctx_begin(&c, 1, 1);
    int xd[4] = {a.n, a.c, a.h, a.w}, wd[4] = {a.k, a.c, a.kh, a.kw}, bd[1] = {a.k};
    Tensor *x = random_tensor(&c, rng, 4, xd, -1, 1, x_grad);
    Tensor *w = random_tensor(&c, rng, 4, wd, -1, 1, 1);
    Tensor *b = a.has_bias ? random_tensor(&c, rng, 1, bd, -1, 1, 1) : NULL;
    Tensor *y = op_conv2d(&c, x, w, b, a.stride, a.pad);
    assert_int_equal(y->ndim, 4);
    assert_int_equal(y->dims[0], a.n);
    assert_int_equal(y->dims[1], a.k);
    assert_int_equal(y->dims[2], a.oh);
    assert_int_equal(y->dims[3], a.ow);
    Tensor *ins[3] = {x, w, b};
    OpCheck chk = {"conv2d", FWD_TOL, GRAD_TOL, 0, max_probes};
    check_op(&c, &chk, a.has_bias ? 3 : 2, ins, y, ref_conv, &a, rng);
    if (!x_grad) assert_null(x->grad);
    ctx_free(&c);
}

static void test_conv2d_bias(void **state)
{
    (void)state;
    uint64_t rng = 31;
    for (int t = 0; t < N_CASES; t++) run_case(args_of(CASES[t], 1), 1, 0, &rng);
}

static void test_conv2d_no_bias(void **state)
{
    (void)state;
    uint64_t rng = 32;
    for (int t = 0; t < N_CASES; t++) run_case(args_of(CASES[t], 0), 1, 0, &rng);
}

/* The first layer's input has no grad: dx is skipped, dW and db still
 * correct. */
static void test_conv2d_input_without_grad(void **state)
{
    (void)state;
    uint64_t rng = 33;
    for (int t = 0; t < N_CASES; t++) run_case(args_of(CASES[t], 1), 0, 0, &rng);
}

/* Big enough that every OpenMP loop has work for several threads. */
static void test_conv2d_larger(void **state)
{
    (void)state;
    uint64_t rng = 34;
    const int big[][9] = {{4, 8, 16, 13, 6, 3, 3, 1, 1}, {5, 3, 15, 15, 4, 5, 5, 2, 2}};
    for (int t = 0; t < 2; t++) run_case(args_of(big[t], 1), 1, 200, &rng);
}

/* Without gradients the forward reuses one column tile per thread instead
 * of keeping every image's columns: its output must not change. */
static void test_conv2d_eval_forward(void **state)
{
    (void)state;
    uint64_t rng = 38;
    for (int t = 0; t < N_CASES; t++) {
        ConvArgs a = args_of(CASES[t], 1);
        a.n += 3;                       /* several images per thread */
        Ctx c;
        ctx_init(&c, 1234, 1 << 20);
        ctx_begin(&c, 0, 0);
        int xd[4] = {a.n, a.c, a.h, a.w}, wd[4] = {a.k, a.c, a.kh, a.kw}, bd[1] = {a.k};
        Tensor *in[3] = {random_tensor(&c, &rng, 4, xd, -1, 1, 1),
                         random_tensor(&c, &rng, 4, wd, -1, 1, 1),
                         random_tensor(&c, &rng, 1, bd, -1, 1, 1)};
        Tensor *y = op_conv2d(&c, in[0], in[1], in[2], a.stride, a.pad);
        assert_null(y->grad);
        assert_int_equal(c.tape_len, 0);
        double *in64[3];
        for (int k = 0; k < 3; k++) {
            in64[k] = test_malloc((size_t)in[k]->numel * sizeof(double));
            for (long i = 0; i < in[k]->numel; i++) in64[k][i] = in[k]->data[i];
        }
        double *ref = test_malloc((size_t)y->numel * sizeof(double));
        ref_conv(in64, ref, &a);
        assert_true(max_rel_err(y->data, ref, y->numel) <= FWD_TOL);
        for (int k = 0; k < 3; k++) test_free(in64[k]);
        test_free(ref);
        ctx_free(&c);
    }
}

/* Grads of x, w, b after pushing `up` through `uses` convolutions of the
 * same inputs, summed with op_add; written into gx, gw, gb. */
static void grads_after_uses(int uses, const float *up, float *gx, float *gw, float *gb)
{
    uint64_t rng = 35;   /* same inputs on every call */
    Ctx c;
    ctx_init(&c, 1234, 1 << 20);
    ctx_begin(&c, 1, 1);
    int xd[4] = {2, 2, 5, 5}, wd[4] = {3, 2, 3, 3}, bd[1] = {3};
    Tensor *x = random_tensor(&c, &rng, 4, xd, -1, 1, 1);
    Tensor *w = random_tensor(&c, &rng, 4, wd, -1, 1, 1);
    Tensor *b = random_tensor(&c, &rng, 1, bd, -1, 1, 1);
    Tensor *y = op_conv2d(&c, x, w, b, 1, 1);
    for (int u = 1; u < uses; u++) y = op_add(&c, y, op_conv2d(&c, x, w, b, 1, 1));
    backward_from(&c, y, up);
    memcpy(gx, x->grad, (size_t)x->numel * sizeof(float));
    memcpy(gw, w->grad, (size_t)w->numel * sizeof(float));
    memcpy(gb, b->grad, (size_t)b->numel * sizeof(float));
    ctx_free(&c);
}

/* A tensor used twice gets the sum: the second conv backward must add to
 * the grads the first one wrote, not overwrite them. */
static void test_conv2d_accumulates(void **state)
{
    (void)state;
    uint64_t rng = 36;
    float up[3 * 2 * 5 * 5];
    fill_uniform(up, 150, &rng, -1, 1);
    float gx1[100], gw1[54], gb1[3], gx2[100], gw2[54], gb2[3];
    grads_after_uses(1, up, gx1, gw1, gb1);
    grads_after_uses(2, up, gx2, gw2, gb2);
    for (int i = 0; i < 100; i++) assert_true(fabs(gx2[i] - 2 * gx1[i]) < 1e-5);
    for (int i = 0; i < 54; i++) assert_true(fabs(gw2[i] - 2 * gw1[i]) < 1e-4);
    for (int i = 0; i < 3; i++) assert_true(fabs(gb2[i] - 2 * gb1[i]) < 1e-4);
}

/* No input needs a grad: no output grad, no tape entry. */
static void test_conv2d_no_grad_no_tape(void **state)
{
    (void)state;
    uint64_t rng = 37;
    Ctx c;
    ctx_init(&c, 1234, 1 << 20);
    ctx_begin(&c, 1, 1);
    int xd[4] = {2, 2, 5, 5}, wd[4] = {3, 2, 3, 3};
    Tensor *x = random_tensor(&c, &rng, 4, xd, -1, 1, 0);
    Tensor *w = random_tensor(&c, &rng, 4, wd, -1, 1, 0);
    assert_null(op_conv2d(&c, x, w, NULL, 1, 1)->grad);
    assert_int_equal(c.tape_len, 0);
    ctx_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_bias),
        cmocka_unit_test(test_conv2d_no_bias),
        cmocka_unit_test(test_conv2d_input_without_grad),
        cmocka_unit_test(test_conv2d_larger),
        cmocka_unit_test(test_conv2d_eval_forward),
        cmocka_unit_test(test_conv2d_accumulates),
        cmocka_unit_test(test_conv2d_no_grad_no_tape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
