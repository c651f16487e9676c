/* HDF5 run files: full write/read round trip, the .tmp/rename protocol,
 * refusal to overwrite, resumable interrupted runs (a child process killed
 * with SIGKILL), in-place rewrites, and clear errors on bad files. */
#define _XOPEN_SOURCE 700
#include "testutil.h"
#include "runfile.h"
#include "h5_forge.h"
#include <fcntl.h>
#include <ftw.h>
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char err[2048];


static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static long file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static void tmp_of(const char *final, char *buf, size_t size)
{
    assert_int_equal(runfile_tmp_path(final, buf, size), 0);
}

/* err must contain every non-NULL fact. */
static void assert_err_has(const char *a, const char *b, const char *c)
{
    if ((a && !strstr(err, a)) || (b && !strstr(err, b)) || (c && !strstr(err, c)))
        fail_msg("message \"%s\" should mention \"%s\", \"%s\" and \"%s\"", err, a ? a : "",
                 b ? b : "", c ? c : "");
}

#define OK(call)                                         \
    do {                                                 \
        if ((call) != 0) fail_msg("%s failed: %s", #call, err); \
    } while (0)

/* ---- fixtures ---------------------------------------------------------- */

/* A small model: a 2-D and a 1-D parameter, a buffer and a counter (the
 * counter registered the way compute/model.c does: shape [1]). */
static void make_table(ParamTable *t, int fc_in)
{
    int w[2] = {3, fc_in}, b[1] = {3}, one[1] = {1};
    param_table_init(t);
    param_table_add(t, "fc1.weight", ENTRY_PARAM, INIT_UNIFORM_FAN_IN, fc_in, 3, 2, w);
    param_table_add(t, "fc1.bias", ENTRY_PARAM, INIT_UNIFORM_FAN_IN, fc_in, 3, 1, b);
    param_table_add(t, "bn1.running_mean", ENTRY_BUFFER, INIT_ZEROS, 0, 0, 1, b);
    param_table_add(t, "bn1.num_batches_tracked", ENTRY_COUNTER, INIT_ZEROS, 0, 0, 1, one);
}

typedef struct Model {
    ParamTable t;
    float *params, *buffers;
} Model;

static void make_model(Model *m, int fc_in, uint64_t seed)
{
    make_table(&m->t, fc_in);
    m->params = calloc((size_t)m->t.n_params, sizeof(float));
    m->buffers = calloc((size_t)m->t.n_buffers, sizeof(float));
    fill_uniform(m->params, m->t.n_params, &seed, -1, 1);
    fill_uniform(m->buffers, m->t.n_buffers - 1, &seed, -1, 1);
    m->buffers[m->t.n_buffers - 1] = 1875.0f;   /* the counter */
}

static void free_model(Model *m)
{
    param_table_free(&m->t);
    free(m->params);
    free(m->buffers);
}

static RunEpoch epoch_row(int i)
{
    RunEpoch e = {i, 1.0 / i, 0.9 + 0.01 * i, 1.1 / i, 0.88 + 0.01 * i, 0.1 / i, 12.5 + i,
                  1.2 / i, 0.87 + 0.01 * i};
    return e;
}

static void append_epochs(RunFile *rf, int from, int to)
{
    for (int i = from; i <= to; i++) {
        RunEpoch e = epoch_row(i);
        OK(runfile_append_epoch(rf, &e, err, sizeof err));
    }
}

static void check_epochs(RunFile *rf, int n)
{
    RunEpochs ep;
    OK(runfile_read_epochs(rf, &ep, err, sizeof err));
    assert_int_equal(ep.count, n);
    for (int i = 0; i < n; i++) {
        RunEpoch e = epoch_row(i + 1);
        assert_int_equal(ep.epoch[i], e.epoch);
        assert_true(ep.train_loss[i] == e.train_loss && ep.train_accuracy[i] == e.train_accuracy);
        assert_true(ep.test_loss[i] == e.test_loss && ep.test_accuracy[i] == e.test_accuracy);
        assert_true(ep.lr[i] == e.lr && ep.seconds[i] == e.seconds);
        assert_true(ep.val_loss[i] == e.val_loss && ep.val_accuracy[i] == e.val_accuracy);
    }
    assert_int_equal(ep.has_validation, n > 0);
    run_epochs_free(&ep);
}

/* Test results for K=3 with m misclassified samples. */
static void write_results(RunFile *rf, long m, int64_t base)
{
    int64_t conf[9];
    int32_t idx[8], pred[8], lab[8];
    for (int i = 0; i < 9; i++) conf[i] = base + i;
    for (int i = 0; i < m; i++) {
        idx[i] = 100 * i + 7;
        pred[i] = i % 3;
        lab[i] = (i + 1) % 3;
    }
    RunTestResults t = {.num_classes = 3, .confusion = conf, .n_mis = m, .mis_index = idx,
                        .mis_pred = pred, .mis_label = lab};
    OK(runfile_write_test_results(rf, &t, err, sizeof err));
}

static void check_results(RunFile *rf, long m, int64_t base)
{
    RunTestResults t;
    OK(runfile_read_test_results(rf, &t, err, sizeof err));
    assert_int_equal(t.num_classes, 3);
    for (int i = 0; i < 9; i++) assert_int_equal(t.confusion[i], base + i);
    assert_int_equal(t.n_mis, m);
    assert_int_equal(t.n_mis_images, 0);   /* none written: optional */
    assert_int_equal(t.n_context, 0);
    for (int i = 0; i < m; i++) {
        assert_int_equal(t.mis_index[i], 100 * i + 7);
        assert_int_equal(t.mis_pred[i], i % 3);
        assert_int_equal(t.mis_label[i], (i + 1) % 3);
    }
    run_test_results_free(&t);
}

static void write_checkpoint(RunFile *rf, const Model *m, float *s1, float *s2, int64_t epoch)
{
    RunCheckpoint ck = {m->params, m->t.n_params, m->buffers, m->t.n_buffers,
                        s1, s2, s1 ? m->t.n_params : 0, 100 * epoch, epoch, 0, 0, 0, 0};
    OK(runfile_write_checkpoint(rf, &ck, err, sizeof err));
}

/* ---- tests ------------------------------------------------------------- */

static void write_attrs(RunFile *rf)
{
    OK(runfile_set_attr_string(rf, "trial_id", "t0007", err, sizeof err));
    OK(runfile_set_attr_string(rf, "model", "testnet", err, sizeof err));
    OK(runfile_set_attr_string(rf, "sweep", "placeholder", err, sizeof err));
    OK(runfile_set_attr_string(rf, "sweep", "table2 \xc2\xb5", err, sizeof err));   /* overwrite, UTF-8 */
    OK(runfile_set_attr_int64(rf, "seed", 1234567890123LL, err, sizeof err));
    OK(runfile_set_attr_double(rf, "lr", 0.0125, err, sizeof err));
    OK(runfile_set_attr_double(rf, "best_test_accuracy", 0.5, err, sizeof err));
    OK(runfile_set_attr_double(rf, "best_test_accuracy", 0.9931, err, sizeof err));
}

static void check_attrs(RunFile *rf, const char *status)
{
    char s[64];
    double d;
    int64_t v;
    OK(runfile_read_attr_string(rf, "format", s, sizeof s, err, sizeof err));
    assert_string_equal(s, RUNFILE_FORMAT);
    OK(runfile_read_attr_int64(rf, "format_version", &v, err, sizeof err));
    assert_int_equal(v, RUNFILE_FORMAT_VERSION);
    OK(runfile_read_attr_string(rf, "status", s, sizeof s, err, sizeof err));
    assert_string_equal(s, status);
    OK(runfile_read_attr_string(rf, "sweep", s, sizeof s, err, sizeof err));
    assert_string_equal(s, "table2 \xc2\xb5");
    OK(runfile_read_attr_int64(rf, "seed", &v, err, sizeof err));
    assert_int_equal(v, 1234567890123LL);
    OK(runfile_read_attr_double(rf, "lr", &d, err, sizeof err));
    assert_true(d == 0.0125);
    OK(runfile_read_attr_double(rf, "best_test_accuracy", &d, err, sizeof err));
    assert_true(d == 0.9931);
    OK(runfile_read_attr_double(rf, "seed", &d, err, sizeof err));   /* int read as double */
    assert_true(d == 1234567890123.0);
}

static void check_weights(const char *path, const Model *m)
{
    Model back;
    make_model(&back, m->t.entries[0].dims[1], 999);
    OK(runfile_read_weights(path, &back.t, back.params, back.buffers, err, sizeof err));
    assert_memory_equal(back.params, m->params, (size_t)m->t.n_params * sizeof(float));
    assert_memory_equal(back.buffers, m->buffers, (size_t)m->t.n_buffers * sizeof(float));
    free_model(&back);
}

static void check_checkpoint(const char *path, const Model *m, const float *s1, const float *s2,
                             int64_t epoch)
{
    long n = m->t.n_params;
    float *p = calloc((size_t)n, 4), *b = calloc((size_t)m->t.n_buffers, 4);
    float *a1 = calloc((size_t)n, 4), *a2 = calloc((size_t)n, 4);
    RunCheckpoint ck = {p, n, b, m->t.n_buffers, s1 ? a1 : NULL, s2 ? a2 : NULL, s1 ? n : 0, 0, 0, 0, 0, 0, 0};
    OK(runfile_read_checkpoint(path, &ck, err, sizeof err));
    assert_int_equal(ck.epoch, epoch);
    assert_int_equal(ck.step, 100 * epoch);
    assert_memory_equal(p, m->params, (size_t)n * 4);
    assert_memory_equal(b, m->buffers, (size_t)m->t.n_buffers * 4);
    if (s1) assert_memory_equal(a1, s1, (size_t)n * 4);
    if (s2) assert_memory_equal(a2, s2, (size_t)n * 4);
    free(p), free(b), free(a1), free(a2);
}

static void test_round_trip(void **state)
{
    (void)state;
    char final[512], tmp[600];
    test_tmpdir_path(final, sizeof final, "roundtrip.h5");
    tmp_of(final, tmp, sizeof tmp);
    Model m;
    make_model(&m, 4, 42);
    float s1[15], s2[15];
    uint64_t seed = 7;
    fill_uniform(s1, 15, &seed, 0, 1);
    fill_uniform(s2, 15, &seed, 0, 1);

    RunFile *rf = runfile_create(final, err, sizeof err);
    if (!rf) fail_msg("create: %s", err);
    assert_true(exists(tmp));
    assert_false(exists(final));
    write_attrs(rf);
    append_epochs(rf, 1, 3);
    write_results(rf, 5, 10);
    write_results(rf, 2, 20);   /* rewrite: smaller list, new matrix */
    write_checkpoint(rf, &m, NULL, NULL, 1);
    write_checkpoint(rf, &m, s1, s2, 3);
    OK(runfile_write_weights(rf, &m.t, m.params, m.buffers, err, sizeof err));
    check_epochs(rf, 3);   /* the writer can read its own file */
    OK(runfile_finish(rf, "complete", err, sizeof err));

    assert_false(exists(tmp));
    assert_true(exists(final));
    rf = runfile_open(final, err, sizeof err);
    if (!rf) fail_msg("open: %s", err);
    check_attrs(rf, "complete");
    check_epochs(rf, 3);
    check_results(rf, 2, 20);
    runfile_close(rf);
    check_weights(final, &m);
    check_checkpoint(final, &m, s1, s2, 3);
    free_model(&m);
}

/* The counter is a 0-d int64 and weights are float32 of the entry's shape,
 * as PyTorch's state_dict has them. */
static void test_weight_layout(void **state)
{
    (void)state;
    char final[512];
    test_tmpdir_path(final, sizeof final, "layout.h5");
    Model m;
    make_model(&m, 4, 3);
    RunFile *rf = runfile_create(final, err, sizeof err);
    assert_non_null(rf);
    OK(runfile_write_weights(rf, &m.t, m.params, m.buffers, err, sizeof err));
    OK(runfile_finish(rf, "complete", err, sizeof err));

    hid_t f = H5Fopen(final, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, "/weights/bn1.num_batches_tracked", H5P_DEFAULT);
    hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
    assert_int_equal(H5Sget_simple_extent_type(sp), H5S_SCALAR);
    assert_true(H5Tequal(t, H5T_STD_I64LE) > 0);
    int64_t v = 0;
    assert_true(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) >= 0);
    assert_int_equal(v, 1875);
    H5Tclose(t), H5Sclose(sp), H5Dclose(d);
    d = H5Dopen2(f, "/weights/fc1.weight", H5P_DEFAULT);
    sp = H5Dget_space(d), t = H5Dget_type(d);
    hsize_t dims[2];
    assert_int_equal(H5Sget_simple_extent_dims(sp, dims, NULL), 2);
    assert_true(dims[0] == 3 && dims[1] == 4);
    assert_true(H5Tequal(t, H5T_IEEE_F32LE) > 0);
    H5Tclose(t), H5Sclose(sp), H5Dclose(d);
    H5Fclose(f);
    free_model(&m);
}

static void test_empty_misclassified(void **state)
{
    (void)state;
    char final[512];
    test_tmpdir_path(final, sizeof final, "perfect.h5");
    RunFile *rf = runfile_create(final, err, sizeof err);
    assert_non_null(rf);
    write_results(rf, 0, 1);
    OK(runfile_finish(rf, "complete", err, sizeof err));
    rf = runfile_open(final, err, sizeof err);
    assert_non_null(rf);
    check_results(rf, 0, 1);
    check_epochs(rf, 0);   /* no epochs: empty columns, not an error */
    runfile_close(rf);
}

/* m misclassified samples of which the first n keep 4x5 pixels, each
 * pixel a function of (sample, position, salt). */
static int write_images(RunFile *rf, long m, long n, int salt)
{
    int64_t conf[9] = {[2 * 3 + 1] = m};   /* all m: true label 2, predicted 1 */
    int32_t idx[600], pred[600], lab[600];
    static uint8_t px[600 * 20];
    for (long i = 0; i < m; i++) idx[i] = (int32_t)i, pred[i] = 1, lab[i] = 2;
    for (long i = 0; i < n * 20; i++) px[i] = (uint8_t)(i * 7 + salt);
    RunTestResults t = {.num_classes = 3, .confusion = conf, .n_mis = m, .mis_index = idx,
                        .mis_pred = pred, .mis_label = lab, .n_mis_images = n,
                        .image_rows = 4, .image_cols = 5, .mis_images = px};
    return runfile_write_test_results(rf, &t, err, sizeof err);
}

static void check_images(RunFile *rf, long n, int salt)
{
    RunTestResults t;
    OK(runfile_read_test_results(rf, &t, err, sizeof err));
    assert_int_equal(t.n_mis_images, n);
    if (n) {
        assert_int_equal(t.image_rows, 4);
        assert_int_equal(t.image_cols, 5);
    }
    for (long i = 0; i < n * 20; i++) assert_int_equal(t.mis_images[i], (uint8_t)(i * 7 + salt));
    run_test_results_free(&t);
}

static void test_misclassified_images(void **state)
{
    (void)state;
    char final[512], tmp[600];
    test_tmpdir_path(final, sizeof final, "images.h5");
    tmp_of(final, tmp, sizeof tmp);
    RunFile *rf = runfile_create(final, err, sizeof err);
    assert_non_null(rf);
    OK(write_images(rf, 5, 3, 1));
    /* more images than misclassified samples, or past the cap: refused */
    assert_int_equal(write_images(rf, 2, 3, 0), -1);
    assert_err_has("3 misclassified images", "of 2", NULL);
    assert_int_equal(write_images(rf, 600, RUNFILE_MAX_MIS_IMAGES + 1, 0), -1);
    assert_err_has("at most 512", NULL, NULL);
    /* rewrites shrink and grow in place; the latest wins */
    long size1 = file_size(tmp);
    for (int i = 0; i < 20; i++) OK(write_images(rf, 300, i % 2 ? 0 : 200, i));
    OK(write_images(rf, 4, 2, 9));
    if (file_size(tmp) - size1 > 40000) fail_msg("file grew from %ld to %ld bytes", size1, file_size(tmp));
    OK(runfile_finish(rf, "complete", err, sizeof err));
    rf = runfile_open(final, err, sizeof err);
    assert_non_null(rf);
    check_images(rf, 2, 9);
    runfile_close(rf);
    /* the context batch: stored beside, read back, capped */
    char ctx_path[512];
    test_tmpdir_path(ctx_path, sizeof ctx_path, "context.h5");
    rf = runfile_create(ctx_path, err, sizeof err);
    int64_t conf[9] = {0};
    uint8_t px[3 * 20];
    for (int i = 0; i < 60; i++) px[i] = (uint8_t)(3 * i + 1);
    RunTestResults c = {.num_classes = 3, .confusion = conf, .image_rows = 4, .image_cols = 5,
                        .n_context = 3, .context_images = px};
    OK(runfile_write_test_results(rf, &c, err, sizeof err));
    c.n_context = RUNFILE_MAX_CONTEXT_IMAGES + 1;
    assert_int_equal(runfile_write_test_results(rf, &c, err, sizeof err), -1);
    assert_err_has("context images (at most 1024)", NULL, NULL);
    OK(runfile_finish(rf, "complete", err, sizeof err));
    rf = runfile_open(ctx_path, err, sizeof err);
    RunTestResults back;
    OK(runfile_read_test_results(rf, &back, err, sizeof err));
    assert_int_equal(back.n_context, 3);
    assert_int_equal(back.n_mis_images, 0);
    assert_int_equal(back.image_rows, 4);
    assert_memory_equal(back.context_images, px, 60);
    run_test_results_free(&back);
    runfile_close(rf);
    /* no images after some: the dataset is cut to 0 rows */
    char other[512];
    test_tmpdir_path(other, sizeof other, "images0.h5");
    rf = runfile_create(other, err, sizeof err);
    OK(write_images(rf, 5, 5, 3));
    OK(write_images(rf, 5, 0, 3));
    OK(runfile_finish(rf, "complete", err, sizeof err));
    rf = runfile_open(other, err, sizeof err);
    check_images(rf, 0, 0);
    runfile_close(rf);
}

static void test_create_refuses_existing(void **state)
{
    (void)state;
    char final[512];
    test_tmpdir_path(final, sizeof final, "done.h5");
    FILE *f = fopen(final, "w");
    fputs("precious results", f);
    fclose(f);
    assert_null(runfile_create(final, err, sizeof err));
    assert_err_has(final, "already exists", NULL);
    assert_int_equal(file_size(final), 16);
    /* nor can a finished run be resumed */
    assert_null(runfile_resume(final, 0, err, sizeof err));
    assert_err_has(final, "already finished", NULL);
}

static void test_diverged_and_bad_status(void **state)
{
    (void)state;
    char final[512], tmp[600], s[32];
    test_tmpdir_path(final, sizeof final, "diverged.h5");
    tmp_of(final, tmp, sizeof tmp);
    RunFile *rf = runfile_create(final, err, sizeof err);
    assert_non_null(rf);
    RunEpoch e = epoch_row(1);
    e.train_loss = NAN;   /* a diverged epoch is recorded as it was */
    OK(runfile_append_epoch(rf, &e, err, sizeof err));
    OK(runfile_finish(rf, "diverged", err, sizeof err));
    assert_true(exists(final));
    rf = runfile_open(final, err, sizeof err);
    OK(runfile_read_attr_string(rf, "status", s, sizeof s, err, sizeof err));
    assert_string_equal(s, "diverged");
    RunEpochs ep;
    OK(runfile_read_epochs(rf, &ep, err, sizeof err));
    assert_true(ep.count == 1 && isnan(ep.train_loss[0]));
    run_epochs_free(&ep);
    runfile_close(rf);

    test_tmpdir_path(final, sizeof final, "badstatus.h5");
    tmp_of(final, tmp, sizeof tmp);
    rf = runfile_create(final, err, sizeof err);
    assert_int_equal(runfile_finish(rf, "done", err, sizeof err), -1);
    assert_err_has(tmp, "'done'", "expected complete, diverged, failed or pruned");
    assert_true(exists(tmp));   /* nothing is lost */
    assert_false(exists(final));
}

static void test_abandon_and_close(void **state)
{
    (void)state;
    char final[512], tmp[600];
    test_tmpdir_path(final, sizeof final, "abandoned.h5");
    tmp_of(final, tmp, sizeof tmp);
    RunFile *rf = runfile_create(final, err, sizeof err);
    assert_non_null(rf);
    runfile_abandon(rf);
    assert_false(exists(tmp));
    assert_false(exists(final));

    /* close = stop here: the .tmp stays and can be resumed and finished */
    rf = runfile_create(final, err, sizeof err);
    append_epochs(rf, 1, 2);
    runfile_close(rf);
    assert_true(exists(tmp));
    rf = runfile_resume(final, 2, err, sizeof err);
    if (!rf) fail_msg("resume: %s", err);
    append_epochs(rf, 3, 3);
    OK(runfile_finish(rf, "complete", err, sizeof err));
    rf = runfile_open(final, err, sizeof err);
    check_epochs(rf, 3);
    runfile_close(rf);

    /* a read-only handle refuses writes and abandon does not delete it */
    rf = runfile_open(final, err, sizeof err);
    assert_int_equal(runfile_set_attr_int64(rf, "x", 1, err, sizeof err), -1);
    assert_err_has(final, "read-only", NULL);
    runfile_abandon(rf);
    assert_true(exists(final));
}

/* A run killed with SIGKILL after two epochs and a checkpoint: the .tmp
 * keeps both epochs and the checkpoint, and the run can be resumed from it
 * (the epoch written after the checkpoint is dropped and redone). */
static void killed_child(const char *final, const Model *m)
{
    char e[512];
    RunFile *rf = runfile_create(final, e, sizeof e);
    if (!rf) _exit(2);
    for (int i = 1; i <= 3; i++) {
        RunEpoch row = epoch_row(i);
        if (i == 3) row.train_loss = row.val_accuracy = 99.0;   /* redone after the resume */
        if (runfile_append_epoch(rf, &row, e, sizeof e) != 0) _exit(3);
        if (i == 2) {
            RunCheckpoint ck = {m->params, m->t.n_params, m->buffers, m->t.n_buffers,
                                NULL, NULL, 0, 200, 2, 0, 0, 0, 0};
            if (runfile_write_checkpoint(rf, &ck, e, sizeof e) != 0) _exit(4);
        }
    }
    raise(SIGKILL);
    _exit(5);
}

static void test_killed_run_is_resumable(void **state)
{
    (void)state;
    char final[512], tmp[600];
    test_tmpdir_path(final, sizeof final, "killed.h5");
    tmp_of(final, tmp, sizeof tmp);
    Model m;
    make_model(&m, 4, 11);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) killed_child(final, &m);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_false(exists(final));

    RunFile *rf = runfile_open(tmp, err, sizeof err);
    if (!rf) fail_msg("open killed run: %s", err);
    char s[32];
    OK(runfile_read_attr_string(rf, "status", s, sizeof s, err, sizeof err));
    assert_string_equal(s, "running");
    RunEpochs ep;
    OK(runfile_read_epochs(rf, &ep, err, sizeof err));
    assert_int_equal(ep.count, 3);
    run_epochs_free(&ep);
    runfile_close(rf);
    check_checkpoint(tmp, &m, NULL, NULL, 2);

    rf = runfile_resume(final, 2, err, sizeof err);
    if (!rf) fail_msg("resume: %s", err);
    append_epochs(rf, 3, 4);
    OK(runfile_finish(rf, "complete", err, sizeof err));
    rf = runfile_open(final, err, sizeof err);
    check_epochs(rf, 4);
    OK(runfile_read_attr_string(rf, "status", s, sizeof s, err, sizeof err));
    assert_string_equal(s, "complete");
    runfile_close(rf);
    free_model(&m);
}

/* Rewriting weights, checkpoint and test results every epoch must not grow
 * the file: HDF5 never reuses the space of deleted datasets, so these are
 * overwritten in place. */
static void test_rewrites_in_place(void **state)
{
    (void)state;
    char final[512], tmp[600];
    test_tmpdir_path(final, sizeof final, "inplace.h5");
    tmp_of(final, tmp, sizeof tmp);
    Model m;
    make_model(&m, 500, 5);   /* ~6 KB of parameters */
    RunFile *rf = runfile_create(final, err, sizeof err);
    long size1 = 0;
    for (int i = 1; i <= 30; i++) {
        append_epochs(rf, i, i);
        write_results(rf, i % 7, i);
        write_checkpoint(rf, &m, m.params, m.params, i);
        OK(runfile_write_weights(rf, &m.t, m.params, m.buffers, err, sizeof err));
        if (i == 2) size1 = file_size(tmp);
    }
    long size30 = file_size(tmp);
    runfile_abandon(rf);
    /* 28 more epochs may add rows and chunk growth, not 28 copies of ~18 KB */
    if (size30 - size1 > 40000) fail_msg("file grew from %ld to %ld bytes", size1, size30);
    free_model(&m);
}

static void test_bad_files(void **state)
{
    (void)state;
    char p[512];
    Model m;
    make_model(&m, 4, 1);
    /* HDF5 must not print its own trace: capture stderr while failing */
    char cap[512];
    test_tmpdir_path(cap, sizeof cap, "stderr.txt");
    fflush(stderr);
    int saved = dup(2), fd = open(cap, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);

    test_tmpdir_path(p, sizeof p, "notes.txt");
    FILE *f = fopen(p, "w");
    fputs("this is not HDF5\n", f);
    fclose(f);
    int rc1 = runfile_open(p, err, sizeof err) == NULL;
    char e1[2048];
    strcpy(e1, err);
    int rc2 = runfile_read_weights(p, &m.t, m.params, m.buffers, err, sizeof err);
    char e2[2048];
    strcpy(e2, err);

    test_tmpdir_path(p, sizeof p, "other.h5");   /* HDF5, but not ours */
    hid_t h = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(h);
    int rc3 = runfile_open(p, err, sizeof err) == NULL;
    char e3[2048];
    strcpy(e3, err);
    test_tmpdir_path(p, sizeof p, "missing.h5");
    int rc4 = runfile_open(p, err, sizeof err) == NULL;

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    assert_true(rc1 && rc2 == -1 && rc3 && rc4);
    assert_err_has("missing.h5", "No such file", NULL);
    strcpy(err, e1);
    assert_err_has("notes.txt", "not an HDF5 file", NULL);
    strcpy(err, e2);
    assert_err_has("notes.txt", "not an HDF5 file", NULL);
    strcpy(err, e3);
    assert_err_has("other.h5", "not a sweeprun run file", NULL);
    assert_int_equal(file_size(cap), 0);
    free_model(&m);
}

static void test_wrong_model(void **state)
{
    (void)state;
    char final[512];
    test_tmpdir_path(final, sizeof final, "weights.h5");
    Model m, other;
    make_model(&m, 4, 2);
    RunFile *rf = runfile_create(final, err, sizeof err);
    OK(runfile_set_attr_string(rf, "model", "testnet", err, sizeof err));
    OK(runfile_write_weights(rf, &m.t, m.params, m.buffers, err, sizeof err));
    OK(runfile_finish(rf, "complete", err, sizeof err));

    make_model(&other, 5, 2);   /* fc1.weight is [3, 5] here */
    assert_int_equal(runfile_read_weights(final, &other.t, other.params, other.buffers, err,
                                          sizeof err), -1);
    assert_err_has(final, "/weights/fc1.weight has shape [3, 4]", "expects [3, 5]");
    assert_err_has("model 'testnet'", NULL, NULL);
    free_model(&other);

    /* a model with one more weight: it is missing from the file */
    make_model(&other, 4, 2);
    int d[1] = {3};
    param_table_add(&other.t, "fc2.bias", ENTRY_PARAM, INIT_ZEROS, 1, 1, 1, d);
    float *params = calloc((size_t)other.t.n_params, 4);
    assert_int_equal(runfile_read_weights(final, &other.t, params, other.buffers, err, sizeof err), -1);
    assert_err_has(final, "/weights/fc2.bias is missing", NULL);
    free(params);
    free_model(&other);

    /* a model with one weight fewer: the file has one it does not know */
    ParamTable small;
    param_table_init(&small);
    int w[2] = {3, 4}, b[1] = {3}, one[1] = {1};
    param_table_add(&small, "fc1.weight", ENTRY_PARAM, INIT_ZEROS, 4, 3, 2, w);
    param_table_add(&small, "bn1.running_mean", ENTRY_BUFFER, INIT_ZEROS, 0, 0, 1, b);
    param_table_add(&small, "bn1.num_batches_tracked", ENTRY_COUNTER, INIT_ZEROS, 0, 0, 1, one);
    float p[12], buf[4];
    assert_int_equal(runfile_read_weights(final, &small, p, buf, err, sizeof err), -1);
    assert_err_has(final, "/weights/fc1.bias is not a weight of this model", NULL);
    param_table_free(&small);
    free_model(&m);
}

static void test_checkpoint_errors(void **state)
{
    (void)state;
    char final[512];
    test_tmpdir_path(final, sizeof final, "ckpt.h5");
    Model m;
    make_model(&m, 4, 9);
    RunFile *rf = runfile_create(final, err, sizeof err);
    append_epochs(rf, 1, 1);
    runfile_close(rf);
    char tmp[600];
    tmp_of(final, tmp, sizeof tmp);
    float p[16], b[4], s1[16];
    RunCheckpoint ck = {p, 15, b, 4, NULL, NULL, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(runfile_read_checkpoint(tmp, &ck, err, sizeof err), -1);
    assert_err_has(tmp, "no usable checkpoint", NULL);

    rf = runfile_resume(final, 1, err, sizeof err);
    write_checkpoint(rf, &m, NULL, NULL, 1);
    OK(runfile_finish(rf, "complete", err, sizeof err));
    ck.n_params = 16;
    assert_int_equal(runfile_read_checkpoint(final, &ck, err, sizeof err), -1);
    assert_err_has(final, "/checkpoint/params has 15 values, expected 16", NULL);
    ck.n_params = 15;
    ck.state1 = s1;
    ck.n_state = 15;
    assert_int_equal(runfile_read_checkpoint(final, &ck, err, sizeof err), -1);
    assert_err_has(final, "/checkpoint/state1 is missing", NULL);
    ck.state1 = NULL;
    ck.n_state = 0;
    OK(runfile_read_checkpoint(final, &ck, err, sizeof err));
    assert_int_equal(ck.epoch, 1);
    free_model(&m);
}

/* A checkpoint inside an epoch (a stop signal): its position and running
 * sums come back exactly; runfile_suspend keeps the .tmp, marked
 * interrupted; a later checkpoint at an epoch's end clears the position;
 * and a file without the position (written before it existed) reads as
 * an epoch's end. */
static void test_checkpoint_position(void **state)
{
    (void)state;
    char final[512], tmp[600], s[64];
    test_tmpdir_path(final, sizeof final, "position.h5");
    tmp_of(final, tmp, sizeof tmp);
    Model m;
    make_model(&m, 4, 5);
    RunFile *rf = runfile_create(final, err, sizeof err);
    if (!rf) fail_msg("create: %s", err);
    append_epochs(rf, 1, 1);
    write_checkpoint(rf, &m, NULL, NULL, 1);
    RunCheckpoint mid = {m.params, m.t.n_params, m.buffers, m.t.n_buffers, NULL, NULL, 0, 107, 1,
                         7, 0.1 + 0.2, 300, 1.5};
    OK(runfile_write_checkpoint(rf, &mid, err, sizeof err));
    OK(runfile_suspend(rf, err, sizeof err));
    assert_true(exists(tmp));
    assert_false(exists(final));
    rf = runfile_open(tmp, err, sizeof err);
    if (!rf) fail_msg("open: %s", err);
    OK(runfile_read_attr_string(rf, "status", s, sizeof s, err, sizeof err));
    assert_string_equal(s, "interrupted");
    runfile_close(rf);

    float *p = calloc((size_t)m.t.n_params, 4), *b = calloc((size_t)m.t.n_buffers, 4);
    RunCheckpoint ck = {p, m.t.n_params, b, m.t.n_buffers, NULL, NULL, 0, 0, 0, 0, 0, 0, 0};
    OK(runfile_read_checkpoint(tmp, &ck, err, sizeof err));
    assert_int_equal(ck.epoch, 1);
    assert_int_equal(ck.step, 107);
    assert_int_equal(ck.batch, 7);
    assert_true(ck.train_loss_sum == 0.1 + 0.2);   /* all 64 bits */
    assert_int_equal(ck.train_correct, 300);
    assert_true(ck.epoch_seconds == 1.5);
    assert_memory_equal(p, m.params, (size_t)m.t.n_params * 4);

    rf = runfile_resume(final, 1, err, sizeof err);   /* status back to running */
    if (!rf) fail_msg("resume: %s", err);
    append_epochs(rf, 2, 2);
    write_checkpoint(rf, &m, NULL, NULL, 2);
    runfile_close(rf);
    OK(runfile_read_checkpoint(tmp, &ck, err, sizeof err));
    assert_int_equal(ck.epoch, 2);
    assert_int_equal(ck.batch, 0);
    assert_int_equal(ck.train_correct, 0);
    assert_true(ck.train_loss_sum == 0 && ck.epoch_seconds == 0);

    const char *position[] = {"batch", "train_loss_sum", "train_correct", "epoch_seconds"};
    for (int i = 0; i < 4; i++) delete_attr(tmp, "checkpoint", position[i]);
    ck.batch = 9;
    OK(runfile_read_checkpoint(tmp, &ck, err, sizeof err));
    assert_int_equal(ck.epoch, 2);
    assert_int_equal(ck.batch, 0);
    free(p), free(b);
    free_model(&m);
}

/* ---- forged files: what a damaged or hand-edited .tmp may hold ---------- */

/* A .tmp after `epochs` epochs with a checkpoint after the last one. */
static void write_interrupted(const char *final, const Model *m, int epochs)
{
    RunFile *rf = runfile_create(final, err, sizeof err);
    if (!rf) fail_msg("create: %s", err);
    append_epochs(rf, 1, epochs);
    write_checkpoint(rf, m, NULL, NULL, epochs);
    runfile_close(rf);
}

/* read_checkpoint into m-sized buffers: 0 or -1 with err. */
static int read_back_checkpoint(const char *path, const Model *m)
{
    float *p = calloc((size_t)m->t.n_params, 4), *b = calloc((size_t)m->t.n_buffers, 4);
    RunCheckpoint ck = {p, m->t.n_params, b, m->t.n_buffers, NULL, NULL, 0, 0, 0, 0, 0, 0, 0};
    int rc = runfile_read_checkpoint(path, &ck, err, sizeof err);
    free(p), free(b);
    return rc;
}

static void expect_checkpoint_refused(const char *tmp, const Model *m, const char *fact1, const char *fact2)
{
    assert_int_equal(read_back_checkpoint(tmp, m), -1);
    assert_err_has(tmp, fact1, fact2);
}

/* A checkpoint is trusted only when the whole .tmp agrees with it: every
 * epoch row up to it is there in every column, numbered 1..epoch, the
 * attributes are integers, and every stored value is finite. */
static void test_checkpoint_validation(void **state)
{
    (void)state;
    char final[512], tmp[600];
    test_tmpdir_path(final, sizeof final, "forged.h5");
    tmp_of(final, tmp, sizeof tmp);
    Model m;
    make_model(&m, 4, 21);

    write_interrupted(final, &m, 2);
    OK(read_back_checkpoint(tmp, &m));
    set_checkpoint_epoch(tmp, 3);
    expect_checkpoint_refused(tmp, &m, "checkpoint after epoch 3", "/epochs/epoch has 2 rows");

    write_interrupted(final, &m, 2);
    delete_object(tmp, "/epochs/lr");
    expect_checkpoint_refused(tmp, &m, "/epochs/lr is missing", NULL);

    write_interrupted(final, &m, 2);
    resize_dataset(tmp, "/epochs/test_accuracy", 1);   /* ragged: one column is short */
    expect_checkpoint_refused(tmp, &m, "/epochs/test_accuracy has 1 rows", "checkpoint after epoch 2");

    write_interrupted(final, &m, 2);
    poke_first(tmp, "/epochs/epoch", 5);                  /* row 1 says epoch 5 */
    expect_checkpoint_refused(tmp, &m, "/epochs/epoch", "row 1 holds epoch 5");

    write_interrupted(final, &m, 2);
    retype_attr(tmp, "checkpoint", "epoch", 2.0);
    expect_checkpoint_refused(tmp, &m, "/checkpoint attribute 'epoch'", "not an integer");

    write_interrupted(final, &m, 2);
    poke_first(tmp, "/checkpoint/params", NAN);
    expect_checkpoint_refused(tmp, &m, "/checkpoint/params", "not finite");

    write_interrupted(final, &m, 2);
    poke_first(tmp, "/checkpoint/buffers", INFINITY);
    expect_checkpoint_refused(tmp, &m, "/checkpoint/buffers", "not finite");

    /* The position inside an epoch: integers and finite sums >= 0. */
    write_interrupted(final, &m, 2);
    set_checkpoint_int(tmp, "batch", -3);
    expect_checkpoint_refused(tmp, &m, "'batch' (-3)", "must be >= 0");
    write_interrupted(final, &m, 2);
    retype_attr(tmp, "checkpoint", "batch", 4.0);
    expect_checkpoint_refused(tmp, &m, "/checkpoint attribute 'batch'", "not an integer");
    write_interrupted(final, &m, 2);
    retype_attr(tmp, "checkpoint", "train_loss_sum", NAN);
    expect_checkpoint_refused(tmp, &m, "'train_loss_sum' is nan", "finite number >= 0");
    write_interrupted(final, &m, 2);
    set_checkpoint_int(tmp, "train_correct", -1);
    expect_checkpoint_refused(tmp, &m, "'train_correct' (-1)", "must be >= 0");
    free_model(&m);
}

/* final's test results (or epochs) are refused with a message naming
 * final and both facts. */
static void expect_refused(const char *final, int epochs, const char *fact1, const char *fact2)
{
    RunTestResults t;
    RunEpochs ep;
    RunFile *rf = runfile_open(final, err, sizeof err);
    if (!rf) fail_msg("open: %s", err);
    int rc = epochs ? runfile_read_epochs(rf, &ep, err, sizeof err) : runfile_read_test_results(rf, &t, err, sizeof err);
    runfile_close(rf);
    assert_int_equal(rc, -1);
    assert_err_has(final, fact1, fact2);
}

/* Shapes in a file drive allocations: every one is bounded by what the
 * format allows before anything is allocated. */
static void test_shape_bounds(void **state)
{
    (void)state;
    char final[512];
    test_tmpdir_path(final, sizeof final, "shapes.h5");
    RunFile *rf = runfile_create(final, err, sizeof err);
    write_results(rf, 2, 1);
    append_epochs(rf, 1, 2);
    OK(runfile_set_attr_int64(rf, "epochs", 2, err, sizeof err));   /* the configured epochs */
    OK(runfile_finish(rf, "complete", err, sizeof err));

    forge_dataset(final, "/test/context_images", H5T_STD_U8LE, 3, (hsize_t[]){1, 4096, 4096});
    expect_refused(final, 0, "/test/context_images", "4096");
    forge_dataset(final, "/test/confusion", H5T_STD_I64LE, 2, (hsize_t[]){100000, 100000});
    expect_refused(final, 0, "/test/confusion is 100000x100000", "at most 10 classes");
    forge_dataset(final, "/test/confusion", H5T_STD_I64LE, 2, (hsize_t[]){3, 3});   /* all zeros */
    expect_refused(final, 0, "/test/misclassified_index has 2 values", "confusion matrix counts 0");

    resize_epoch_columns(final, 3);   /* more rows than the 2 configured epochs */
    expect_refused(final, 1, "/epochs holds 3 rows", "epochs = 2");
    hid_t f = open_rw(final);         /* no configured epochs: the most any run may have */
    assert_true(H5Adelete(f, "epochs") >= 0);
    H5Fclose(f);
    resize_epoch_columns(final, 200000);
    expect_refused(final, 1, "/epochs holds 200000 rows", "at most 100000");
}

static int count_attr(const char *name, RunAttrKind kind, void *user)
{
    int *counts = user;
    (void)name;
    counts[kind]++;
    return 0;
}

static void test_attr_errors_and_visit(void **state)
{
    (void)state;
    char final[512], s[8];
    test_tmpdir_path(final, sizeof final, "attrs.h5");
    RunFile *rf = runfile_create(final, err, sizeof err);
    write_attrs(rf);
    OK(runfile_finish(rf, "complete", err, sizeof err));
    rf = runfile_open(final, err, sizeof err);
    int64_t v;
    assert_int_equal(runfile_read_attr_int64(rf, "lr", &v, err, sizeof err), -1);
    assert_err_has(final, "'lr' is not an integer", NULL);
    assert_int_equal(runfile_read_attr_int64(rf, "epochs", &v, err, sizeof err), -1);
    assert_err_has(final, "no root attribute 'epochs'", NULL);
    assert_int_equal(runfile_read_attr_string(rf, "sweep", s, sizeof s, err, sizeof err), -1);
    assert_err_has(final, "'sweep' is longer than 7 bytes", NULL);
    assert_true(runfile_has_attr(rf, "seed"));
    assert_false(runfile_has_attr(rf, "nope"));
    int counts[4] = {0};
    assert_int_equal(runfile_visit_attrs(rf, count_attr, counts, err, sizeof err), 0);
    /* strings: format, model, status, sweep, trial_id; floats: lr, best; ints: seed, version */
    assert_int_equal(counts[RUN_ATTR_STRING], 5);
    assert_int_equal(counts[RUN_ATTR_FLOAT], 2);
    assert_int_equal(counts[RUN_ATTR_INT], 2);
    runfile_close(rf);
}

/* ---- validation columns ------------------------------------------------------ */

static void write_finished(const char *final, int epochs, int with_validation)
{
    RunFile *rf = runfile_create(final, err, sizeof err);
    if (!rf) fail_msg("create: %s", err);
    for (int i = 1; i <= epochs; i++) {
        RunEpoch e = epoch_row(i);
        if (!with_validation) e.val_loss = e.val_accuracy = NAN;
        OK(runfile_append_epoch(rf, &e, err, sizeof err));
    }
    OK(runfile_finish(rf, "complete", err, sizeof err));
}

static void read_all_epochs(const char *path, RunEpochs *ep)
{
    RunFile *rf = runfile_open(path, err, sizeof err);
    if (!rf) fail_msg("open: %s", err);
    OK(runfile_read_epochs(rf, ep, err, sizeof err));
    runfile_close(rf);
}

/* val_* hold NaN for a run without a split: has_validation is 0. */
static void test_no_split_reads_nan(void **state)
{
    (void)state;
    char final[512];
    test_tmpdir_path(final, sizeof final, "nosplit.h5");
    write_finished(final, 2, 0);
    RunEpochs ep;
    read_all_epochs(final, &ep);
    assert_int_equal(ep.count, 2);
    assert_true(isnan(ep.val_loss[1]) && isnan(ep.val_accuracy[0]));
    assert_int_equal(ep.has_validation, 0);
    assert_int_equal(run_epochs_best_row(&ep, ep.count), -1);
    run_epochs_free(&ep);
}

/* A file written before the val_* columns existed reads with NaN there,
 * has_validation 0 and every other column intact. */
static void test_old_layout_reads_nan(void **state)
{
    (void)state;
    char final[512];
    test_tmpdir_path(final, sizeof final, "oldlayout.h5");
    write_finished(final, 3, 1);
    delete_object(final, "/epochs/val_loss");
    delete_object(final, "/epochs/val_accuracy");
    RunEpochs ep;
    read_all_epochs(final, &ep);
    assert_int_equal(ep.count, 3);
    for (int i = 0; i < 3; i++) {
        RunEpoch e = epoch_row(i + 1);
        assert_true(ep.test_accuracy[i] == e.test_accuracy && ep.seconds[i] == e.seconds);
        assert_true(isnan(ep.val_loss[i]) && isnan(ep.val_accuracy[i]));
    }
    assert_int_equal(ep.has_validation, 0);
    run_epochs_free(&ep);
}

/* val columns shorter than the others (a run killed between two column
 * appends): only the rows present in every column are read. */
static void test_short_val_columns(void **state)
{
    (void)state;
    char final[512];
    test_tmpdir_path(final, sizeof final, "shortval.h5");
    write_finished(final, 3, 1);
    resize_dataset(final, "/epochs/val_accuracy", 1);
    RunEpochs ep;
    read_all_epochs(final, &ep);
    assert_int_equal(ep.count, 1);
    assert_true(ep.val_accuracy[0] == epoch_row(1).val_accuracy);
    assert_int_equal(ep.has_validation, 1);
    run_epochs_free(&ep);
}

/* Resuming a .tmp written before the val_* columns: they are added with
 * NaN for the kept rows, and the new epochs carry their numbers. */
static void test_resume_old_layout(void **state)
{
    (void)state;
    char final[512], tmp[600];
    test_tmpdir_path(final, sizeof final, "oldresume.h5");
    tmp_of(final, tmp, sizeof tmp);
    Model m;
    make_model(&m, 4, 5);
    RunFile *rf = runfile_create(final, err, sizeof err);
    append_epochs(rf, 1, 2);
    write_checkpoint(rf, &m, NULL, NULL, 2);
    runfile_close(rf);
    delete_object(tmp, "/epochs/val_loss");
    delete_object(tmp, "/epochs/val_accuracy");
    check_checkpoint(tmp, &m, NULL, NULL, 2);   /* the checkpoint does not need them */
    rf = runfile_resume(final, 1, err, sizeof err);
    if (!rf) fail_msg("resume: %s", err);
    append_epochs(rf, 2, 3);
    OK(runfile_finish(rf, "complete", err, sizeof err));
    RunEpochs ep;
    read_all_epochs(final, &ep);
    assert_int_equal(ep.count, 3);
    assert_true(isnan(ep.val_accuracy[0]) && isnan(ep.val_loss[0]));
    assert_true(ep.val_accuracy[2] == epoch_row(3).val_accuracy && ep.val_loss[1] == epoch_row(2).val_loss);
    assert_int_equal(ep.has_validation, 1);
    assert_int_equal(run_epochs_best_row(&ep, ep.count), 2);
    run_epochs_free(&ep);
    free_model(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_weight_layout),
        cmocka_unit_test(test_empty_misclassified),
        cmocka_unit_test(test_misclassified_images),
        cmocka_unit_test(test_create_refuses_existing),
        cmocka_unit_test(test_diverged_and_bad_status),
        cmocka_unit_test(test_abandon_and_close),
        cmocka_unit_test(test_killed_run_is_resumable),
        cmocka_unit_test(test_rewrites_in_place),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_wrong_model),
        cmocka_unit_test(test_checkpoint_errors),
        cmocka_unit_test(test_checkpoint_position),
        cmocka_unit_test(test_attr_errors_and_visit),
        cmocka_unit_test(test_checkpoint_validation),
        cmocka_unit_test(test_shape_bounds),
        cmocka_unit_test(test_no_split_reads_nan),
        cmocka_unit_test(test_old_layout_reads_nan),
        cmocka_unit_test(test_short_val_columns),
        cmocka_unit_test(test_resume_old_layout),
    };
    return cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown);
}
