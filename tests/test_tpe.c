/* The TPE sampler (sweeps/tpe.c) without training: proposals stay inside
 * their distributions, the startup proposals are random search's draws, the
 * sequence is deterministic, and on a cheap synthetic objective of the
 * configuration TPE finds better configurations than random search in the
 * same number of trials, on average over sweep seeds. */
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sweep_expand.h"
#include "tpe.h"
#include "util.h"

static char *batch_values[] = {"32", "64", "128", "256"};

enum { AXES = 4 };

static void make_axes(SweepAxis a[AXES])
{
    memset(a, 0, AXES * sizeof *a);
    snprintf(a[0].key, sizeof a[0].key, "lr");
    a[0].kind = AXIS_LOGUNIFORM, a[0].lo = 1e-4, a[0].hi = 1e-1;
    snprintf(a[1].key, sizeof a[1].key, "dropout");
    a[1].kind = AXIS_UNIFORM, a[1].lo = 0, a[1].hi = 0.8;
    snprintf(a[2].key, sizeof a[2].key, "batch_size");
    a[2].kind = AXIS_LIST, a[2].n_values = 4, a[2].values = batch_values;
    snprintf(a[3].key, sizeof a[3].key, "feature_length");
    a[3].kind = AXIS_INT, a[3].lo = 16, a[3].hi = 128;
    for (int i = 0; i < AXES; i++) a[i].random = 1;
}

/* A smooth objective with its best at lr 10^-2.5, dropout 0.3, batch 64,
 * width 80 (0 there, negative elsewhere). */
static double objective(char (*v)[SWEEP_VALUE_MAX])
{
    double lr = atof(v[0]), dropout = atof(v[1]), width = atof(v[3]);
    return -pow(log10(lr) + 2.5, 2) - 4 * pow(dropout - 0.3, 2) - (strcmp(v[2], "64") ? 0.3 : 0) -
           pow((width - 80) / 50, 2);
}

/* Run a sequential sweep of n trials with TPE (tpe = 1) or random search
 * (every proposal a startup one); the best objective found. */
static double best_of(const SweepAxis *axes, uint64_t seed, int n, int tpe, char (*first)[SWEEP_VALUE_MAX])
{
    TpeOptions opt = tpe_defaults();
    if (!tpe) opt.n_startup = n;
    double *obs = xmalloc((size_t)n * AXES * sizeof *obs), *y = xmalloc((size_t)n * sizeof *y), best = -INFINITY;
    char values[AXES][SWEEP_VALUE_MAX];
    for (int t = 0; t < n; t++) {
        tpe_propose(axes, AXES, seed, (uint64_t)t, obs, y, t, &opt, values);
        if (t == 0 && first) memcpy(first, values, sizeof values);
        for (int i = 0; i < AXES; i++) obs[t * AXES + i] = tpe_encode(&axes[i], values[i]);
        y[t] = objective(values);
        if (y[t] > best) best = y[t];
    }
    free(obs);
    free(y);
    return best;
}

static void test_startup_is_random_search(void **state)
{
    (void)state;
    SweepAxis axes[AXES];
    make_axes(axes);
    TpeOptions opt = tpe_defaults();
    char values[AXES][SWEEP_VALUE_MAX], drawn[SWEEP_VALUE_MAX];
    double obs[AXES * 9], y[9];
    for (int t = 0; t < opt.n_startup; t++) {
        tpe_propose(axes, AXES, 7, (uint64_t)t, obs, y, t < 9 ? t : 9, &opt, values);
        for (int i = 0; i < AXES; i++) {
            sweep_draw(&axes[i], 7, (uint64_t)t, drawn, sizeof drawn);
            assert_string_equal(values[i], drawn);
            if (t < 9) obs[t * AXES + i] = tpe_encode(&axes[i], values[i]);
        }
        if (t < 9) y[t] = objective(values);
    }
}

static void test_proposals_stay_in_their_distributions(void **state)
{
    (void)state;
    SweepAxis axes[AXES];
    make_axes(axes);
    enum { N = 60 };
    TpeOptions opt = tpe_defaults();
    double obs[N * AXES], y[N];
    char values[AXES][SWEEP_VALUE_MAX];
    for (int t = 0; t < N; t++) {
        tpe_propose(axes, AXES, 3, (uint64_t)t, obs, y, t, &opt, values);
        for (int i = 0; i < AXES; i++) {
            double v = tpe_encode(&axes[i], values[i]);
            assert_true(isfinite(v));   /* parses, inside [lo, hi], or one of the choices */
            obs[t * AXES + i] = v;
        }
        double width = atof(values[3]);
        assert_true(width == floor(width));
        y[t] = objective(values);
    }
}

static void test_deterministic(void **state)
{
    (void)state;
    SweepAxis axes[AXES];
    make_axes(axes);
    char a[AXES][SWEEP_VALUE_MAX], b[AXES][SWEEP_VALUE_MAX];
    double x = best_of(axes, 11, 30, 1, a), z = best_of(axes, 11, 30, 1, b);
    assert_true(x == z);
    for (int i = 0; i < AXES; i++) assert_string_equal(a[i], b[i]);
}

static void test_beats_random_search(void **state)
{
    (void)state;
    SweepAxis axes[AXES];
    make_axes(axes);
    enum { SEEDS = 20, TRIALS = 40 };
    double tpe = 0, random = 0;
    int wins = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        double t = best_of(axes, seed, TRIALS, 1, NULL), r = best_of(axes, seed, TRIALS, 0, NULL);
        tpe += t / SEEDS;
        random += r / SEEDS;
        wins += t > r;
    }
    printf("best of %d trials, mean over %d seeds: TPE %.4f, random search %.4f; TPE better on %d seeds\n", TRIALS,
           SEEDS, tpe, random, wins);
    assert_true(tpe > random);
    assert_true(wins > SEEDS / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_startup_is_random_search),
        cmocka_unit_test(test_proposals_stay_in_their_distributions),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_beats_random_search),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
