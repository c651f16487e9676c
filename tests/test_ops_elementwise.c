/* Element-wise ops, dropout and views: what the op-case table (op_cases.c,
 * run by test_op_cases) does not check. Saturated sigmoids, operands with
 * and without gradients, one tensor used twice, add + relu fused and not,
 * dropout's statistics,
 * determinism and identity cases, and views sharing data and gradient. */
#include "testutil.h"
#include "ops.h"
#include "rng.h"
#include <math.h>
#include <string.h>

static long count_zeros(const Tensor *y)
{
    long z = 0;
    for (long i = 0; i < y->numel; i++) z += y->data[i] == 0.0f;
    return z;
}

/* Saturated inputs must give exactly 0 / 1, never NaN (exp overflow). */
static void test_sigmoid_extremes(void **state)
{
    (void)state;
    Ctx *c = test_ctx();
    int dims[1] = {4};
    Tensor *x = ctx_tensor(c, 1, dims, 0);
    float v[4] = {-1000.0f, -100.0f, 100.0f, 1000.0f};
    memcpy(x->data, v, sizeof v);
    Tensor *y = op_sigmoid(c, x);
    assert_true(y->data[0] == 0.0f && y->data[1] >= 0.0f && y->data[1] < 1e-30f);
    assert_true(y->data[2] == 1.0f && y->data[3] == 1.0f);
    ctx_free(c);
}

/* One operand with a grad, the other without (a constant): only the first
 * accumulates, and it gets the right value. */
static void test_mul_one_side(void **state)
{
    (void)state;
    uint64_t rng = 5;
    Ctx *c = test_ctx();
    int dims[2] = {3, 7};
    Tensor *a = random_tensor(c, &rng, 2, dims, -2, 2, 1);
    Tensor *b = random_tensor(c, &rng, 2, dims, -2, 2, 0);
    Tensor *y = op_mul(c, a, b);
    assert_non_null(y->grad);
    float up[21];
    fill_uniform(up, 21, &rng, -1, 1);
    backward_from(c, y, up);
    assert_null(b->grad);
    for (int i = 0; i < 21; i++) assert_true(a->grad[i] == up[i] * b->data[i]);
    ctx_free(c);
}

/* x op x: both terms land in the same grad, which must get their sum. */
static void test_same_operand_twice(void **state)
{
    (void)state;
    uint64_t rng = 6;
    Ctx *c = test_ctx();
    int dims[1] = {9};
    Tensor *x = random_tensor(c, &rng, 1, dims, -2, 2, 1);
    Tensor *s = op_add(c, x, x);
    Tensor *p = op_mul(c, s, x);           /* 2 x^2: d/dx = 4x */
    float up[9];
    fill_uniform(up, 9, &rng, -1, 1);
    backward_from(c, p, up);
    for (int i = 0; i < 9; i++)
        assert_true(fabs(x->grad[i] - 4.0 * x->data[i] * up[i]) < 1e-5);
    ctx_free(c);
}

/* op_add_relu against op_relu(op_add): the same output and the same
 * gradients, bit for bit, for two operands and for x + x. 40000 values:
 * the OpenMP loops run. */
static void add_relu_run(int fused, int same, float *y_out, float *da_out, float *db_out)
{
    enum { N = 40000 };
    uint64_t rng = 8;
    Ctx *c = test_ctx();
    int dims[2] = {200, 200};
    Tensor *a = random_tensor(c, &rng, 2, dims, -2, 2, 1);
    Tensor *b = same ? a : random_tensor(c, &rng, 2, dims, -2, 2, 1);
    Tensor *y = fused ? op_add_relu(c, a, b) : op_relu(c, op_add(c, a, b));
    static float up[N];
    fill_uniform(up, N, &rng, -1, 1);
    backward_from(c, y, up);
    memcpy(y_out, y->data, N * sizeof(float));
    memcpy(da_out, a->grad, N * sizeof(float));
    memcpy(db_out, b->grad, N * sizeof(float));
    ctx_free(c);
}

static void test_add_relu_is_the_two_ops(void **state)
{
    (void)state;
    enum { N = 40000 };
    static float y[2][N], da[2][N], db[2][N];
    for (int same = 0; same <= 1; same++) {
        for (int fused = 0; fused <= 1; fused++) add_relu_run(fused, same, y[fused], da[fused], db[fused]);
        assert_memory_equal(y[0], y[1], sizeof y[0]);
        assert_memory_equal(da[0], da[1], sizeof da[0]);
        assert_memory_equal(db[0], db[1], sizeof db[0]);
        long zeros = 0;
        for (int i = 0; i < N; i++) zeros += y[1][i] == 0.0f;
        assert_true(zeros > N / 4 && zeros < 3 * N / 4);   /* the mask matters */
    }
}

/* Over 10^5 elements the dropped fraction is p within 0.01 (the standard
 * deviation is sqrt(p(1-p)/n) < 0.0016, so this is > 6 sigma), and every
 * kept value is x * (1/(1-p)) bit for bit. */
static void test_dropout_statistics(void **state)
{
    (void)state;
    uint64_t rng = 8;
    const float ps[] = {0.2f, 0.5f, 0.7f};
    for (int k = 0; k < 3; k++) {
        Ctx *c = test_ctx();
        int dims[2] = {1000, 100};
        Tensor *x = random_tensor(c, &rng, 2, dims, 0.5, 1.5, 0);   /* no zeros */
        Tensor *y = op_dropout(c, x, ps[k]);
        double frac = (double)count_zeros(y) / (double)y->numel;
        assert_true(fabs(frac - ps[k]) < 0.01);
        float scale = 1.0f / (1.0f - ps[k]);
        for (long i = 0; i < y->numel; i++)
            assert_true(y->data[i] == 0.0f || y->data[i] == x->data[i] * scale);
        ctx_free(c);
    }
}

/* Same seed and offset: the same mask. Advanced offset or another seed: a
 * different one. */
static void test_dropout_determinism(void **state)
{
    (void)state;
    uint64_t rng = 9;
    Ctx *c = test_ctx();
    int dims[2] = {50, 40};
    Tensor *x = random_tensor(c, &rng, 2, dims, 0.5, 1.5, 0);
    c->rng_offset = 100;
    Tensor *y1 = op_dropout(c, x, 0.5f);
    assert_true(c->rng_offset == 100 + (uint64_t)x->numel);   /* one number per element */
    Tensor *y2 = op_dropout(c, x, 0.5f);          /* offset advanced to 2100 */
    c->rng_offset = 100;
    Tensor *y3 = op_dropout(c, x, 0.5f);
    c->rng_offset = 100;
    c->seed = 4321;
    Tensor *y4 = op_dropout(c, x, 0.5f);
    assert_memory_equal(y1->data, y3->data, (size_t)x->numel * sizeof(float));
    long diff2 = 0, diff4 = 0;
    for (long i = 0; i < x->numel; i++) {
        diff2 += (y1->data[i] == 0.0f) != (y2->data[i] == 0.0f);
        diff4 += (y1->data[i] == 0.0f) != (y4->data[i] == 0.0f);
    }
    /* Independent masks disagree on about half the elements. */
    assert_true(diff2 > x->numel / 4 && diff4 > x->numel / 4);
    ctx_free(c);
}

/* Evaluation mode and p == 0 return x itself, record nothing and leave
 * the RNG offset alone. p == 1 drops everything (zeros, not NaN). */
static void test_dropout_identity_cases(void **state)
{
    (void)state;
    uint64_t rng = 10;
    Ctx *c = test_ctx();
    int dims[2] = {4, 6};
    Tensor *x = random_tensor(c, &rng, 2, dims, -1, 1, 1);
    assert_ptr_equal(op_dropout(c, x, 0.0f), x);
    ctx_begin(c, 0, 1);
    x = random_tensor(c, &rng, 2, dims, -1, 1, 1);
    assert_ptr_equal(op_dropout(c, x, 0.5f), x);
    assert_int_equal(c->tape_len, 0);
    assert_true(c->rng_offset == 0);
    ctx_begin(c, 1, 1);
    x = random_tensor(c, &rng, 2, dims, -1, 1, 1);
    Tensor *y = op_dropout(c, x, 1.0f);
    for (long i = 0; i < y->numel; i++) assert_true(y->data[i] == 0.0f);
    ctx_free(c);
}

/* A reshape shares data and grad, records nothing, and gradients that flow
 * into the view arrive in the original tensor. */
static void test_reshape_aliases_grad(void **state)
{
    (void)state;
    uint64_t rng = 11;
    Ctx *c = test_ctx();
    int dims[4] = {2, 3, 4, 5}, nd[2] = {6, -1};
    Tensor *x = random_tensor(c, &rng, 4, dims, -1, 1, 1);
    Tensor *v = op_reshape(c, x, 2, nd);
    assert_int_equal(v->ndim, 2);
    assert_int_equal(v->dims[0], 6);
    assert_int_equal(v->dims[1], 20);
    assert_ptr_equal(v->data, x->data);
    assert_ptr_equal(v->grad, x->grad);
    assert_int_equal(c->tape_len, 0);
    Tensor *y = op_relu(c, v);
    float up[120];
    fill_uniform(up, 120, &rng, -1, 1);
    backward_from(c, y, up);
    for (int i = 0; i < 120; i++)
        assert_true(x->grad[i] == (x->data[i] > 0 ? up[i] : 0.0f));
    ctx_free(c);
}

static void test_flatten(void **state)
{
    (void)state;
    uint64_t rng = 12;
    Ctx *c = test_ctx();
    int dims[4] = {3, 2, 5, 7};
    Tensor *x = random_tensor(c, &rng, 4, dims, -1, 1, 1);
    Tensor *f = op_flatten(c, x);
    assert_int_equal(f->ndim, 2);
    assert_int_equal(f->dims[0], 3);
    assert_int_equal(f->dims[1], 70);
    assert_ptr_equal(f->data, x->data);
    assert_ptr_equal(f->grad, x->grad);
    int d1[1] = {5};
    Tensor *v = random_tensor(c, &rng, 1, d1, -1, 1, 0);
    Tensor *fv = op_flatten(c, v);                  /* [5] -> [5, 1] */
    assert_int_equal(fv->dims[0], 5);
    assert_int_equal(fv->dims[1], 1);
    assert_null(fv->grad);
    ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigmoid_extremes),
        cmocka_unit_test(test_mul_one_side),
        cmocka_unit_test(test_same_operand_twice),
        cmocka_unit_test(test_add_relu_is_the_two_ops),
        cmocka_unit_test(test_dropout_statistics),
        cmocka_unit_test(test_dropout_determinism),
        cmocka_unit_test(test_dropout_identity_cases),
        cmocka_unit_test(test_reshape_aliases_grad),
        cmocka_unit_test(test_flatten),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
