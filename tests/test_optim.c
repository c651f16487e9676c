/* Optimizers against expectations computed here in plain double arithmetic.
 *
 * The reference (ref_run) is written in the textbook form of each update
 * (Adam: p -= lr * mhat / (sqrt(vhat) + eps)), not in the operation order
 * optim.c uses to match PyTorch, so the two agree only if the update is
 * right; hyperparameters enter the reference as the decimals a user writes
 * (0.999, not the float 0.999f). On top of that, a few literal numbers
 * worked out by hand anchor the reference itself. */
#include "testutil.h"
#include "optim.h"
#include "params.h"
#include <math.h>
#include <string.h>

/* ---- a tiny table: fc weight (is_fc), a BN buffer in between (must be
 * ignored), a conv bias, and a registered-but-unused weight ---------------- */

#define NP 7       /* trainable scalars */
#define STEPS 3

static void build_table(ParamTable *t)
{
    param_table_init(t);
    int fc = param_table_add(t, "fc.weight", ENTRY_PARAM, INIT_ZEROS, 3, 1, 1, (int[]){3});
    param_table_add(t, "bn.running_mean", ENTRY_BUFFER, INIT_ZEROS, 0, 0, 1, (int[]){2});
    param_table_add(t, "conv.bias", ENTRY_PARAM, INIT_ZEROS, 2, 2, 1, (int[]){2});
    int un = param_table_add(t, "aux.weight", ENTRY_PARAM, INIT_ZEROS, 2, 2, 1, (int[]){2});
    t->entries[fc].is_fc = 1;
    t->entries[un].unused = 1;
    assert_int_equal(t->n_params, NP);
}

/* Element layout in params: [0,3) fc.weight, [3,5) conv.bias, [5,7) aux.weight. */
static int elem_is_fc(int i) { return i < 3; }
static int elem_is_unused(int i) { return i >= 5; }

static const float P0[NP] = {0.5f, -1.25f, 2.0f, 0.75f, -0.3f, 1.5f, -2.5f};

/* Gradients per step. conv.bias[0] (element 3) has a zero gradient
 * throughout; the unused entry gets garbage that must be ignored. */
static const float G[STEPS][NP] = {
    {0.2f, -0.4f, 1.0f, 0.0f, 0.6f, 9.0f, -9.0f},
    {-0.1f, -0.3f, 0.5f, 0.0f, -0.8f, 7.0f, 3.0f},
    {0.4f, 0.2f, -0.25f, 0.0f, 0.1f, -5.0f, 8.0f},
};

/* A schedule-like learning rate that changes every step. */
static const double LR[STEPS] = {0.1, 0.05, 0.02};

typedef struct Hyper {
    OptimKind kind;
    double wd;
    L2Scope scope;
    double momentum;
    int nesterov;
    double beta1, beta2, eps;
} Hyper;

static Hyper hyper(OptimKind kind)
{
    Hyper h = {kind, 0.0, L2_SCOPE_ALL, 0.0, 0, 0.9, 0.999, 1e-8};
    return h;
}

static OptimConfig to_config(const Hyper *h)
{
    OptimConfig c = optim_config_default(h->kind);
    c.weight_decay = (float)h->wd;
    c.l2_scope = h->scope;
    c.momentum = (float)h->momentum;
    c.nesterov = h->nesterov;
    c.beta1 = (float)h->beta1;
    c.beta2 = (float)h->beta2;
    c.eps = (float)h->eps;
    return c;
}

/* ---- the double reference ------------------------------------------------ */

typedef struct RefState {
    double p[NP], s1[NP], s2[NP];
} RefState;

static double ref_decay(const Hyper *h, int i)
{
    return (h->scope == L2_SCOPE_FC && !elem_is_fc(i)) ? 0.0 : h->wd;
}

/* SGD, element i, step t (1-based). */
static void ref_sgd(const Hyper *h, RefState *r, int i, int t, double g, double lr)
{
    double d = g + ref_decay(h, i) * r->p[i];
    if (h->momentum != 0.0) {
        r->s1[i] = (t == 1) ? d : h->momentum * r->s1[i] + d;
        d = h->nesterov ? d + h->momentum * r->s1[i] : r->s1[i];
    }
    r->p[i] -= lr * d;
}

/* Adam / AdamW, element i, step t (1-based), textbook bias correction. */
static void ref_adam(const Hyper *h, RefState *r, int i, int t, double g, double lr)
{
    double wd = ref_decay(h, i);
    if (h->kind == OPTIM_ADAMW) r->p[i] *= 1.0 - lr * wd;
    else g += wd * r->p[i];
    r->s1[i] = h->beta1 * r->s1[i] + (1.0 - h->beta1) * g;
    r->s2[i] = h->beta2 * r->s2[i] + (1.0 - h->beta2) * g * g;
    double mhat = r->s1[i] / (1.0 - pow(h->beta1, t));
    double vhat = r->s2[i] / (1.0 - pow(h->beta2, t));
    r->p[i] -= lr * mhat / (sqrt(vhat) + h->eps);
}

static void ref_run(const Hyper *h, RefState *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < NP; i++) r->p[i] = P0[i];
    for (int t = 1; t <= STEPS; t++)
        for (int i = 0; i < NP; i++) {
            if (elem_is_unused(i)) continue;
            if (h->kind == OPTIM_SGD) ref_sgd(h, r, i, t, G[t - 1][i], LR[t - 1]);
            else ref_adam(h, r, i, t, G[t - 1][i], LR[t - 1]);
        }
}

/* ---- running the real optimizer and comparing ---------------------------- */

typedef struct Run {
    ParamTable table;
    Optimizer opt;
    float p[NP];
} Run;

static void run_optim(const Hyper *h, Run *run)
{
    build_table(&run->table);
    OptimConfig cfg = to_config(h);
    optim_init(&run->opt, &cfg, &run->table);
    memcpy(run->p, P0, sizeof P0);
    for (int t = 0; t < STEPS; t++) optim_step(&run->opt, run->p, G[t], (float)LR[t]);
    assert_int_equal(run->opt.step, STEPS);
}

static void free_run(Run *run)
{
    optim_free(&run->opt);
    param_table_free(&run->table);
}

/* Parameters to abs_tol = 1e-6 (they are O(1)); state (abs_tol 0) to 2e-6
 * of the largest value of that state, since momenta of mixed-sign gradients can
 * cancel to near zero. 2e-6 is a few float ulps, and tight enough to catch
 * 1 - 0.999f used in place of 1 - 0.999 (1.3e-5 relative in v). */
static void expect_close(const char *what, const float *got, const double *want, double abs_tol)
{
    double scale = 0.0;
    for (int i = 0; i < NP; i++) scale = fmax(scale, fabs(want[i]));
    double tol = abs_tol > 0 ? abs_tol : 2e-6 * scale;
    for (int i = 0; i < NP; i++) {
        if (fabs(got[i] - want[i]) > tol) {
            print_error("%s[%d]: got %.9g, expected %.9g (tol %.3g)\n", what, i, got[i], want[i], tol);
            fail();
        }
    }
}

static void check_against_ref(const Hyper *h)
{
    Run run;
    RefState ref;
    run_optim(h, &run);
    ref_run(h, &ref);
    expect_close("param", run.p, ref.p, 1e-6);
    if (h->kind != OPTIM_SGD || h->momentum != 0.0) expect_close("state1", run.opt.state1, ref.s1, 0);
    if (h->kind != OPTIM_SGD) expect_close("state2", run.opt.state2, ref.s2, 0);
    free_run(&run);
}

/* ---- single-entry runs for the hand-computed anchors --------------------- */

/* Run `steps` steps on an n-element table from p0 with a constant gradient. */
static void run_const(const Hyper *h, int n, const float *p0, const float *g, double lr,
                      int steps, float *out)
{
    ParamTable t;
    param_table_init(&t);
    param_table_add(&t, "w", ENTRY_PARAM, INIT_ZEROS, n, 1, 1, (int[]){n});
    Optimizer o;
    OptimConfig cfg = to_config(h);
    optim_init(&o, &cfg, &t);
    memcpy(out, p0, (size_t)n * sizeof *out);
    for (int s = 0; s < steps; s++) optim_step(&o, out, g, (float)lr);
    optim_free(&o);
    param_table_free(&t);
}

static void expect_trajectory(const Hyper *h, float p0, float g, double lr, const double *want)
{
    for (int steps = 1; steps <= STEPS; steps++) {
        float p;
        run_const(h, 1, &p0, &g, lr, steps, &p);
        if (fabs(p - want[steps - 1]) > 1e-6) {
            print_error("after %d steps: got %.9g, expected %.9g\n", steps, p, want[steps - 1]);
            fail();
        }
    }
}

/* ---- tests ---------------------------------------------------------------- */

static void test_sgd_plain(void **state)
{
    (void)state;
    Hyper h = hyper(OPTIM_SGD);
    check_against_ref(&h);
    /* p = 1, g = 0.5, lr = 0.1: each step subtracts 0.05. */
    expect_trajectory(&h, 1.0f, 0.5f, 0.1, (double[]){0.95, 0.90, 0.85});
}

static void test_sgd_momentum(void **state)
{
    (void)state;
    Hyper h = hyper(OPTIM_SGD);
    h.momentum = 0.9;
    check_against_ref(&h);
    /* g = 1, momentum 0.9: buf = 1 (the first gradient, not 0.1), 1.9, 2.71;
     * lr 0.1: p = 1 - 0.1 = 0.9, 0.9 - 0.19 = 0.71, 0.71 - 0.271 = 0.439. */
    expect_trajectory(&h, 1.0f, 1.0f, 0.1, (double[]){0.9, 0.71, 0.439});
}

static void test_sgd_nesterov(void **state)
{
    (void)state;
    Hyper h = hyper(OPTIM_SGD);
    h.momentum = 0.9;
    h.nesterov = 1;
    check_against_ref(&h);
    /* g = 1: buf = 1, 1.9, 2.71; d = g + 0.9 buf = 1.9, 2.71, 3.439;
     * lr 0.1: p = 0.81, 0.539, 0.1951. */
    expect_trajectory(&h, 1.0f, 1.0f, 0.1, (double[]){0.81, 0.539, 0.1951});
}

static void test_sgd_weight_decay(void **state)
{
    (void)state;
    Hyper h = hyper(OPTIM_SGD);
    h.wd = 0.1;
    check_against_ref(&h);
    h.momentum = 0.9;   /* the decayed gradient is what seeds the buffer */
    check_against_ref(&h);
    /* g = 0, wd 0.1, lr 0.5, no momentum: p *= 1 - 0.05 each step. */
    h = hyper(OPTIM_SGD);
    h.wd = 0.1;
    expect_trajectory(&h, 1.0f, 0.0f, 0.5, (double[]){0.95, 0.9025, 0.857375});
}

static void test_adam(void **state)
{
    (void)state;
    Hyper h = hyper(OPTIM_ADAM);
    check_against_ref(&h);
    /* With a constant gradient mhat = g and vhat = g^2 exactly, so every
     * step moves each parameter by lr * sign(g), whatever |g| is (eps is
     * negligible next to |g| here: 1e-8 / 1e-3 shifts the move by 1e-5 lr). */
    float p0[3] = {1.0f, -2.0f, 0.5f}, g[3] = {0.3f, -4.0f, 1e-3f}, p[3];
    run_const(&h, 3, p0, g, 0.01, 1, p);
    assert_float_equal(p[0], 0.99, 1e-6);
    assert_float_equal(p[1], -1.99, 1e-6);
    assert_float_equal(p[2], 0.49, 1e-6);
    run_const(&h, 3, p0, g, 0.01, 3, p);
    assert_float_equal(p[0], 0.97, 1e-6);
    assert_float_equal(p[1], -1.97, 1e-6);
    assert_float_equal(p[2], 0.47, 1e-6);
}

static void test_adam_coupled_weight_decay(void **state)
{
    (void)state;
    Hyper h = hyper(OPTIM_ADAM);
    h.wd = 0.1;
    check_against_ref(&h);
    /* Coupled L2 goes through the moments: p = 1, g = 0.3, wd 0.1 gives
     * g' = 0.4 > 0, and Adam's first step is lr * sign(g') whatever g' is,
     * so the first move is exactly lr = 0.1 (AdamW would move 0.11). A
     * negative p with wd large enough flips the sign: p = -1, g = 0.05,
     * wd 0.1 gives g' = -0.05, so p moves up to -0.9. */
    float p0[2] = {1.0f, -1.0f}, g[2] = {0.3f, 0.05f}, p[2];
    run_const(&h, 2, p0, g, 0.1, 1, p);
    assert_float_equal(p[0], 0.9, 1e-6);
    assert_float_equal(p[1], -0.9, 1e-6);
}

static void test_adamw(void **state)
{
    (void)state;
    Hyper h = hyper(OPTIM_ADAMW);
    h.wd = 0.1;
    check_against_ref(&h);
    /* p = 1, g = 0.3, lr 0.1, wd 0.5: p *= 1 - 0.05, then the Adam move of
     * exactly lr for a constant gradient:
     * 0.95 - 0.1 = 0.85; 0.85 * 0.95 - 0.1 = 0.7075;
     * 0.7075 * 0.95 - 0.1 = 0.572125. */
    h = hyper(OPTIM_ADAMW);
    h.wd = 0.5;
    expect_trajectory(&h, 1.0f, 0.3f, 0.1, (double[]){0.85, 0.7075, 0.572125});
}

/* ---- bit-exact agreement with PyTorch ------------------------------------
 * 16 parameters in two entries of 8 (the first is_fc), 10 steps, lr falling
 * from 0.01 to 0.001, weight decay 0.01. Inputs are small dyadic rationals,
 * exact in float and in Python, so PyTorch saw the same bits:
 *   p0[i] = ((37 i) mod 101 - 50) / 64
 *   g[t][i] = ((13 i + 29 t) mod 97 - 48) / 32 * 2^-(i mod 5)
 * The expected values were produced once with torch 1.13 on CPU
 * (torch.optim.Adam / AdamW / SGD, default foreach=False; l2_scope=fc as a
 * second param group with weight_decay 0) and printed with float.hex().
 * They hold on any IEEE machine, since fma, sqrt and division are correctly
 * rounded; a mismatch means the operation order or the rounding of a
 * hyperparameter drifted from PyTorch's. */

#define GN 16
#define GT 10

static const float GOLD_ADAM_FC[GN] = {
    -0x1.826ec4p-1f, -0x1.66d9dap-3f, 0x1.8ca9fep-2f, -0x1.360b46p-1f,
    -0x1.f5080ep-5f, 0x1.0055b2p-1f, -0x1.e07ac2p-2f, 0x1.79fccp-4f,
    0x1.69338ep-1f, -0x1.28199ap-2f, 0x1.10ae86p-2f, -0x1.75193ap-1f,
    -0x1.6f458ap-3f, 0x1.abb3fp-2f, -0x1.2dc33ep-1f, 0x1.9b9e7cp-6f,
};
static const float GOLD_ADAMW_ALL[GN] = {
    -0x1.825a98p-1f, -0x1.66f30ap-3f, 0x1.8d5cacp-2f, -0x1.3730ecp-1f,
    -0x1.f85a64p-5f, 0x1.00486ap-1f, -0x1.e0a7bep-2f, 0x1.7a7d62p-4f,
    0x1.6900fcp-1f, -0x1.27ee76p-2f, 0x1.108792p-2f, -0x1.74e4b8p-1f,
    -0x1.6f1402p-3f, 0x1.ab77cp-2f, -0x1.2d98eep-1f, 0x1.9b7956p-6f,
};
static const float GOLD_SGD_NESTEROV_ALL[GN] = {
    -0x1.6b93d4p-1f, -0x1.5b36c6p-3f, 0x1.833ea8p-2f, -0x1.3cf15p-1f,
    -0x1.7ec064p-5f, 0x1.d4ae8ap-2f, -0x1.cfdfb6p-2f, 0x1.9ce79ap-4f,
    0x1.60af2ap-1f, -0x1.3bb836p-2f, 0x1.eb00b2p-3f, -0x1.79bbc2p-1f,
    -0x1.4fc75cp-3f, 0x1.af7284p-2f, -0x1.27ec84p-1f, 0x1.01080cp-4f,
};
static const float GOLD_SGD_MOMENTUM_FC[GN] = {
    -0x1.702e0ap-1f, -0x1.635cd6p-3f, 0x1.82dae8p-2f, -0x1.3d651cp-1f,
    -0x1.7f8b6p-5f, 0x1.ddbecap-2f, -0x1.d2f5ep-2f, 0x1.9f277ep-4f,
    0x1.6167eap-1f, -0x1.3cfbfep-2f, 0x1.f2f8a4p-3f, -0x1.79cac4p-1f,
    -0x1.4f9e4ep-3f, 0x1.b063f6p-2f, -0x1.287b3ap-1f, 0x1.c4b5a4p-5f,
};

/* Adam's moments after the GOLD_ADAM_FC run: a rounding slip in m or v
 * hardly ever reaches the parameters within 10 steps, but it would reach a
 * checkpoint. */
static const float GOLD_ADAM_FC_M[GN] = {
    -0x1.0565aap-4f, 0x1.5a5f98p-6f, 0x1.92aeb6p-6f, -0x1.042804p-6f,
    -0x1.26304ap-9f, -0x1.1a33ccp-5f, -0x1.6ba18ep-5f, -0x1.f48f66p-7f,
    0x1.567192p-7f, -0x1.157108p-9f, -0x1.288596p-4f, 0x1.82d904p-6f,
    -0x1.476a58p-5f, -0x1.a5ffd6p-9f, 0x1.ea4b3p-9f, -0x1.3b8aecp-5f,
};
static const float GOLD_ADAM_FC_V[GN] = {
    0x1.fb9ab8p-8f, 0x1.ebac66p-10f, 0x1.efad38p-12f, 0x1.0371d6p-13f,
    0x1.f11bfap-16f, 0x1.f62ea8p-8f, 0x1.fc2f94p-10f, 0x1.f1cb36p-12f,
    0x1.eea098p-14f, 0x1.f750e8p-16f, 0x1.f24f0ep-8f, 0x1.f23a86p-10f,
    0x1.fda312p-12f, 0x1.ef01d6p-14f, 0x1.f26064p-16f, 0x1.f49556p-8f,
};

static void expect_bits(const char *what, const float *got, const float *want)
{
    for (int i = 0; i < GN; i++) {
        if (got[i] != want[i]) {
            print_error("%s[%d]: got %a, PyTorch gives %a\n", what, i, got[i], want[i]);
            fail();
        }
    }
}

/* Runs the golden schedule; checks params against want, and state1/state2
 * against want_m/want_v when given. */
static void expect_pytorch_bits(const Hyper *h, const float *want, const float *want_m,
                                const float *want_v)
{
    static const double lr[GT] = {0.01, 0.009, 0.008, 0.007, 0.006,
                                  0.005, 0.004, 0.003, 0.002, 0.001};
    ParamTable t;
    param_table_init(&t);
    int fc = param_table_add(&t, "fc.weight", ENTRY_PARAM, INIT_ZEROS, 8, 1, 1, (int[]){8});
    param_table_add(&t, "conv.weight", ENTRY_PARAM, INIT_ZEROS, 8, 1, 1, (int[]){8});
    t.entries[fc].is_fc = 1;
    OptimConfig cfg = to_config(h);
    Optimizer o;
    optim_init(&o, &cfg, &t);
    float p[GN], g[GN];
    for (int i = 0; i < GN; i++) p[i] = (float)((i * 37) % 101 - 50) / 64.0f;
    for (int s = 0; s < GT; s++) {
        for (int i = 0; i < GN; i++)
            g[i] = ldexpf((float)((i * 13 + s * 29) % 97 - 48) / 32.0f, -(i % 5));
        optim_step(&o, p, g, (float)lr[s]);
    }
    expect_bits(optim_kind_name(h->kind), p, want);
    if (want_m) expect_bits("state1", o.state1, want_m);
    if (want_v) expect_bits("state2", o.state2, want_v);
    optim_free(&o);
    param_table_free(&t);
}

static void test_bit_exact_pytorch(void **state)
{
    (void)state;
    Hyper h = hyper(OPTIM_ADAM);
    h.wd = 0.01;
    h.scope = L2_SCOPE_FC;
    expect_pytorch_bits(&h, GOLD_ADAM_FC, GOLD_ADAM_FC_M, GOLD_ADAM_FC_V);

    h = hyper(OPTIM_ADAMW);
    h.wd = 0.01;
    expect_pytorch_bits(&h, GOLD_ADAMW_ALL, NULL, NULL);

    h = hyper(OPTIM_SGD);
    h.wd = 0.01;
    h.momentum = 0.9;
    h.nesterov = 1;
    expect_pytorch_bits(&h, GOLD_SGD_NESTEROV_ALL, NULL, NULL);

    h.nesterov = 0;
    h.scope = L2_SCOPE_FC;
    expect_pytorch_bits(&h, GOLD_SGD_MOMENTUM_FC, NULL, NULL);
}

/* l2_scope = fc: decay only on is_fc entries; everything else moves exactly
 * as with no decay at all. */
static void test_l2_scope_fc(void **state)
{
    (void)state;
    OptimKind kinds[] = {OPTIM_SGD, OPTIM_ADAM, OPTIM_ADAMW};
    for (int k = 0; k < 3; k++) {
        Hyper h = hyper(kinds[k]);
        h.momentum = kinds[k] == OPTIM_SGD ? 0.9 : 0.0;
        h.wd = 0.1;
        h.scope = L2_SCOPE_FC;
        check_against_ref(&h);

        Hyper plain = h;
        plain.wd = 0.0;
        Run scoped, nodecay;
        run_optim(&h, &scoped);
        run_optim(&plain, &nodecay);
        for (int i = 0; i < NP; i++) {
            if (elem_is_fc(i)) assert_true(scoped.p[i] != nodecay.p[i]);
            else assert_memory_equal(&scoped.p[i], &nodecay.p[i], sizeof(float));
        }
        free_run(&scoped);
        free_run(&nodecay);
    }
}

/* Unused entries keep their parameters bit for bit and their state at zero,
 * under every optimizer, with decay on, despite non-zero garbage gradients. */
static void test_unused_untouched(void **state)
{
    (void)state;
    OptimKind kinds[] = {OPTIM_SGD, OPTIM_ADAM, OPTIM_ADAMW};
    for (int k = 0; k < 3; k++) {
        Hyper h = hyper(kinds[k]);
        h.momentum = kinds[k] == OPTIM_SGD ? 0.9 : 0.0;
        h.wd = 0.1;
        Run run;
        run_optim(&h, &run);
        for (int i = 0; i < NP; i++) {
            if (!elem_is_unused(i)) continue;
            assert_memory_equal(&run.p[i], &P0[i], sizeof(float));
            assert_true(run.opt.state1[i] == 0.0f);
            if (run.opt.state2) assert_true(run.opt.state2[i] == 0.0f);
        }
        free_run(&run);
    }
}

/* A parameter whose gradient is zero still decays under Adam with coupled
 * L2, as in PyTorch (its gradient exists, it is just zero): g' = wd * p. */
static void test_zero_grad_still_decays_adam(void **state)
{
    (void)state;
    Hyper h = hyper(OPTIM_ADAM);
    h.wd = 0.1;
    /* p = 2, g = 0: g' = 0.2 > 0, so the first step moves by lr: 1.99. */
    float p0 = 2.0f, g = 0.0f, p;
    run_const(&h, 1, &p0, &g, 0.01, 1, &p);
    assert_float_equal(p, 1.99, 1e-6);
    /* In the table, conv.bias[0] (element 3) has g = 0 on every step. */
    Run run;
    RefState ref;
    run_optim(&h, &run);
    ref_run(&h, &ref);
    assert_true(run.p[3] < P0[3]);
    assert_true(run.opt.state2[3] > 0.0f);
    assert_float_equal(run.p[3], ref.p[3], 1e-6);
    free_run(&run);
}

/* An entry big enough for the OpenMP path gives the same numbers as the
 * reference: threads split elements, never change them. */
static void test_large_entry_threaded(void **state)
{
    (void)state;
    enum { N = 70001 };
    ParamTable t;
    param_table_init(&t);
    param_table_add(&t, "big", ENTRY_PARAM, INIT_ZEROS, 1, 1, 1, (int[]){N});
    OptimConfig cfg = optim_config_default(OPTIM_ADAM);
    cfg.weight_decay = 0.1f;
    Optimizer o;
    optim_init(&o, &cfg, &t);
    static float p[N], g[N];
    static double rp[N], rm[N], rv[N];
    uint64_t rng = 42;
    fill_uniform(p, N, &rng, -1.0, 1.0);
    for (long i = 0; i < N; i++) rp[i] = p[i], rm[i] = rv[i] = 0.0;
    for (int t_ = 1; t_ <= STEPS; t_++) {
        fill_uniform(g, N, &rng, -1.0, 1.0);
        optim_step(&o, p, g, 0.01f);
        for (long i = 0; i < N; i++) {
            double gi = g[i] + 0.1 * rp[i];
            rm[i] = 0.9 * rm[i] + 0.1 * gi;
            rv[i] = 0.999 * rv[i] + 0.001 * gi * gi;
            double mhat = rm[i] / (1.0 - pow(0.9, t_)), vhat = rv[i] / (1.0 - pow(0.999, t_));
            rp[i] -= 0.01 * mhat / (sqrt(vhat) + 1e-8);
        }
    }
    double worst = 0.0;
    for (long i = 0; i < N; i++) worst = fmax(worst, fabs(p[i] - rp[i]));
    assert_true(worst < 1e-6);
    optim_free(&o);
    param_table_free(&t);
}

static void test_state_and_step_counter(void **state)
{
    (void)state;
    ParamTable t;
    build_table(&t);
    OptimConfig sgd = optim_config_default(OPTIM_SGD), adam = optim_config_default(OPTIM_ADAMW);
    assert_true(sgd.momentum == 0.0f && !sgd.nesterov && sgd.weight_decay == 0.0f);
    assert_true(adam.beta1 == 0.9f && adam.beta2 == 0.999f && adam.eps == 1e-8f);
    Optimizer o;
    optim_init(&o, &sgd, &t);
    assert_int_equal(o.n, NP);
    assert_int_equal(o.step, 0);
    assert_non_null(o.state1);
    assert_null(o.state2);
    optim_free(&o);
    optim_init(&o, &adam, &t);
    assert_non_null(o.state1);
    assert_non_null(o.state2);
    float p[NP];
    memcpy(p, P0, sizeof p);
    for (int s = 0; s < STEPS; s++) optim_step(&o, p, G[s], 0.01f);
    assert_int_equal(o.step, STEPS);
    optim_free(&o);
    param_table_free(&t);
}

static void test_kind_names(void **state)
{
    (void)state;
    OptimKind kinds[] = {OPTIM_SGD, OPTIM_ADAM, OPTIM_ADAMW};
    const char *names[] = {"sgd", "adam", "adamw"};
    for (int k = 0; k < 3; k++) {
        OptimKind back;
        assert_string_equal(optim_kind_name(kinds[k]), names[k]);
        assert_int_equal(optim_kind_parse(names[k], &back), 0);
        assert_int_equal(back, kinds[k]);
    }
    OptimKind out = OPTIM_ADAM;
    const char *bad[] = {"", "Adam", "adam ", "adagrad", "sgdm"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(optim_kind_parse(bad[i], &out), -1);
        assert_int_equal(out, OPTIM_ADAM);   /* left alone on failure */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_plain),
        cmocka_unit_test(test_sgd_momentum),
        cmocka_unit_test(test_sgd_nesterov),
        cmocka_unit_test(test_sgd_weight_decay),
        cmocka_unit_test(test_adam),
        cmocka_unit_test(test_adam_coupled_weight_decay),
        cmocka_unit_test(test_adamw),
        cmocka_unit_test(test_bit_exact_pytorch),
        cmocka_unit_test(test_l2_scope_fc),
        cmocka_unit_test(test_unused_untouched),
        cmocka_unit_test(test_zero_grad_still_decays_adam),
        cmocka_unit_test(test_large_entry_threaded),
        cmocka_unit_test(test_state_and_step_counter),
        cmocka_unit_test(test_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
