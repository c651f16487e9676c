/* The fold of a sweep's event log (sweeps/sweep_status.c) on hand-written
 * events: totals across reruns, ETA arithmetic, the best trial chosen on
 * validation only, interrupted trials, and reading a log with a damaged
 * line in the middle and a torn last line. */
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sweep_events.h"
#include "sweep_status.h"

static void apply(SweepStatus *s, const char *json)
{
    cJSON *ev = cJSON_Parse(json);
    assert_non_null(ev);
    sweep_status_apply(s, ev);
    cJSON_Delete(ev);
}

/* Run 1 of a 6-trial gecco sweep on 2 groups: one trial finished before,
 * A running (2 of 4 epochs at 2 s), B complete, C failed before it started. */
static void run_one(SweepStatus *s)
{
    apply(s, "{\"v\":1,\"t\":100,\"event\":\"sweep_start\",\"sweep\":\"x\",\"trials\":6,\"to_run\":5,\"ranks\":2,"
             "\"groups\":2,\"ranks_per_trial\":1,\"finished_before\":{\"complete\":1,\"pruned\":0,\"diverged\":0,"
             "\"failed\":0,\"unreadable\":0},\"plan\":[{\"model\":\"gecco\",\"trials\":5,\"epochs\":20}]}");
    apply(s, "{\"v\":1,\"t\":101,\"event\":\"trial_start\",\"trial\":\"aaaaaaaaaaaa\",\"index\":0,\"model\":\"gecco\","
             "\"epochs\":4,\"start_epoch\":0,\"ranks\":[0],\"host\":\"n1\",\"device\":\"cpu\","
             "\"swept\":{\"lr\":\"0.001\"},\"future_field\":[1,2]}");
    apply(s, "{\"v\":1,\"t\":102,\"event\":\"trial_start\",\"trial\":\"bbbbbbbbbbbb\",\"index\":1,\"model\":\"gecco\","
             "\"epochs\":4,\"start_epoch\":0,\"ranks\":[1],\"host\":\"n1\",\"device\":\"cpu\",\"swept\":{\"lr\":\"0.01\"}}");
    apply(s, "{\"v\":1,\"t\":103,\"event\":\"epoch\",\"trial\":\"aaaaaaaaaaaa\",\"epoch\":1,\"val_accuracy\":0.90,"
             "\"test_accuracy\":0.95,\"seconds\":2}");
    apply(s, "{\"v\":1,\"t\":105,\"event\":\"epoch\",\"trial\":\"aaaaaaaaaaaa\",\"epoch\":2,\"val_accuracy\":0.80,"
             "\"test_accuracy\":0.99,\"seconds\":2}");
    apply(s, "{\"v\":1,\"t\":106,\"event\":\"a_future_event\",\"trial\":\"aaaaaaaaaaaa\"}");
    apply(s, "{\"v\":1,\"t\":107,\"event\":\"trial_end\",\"trial\":\"bbbbbbbbbbbb\",\"index\":1,\"model\":\"gecco\","
             "\"status\":\"complete\",\"epochs\":4,\"epoch\":4,\"best_epoch\":3,\"best_val_accuracy\":0.93,"
             "\"best_epoch_test_accuracy\":0.91}");
    apply(s, "{\"v\":1,\"t\":108,\"event\":\"trial_end\",\"trial\":\"cccccccccccc\",\"index\":2,\"model\":\"gecco\","
             "\"status\":\"failed\",\"epochs\":4,\"epoch\":0,\"best_epoch\":0,\"error\":\"disk full\"}");
}

static void test_totals(void **state)
{
    (void)state;
    SweepStatus s;
    sweep_status_init(&s);
    run_one(&s);
    StatusTotals t;
    sweep_status_totals(&s, &t);
    assert_int_equal(t.by_kind[STATUS_COMPLETE], 2);   /* one before, B */
    assert_int_equal(t.by_kind[STATUS_FAILED], 1);
    assert_int_equal(t.by_kind[STATUS_RUNNING], 1);
    assert_int_equal(t.queued, 2);                     /* 5 to run - A, B, C */
    assert_int_equal(t.done, 3);
    assert_int_equal(t.done + t.by_kind[STATUS_RUNNING] + t.queued, s.n_trials);
    const StatusTrial *a = &s.trials[0];
    assert_string_equal(a->id, "aaaaaaaaaaaa");
    assert_int_equal(a->epoch, 2);
    assert_string_equal(a->ranks, "0");
    assert_string_equal(a->swept_key[0], "lr");
    assert_string_equal(a->swept_value[0], "0.001");
    assert_string_equal(s.trials[2].error, "disk full");
    sweep_status_free(&s);
}

static void test_eta(void **state)
{
    (void)state;
    SweepStatus s;
    sweep_status_init(&s);
    run_one(&s);
    /* A: 2 epochs left at its last 2 s = 4 s. Queued: 20 planned - 3 x 4
     * started = 8 epochs at the model's mean 2 s = 16 s. Two groups: 10 s. */
    int untimed = -1;
    assert_float_equal(sweep_status_trial_eta(&s, &s.trials[0]), 4.0, 1e-12);
    assert_float_equal(sweep_status_eta(&s, &untimed), 10.0, 1e-12);
    assert_int_equal(untimed, 0);
    /* A model with work left and no timed epoch: no ETA, and it says so. */
    SweepStatus u;
    sweep_status_init(&u);
    apply(&u, "{\"v\":1,\"t\":1,\"event\":\"sweep_start\",\"trials\":2,\"to_run\":2,\"groups\":1,"
              "\"plan\":[{\"model\":\"resnet\",\"trials\":2,\"epochs\":10}]}");
    assert_true(isnan(sweep_status_eta(&u, &untimed)));
    assert_int_equal(untimed, 1);
    sweep_status_free(&u);
    sweep_status_free(&s);
}

static void test_best_on_validation_only(void **state)
{
    (void)state;
    SweepStatus s;
    sweep_status_init(&s);
    run_one(&s);
    /* A's best validation is 0.90 (its test 0.95 and 0.99 do not count); B's 0.93 wins. */
    const StatusTrial *b = sweep_status_best(&s);
    assert_non_null(b);
    assert_string_equal(b->id, "bbbbbbbbbbbb");
    assert_float_equal(s.trials[0].best_val, 0.90, 1e-12);
    assert_float_equal(s.trials[0].best_val_test, 0.95, 1e-12);
    assert_int_equal(s.trials[0].best_epoch, 1);
    /* Without a validation split there is no best, whatever the test set says. */
    SweepStatus n;
    sweep_status_init(&n);
    apply(&n, "{\"v\":1,\"t\":1,\"event\":\"sweep_start\",\"trials\":1,\"to_run\":1}");
    apply(&n, "{\"v\":1,\"t\":2,\"event\":\"trial_start\",\"trial\":\"dddddddddddd\",\"model\":\"gecco\",\"epochs\":1}");
    apply(&n, "{\"v\":1,\"t\":3,\"event\":\"epoch\",\"trial\":\"dddddddddddd\",\"epoch\":1,\"val_accuracy\":null,"
              "\"test_accuracy\":0.99,\"seconds\":1}");
    assert_null(sweep_status_best(&n));
    sweep_status_free(&n);
    sweep_status_free(&s);
}

/* Killed while A ran; no sweep holds the lock: A is interrupted. A rerun's
 * sweep_start counts what its scan found and A resumes in run 2. */
static void test_interrupted_and_rerun(void **state)
{
    (void)state;
    SweepStatus s;
    sweep_status_init(&s);
    run_one(&s);
    sweep_status_mark_interrupted(&s);
    StatusTotals t;
    sweep_status_totals(&s, &t);
    assert_int_equal(t.by_kind[STATUS_RUNNING], 0);
    assert_int_equal(t.by_kind[STATUS_INTERRUPTED], 1);
    cJSON *j = sweep_status_json(&s, 0);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(j, "finished")));
    cJSON_Delete(j);
    sweep_status_free(&s);

    sweep_status_init(&s);   /* the same log, read again by a later reader */
    run_one(&s);
    apply(&s, "{\"v\":1,\"t\":200,\"event\":\"sweep_start\",\"trials\":6,\"to_run\":3,\"groups\":2,"
              "\"finished_before\":{\"complete\":2,\"failed\":1},\"plan\":[{\"model\":\"gecco\",\"trials\":3,"
              "\"epochs\":12}]}");
    assert_int_equal(s.runs, 2);
    assert_int_equal(s.trials[0].state, STATUS_INTERRUPTED);
    apply(&s, "{\"v\":1,\"t\":201,\"event\":\"trial_start\",\"trial\":\"aaaaaaaaaaaa\",\"index\":0,\"model\":\"gecco\","
              "\"epochs\":4,\"start_epoch\":2,\"ranks\":[1]}");
    sweep_status_totals(&s, &t);
    assert_int_equal(t.by_kind[STATUS_COMPLETE], 2);
    assert_int_equal(t.by_kind[STATUS_FAILED], 1);
    assert_int_equal(t.by_kind[STATUS_RUNNING], 1);
    assert_int_equal(t.queued, 2);
    assert_int_equal(s.trials[0].epoch, 2);
    assert_string_equal(s.trials[0].ranks, "1");
    sweep_status_free(&s);
}

/* A log with a line that is not JSON and a last line without its newline
 * (a writer killed mid-line): both skipped and counted; the rest is read,
 * and the torn line is read once its newline arrives. */
/* ASHA: a trial paused at a rung waits (neither running nor ended); a
 * promotion's trial_start runs it again; the sweep is unfinished while
 * one waits and no sweep runs. */
static void test_waiting_at_rung(void **state)
{
    (void)state;
    SweepStatus s;
    sweep_status_init(&s);
    run_one(&s);
    apply(&s, "{\"v\":1,\"t\":109,\"event\":\"trial_pause\",\"trial\":\"aaaaaaaaaaaa\",\"index\":0,\"epoch\":2,"
              "\"epochs\":4}");
    StatusTotals t;
    sweep_status_totals(&s, &t);
    assert_int_equal(t.by_kind[STATUS_WAITING], 1);
    assert_int_equal(t.by_kind[STATUS_RUNNING], 0);
    assert_int_equal(t.done, 3);
    assert_int_equal(t.queued, 2);
    assert_int_equal(s.trials[0].epoch, 2);
    cJSON *o = sweep_status_json(&s, 0);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "finished")));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "totals"), "waiting")->valueint, 1);
    cJSON_Delete(o);
    sweep_status_mark_interrupted(&s);   /* no sweep runs: a waiting trial stays waiting */
    assert_int_equal(s.trials[0].state, STATUS_WAITING);
    apply(&s, "{\"v\":1,\"t\":110,\"event\":\"trial_start\",\"trial\":\"aaaaaaaaaaaa\",\"index\":0,\"model\":\"gecco\","
              "\"epochs\":4,\"start_epoch\":2,\"ranks\":[1],\"host\":\"n1\",\"device\":\"cpu\",\"swept\":{}}");
    sweep_status_totals(&s, &t);
    assert_int_equal(t.by_kind[STATUS_WAITING], 0);
    assert_int_equal(t.by_kind[STATUS_RUNNING], 1);
    sweep_status_free(&s);
}

static void test_read_damaged_log(void **state)
{
    test_tmpdir_setup(state);
    char path[600];
    test_tmpdir_path(path, sizeof path, "events.jsonl");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"v\":1,\"t\":1,\"event\":\"sweep_start\",\"sweep\":\"x\",\"trials\":2,\"to_run\":2}\n", f);
    fputs("{\"v\":1,\"t\":2,\"event\":\"trial_st\n", f);
    fputs("{\"v\":1,\"t\":3,\"event\":\"trial_start\",\"trial\":\"aaaaaaaaaaaa\",\"epochs\":2}\n", f);
    fputs("{\"v\":1,\"t\":4,\"event\":\"trial_end\",\"trial\":\"aaaaaaaaaaaa\",\"status\":\"comp", f);
    fclose(f);
    SweepStatus s;
    sweep_status_init(&s);
    assert_int_equal(sweep_status_read(&s, path), 0);
    assert_int_equal(s.lines, 3);
    assert_int_equal(s.bad_lines, 1);
    assert_int_equal(s.first_bad_line, 2);
    assert_true(s.torn_bytes > 0);
    assert_int_equal(s.trials[0].state, STATUS_RUNNING);
    f = fopen(path, "a");
    fputs("lete\",\"epoch\":2}\n", f);
    fclose(f);
    assert_int_equal(sweep_status_read(&s, path), 0);
    assert_int_equal(s.torn_bytes, 0);
    assert_int_equal(s.trials[0].state, STATUS_COMPLETE);
    assert_int_equal(s.trials[0].epoch, 2);
    sweep_status_free(&s);
    test_tmpdir_teardown(state);
}

/* What the writer appends reads back: numbers, NaN as null, one line each. */
static void test_append_round_trip(void **state)
{
    test_tmpdir_setup(state);
    SweepEventLog log;
    char err[512];
    assert_int_equal(sweep_events_open(&log, test_tmpdir, err, sizeof err), 0);
    cJSON *ev = sweep_event_new("epoch", "x");
    cJSON_AddStringToObject(ev, "trial", "aaaaaaaaaaaa");
    sweep_event_number(ev, "val_accuracy", NAN);
    sweep_event_number(ev, "test_accuracy", 0.5);
    assert_int_equal(sweep_events_append(&log, ev), 0);
    sweep_events_close(&log);
    FILE *f = fopen(log.path, "r");
    char line[512];
    assert_non_null(fgets(line, sizeof line, f));
    assert_null(fgets(line + strlen(line), 2, f));   /* exactly one line */
    fclose(f);
    assert_non_null(strstr(line, "\"val_accuracy\":null"));
    assert_non_null(strstr(line, "\"test_accuracy\":0.5"));
    assert_int_equal(line[strlen(line) - 1], '\n');
    test_tmpdir_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_totals),
        cmocka_unit_test(test_eta),
        cmocka_unit_test(test_best_on_validation_only),
        cmocka_unit_test(test_interrupted_and_rerun),
        cmocka_unit_test(test_waiting_at_rung),
        cmocka_unit_test(test_read_damaged_log),
        cmocka_unit_test(test_append_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
