/* Capsule ops (Efficient-CapsNet, MODELS.md 7.2-7.3) against float64
 * references written from the formulas (the squash in its literal Keras
 * form 1 - 1/(e^n + eps), not the rewritten one the op uses), with
 * hand-computed values, and the n = 0 cases: zero capsules must give
 * finite values AND finite gradients through squash, routing and length.
 *
 * Tolerances (|a - b| / (|b| + 1)): forward 1e-5 (fp32 sums of <= 256
 * products of values in [-1, 1]); gradients 1e-4, except where stated.
 * The float64 central difference (step 1e-6) of these smooth functions has
 * truncation error ~1e-12 x third derivative, far below that. */
#include "testutil.h"
#include "caps_math.h"
#include "ops.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FWD_TOL 1e-5
#define GRAD_TOL 1e-4

static const double EPS_SQUASH = 1e-20, EPS_LEN = 1e-7;

static void assert_all_finite(const float *x, long n, const char *what)
{
    for (long i = 0; i < n; i++)
        if (!isfinite(x[i])) fail_msg("%s[%ld] = %g is not finite", what, i, (double)x[i]);
}

/* ---- squash ------------------------------------------------------------- */

typedef struct SquashArgs { long rows; int d; } SquashArgs;

static void ref_squash(double *const *in, double *out, const void *args)
{
    const SquashArgs *a = args;
    for (long r = 0; r < a->rows; r++) {
        const double *s = in[0] + r * a->d;
        double n2 = 0;
        for (int i = 0; i < a->d; i++) n2 += s[i] * s[i];
        double n = sqrt(n2), scale = (1.0 - 1.0 / (exp(n) + EPS_SQUASH)) / (n + EPS_SQUASH);
        for (int i = 0; i < a->d; i++) out[r * a->d + i] = scale * s[i];
    }
}

/* Ranges give norms from ~0.02 (near the origin, where the rewritten f
 * matters) to ~40 (saturated: f = 1 to fp32 precision). */
static void test_squash(void **state)
{
    (void)state;
    uint64_t rng = 61;
    static const struct { int ndim; int dims[3]; double lo, hi; } CASES[] = {
        {3, {4, 16, 8}, -1, 1}, {2, {6, 16}, -0.01, 0.01}, {2, {5, 3}, -10, 10},
        {3, {2, 10, 16}, -0.3, 0.3}, {2, {3, 1}, -2, 2},
    };
    for (size_t t = 0; t < sizeof CASES / sizeof CASES[0]; t++) {
        Ctx *c = test_ctx();
        Tensor *s = random_tensor(c, &rng, CASES[t].ndim, CASES[t].dims, CASES[t].lo, CASES[t].hi, 1);
        int d = CASES[t].dims[CASES[t].ndim - 1];
        SquashArgs a = {s->numel / d, d};
        Tensor *v = op_squash(c, s, CAPS_SQUASH_EPS);
        OpCheck chk = {"squash", FWD_TOL, GRAD_TOL, 0, 200};
        check_op(c, &chk, 1, &s, v, ref_squash, &a, &rng);
        ctx_free(c);
    }
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
 * = 1/(1 + eps)); no NaN from 0/0. The limit is checked against a tiny
 * non-zero vector's finite difference too. */
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

    uint64_t rng = 62;
    c = test_ctx();
    Tensor *tiny = random_tensor(c, &rng, 2, d, -1e-4, 1e-4, 1);
    SquashArgs a = {2, 8};
    OpCheck chk = {"squash near 0", FWD_TOL, GRAD_TOL, 1e-7, 0};
    check_op(c, &chk, 1, &tiny, op_squash(c, tiny, CAPS_SQUASH_EPS), ref_squash, &a, &rng);
    ctx_free(c);
}

/* ---- predictions -------------------------------------------------------- */

typedef struct PredArgs { int b, j, i, k, d; } PredArgs;

static void ref_predict(double *const *in, double *out, const void *args)
{
    const PredArgs *a = args;
    for (int b = 0; b < a->b; b++)
        for (int k = 0; k < a->k; k++)
            for (int j = 0; j < a->j; j++)
                for (int z = 0; z < a->d; z++) {
                    double s = 0;
                    for (int i = 0; i < a->i; i++)
                        s += in[0][(b * a->j + j) * a->i + i] * in[1][((k * a->j + j) * a->i + i) * a->d + z];
                    out[((b * a->k + k) * a->j + j) * a->d + z] = s;
                }
}

static void test_caps_predict(void **state)
{
    (void)state;
    uint64_t rng = 63;
    /* {B, J, I, K, D}: small odd sizes and the reference's 16x8 -> 10x16. */
    static const int CASES[][5] = {{3, 5, 2, 4, 3}, {1, 1, 1, 1, 1}, {2, 16, 8, 10, 16}};
    for (size_t t = 0; t < sizeof CASES / sizeof CASES[0]; t++) {
        const int *v = CASES[t];
        PredArgs a = {v[0], v[1], v[2], v[3], v[4]};
        Ctx *c = test_ctx();
        int ud[3] = {a.b, a.j, a.i}, wd[4] = {a.k, a.j, a.i, a.d};
        Tensor *in[2] = {random_tensor(c, &rng, 3, ud, -1, 1, 1), random_tensor(c, &rng, 4, wd, -1, 1, 1)};
        Tensor *y = op_caps_predict(c, in[0], in[1]);
        assert_int_equal(y->dims[1], a.k);
        assert_int_equal(y->dims[2], a.j);
        OpCheck chk = {"caps_predict", FWD_TOL, GRAD_TOL, 0, 300};
        check_op(c, &chk, 2, in, y, ref_predict, &a, &rng);
        ctx_free(c);
    }
}

/* ---- routing ------------------------------------------------------------ */

typedef struct RouteArgs { int b, k, j, d; } RouteArgs;

static void ref_routing(double *const *in, double *out, const void *args)
{
    const RouteArgs *a = args;
    const double *uh = in[0], *prior = in[1];
    double *logit = malloc((size_t)a->k * a->j * sizeof(double));
    double *sum = malloc((size_t)a->d * sizeof(double));
    for (int b = 0; b < a->b; b++) {
        const double *u = uh + (long)b * a->k * a->j * a->d;
        for (int k = 0; k < a->k; k++) {
            for (int z = 0; z < a->d; z++) {
                sum[z] = 0;
                for (int l = 0; l < a->j; l++) sum[z] += u[(k * a->j + l) * a->d + z];
            }
            for (int j = 0; j < a->j; j++) {
                double s = 0;
                for (int z = 0; z < a->d; z++) s += u[(k * a->j + j) * a->d + z] * sum[z];
                logit[k * a->j + j] = s / sqrt((double)a->d);
            }
        }
        for (int j = 0; j < a->j; j++) {
            double total = 0;
            for (int k = 0; k < a->k; k++) total += exp(logit[k * a->j + j]);
            for (int k = 0; k < a->k; k++) logit[k * a->j + j] = exp(logit[k * a->j + j]) / total;
        }
        for (int k = 0; k < a->k; k++)
            for (int z = 0; z < a->d; z++) {
                double s = 0;
                for (int j = 0; j < a->j; j++)
                    s += (logit[k * a->j + j] + prior[k * a->j + j]) * u[(k * a->j + j) * a->d + z];
                out[((long)b * a->k + k) * a->d + z] = s;
            }
    }
    free(logit);
    free(sum);
}

static void test_caps_routing(void **state)
{
    (void)state;
    uint64_t rng = 64;
    /* {B, K, J, D}: small, one output capsule (softmax = 1: no gradient
     * through it), and the reference size. */
    static const int CASES[][4] = {{3, 4, 5, 3}, {2, 1, 3, 2}, {2, 10, 16, 16}};
    for (size_t t = 0; t < sizeof CASES / sizeof CASES[0]; t++) {
        const int *v = CASES[t];
        RouteArgs a = {v[0], v[1], v[2], v[3]};
        Ctx *c = test_ctx();
        int ud[4] = {a.b, a.k, a.j, a.d}, pd[3] = {a.k, a.j, 1};
        Tensor *in[2] = {random_tensor(c, &rng, 4, ud, -0.5, 0.5, 1),
                         random_tensor(c, &rng, 3, pd, -0.5, 0.5, 1)};
        Tensor *s = op_caps_routing(c, in[0], in[1]);
        assert_int_equal(s->ndim, 3);
        assert_int_equal(s->dims[1], a.k);
        assert_int_equal(s->dims[2], a.d);
        OpCheck chk = {"caps_routing", FWD_TOL, GRAD_TOL, 0, 300};
        check_op(c, &chk, 2, in, s, ref_routing, &a, &rng);
        ctx_free(c);
    }
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

/* ---- lengths ------------------------------------------------------------ */

typedef struct LenArgs { long rows; int d; } LenArgs;

static void ref_length(double *const *in, double *out, const void *args)
{
    const LenArgs *a = args;
    for (long r = 0; r < a->rows; r++) {
        double s = 0;
        for (int i = 0; i < a->d; i++) s += in[0][r * a->d + i] * in[0][r * a->d + i];
        out[r] = sqrt(s + EPS_LEN);
    }
}

static void test_caps_length(void **state)
{
    (void)state;
    uint64_t rng = 65;
    Ctx *c = test_ctx();
    int d[3] = {4, 10, 16};
    Tensor *v = random_tensor(c, &rng, 3, d, -0.3, 0.3, 1);
    LenArgs a = {40, 16};
    Tensor *len = op_caps_length(c, v, CAPS_LENGTH_EPS);
    assert_int_equal(len->ndim, 2);
    assert_int_equal(len->dims[1], 10);
    OpCheck chk = {"caps_length", FWD_TOL, GRAD_TOL, 0, 0};
    check_op(c, &chk, 1, &v, len, ref_length, &a, &rng);
    ctx_free(c);
    /* Hand: (3, 4) -> sqrt(25 + 1e-7). */
    c = test_ctx();
    int d2[2] = {1, 2};
    Tensor *w = ctx_tensor(c, 2, d2, 0);
    w->data[0] = 3;
    w->data[1] = 4;
    assert_float_equal(op_caps_length(c, w, CAPS_LENGTH_EPS)->data[0], 5.0, 1e-6);
    ctx_free(c);
}

/* ---- margin loss -------------------------------------------------------- */

typedef struct MarginArgs { int n, k; const int *labels; } MarginArgs;

static void ref_margin(double *const *in, double *out, const void *args)
{
    const MarginArgs *a = args;
    double total = 0;
    for (int i = 0; i < a->n; i++)
        for (int j = 0; j < a->k; j++) {
            double len = in[0][i * a->k + j];
            double pos = fmax(0.0, 0.9 - len), neg = fmax(0.0, len - 0.1);
            total += j == a->labels[i] ? pos * pos : 0.5 * neg * neg;
        }
    out[0] = total / a->n;
}

static void test_margin_loss(void **state)
{
    (void)state;
    uint64_t rng = 66;
    Ctx *c = test_ctx();
    int d[2] = {8, 10}, labels[8];
    Tensor *len = random_tensor(c, &rng, 2, d, 0, 1.2, 1);
    /* Keep clear of the kinks at 0.1 and 0.9 (the finite difference
     * straddling one would average two slopes). */
    for (long i = 0; i < len->numel; i++)
        if (fabsf(len->data[i] - 0.1f) < 1e-3f || fabsf(len->data[i] - 0.9f) < 1e-3f) len->data[i] += 0.01f;
    for (int i = 0; i < 8; i++) labels[i] = test_int(&rng, 0, 9);
    MarginArgs a = {8, 10, labels};
    Tensor *loss = op_margin_loss(c, len, labels, 0.9f, 0.1f, 0.5f);
    OpCheck chk = {"margin_loss", FWD_TOL, GRAD_TOL, 0, 0};
    check_op(c, &chk, 1, &len, loss, ref_margin, &a, &rng);
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

/* ---- decoder mask ------------------------------------------------------- */

typedef struct MaskArgs { int n, k, d; const int *select; } MaskArgs;

static void ref_mask(double *const *in, double *out, const void *args)
{
    const MaskArgs *a = args;
    for (int i = 0; i < a->n; i++)
        for (int k = 0; k < a->k; k++)
            for (int z = 0; z < a->d; z++) {
                long at = ((long)i * a->k + k) * a->d + z;
                out[at] = k == a->select[i] ? in[0][at] : 0.0;
            }
}

static void test_caps_mask(void **state)
{
    (void)state;
    uint64_t rng = 67;
    Ctx *c = test_ctx();
    int d[3] = {5, 10, 16}, select[5] = {0, 9, 3, 3, 7};
    Tensor *v = random_tensor(c, &rng, 3, d, -1, 1, 1);
    MaskArgs a = {5, 10, 16, select};
    Tensor *y = op_caps_mask(c, v, select);
    assert_int_equal(y->ndim, 2);
    assert_int_equal(y->dims[1], 160);
    OpCheck chk = {"caps_mask", 0, 1e-9, 0, 0};   /* copies and zeros: exact up to the FD's rounding */
    check_op(c, &chk, 1, &v, y, ref_mask, &a, &rng);
    ctx_free(c);
}

/* ---- MSE ---------------------------------------------------------------- */

static void ref_mse(double *const *in, double *out, const void *args)
{
    long n = *(const long *)args;
    double s = 0;
    for (long i = 0; i < n; i++) s += (in[0][i] - in[1][i]) * (in[0][i] - in[1][i]);
    out[0] = s / (double)n;
}

static void test_mse(void **state)
{
    (void)state;
    uint64_t rng = 68;
    Ctx *c = test_ctx();
    int pd[2] = {3, 784}, td[4] = {3, 1, 28, 28};
    Tensor *in[2] = {random_tensor(c, &rng, 2, pd, 0, 1, 1), random_tensor(c, &rng, 4, td, 0, 1, 1)};
    long n = in[0]->numel;
    Tensor *loss = op_mse(c, in[0], in[1]);
    OpCheck chk = {"mse", FWD_TOL, GRAD_TOL, 0, 200};
    check_op(c, &chk, 2, in, loss, ref_mse, &n, &rng);
    ctx_free(c);
    /* Hand: (1, 2) vs (0, 0) -> (1 + 4)/2 = 2.5; grads 2(p - t)/2 = (1, 2). */
    c = test_ctx();
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

/* ---- n = 0 through the whole capsule head -------------------------------- */

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

/* ---- accumulation and the no-grad path ---------------------------------- */

/* Routing used twice on one tape must give twice the gradients. */
static void test_routing_accumulates(void **state)
{
    (void)state;
    Tensor *grads[2][2];
    Ctx ctxs[2];
    for (int twice = 0; twice < 2; twice++) {
        uint64_t rng = 70;
        Ctx *c = &ctxs[twice];
        ctx_init(c, 1, 1 << 20);
        ctx_begin(c, 1, 1);
        int ud[4] = {2, 3, 4, 5}, pd[3] = {3, 4, 1};
        Tensor *u = random_tensor(c, &rng, 4, ud, -1, 1, 1), *p = random_tensor(c, &rng, 3, pd, -1, 1, 1);
        Tensor *y = op_caps_routing(c, u, p);
        if (twice) y = op_add(c, y, op_caps_routing(c, u, p));
        float up[30];
        fill_uniform(up, 30, &rng, -1, 1);
        backward_from(c, y, up);
        grads[twice][0] = u;
        grads[twice][1] = p;
    }
    assert_grad_doubled(grads[0][0], grads[1][0]);
    assert_grad_doubled(grads[0][1], grads[1][1]);
    ctx_free(&ctxs[0]);
    ctx_free(&ctxs[1]);
}

static void test_caps_no_grad_no_tape(void **state)
{
    (void)state;
    uint64_t rng = 71;
    Ctx *c = test_ctx();
    int ud[3] = {2, 4, 3}, wd[4] = {5, 4, 3, 2}, pd[2] = {5, 4}, labels[2] = {1, 2};
    Tensor *u = random_tensor(c, &rng, 3, ud, -1, 1, 0), *w = random_tensor(c, &rng, 4, wd, -1, 1, 0);
    Tensor *p = random_tensor(c, &rng, 2, pd, -1, 1, 0);
    Tensor *v = op_squash(c, op_caps_routing(c, op_caps_predict(c, op_squash(c, u, 1e-20f), w), p), 1e-20f);
    Tensor *len = op_caps_length(c, v, 1e-7f);
    assert_null(len->grad);
    assert_null(op_margin_loss(c, len, labels, 0.9f, 0.1f, 0.5f)->grad);
    assert_null(op_mse(c, op_caps_mask(c, v, labels), op_caps_mask(c, v, labels))->grad);
    assert_int_equal(c->tape_len, 0);
    ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_squash),
        cmocka_unit_test(test_squash_by_hand),
        cmocka_unit_test(test_squash_zero_vector),
        cmocka_unit_test(test_caps_predict),
        cmocka_unit_test(test_caps_routing),
        cmocka_unit_test(test_caps_routing_by_hand),
        cmocka_unit_test(test_caps_length),
        cmocka_unit_test(test_margin_loss),
        cmocka_unit_test(test_margin_loss_by_hand),
        cmocka_unit_test(test_caps_mask),
        cmocka_unit_test(test_mse),
        cmocka_unit_test(test_zero_capsules_no_nan),
        cmocka_unit_test(test_routing_zero_predictions_gradient),
        cmocka_unit_test(test_routing_accumulates),
        cmocka_unit_test(test_caps_no_grad_no_tape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
