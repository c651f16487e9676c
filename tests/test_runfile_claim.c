/* Who may write a run file: a run's .tmp is claimed by one writer at a
 * time (a second `sweeprun train` with the same --out must not truncate the
 * first one's file), a writer notices when its file is replaced under it,
 * and a symbolic link planted at the .tmp name is never written through. */
#define _XOPEN_SOURCE 700
#include "testutil.h"
#include "runfile.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char err[2048];

/* A call that must succeed; what names it in the failure. */
static void ok(int rc, const char *what)
{
    if (rc != 0) fail_msg("%s failed: %s", what, err);
}

static int exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static void paths(const char *name, char *final, char *tmp)
{
    test_tmpdir_path(final, 512, name);
    assert_int_equal(runfile_tmp_path(final, tmp, 600), 0);
}

/* A new run in the test folder: its final and .tmp names, and the writer. */
static RunFile *new_run(const char *name, char *final, char *tmp)
{
    paths(name, final, tmp);
    RunFile *rf = runfile_create(final, err, sizeof err);
    if (!rf) fail_msg("create %s: %s", name, err);
    return rf;
}

static void assert_err_has(const char *a, const char *b)
{
    if (!strstr(err, a) || !strstr(err, b))
        fail_msg("message \"%s\" should mention \"%s\" and \"%s\"", err, a, b);
}

static void append_epochs(RunFile *rf, int from, int to)
{
    for (int i = from; i <= to; i++) {
        RunEpoch e = {i, 1.0 / i, 0.5, 1.0 / i, 0.5, 0.1, 1.0, NAN, NAN};
        ok(runfile_append_epoch(rf, &e, err, sizeof err), "append");
    }
}

static long epochs_in(const char *path)
{
    RunFile *rf = runfile_open(path, err, sizeof err);
    if (!rf) fail_msg("open %s: %s", path, err);
    RunEpochs ep;
    ok(runfile_read_epochs(rf, &ep, err, sizeof err), "read epochs");
    long n = ep.count;
    run_epochs_free(&ep);
    runfile_close(rf);
    return n;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void assert_text(const char *path, const char *text)
{
    char buf[256] = "";
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_string_equal(buf, text);
}

/* ---- two writers -------------------------------------------------------- */

/* The two processes take turns by passing one byte through a pipe: no
 * timing. A child whose parent is gone reads end of file and leaves. */
static void await_pipe(int fd)
{
    char c;
    if (read(fd, &c, 1) != 1) _exit(9);
}

/* The first writer: creates the run, writes two epochs, lets the parent
 * try its own create, then writes a third epoch and finishes. */
static void first_writer(const char *final, int ready, int go)
{
    char e[512];
    RunFile *rf = runfile_create(final, e, sizeof e);
    if (!rf) _exit(2);
    RunEpoch row = {1, 1, 0.5, 1, 0.5, 0.1, 1, NAN, NAN};
    for (int i = 1; i <= 2; i++, row.epoch++)
        if (runfile_append_epoch(rf, &row, e, sizeof e) != 0) _exit(3);
    if (write(ready, "x", 1) != 1) _exit(8);
    await_pipe(go);
    if (runfile_append_epoch(rf, &row, e, sizeof e) != 0) _exit(4);
    _exit(runfile_finish(rf, "complete", e, sizeof e) != 0 ? 5 : 0);
}

static void test_second_writer_is_refused(void **state)
{
    (void)state;
    char final[512], tmp[600];
    paths("two.h5", final, tmp);
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);   /* each side keeps only its own ends, so a side */
        close(go[1]);      /* that dies is seen as end of file, not awaited */
        first_writer(final, ready[1], go[0]);
    }
    close(ready[1]);
    close(go[0]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);   /* the first run has two epochs */
    struct stat before, after;
    assert_int_equal(stat(tmp, &before), 0);

    assert_null(runfile_create(final, err, sizeof err));
    assert_err_has(tmp, "another process is writing");
    assert_null(runfile_resume(final, 1, err, sizeof err));
    assert_err_has(tmp, "another process is writing");
    assert_int_equal(stat(tmp, &after), 0);
    assert_true(after.st_ino == before.st_ino && after.st_size == before.st_size);

    assert_int_equal(write(go[1], "x", 1), 1);
    close(go[1]);
    close(ready[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(epochs_in(final), 3);   /* the first run is whole */
}

/* A resumer is a writer like any other: it may reopen a .tmp nobody holds. */
static void test_resumer_may_claim_an_idle_tmp(void **state)
{
    (void)state;
    char final[512], tmp[600];
    RunFile *rf = new_run("idle.h5", final, tmp);
    append_epochs(rf, 1, 2);
    runfile_close(rf);
    rf = runfile_resume(final, 2, err, sizeof err);
    if (!rf) fail_msg("resume: %s", err);
    assert_null(runfile_resume(final, 2, err, sizeof err));   /* but only one at a time */
    assert_err_has(tmp, "another process is writing");
    append_epochs(rf, 3, 3);
    ok(runfile_finish(rf, "complete", err, sizeof err), "finish");
    assert_int_equal(epochs_in(final), 3);
}

/* ---- a file replaced under its writer ----------------------------------- */

static void test_replaced_file_is_noticed(void **state)
{
    (void)state;
    char final[512], tmp[600], moved[700];
    RunFile *rf = new_run("replaced.h5", final, tmp);
    snprintf(moved, sizeof moved, "%s.moved", tmp);
    append_epochs(rf, 1, 1);
    assert_int_equal(rename(tmp, moved), 0);
    write_text(tmp, "someone else's file\n");

    RunEpoch e = {2, 1, 0.5, 1, 0.5, 0.1, 1, NAN, NAN};
    assert_int_equal(runfile_append_epoch(rf, &e, err, sizeof err), -1);
    assert_err_has(tmp, "replaced");
    assert_int_equal(runfile_finish(rf, "complete", err, sizeof err), -1);
    assert_err_has(tmp, "replaced");
    assert_false(exists(final));                      /* nothing renamed into place */
    assert_text(tmp, "someone else's file\n");       /* and the newcomer untouched */
}

static void test_abandon_leaves_a_replacement_alone(void **state)
{
    (void)state;
    char final[512], tmp[600];
    RunFile *rf = new_run("abandon-replaced.h5", final, tmp);
    assert_int_equal(unlink(tmp), 0);
    write_text(tmp, "newcomer\n");
    runfile_abandon(rf);
    assert_text(tmp, "newcomer\n");
}

/* ---- symbolic links ----------------------------------------------------- */

static void test_symlinked_tmp_is_refused(void **state)
{
    (void)state;
    char final[512], tmp[600], victim[512];
    paths("linked.h5", final, tmp);
    test_tmpdir_path(victim, sizeof victim, "victim.txt");
    write_text(victim, "precious\n");
    assert_int_equal(symlink(victim, tmp), 0);

    assert_null(runfile_create(final, err, sizeof err));
    assert_err_has(tmp, "symbolic link");
    assert_null(runfile_resume(final, 0, err, sizeof err));
    assert_err_has(tmp, "symbolic link");
    assert_text(victim, "precious\n");
    assert_false(exists(final));
    struct stat st;
    assert_int_equal(lstat(tmp, &st), 0);
    assert_true(S_ISLNK(st.st_mode));                 /* the link itself is left as found */
}

static void test_dangling_symlink_is_not_created_through(void **state)
{
    (void)state;
    char final[512], tmp[600], target[512];
    paths("dangling.h5", final, tmp);
    test_tmpdir_path(target, sizeof target, "would-be-created");
    assert_int_equal(symlink(target, tmp), 0);
    assert_null(runfile_create(final, err, sizeof err));
    assert_err_has(tmp, "symbolic link");
    assert_false(exists(target));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_writer_is_refused),
        cmocka_unit_test(test_resumer_may_claim_an_idle_tmp),
        cmocka_unit_test(test_replaced_file_is_noticed),
        cmocka_unit_test(test_abandon_leaves_a_replacement_alone),
        cmocka_unit_test(test_symlinked_tmp_is_refused),
        cmocka_unit_test(test_dangling_symlink_is_not_created_through),
    };
    return cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown);
}
