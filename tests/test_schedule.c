/* Learning-rate schedules: values per epoch, spec parsing and rejection,
 * and the canonical format round trip. */
#include "testutil.h"
#include "schedule.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static Schedule parse_ok(const char *spec)
{
    Schedule s;
    char err[256] = "";
    if (schedule_parse(spec, &s, err, sizeof err) != 0) {
        print_error("'%s' rejected: %s\n", spec, err);
        fail();
    }
    return s;
}

/* Relative to the expected value: lr is a float, so 1e-6 is a few ulps. */
static void expect_lr(const Schedule *s, float lr0, int epoch, double want)
{
    double got = schedule_lr(s, lr0, epoch);
    if (fabs(got - want) > 1e-6 * fabs(want) + 1e-12) {
        print_error("epoch %d: got %.9g, expected %.9g\n", epoch, got, want);
        fail();
    }
}

static void test_constant(void **state)
{
    (void)state;
    Schedule s = parse_ok("constant");
    assert_int_equal(s.kind, SCHED_CONSTANT);
    for (int e = 0; e < 300; e += 37) assert_true(schedule_lr(&s, 0.0123f, e) == 0.0123f);
}

/* StepLR(step_size=7, gamma=0.1) from 1e-3: the lr drops after epochs 6
 * and 13, i.e. epoch 7 is the first at 1e-4 and 14 the first at 1e-5. */
static void test_step(void **state)
{
    (void)state;
    Schedule s = parse_ok("step:7:0.1");
    assert_int_equal(s.kind, SCHED_STEP);
    assert_int_equal(s.step, 7);
    assert_true(s.gamma == 0.1f);
    for (int e = 0; e <= 6; e++) expect_lr(&s, 1e-3f, e, 1e-3);
    for (int e = 7; e <= 13; e++) expect_lr(&s, 1e-3f, e, 1e-4);
    for (int e = 14; e <= 20; e++) expect_lr(&s, 1e-3f, e, 1e-5);
    expect_lr(&s, 1e-3f, 21, 1e-6);
    /* The decimals are what is multiplied (0.001 * 0.1, not 0.001f * 0.1f
     * in double), so the result is the float nearest 1e-4, as in PyTorch. */
    assert_true(schedule_lr(&s, 1e-3f, 7) == 1e-4f);
}

/* exp:0.97:5e-5 from 5e-4: lr = 5e-4 * 0.97^e until that drops below 5e-5,
 * i.e. 0.97^e < 0.1, e > ln(0.1)/ln(0.97) = 75.596. So epoch 75 is the
 * last one above the floor (5e-4 * 0.97^75 = 5.0916e-5) and epoch 76 the
 * first one on it (5e-4 * 0.97^76 = 4.9388e-5 -> 5e-5); it stays there. */
static void test_exp_floor(void **state)
{
    (void)state;
    Schedule s = parse_ok("exp:0.97:5e-5");
    assert_int_equal(s.kind, SCHED_EXP);
    expect_lr(&s, 5e-4f, 0, 5e-4);
    expect_lr(&s, 5e-4f, 1, 4.85e-4);
    expect_lr(&s, 5e-4f, 2, 4.7045e-4);
    expect_lr(&s, 5e-4f, 74, 5.2490213597e-05);
    expect_lr(&s, 5e-4f, 75, 5.0915507190e-05);
    for (int e = 76; e < 500; e++) expect_lr(&s, 5e-4f, e, 5e-5);
    /* Monotone non-increasing all the way. */
    for (int e = 1; e < 200; e++) assert_true(schedule_lr(&s, 5e-4f, e) <= schedule_lr(&s, 5e-4f, e - 1));

    /* Without a floor it keeps decaying. */
    Schedule nofloor = parse_ok("exp:0.97");
    assert_true(nofloor.floor == 0.0f);
    expect_lr(&nofloor, 5e-4f, 100, 5e-4 * pow(0.97, 100));
}

/* cosine:100 from 0.1: 0.1 at epoch 0, half at the midpoint (cos = 0),
 * eta_min at T_MAX and held there afterwards (no restart). At a quarter,
 * (1 + cos(pi/4)) / 2 = 0.853553. */
static void test_cosine(void **state)
{
    (void)state;
    Schedule s = parse_ok("cosine:100");
    assert_int_equal(s.kind, SCHED_COSINE);
    assert_int_equal(s.t_max, 100);
    expect_lr(&s, 0.1f, 0, 0.1);
    expect_lr(&s, 0.1f, 25, 0.0853553390593);
    expect_lr(&s, 0.1f, 50, 0.05);
    assert_true(fabsf(schedule_lr(&s, 0.1f, 100)) < 1e-9f);
    assert_true(fabsf(schedule_lr(&s, 0.1f, 150)) < 1e-9f);

    /* With eta_min 0.001: midpoint 0.001 + 0.099 / 2 = 0.0505, quarter
     * 0.001 + 0.099 * 0.853553 = 0.0855018, end 0.001. */
    Schedule m = parse_ok("cosine:100:0.001");
    expect_lr(&m, 0.1f, 0, 0.1);
    expect_lr(&m, 0.1f, 25, 0.0855017856687);
    expect_lr(&m, 0.1f, 50, 0.0505);
    expect_lr(&m, 0.1f, 100, 0.001);
    expect_lr(&m, 0.1f, 1000, 0.001);
}

/* Each bad spec is rejected with a message naming what was expected. */
static void test_bad_specs(void **state)
{
    (void)state;
    static const struct {
        const char *spec, *mentions;
    } bad[] = {
        {"", "constant"},
        {"linear:10", "cosine:T_MAX"},
        {"Step:7:0.1", "step:STEP:GAMMA"},
        {"constant:1", "constant"},
        {"step", "step:STEP:GAMMA"},
        {"step:7", "step:STEP:GAMMA"},
        {"step:7:", "GAMMA"},
        {"step::0.1", "STEP a positive integer"},
        {"step:0:0.1", "STEP a positive integer"},
        {"step:-7:0.1", "STEP a positive integer"},
        {"step:7.5:0.1", "STEP a positive integer"},
        {"step:99999999999:0.1", "STEP a positive integer"},
        {"step: 7:0.1", "step:STEP:GAMMA"},
        {"step:7: 0.1", "step:STEP:GAMMA"},
        {"step:7:0", "GAMMA a number > 0"},
        {"step:7:-0.1", "GAMMA a number > 0"},
        {"step:7:abc", "GAMMA"},
        {"step:7:0.1x", "GAMMA"},
        {"step:7:0.1:3", "step:STEP:GAMMA"},
        {"step:7:0.1:3:4:5", "step:STEP:GAMMA"},
        {"exp", "exp:GAMMA"},
        {"exp:", "exp:GAMMA"},
        {"exp:0", "GAMMA a number > 0"},
        {"exp:-0.5", "GAMMA a number > 0"},
        {"exp:nan", "exp:GAMMA"},
        {"exp:inf", "exp:GAMMA"},
        {"exp:1e99", "exp:GAMMA"},
        {"exp:0.97:-5e-5", "FLOOR a number >= 0"},
        {"exp:0.97:floor", "FLOOR"},
        {"exp:0.97:5e-5:1", "exp:GAMMA:FLOOR"},
        {"cosine", "cosine:T_MAX"},
        {"cosine:0", "T_MAX a positive integer"},
        {"cosine:-10", "T_MAX a positive integer"},
        {"cosine:10.5", "T_MAX a positive integer"},
        {"cosine:10:-0.001", "ETA_MIN a number >= 0"},
        {"cosine:10:0.001:2", "cosine:T_MAX:ETA_MIN"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Schedule s;
        char err[256] = "";
        if (schedule_parse(bad[i].spec, &s, err, sizeof err) != -1) {
            print_error("'%s' was accepted\n", bad[i].spec);
            fail();
        }
        if (err[0] == '\0' || !strstr(err, "expected") || !strstr(err, bad[i].mentions)) {
            print_error("'%s': message '%s' does not say '%s'\n", bad[i].spec, err, bad[i].mentions);
            fail();
        }
    }
    /* A NULL spec, an over-long one and a tiny or missing err buffer are
     * all survivable. */
    Schedule s;
    char tiny[8];
    char longspec[300];
    memset(longspec, '1', sizeof longspec - 1);
    longspec[sizeof longspec - 1] = '\0';
    memcpy(longspec, "step:", 5);
    assert_int_equal(schedule_parse(NULL, &s, tiny, sizeof tiny), -1);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
    assert_int_equal(schedule_parse(longspec, &s, NULL, 0), -1);
    assert_int_equal(schedule_parse("bogus", &s, NULL, 0), -1);
}

static void expect_same(const Schedule *a, const Schedule *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->step, b->step);
    assert_int_equal(a->t_max, b->t_max);
    assert_true(a->gamma == b->gamma);
    assert_true(a->floor == b->floor);
    assert_true(a->eta_min == b->eta_min);
}

/* format(parse(spec)) is the canonical spelling, and parsing that gives the
 * same schedule back, bit for bit. */
static void test_format_round_trip(void **state)
{
    (void)state;
    static const struct {
        const char *spec, *canonical;
    } cases[] = {
        {"constant", "constant"},
        {"step:7:0.1", "step:7:0.1"},
        {"step:30:0.5", "step:30:0.5"},
        {"exp:0.97", "exp:0.97"},
        {"exp:0.97:5e-5", "exp:0.97:5e-05"},
        {"exp:0.97:0", "exp:0.97"},
        {"exp:.95:0.00001", "exp:0.95:1e-05"},
        {"cosine:200", "cosine:200"},
        {"cosine:200:0.001", "cosine:200:0.001"},
        {"cosine:200:0", "cosine:200"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Schedule s = parse_ok(cases[i].spec);
        char buf[128];
        schedule_format(&s, buf, sizeof buf);
        assert_string_equal(buf, cases[i].canonical);
        Schedule back = parse_ok(buf);
        expect_same(&s, &back);
    }
    /* A schedule built in code, with values that are not short decimals,
     * still round-trips exactly. */
    Schedule odd = {.kind = SCHED_EXP, .gamma = 1.0f / 3.0f, .floor = 1e-7f / 3.0f};
    char buf[128];
    schedule_format(&odd, buf, sizeof buf);
    Schedule back = parse_ok(buf);
    expect_same(&odd, &back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constant),
        cmocka_unit_test(test_step),
        cmocka_unit_test(test_exp_floor),
        cmocka_unit_test(test_cosine),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_format_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
