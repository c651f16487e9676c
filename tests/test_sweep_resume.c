/* `sweeprun sweep` over a .tmp that cannot be resumed as it is: a trial's
 * .tmp made from its own finished run (so every forgery starts from a
 * real, consistent file), then one thing broken by hand. Whatever is wrong,
 * the rerun exits 0 with the trial complete: the bad .tmp is set aside as
 * NAME.h5.bad-N (kept, reported in one line) and the trial trained afresh.
 * A consistent .tmp still resumes from its checkpoint. */
#define _XOPEN_SOURCE 700
#include "testutil.h"
#include "h5_forge.h"
#include "runfile.h"
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char err[2048], ini[512], pristine[512], final_path[512], tmp_path[600], log_path[512];

static int sweep_exit_code(void)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s sweep %s --quiet >%s 2>&1", SWEEPRUN_BINARY, ini, log_path);
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int copy_file(const char *from, const char *to)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    return system(cmd) == 0 ? 0 : -1;
}

/* One 2-epoch trial, run once; its finished file is the pristine copy. */
static int setup(void **state)
{
    test_tmpdir_setup(state);
    char out[512], pattern[600];
    test_tmpdir_path(out, sizeof out, "runs");
    test_tmpdir_path(ini, sizeof ini, "forged.ini");
    test_tmpdir_path(log_path, sizeof log_path, "sweep.log");
    test_tmpdir_path(pristine, sizeof pristine, "pristine.h5");
    FILE *f = fopen(ini, "w");
    if (!f) return -1;
    fprintf(f, "[sweep]\nname = forged\nout = %s\n[defaults]\nmodel = gecco\nepochs = 2\n"
               "train_subset = 256\ntest_subset = 100\nthreads = 2\ndevice = cpu\n", out);
    fclose(f);
    if (sweep_exit_code() != 0) {
        fprintf(stderr, "the first sweep failed (MNIST_DIR needed); see %s\n", log_path);
        return -1;
    }
    glob_t g;
    snprintf(pattern, sizeof pattern, "%s/*.h5", out);
    if (glob(pattern, 0, NULL, &g) || g.gl_pathc != 1) return -1;
    snprintf(final_path, sizeof final_path, "%s", g.gl_pathv[0]);
    globfree(&g);
    if (runfile_tmp_path(final_path, tmp_path, sizeof tmp_path)) return -1;
    return copy_file(final_path, pristine);
}

/* The trial as if killed after epoch 1: the finished file back as the
 * .tmp, status running, checkpoint after epoch 1 (row 2 is redone). No
 * final file and no set-aside copies are left. */
static void make_interrupted(void)
{
    char bad[700];
    unlink(final_path);
    for (int n = 1; n <= 3; n++) {
        snprintf(bad, sizeof bad, "%s.bad-%d", final_path, n);
        unlink(bad);
    }
    assert_int_equal(copy_file(pristine, tmp_path), 0);
    set_root_string(tmp_path, "status", "running");
    set_checkpoint_epoch(tmp_path, 1);
}

static int log_mentions(const char *text)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "grep -qF '%s' '%s'", text, log_path);
    return system(cmd) == 0;
}

/* After a rerun: exit 0, the trial complete under its own id with
 * `resumes`, and the .tmp set aside (or not) and reported. */
static void check_rerun(int64_t resumes, int set_aside)
{
    int rc = sweep_exit_code();
    if (rc != 0) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "cat '%s' >&2", log_path);
        (void)system(cmd);
        fail_msg("sweep exited %d", rc);
    }
    RunFile *rf = runfile_open(final_path, err, sizeof err);
    if (!rf) fail_msg("the trial did not finish: %s", err);
    char status[32], id[64], want_id[64];
    int64_t n;
    assert_int_equal(runfile_read_attr_string(rf, "status", status, sizeof status, err, sizeof err), 0);
    assert_string_equal(status, "complete");
    assert_int_equal(runfile_read_attr_int64(rf, "resumes", &n, err, sizeof err), 0);
    assert_int_equal(n, resumes);
    assert_int_equal(runfile_read_attr_string(rf, "trial_id", id, sizeof id, err, sizeof err), 0);
    runfile_close(rf);
    rf = runfile_open(pristine, err, sizeof err);
    assert_int_equal(runfile_read_attr_string(rf, "trial_id", want_id, sizeof want_id, err, sizeof err), 0);
    runfile_close(rf);
    assert_string_equal(id, want_id);
    char bad[700];
    snprintf(bad, sizeof bad, "%s.bad-1", final_path);
    assert_int_equal(access(bad, F_OK) == 0, set_aside);
    assert_int_equal(log_mentions("set aside as"), set_aside);
    assert_true(log_mentions("complete  1"));
}

static void test_consistent_tmp_resumes(void **state)
{
    (void)state;
    make_interrupted();
    check_rerun(1, 0);
}

static void test_checkpoint_past_rows(void **state)
{
    (void)state;
    make_interrupted();
    set_checkpoint_epoch(tmp_path, 2);
    resize_epoch_columns(tmp_path, 1);
    check_rerun(0, 1);
}

static void test_checkpoint_past_configured_epochs(void **state)
{
    (void)state;
    make_interrupted();
    set_checkpoint_epoch(tmp_path, 5);
    check_rerun(0, 1);
}

static void test_missing_column(void **state)
{
    (void)state;
    make_interrupted();
    delete_object(tmp_path, "/epochs/seconds");
    check_rerun(0, 1);
}

static void test_retyped_attribute(void **state)
{
    (void)state;
    make_interrupted();
    set_root_string(tmp_path, "resumes", "twice");
    check_rerun(0, 1);
}

static void test_nan_parameters(void **state)
{
    (void)state;
    make_interrupted();
    poke_first(tmp_path, "/checkpoint/params", NAN);
    check_rerun(0, 1);
}

/* Before the fix this trial was "unreadable", never ran, and the sweep
 * exited 0 calling it finished. */
static void test_other_trials_tmp(void **state)
{
    (void)state;
    make_interrupted();
    set_root_string(tmp_path, "trial_id", "0123456789ab");
    check_rerun(0, 1);
}

/* Killed before its first epoch finished: nothing in it to keep, so it is
 * replaced without a copy. */
static void test_empty_tmp_replaced(void **state)
{
    (void)state;
    make_interrupted();
    unlink(tmp_path);
    RunFile *rf = runfile_create(final_path, err, sizeof err);
    assert_non_null(rf);
    runfile_close(rf);
    check_rerun(0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consistent_tmp_resumes),
        cmocka_unit_test(test_checkpoint_past_rows),
        cmocka_unit_test(test_checkpoint_past_configured_epochs),
        cmocka_unit_test(test_missing_column),
        cmocka_unit_test(test_retyped_attribute),
        cmocka_unit_test(test_nan_parameters),
        cmocka_unit_test(test_other_trials_tmp),
        cmocka_unit_test(test_empty_tmp_replaced),
    };
    return cmocka_run_group_tests(tests, setup, test_tmpdir_teardown);
}
