/* op_linear and op_matmul against plain float64 loops.
 *
 * Tolerances (check_op measures |a - b| / (|b| + 1)):
 *  - forward 1e-5: each output is an fp32 dot product of up to ~40 terms in
 *    [-1, 1]; its rounding error is at most ~K * 6e-8 * sum|terms| ~ 1e-6
 *    (and typically far less with BLAS's blocked, FMA-based summation);
 *  - gradient 1e-4: the analytic gradient is itself an fp32 sum of up to
 *    ~N*out products, with the same kind of error, while the float64 central
 *    difference of the (linear or bilinear) reference is exact up to
 *    rounding ~1e-10. 1e-4 leaves an order of magnitude of headroom and still
 *    catches a transposed or missing term, which is off by O(1). */
#include "testutil.h"
#include "ops.h"
#include <math.h>

#define FWD_TOL 1e-5
#define GRAD_TOL 1e-4


/* ---- linear ------------------------------------------------------------- */

typedef struct LinArgs { int n, in, out, has_bias; } LinArgs;

static void ref_linear(double *const *in, double *out, const void *args)
{
    const LinArgs *a = args;
    const double *x = in[0], *w = in[1], *b = a->has_bias ? in[2] : NULL;
    for (int r = 0; r < a->n; r++)
        for (int o = 0; o < a->out; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < a->in; i++) s += x[r * a->in + i] * w[o * a->in + i];
            out[r * a->out + o] = s;
        }
}

typedef struct LinCase { int xnd; int xdims[4]; int out; } LinCase;

/* Batch 1, width 1, odd sizes, and x of rank 3 and 4 (rows = dims[0]). */
static const LinCase LIN_CASES[] = {
    {2, {1, 1}, 1}, {2, {1, 7}, 3}, {2, {3, 5}, 4}, {2, {7, 13}, 2},
    {2, {16, 33}, 17}, {3, {4, 3, 5}, 6}, {4, {2, 3, 2, 2}, 5},
};

static void run_linear(int with_bias, int x_grad, uint64_t seed)
{
    uint64_t rng = seed;
    for (size_t t = 0; t < sizeof LIN_CASES / sizeof LIN_CASES[0]; t++) {
        const LinCase *lc = &LIN_CASES[t];
        Ctx *c = test_ctx();
        Tensor *x = random_tensor(c, &rng, lc->xnd, lc->xdims, -1, 1, x_grad);
        LinArgs a = {lc->xdims[0], (int)tensor_row_size(x), lc->out, with_bias};
        int wd[2] = {a.out, a.in}, bd[1] = {a.out};
        Tensor *w = random_tensor(c, &rng, 2, wd, -1, 1, 1);
        Tensor *b = with_bias ? random_tensor(c, &rng, 1, bd, -1, 1, 1) : NULL;
        Tensor *y = op_linear(c, x, w, b);
        assert_int_equal(y->ndim, 2);
        assert_int_equal(y->dims[0], a.n);
        assert_int_equal(y->dims[1], a.out);
        Tensor *ins[3] = {x, w, b};
        OpCheck chk = {"linear", FWD_TOL, GRAD_TOL, 0, 0};
        check_op(c, &chk, with_bias ? 3 : 2, ins, y, ref_linear, &a, &rng);
        if (!x_grad) assert_null(x->grad);
        ctx_free(c);
    }
}

static void test_linear_bias(void **state)
{
    (void)state;
    run_linear(1, 1, 21);
}

static void test_linear_no_bias(void **state)
{
    (void)state;
    run_linear(0, 1, 22);
}

/* The network input has no grad: only w and b get gradients. */
static void test_linear_input_without_grad(void **state)
{
    (void)state;
    run_linear(1, 0, 23);
}

/* ---- matmul ------------------------------------------------------------- */

typedef struct MmArgs { int m, n, k, ta, tb; } MmArgs;

/* op(A)[i,p] = ta ? A[p,i] : A[i,p], with A stored [k,m] or [m,k]. */
static void ref_matmul(double *const *in, double *out, const void *args)
{
    const MmArgs *a = args;
    for (int i = 0; i < a->m; i++)
        for (int j = 0; j < a->n; j++) {
            double s = 0.0;
            for (int p = 0; p < a->k; p++) {
                double av = a->ta ? in[0][p * a->m + i] : in[0][i * a->k + p];
                double bv = a->tb ? in[1][j * a->k + p] : in[1][p * a->n + j];
                s += av * bv;
            }
            out[i * a->n + j] = s;
        }
}

static void test_matmul(void **state)
{
    (void)state;
    uint64_t rng = 24;
    const int shapes[][3] = {{1, 1, 1}, {1, 5, 3}, {3, 4, 5}, {7, 2, 9}, {17, 31, 6}, {8, 1, 8}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                MmArgs a = {shapes[s][0], shapes[s][2], shapes[s][1], ta, tb};
                Ctx *c = test_ctx();
                int ad[2] = {ta ? a.k : a.m, ta ? a.m : a.k};
                int bd[2] = {tb ? a.n : a.k, tb ? a.k : a.n};
                Tensor *ins[2] = {random_tensor(c, &rng, 2, ad, -1, 1, 1),
                                  random_tensor(c, &rng, 2, bd, -1, 1, 1)};
                Tensor *y = op_matmul(c, ins[0], ins[1], ta, tb);
                assert_int_equal(y->dims[0], a.m);
                assert_int_equal(y->dims[1], a.n);
                OpCheck chk = {"matmul", FWD_TOL, GRAD_TOL, 0, 0};
                check_op(c, &chk, 2, ins, y, ref_matmul, &a, &rng);
                ctx_free(c);
            }
}

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

/* No input needs a grad: no output grad, no tape entry. */
static void test_dense_no_grad_no_tape(void **state)
{
    (void)state;
    uint64_t rng = 27;
    Ctx *c = test_ctx();
    int xd[2] = {2, 3}, wd[2] = {4, 3}, bd[1] = {4};
    Tensor *x = random_tensor(c, &rng, 2, xd, -1, 1, 0);
    Tensor *w = random_tensor(c, &rng, 2, wd, -1, 1, 0);
    Tensor *b = random_tensor(c, &rng, 1, bd, -1, 1, 0);
    assert_null(op_linear(c, x, w, b)->grad);
    assert_null(op_matmul(c, x, w, 0, 1)->grad);
    assert_int_equal(c->tape_len, 0);
    ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_bias),
        cmocka_unit_test(test_linear_no_bias),
        cmocka_unit_test(test_linear_input_without_grad),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_matmul_same_operand),
        cmocka_unit_test(test_linear_accumulates),
        cmocka_unit_test(test_dense_no_grad_no_tape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
