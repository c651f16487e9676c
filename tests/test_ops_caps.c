/* Capsule ops (Efficient-CapsNet, docs/models.md 7.2-7.3) beyond the op-case
 * table (op_cases.c, run by test_op_cases, which checks them against
 * float64 references written from the formulas): hand-computed values,
 * and the n = 0 cases: zero capsules must give finite values AND finite
 * gradients through squash, routing and length. */
#include "testutil.h"
#include "caps_math.h"
#include "ops.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double EPS_LEN = 1e-7;

static void assert_all_finite(const float *x, long n, const char *what)
{
    for (long i = 0; i < n; i++)
        if (!isfinite(x[i])) fail_msg("%s[%ld] = %g is not finite", what, i, (double)x[i]);
}

/* s = (3, 4): n = 5, f = 1 - e^-5, v = f (0.6, 0.8). */
static void test_squash_by_hand(void **state)
{
    (void)state;
    Ctx *c = test_ctx();
    int d[2] = {1, 2};
    Tensor *s = ctx_tensor(c, 2, d, 0);
    s->data[0] = 3;
    s->data[1] = 4;
    Tensor *v = op_squash(c, s, CAPS_SQUASH_EPS);
    double f = 1 - exp(-5.0);
    assert_float_equal(v->data[0], f * 0.6, 1e-6);
    assert_float_equal(v->data[1], f * 0.8, 1e-6);
    ctx_free(c);
}

/* n = 0: v = 0 and, the squash being ~ the identity near 0, ds = dv (phi(0)
 * = 1/(1 + eps)); no NaN from 0/0. (The op-case table checks a tiny
 * non-zero vector against finite differences.) */
static void test_squash_zero_vector(void **state)
{
    (void)state;
    Ctx *c = test_ctx();
    int d[2] = {2, 8};
    Tensor *s = ctx_tensor(c, 2, d, 1);
    memset(s->data, 0, (size_t)s->numel * sizeof(float));
    Tensor *v = op_squash(c, s, CAPS_SQUASH_EPS);
    for (long i = 0; i < v->numel; i++) assert_true(v->data[i] == 0.0f);
    float up[16];
    for (int i = 0; i < 16; i++) up[i] = (float)(i - 7) * 0.25f;
    backward_from(c, v, up);
    assert_all_finite(s->grad, s->numel, "squash grad at 0");
    for (int i = 0; i < 16; i++) assert_float_equal(s->grad[i], up[i], 1e-6);
    ctx_free(c);
}

/* K = 2 output capsules, J = 1, D = 1, predictions (1, 2), priors (0, 0.5):
 * logits 1*1 = 1 and 2*2 = 4, C = softmax(1, 4) = (1, e^3)/(1 + e^3),
 * s = ((C0 + 0) 1, (C1 + 0.5) 2). */
static void test_caps_routing_by_hand(void **state)
{
    (void)state;
    Ctx *c = test_ctx();
    int ud[4] = {1, 2, 1, 1}, pd[3] = {2, 1, 1};
    Tensor *u = ctx_tensor(c, 4, ud, 0), *b = ctx_tensor(c, 3, pd, 0);
    u->data[0] = 1;
    u->data[1] = 2;
    b->data[0] = 0;
    b->data[1] = 0.5f;
    Tensor *s = op_caps_routing(c, u, b);
    double c0 = 1 / (1 + exp(3.0)), c1 = 1 - c0;
    assert_float_equal(s->data[0], c0, 1e-6);
    assert_float_equal(s->data[1], (c1 + 0.5) * 2, 1e-6);
    ctx_free(c);
}

/* (3, 4) -> sqrt(25 + 1e-7). */
static void test_caps_length_by_hand(void **state)
{
    (void)state;
    Ctx *c = test_ctx();
    int d2[2] = {1, 2};
    Tensor *w = ctx_tensor(c, 2, d2, 0);
    w->data[0] = 3;
    w->data[1] = 4;
    assert_float_equal(op_caps_length(c, w, CAPS_LENGTH_EPS)->data[0], 5.0, 1e-6);
    ctx_free(c);
}

/* Lengths (0.95, 0.5, 0.05), label 0: 0 + 0.5 (0.4)^2 + 0 = 0.08; label 1
 * instead: 0.5 (0.85)^2 + (0.9 - 0.5)^2 = 0.52125. Batch mean. */
static void test_margin_loss_by_hand(void **state)
{
    (void)state;
    Ctx *c = test_ctx();
    int d[2] = {2, 3}, labels[2] = {0, 1};
    Tensor *len = ctx_tensor(c, 2, d, 1);
    const float v[6] = {0.95f, 0.5f, 0.05f, 0.95f, 0.5f, 0.05f};
    memcpy(len->data, v, sizeof v);
    Tensor *loss = op_margin_loss(c, len, labels, 0.9f, 0.1f, 0.5f);
    assert_float_equal(loss->data[0], (0.08 + 0.52125) / 2, 1e-6);
    float up[1] = {1};
    backward_from(c, loss, up);
    /* Per row / B = 2: label 0 -> (0, 0.4, 0) / 2; label 1 -> (0.85, -0.8, 0) / 2. */
    const float want[6] = {0, 0.2f, 0, 0.425f, -0.4f, 0};
    for (int i = 0; i < 6; i++) assert_float_equal(len->grad[i], want[i], 1e-6);
    ctx_free(c);
}

/* (1, 2) vs (0, 0) -> (1 + 4)/2 = 2.5; grads 2(p - t)/2 = (1, 2). */
static void test_mse_by_hand(void **state)
{
    (void)state;
    Ctx *c = test_ctx();
    int d1[1] = {2};
    Tensor *p = ctx_tensor(c, 1, d1, 1), *t = ctx_tensor(c, 1, d1, 0);
    p->data[0] = 1;
    p->data[1] = 2;
    t->data[0] = t->data[1] = 0;
    Tensor *l = op_mse(c, p, t);
    assert_true(l->data[0] == 2.5f);
    float up[1] = {1};
    backward_from(c, l, up);
    assert_true(p->grad[0] == 1.0f && p->grad[1] == 2.0f);
    ctx_free(c);
}

/* Zero primary capsules (as a dead ReLU stack would give): squash, the
 * predictions, routing (all logits 0: uniform couplings), squash again,
 * lengths (sqrt(eps)) and the margin loss give finite values, and every
 * gradient is finite. They are exactly 0 here: d len / d v = v / len = 0 at
 * v = 0, so nothing flows back from the lengths (as in the reference). */
static void test_zero_capsules_no_nan(void **state)
{
    (void)state;
    uint64_t rng = 69;
    Ctx *c = test_ctx();
    int ud[3] = {2, 16, 8}, wd[4] = {10, 16, 8, 16}, pd[3] = {10, 16, 1}, labels[2] = {3, 7};
    Tensor *s = ctx_tensor(c, 3, ud, 1);
    memset(s->data, 0, (size_t)s->numel * sizeof(float));
    Tensor *w = random_tensor(c, &rng, 4, wd, -0.1, 0.1, 1);
    Tensor *prior = random_tensor(c, &rng, 3, pd, -0.1, 0.1, 1);
    Tensor *u = op_squash(c, s, CAPS_SQUASH_EPS);
    Tensor *uhat = op_caps_predict(c, u, w);
    Tensor *routed = op_caps_routing(c, uhat, prior);
    Tensor *v = op_squash(c, routed, CAPS_SQUASH_EPS);
    Tensor *len = op_caps_length(c, v, CAPS_LENGTH_EPS);
    Tensor *loss = op_margin_loss(c, len, labels, 0.9f, 0.1f, 0.5f);
    for (long i = 0; i < routed->numel; i++) assert_true(routed->data[i] == 0.0f && v->data[i] == 0.0f);
    for (long i = 0; i < len->numel; i++) assert_float_equal(len->data[i], sqrt(EPS_LEN), 1e-9);
    /* Each sample: its true class contributes (0.9 - sqrt(eps))^2. */
    double want = (0.9 - sqrt(EPS_LEN)) * (0.9 - sqrt(EPS_LEN));
    assert_float_equal(loss->data[0], want, 1e-6);
    float up[1] = {1};
    backward_from(c, loss, up);
    Tensor *const grads[5] = {s, w, prior, uhat, routed};
    for (int k = 0; k < 5; k++) {
        assert_all_finite(grads[k]->grad, grads[k]->numel, "gradient at zero capsules");
        for (long i = 0; i < grads[k]->numel; i++) assert_true(grads[k]->grad[i] == 0.0f);
    }
    ctx_free(c);
}

/* Routing of all-zero predictions with a NON-zero upstream gradient: the
 * couplings are uniform (1/K), so duhat[k,j] = (1/K + prior[k,j]) ds_k and
 * dprior = ds . uhat = 0; the softmax path adds nothing (its inputs are 0). */
static void test_routing_zero_predictions_gradient(void **state)
{
    (void)state;
    uint64_t rng = 72;
    Ctx *c = test_ctx();
    int ud[4] = {2, 10, 16, 16}, pd[3] = {10, 16, 1}, sd[3] = {2, 10, 16};
    Tensor *uhat = ctx_tensor(c, 4, ud, 1);
    memset(uhat->data, 0, (size_t)uhat->numel * sizeof(float));
    Tensor *prior = random_tensor(c, &rng, 3, pd, -0.1, 0.1, 1);
    Tensor *routed = op_caps_routing(c, uhat, prior);
    float *up = malloc(2 * 10 * 16 * sizeof(float));
    fill_uniform(up, tensor_numel_of(3, sd), &rng, -1, 1);
    backward_from(c, routed, up);
    for (int b = 0; b < 2; b++)
        for (int k = 0; k < 10; k++)
            for (int j = 0; j < 16; j++)
                for (int z = 0; z < 16; z++) {
                    float want = (0.1f + prior->data[k * 16 + j]) * up[(b * 10 + k) * 16 + z];
                    assert_float_equal(uhat->grad[((b * 10 + k) * 16 + j) * 16 + z], want, 1e-6);
                }
    for (long i = 0; i < prior->numel; i++) assert_true(prior->grad[i] == 0.0f);
    free(up);
    ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_squash_by_hand),
        cmocka_unit_test(test_squash_zero_vector),
        cmocka_unit_test(test_caps_routing_by_hand),
        cmocka_unit_test(test_caps_length_by_hand),
        cmocka_unit_test(test_margin_loss_by_hand),
        cmocka_unit_test(test_mse_by_hand),
        cmocka_unit_test(test_zero_capsules_no_nan),
        cmocka_unit_test(test_routing_zero_predictions_gradient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
