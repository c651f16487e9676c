/* Multi-objective results (results/pareto.c): parsing `objectives` against
 * the known metrics, with every error's message; dominance; the front with
 * ties, duplicates, NaN and infinities; one objective = the argmax; three
 * objectives; the front's order; a brute-force cross-check on random
 * points. */
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "pareto.h"

static const char *const KNOWN[] = {"val_acc", "val_loss", "test_acc", "params", "seconds_per_epoch"};
enum { N_KNOWN = sizeof KNOWN / sizeof *KNOWN };

static const Objective ACC_MAX = {"val_acc", 1}, PARAMS_MIN = {"params", 0}, SECONDS_MIN = {"seconds_per_epoch", 0};

/* ---- parsing ---------------------------------------------------------------- */

static int parse(const char *text, Objective *out, char *err)
{
    return pareto_objectives_parse(text, KNOWN, N_KNOWN, out, err, 512);
}

static void expect_error(const char *text, const char *message)
{
    Objective out[PARETO_MAX_OBJECTIVES];
    char err[512] = "";
    assert_int_equal(parse(text, out, err), -1);
    assert_string_equal(err, message);
}

static void test_parse_good(void **state)
{
    (void)state;
    Objective o[PARETO_MAX_OBJECTIVES];
    char err[512] = "";
    assert_int_equal(parse("val_acc:max, params:min", o, err), 2);
    assert_string_equal(o[0].metric, "val_acc");
    assert_int_equal(o[0].maximize, 1);
    assert_string_equal(o[1].metric, "params");
    assert_int_equal(o[1].maximize, 0);
    assert_int_equal(parse("  val_loss : min  ", o, err), 1);
    assert_string_equal(o[0].metric, "val_loss");
    assert_int_equal(o[0].maximize, 0);
    assert_int_equal(parse("val_acc:max,params:min,seconds_per_epoch:min", o, err), 3);
    assert_string_equal(o[2].metric, "seconds_per_epoch");
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_error("", "objectives: expected METRIC:max or METRIC:min, separated by commas, got nothing");
    expect_error("   ", "objectives: expected METRIC:max or METRIC:min, separated by commas, got nothing");
    expect_error("val_acc:max,",
                 "objectives: item 2 is empty (expected METRIC:max or METRIC:min, separated by commas)");
    expect_error(", val_acc:max",
                 "objectives: item 1 is empty (expected METRIC:max or METRIC:min, separated by commas)");
    expect_error("accuracy:max",
                 "objectives: unknown metric 'accuracy' (known: val_acc, val_loss, test_acc, params, "
                 "seconds_per_epoch)");
    expect_error(":max",
                 "objectives: unknown metric '' (known: val_acc, val_loss, test_acc, params, seconds_per_epoch)");
    expect_error("val_acc", "objectives: val_acc needs a direction: val_acc:max or val_acc:min");
    expect_error("val_acc:max, params", "objectives: params needs a direction: params:max or params:min");
    expect_error("val_acc:up", "objectives: the direction of val_acc must be max or min, got 'up'");
    expect_error("val_acc:", "objectives: the direction of val_acc must be max or min, got ''");
    expect_error("val_acc:MAX", "objectives: the direction of val_acc must be max or min, got 'MAX'");
    expect_error("val_acc:max:min", "objectives: the direction of val_acc must be max or min, got 'max:min'");
    expect_error("val_acc:max, params:min, val_acc:min", "objectives: val_acc is listed twice");
    char long_name[200];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    expect_error(long_name, "objectives: item 1 is too long");
}

static void test_parse_too_many(void **state)
{
    (void)state;
    const char *known[9] = {"m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"};
    Objective o[PARETO_MAX_OBJECTIVES];
    char err[512] = "";
    assert_int_equal(pareto_objectives_parse("m1:max,m2:max,m3:max,m4:max,m5:max,m6:max,m7:max,m8:max", known, 9, o,
                                             err, sizeof err),
                     8);
    assert_int_equal(pareto_objectives_parse("m1:max,m2:max,m3:max,m4:max,m5:max,m6:max,m7:max,m8:max,m9:min",
                                             known, 9, o, err, sizeof err),
                     -1);
    assert_string_equal(err, "objectives: at most 8 objectives");
}

/* ---- dominance and the front ------------------------------------------------ */

static void test_dominance(void **state)
{
    (void)state;
    const Objective obj[2] = {ACC_MAX, PARAMS_MIN};
    const double a[2] = {0.99, 1000}, b[2] = {0.98, 2000}, c[2] = {0.99, 2000}, d[2] = {0.995, 5000};
    assert_true(pareto_dominates(a, b, obj, 2));    /* better on both */
    assert_true(pareto_dominates(a, c, obj, 2));    /* equal accuracy, fewer parameters */
    assert_false(pareto_dominates(c, a, obj, 2));
    assert_false(pareto_dominates(a, a, obj, 2));   /* equal: neither */
    assert_false(pareto_dominates(a, d, obj, 2));   /* a trade-off: neither */
    assert_false(pareto_dominates(d, a, obj, 2));
    const double nan_acc[2] = {NAN, 10};
    assert_false(pareto_dominates(nan_acc, b, obj, 2));
    assert_false(pareto_dominates(a, nan_acc, obj, 2));
}

/* Accuracy up, parameters down: the GECCO-style trade-off. */
static void test_front_two_objectives(void **state)
{
    (void)state;
    const Objective obj[2] = {ACC_MAX, PARAMS_MIN};
    const double p[][2] = {
        {0.990, 50000},   /* 0 front: most accurate */
        {0.985, 20000},   /* 1 front */
        {0.980, 30000},   /* 2 dominated by 1 */
        {0.970, 5000},    /* 3 front: smallest */
        {0.985, 20000},   /* 4 duplicate of 1: front too */
        {0.960, 5000},    /* 5 dominated by 3 (same size, worse) */
        {NAN, 1000},      /* 6 never on the front */
        {0.990, 60000},   /* 7 dominated by 0 (same accuracy, larger) */
    };
    int n = sizeof p / sizeof *p, is_front[8];
    const int expected[8] = {1, 1, 0, 1, 1, 0, 0, 0};
    assert_int_equal(pareto_front(&p[0][0], n, obj, 2, is_front), 4);
    for (int i = 0; i < n; i++) assert_int_equal(is_front[i], expected[i]);
    int order[8];
    assert_int_equal(pareto_front_sorted(&p[0][0], n, obj, 2, order), 4);
    const int sorted[4] = {0, 1, 4, 3};   /* accuracy down; the duplicates by index */
    for (int i = 0; i < 4; i++) assert_int_equal(order[i], sorted[i]);
}

/* A NaN point dominates nothing: the point it would dominate stays. */
static void test_nan_dominates_nothing(void **state)
{
    (void)state;
    const Objective obj[2] = {ACC_MAX, PARAMS_MIN};
    const double p[][2] = {{0.9, NAN}, {0.8, 100}, {NAN, NAN}};
    int is_front[3];
    assert_int_equal(pareto_front(&p[0][0], 3, obj, 2, is_front), 1);
    assert_int_equal(is_front[0], 0);
    assert_int_equal(is_front[1], 1);
    assert_int_equal(is_front[2], 0);
    assert_int_equal(pareto_front(&p[0][0], 0, obj, 2, is_front), 0);
}

static void test_infinities(void **state)
{
    (void)state;
    const Objective obj[2] = {ACC_MAX, PARAMS_MIN};
    const double p[][2] = {{0.9, INFINITY}, {0.8, 100}, {-INFINITY, 1}};
    int is_front[3];
    assert_int_equal(pareto_front(&p[0][0], 3, obj, 2, is_front), 3);   /* each best on something */
    const double q[][2] = {{0.9, INFINITY}, {0.9, 100}};
    assert_int_equal(pareto_front(&q[0][0], 2, obj, 2, is_front), 1);
    assert_int_equal(is_front[1], 1);
}

/* One objective: the front is the argmax (all of them on a tie), or the
 * argmin. */
static void test_one_objective(void **state)
{
    (void)state;
    const double acc[] = {0.91, 0.97, 0.93, NAN, 0.97, 0.95};
    int is_front[6], order[6];
    assert_int_equal(pareto_front(acc, 6, &ACC_MAX, 1, is_front), 2);
    const int expected[6] = {0, 1, 0, 0, 1, 0};
    for (int i = 0; i < 6; i++) assert_int_equal(is_front[i], expected[i]);
    assert_int_equal(pareto_front_sorted(acc, 6, &ACC_MAX, 1, order), 2);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 4);
    const double loss[] = {0.3, 0.1, 0.2};
    const Objective loss_min = {"val_loss", 0};
    assert_int_equal(pareto_front_sorted(loss, 3, &loss_min, 1, order), 1);
    assert_int_equal(order[0], 1);
}

/* Accuracy, parameters and seconds per epoch. */
static void test_three_objectives(void **state)
{
    (void)state;
    const Objective obj[3] = {ACC_MAX, PARAMS_MIN, SECONDS_MIN};
    const double p[][3] = {
        {0.99, 9000, 5.0},   /* 0 front: most accurate */
        {0.98, 3000, 2.0},   /* 1 front */
        {0.98, 3000, 3.0},   /* 2 dominated by 1 (slower) */
        {0.97, 2000, 4.0},   /* 3 front: smaller than 1, though slower and worse */
        {0.97, 2500, 1.0},   /* 4 front: fastest */
        {0.96, 2500, 1.0},   /* 5 dominated by 4 */
        {0.99, 9000, 5.0},   /* 6 duplicate of 0 */
    };
    int is_front[7], order[7];
    const int expected[7] = {1, 1, 0, 1, 1, 0, 1};
    assert_int_equal(pareto_front(&p[0][0], 7, obj, 3, is_front), 5);
    for (int i = 0; i < 7; i++) assert_int_equal(is_front[i], expected[i]);
    /* Accuracy down; 3 and 4 tie on it, then parameters up: 3 (2000) before 4 (2500). */
    assert_int_equal(pareto_front_sorted(&p[0][0], 7, obj, 3, order), 5);
    const int sorted[5] = {0, 6, 1, 3, 4};
    for (int i = 0; i < 5; i++) assert_int_equal(order[i], sorted[i]);
}

/* The front by a direct check of every pair: is_front[i] is whether no
 * point dominates i, and every point off it is dominated by one on it. */
static int cross_check(const double *p, int n, const Objective *obj, int k)
{
    int *is_front = test_malloc((size_t)n * sizeof *is_front), count = pareto_front(p, n, obj, k, is_front), seen = 0;
    for (int i = 0; i < n; i++) {
        int dominated = 0, by_front = 0;
        for (int j = 0; j < n; j++) {
            int dom = 1, strict = 0;
            for (int m = 0; m < k; m++) {
                double sign = obj[m].maximize ? 1 : -1, a = sign * p[j * k + m], b = sign * p[i * k + m];
                dom &= a >= b;
                strict |= a > b;
            }
            dominated |= dom && strict;
            by_front |= dom && strict && is_front[j];
        }
        assert_int_equal(is_front[i], !dominated);
        if (dominated) assert_true(by_front);
        seen += is_front[i];
    }
    assert_int_equal(seen, count);
    test_free(is_front);
    return count;
}

/* Random whole numbers (many ties and duplicates), and anti-correlated
 * objectives (a large front). */
static void test_random_points_cross_check(void **state)
{
    (void)state;
    enum { N = 300, K = 3 };
    const Objective obj[K] = {ACC_MAX, PARAMS_MIN, SECONDS_MIN};
    static double p[N * K];
    uint64_t rng = 42;
    for (int i = 0; i < N * K; i++) p[i] = (double)test_int(&rng, 0, 9);
    int ties = cross_check(p, N, obj, K);
    for (int i = 0; i < N; i++) {
        double acc = test_uniform(&rng, 0, 1);
        p[i * K] = acc, p[i * K + 1] = acc + test_uniform(&rng, 0, 0.3), p[i * K + 2] = (double)test_int(&rng, 0, 3);
    }
    int traded = cross_check(p, N, obj, K);
    printf("%d points of 3 objectives on the front: %d (whole numbers 0..9), %d (accuracy against size)\n", N, ties,
           traded);
    assert_true(traded > 20);   /* 59 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_too_many),
        cmocka_unit_test(test_dominance),
        cmocka_unit_test(test_front_two_objectives),
        cmocka_unit_test(test_nan_dominates_nothing),
        cmocka_unit_test(test_infinities),
        cmocka_unit_test(test_one_objective),
        cmocka_unit_test(test_three_objectives),
        cmocka_unit_test(test_random_points_cross_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
