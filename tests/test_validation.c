/* The validation split and every choice made on it (issue: honest
 * selection). Unit checks of the draw, its count and early stopping, then
 * whole runs on a dataset built so that the test set and the validation
 * split disagree: its "test" images carry deranged labels (y + 1 mod 10),
 * so the better a model learns, the worse its test numbers get. Whatever
 * the run chose (best epoch, early stop) must follow the validation
 * numbers, and choosing on the test numbers would have chosen otherwise. */
#include <math.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "early_stop.h"
#include "runfile.h"
#include "train.h"
#include "validation.h"

enum { SIDE = 28, IMAGE = SIDE * SIDE };

/* n images whose first four bytes hold their own index, labelled by label_of. */
static void synthetic(Dataset *d, int n, int (*label_of)(int))
{
    memset(d, 0, sizeof *d);
    d->rows = d->cols = SIDE;
    d->n_train = n;
    d->train_x = calloc((size_t)n, IMAGE);
    d->train_y = malloc((size_t)n);
    d->n_test = 1;
    d->test_x = calloc(1, IMAGE);
    d->test_y = calloc(1, 1);
    for (int i = 0; i < n; i++) {
        memcpy(d->train_x + (size_t)i * IMAGE, &i, sizeof i);
        d->train_y[i] = (unsigned char)label_of(i);
    }
}

static int index_of(const unsigned char *image)
{
    int i;
    memcpy(&i, image, sizeof i);
    return i;
}

static int uneven(int i) { return (i * 7 + i / 13) % 10; }
static int rare_three(int i) { int y = (i * 7) % 10; return y == 3 && i > 40 ? 4 : y; }

/* Disjoint, complete, in order, labels kept; class counts within 1 of N/10. */
static void test_split_is_a_stratified_partition(void **state)
{
    (void)state;
    Dataset full, d;
    synthetic(&full, 1003, uneven);
    int n_val = 205;
    dataset_hold_out(&full, n_val, 0, &d);
    assert_int_equal(d.n_val, n_val);
    assert_int_equal(d.n_train, 1003 - n_val);
    int *seen = calloc(1003, sizeof *seen), count[10] = {0};
    for (int i = 0; i < d.n_val; i++) {
        int k = index_of(d.val_x + (size_t)i * IMAGE);
        assert_int_equal(k, d.val_index[i]);
        if (i) assert_true(d.val_index[i] > d.val_index[i - 1]);
        assert_int_equal(d.val_y[i], full.train_y[k]);
        seen[k]++;
        count[d.val_y[i]]++;
    }
    int previous = -1;
    for (int i = 0; i < d.n_train; i++) {
        int k = index_of(d.train_x + (size_t)i * IMAGE);
        assert_true(k > previous);   /* training images keep their order */
        previous = k;
        assert_int_equal(d.train_y[i], full.train_y[k]);
        seen[k]++;
    }
    for (int k = 0; k < 1003; k++) assert_int_equal(seen[k], 1);
    for (int c = 0; c < 10; c++) assert_true(abs(count[c] - n_val / 10) <= 1);
    /* the test set is the same */
    assert_int_equal(d.n_test, full.n_test);
    free(seen);
    dataset_free(&d);
    dataset_free(&full);
}

/* The draw depends on val_seed only: the same images every time (whatever
 * trains on them), other images for another val_seed. */
static void test_split_depends_on_val_seed_only(void **state)
{
    (void)state;
    Dataset full, a, b, c;
    synthetic(&full, 600, uneven);
    dataset_hold_out(&full, 50, 3, &a);
    dataset_hold_out(&full, 50, 3, &b);
    dataset_hold_out(&full, 50, 4, &c);
    assert_memory_equal(a.val_index, b.val_index, 50 * sizeof(int32_t));
    assert_memory_not_equal(a.val_index, c.val_index, 50 * sizeof(int32_t));
    dataset_free(&a);
    dataset_free(&b);
    dataset_free(&c);
    dataset_free(&full);
}

/* A class with too few images gives all it has; the others make up the count. */
static void test_short_class(void **state)
{
    (void)state;
    Dataset full, d;
    synthetic(&full, 500, rare_three);
    int have3 = 0;
    for (int i = 0; i < full.n_train; i++) have3 += full.train_y[i] == 3;
    assert_true(have3 < 10);
    dataset_hold_out(&full, 100, 0, &d);
    int count[10] = {0};
    for (int i = 0; i < d.n_val; i++) count[d.val_y[i]]++;
    assert_int_equal(d.n_val, 100);
    assert_int_equal(count[3], have3);
    for (int c = 0; c < 10; c++)
        if (c != 3) assert_true(count[c] >= 10 && count[c] <= 12);
    dataset_free(&d);
    dataset_free(&full);
}

static void test_count(void **state)
{
    (void)state;
    TrainConfig cfg;
    char err[256] = "";
    config_defaults(&cfg, model_find("gecco"));
    assert_int_equal(validation_count(&cfg, 60000, err, sizeof err), 5000);   /* auto */
    assert_int_equal(validation_count(&cfg, 6000, err, sizeof err), 500);
    assert_int_equal(validation_count(&cfg, 2000, err, sizeof err), 166);
    assert_int_equal(config_set(&cfg, "val_split", "0", err, sizeof err), 0);
    assert_int_equal(validation_count(&cfg, 60000, err, sizeof err), 0);
    assert_int_equal(config_set(&cfg, "val_split", "999", err, sizeof err), 0);
    assert_int_equal(validation_count(&cfg, 1000, err, sizeof err), -1);
    assert_string_equal(err, "val_split: 999 images held out of 1000 training images leaves fewer than 2 to train "
                             "on (expected at most 998, or auto)");
    /* early stopping needs the split */
    assert_int_equal(config_set(&cfg, "val_split", "0", err, sizeof err), 0);
    assert_int_equal(config_set(&cfg, "early_stop", "patience:3", err, sizeof err), 0);
    assert_int_equal(config_validate(&cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "early_stop: decides on the validation split"));
}

static void test_early_stop_rule(void **state)
{
    (void)state;
    EarlyStopSpec s;
    EarlyStopState st;
    char why[256], text[128];
    assert_int_equal(early_stop_parse("patience:2", &s, why, sizeof why), 0);
    early_stop_format(&s, text, sizeof text);
    assert_string_equal(text, "patience:2");
    early_stop_reset(&st);
    /* on validation loss: 1.0 best, 0.9 better, then two epochs without */
    assert_int_equal(early_stop_update(&s, &st, 1.0, NAN), 0);
    assert_int_equal(early_stop_update(&s, &st, 0.9, NAN), 0);
    assert_int_equal(early_stop_update(&s, &st, 0.95, NAN), 0);
    assert_int_equal(early_stop_update(&s, &st, 0.91, NAN), 1);
    /* min_delta: an improvement must exceed it */
    assert_int_equal(early_stop_parse("patience:1,min_delta:0.05,on:val_accuracy", &s, why, sizeof why), 0);
    early_stop_format(&s, text, sizeof text);
    assert_string_equal(text, "patience:1,min_delta:0.05,on:val_accuracy");
    early_stop_reset(&st);
    assert_int_equal(early_stop_update(&s, &st, 9, 0.80), 0);
    assert_int_equal(early_stop_update(&s, &st, 9, 0.86), 0);
    assert_int_equal(early_stop_update(&s, &st, 9, 0.90), 1);   /* +0.04 < 0.05 */
    assert_int_equal(early_stop_parse("off", &s, why, sizeof why), 0);
    assert_int_equal(early_stop_update(&s, &st, 1, 0), 0);
    assert_int_equal(early_stop_parse("patience:2,on:test_loss", &s, why, sizeof why), -1);
    assert_string_equal(why, "expected patience:P, min_delta:D or on:val_loss|val_accuracy, got 'on:test_loss'");
}

/* ---- whole runs on a dataset whose test labels are deranged ----------------- */

static void put_be32(FILE *f, unsigned v)
{
    unsigned char b[4] = {v >> 24, v >> 16, v >> 8, v};
    fwrite(b, 1, 4, f);
}

static void write_idx(const char *dir, const char *name, const unsigned char *data, int n, int images)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    put_be32(f, images ? 0x803 : 0x801);
    put_be32(f, (unsigned)n);
    if (images) {
        put_be32(f, SIDE);
        put_be32(f, SIDE);
    }
    fwrite(data, 1, (size_t)n * (images ? IMAGE : 1), f);
    fclose(f);
}

/* MNIST's first 3000 training images to train on; the next 1000, their
 * labels moved on by one, as the "test" set. 0, or -1 without MNIST. */
static int write_adversarial_dataset(const char *dir)
{
    Dataset m;
    char err[512];
    if (dataset_load("mnist", 4000, 1, &m, err, sizeof err)) {
        print_message("MNIST not available (%s)\n", err);
        return -1;
    }
    unsigned char deranged[1000];
    for (int i = 0; i < 1000; i++) deranged[i] = (unsigned char)((m.train_y[3000 + i] + 1) % 10);
    write_idx(dir, "train-images-idx3-ubyte", m.train_x, 3000, 1);
    write_idx(dir, "train-labels-idx1-ubyte", m.train_y, 3000, 0);
    write_idx(dir, "t10k-images-idx3-ubyte", m.train_x + (size_t)3000 * IMAGE, 1000, 1);
    write_idx(dir, "t10k-labels-idx1-ubyte", deranged, 1000, 0);
    dataset_free(&m);
    return 0;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* The epoch (1-based) early stopping ends at when it watches these
 * numbers, 0 when it lets every epoch run. */
static int stop_epoch(const EarlyStopSpec *s, const double *loss, const double *acc, long n)
{
    EarlyStopState st;
    early_stop_reset(&st);
    for (long i = 0; i < n; i++)
        if (early_stop_update(s, &st, loss[i], acc ? acc[i] : NAN) && i + 1 < n) return (int)i + 1;
    return 0;
}

static long argmax(const double *x, long n)
{
    long best = 0;
    for (long i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static void test_choices_follow_validation(void **state)
{
    (void)state;
    char dir[512], file[600], other[600];
    test_tmpdir_path(dir, sizeof dir, "deranged");
    assert_int_equal(mkdir(dir, 0755), 0);
    if (write_adversarial_dataset(dir)) skip();
    snprintf(file, sizeof file, "%s/run.h5", dir);
    const int epochs = 6;
    assert_int_equal(run("'%s' train --model gecco --dataset '%s' --epochs %d --val-split 500 --device cpu --threads 2 "
                         "--set early_stop=patience:2 --out '%s' >/dev/null",
                         SWEEPRUN_BINARY, dir, epochs, file), 0);
    char err[1024];
    RunFile *rf = runfile_open(file, err, sizeof err);
    assert_non_null(rf);
    RunEpochs e;
    assert_int_equal(runfile_read_epochs(rf, &e, err, sizeof err), 0);
    assert_true(e.has_validation);
    int64_t best_epoch, stopped, val_images;
    double best_test;
    assert_int_equal(runfile_read_attr_int64(rf, "best_epoch", &best_epoch, err, sizeof err), 0);
    assert_int_equal(runfile_read_attr_int64(rf, "early_stopped", &stopped, err, sizeof err), 0);
    assert_int_equal(runfile_read_attr_int64(rf, "val_images", &val_images, err, sizeof err), 0);
    assert_int_equal(runfile_read_attr_double(rf, "best_epoch_test_accuracy", &best_test, err, sizeof err), 0);
    assert_int_equal(val_images, 500);
    int32_t *indices;
    long n_indices;
    assert_int_equal(runfile_read_validation(rf, &indices, &n_indices, err, sizeof err), 0);
    assert_int_equal(n_indices, 500);
    runfile_close(rf);

    /* the best epoch is the validation's, reported with its own test accuracy */
    long row = run_epochs_best_row(&e, e.count);
    assert_int_equal(best_epoch, e.epoch[row]);
    assert_true(best_test == e.test_accuracy[row]);
    assert_true(argmax(e.test_accuracy, e.count) != row);   /* the test set would have chosen another */
    /* early stopping followed the validation loss; the test loss says otherwise */
    EarlyStopSpec spec;
    char why[128];
    assert_int_equal(early_stop_parse("patience:2", &spec, why, sizeof why), 0);
    int by_val = stop_epoch(&spec, e.val_loss, NULL, e.count);
    int by_test = stop_epoch(&spec, e.test_loss, NULL, e.count);
    print_message("epochs run %ld, best-validation epoch %lld, early stop by validation %d, by test %d\n", e.count,
                  (long long)best_epoch, by_val, by_test);
    assert_int_equal(stopped, by_val);
    assert_int_equal(e.count, by_val ? by_val : epochs);
    assert_true(by_test != by_val);
    run_epochs_free(&e);

    /* the best weights re-scored reproduce the recorded best-epoch test accuracy */
    assert_int_equal(run("'%s' eval --run '%s' --weights best --threads 2 >/dev/null", SWEEPRUN_BINARY, file), 0);
    assert_int_equal(run("'%s' eval --run '%s' --threads 2 >/dev/null", SWEEPRUN_BINARY, file), 0);
    assert_int_equal(run("'%s' predict --run '%s' --weights best --batch --idx '%s/t10k-images-idx3-ubyte' --threads 2 "
                         "| grep -q \"best-validation epoch's weights\"", SWEEPRUN_BINARY, file, dir), 0);

    /* another trial seed: the same validation images */
    snprintf(other, sizeof other, "%s/seed7.h5", dir);
    assert_int_equal(run("'%s' train --model gecco --dataset '%s' --epochs 1 --val-split 500 --seed 7 --device cpu "
                         "--threads 2 --out '%s' >/dev/null", SWEEPRUN_BINARY, dir, other), 0);
    rf = runfile_open(other, err, sizeof err);
    assert_non_null(rf);
    int32_t *again;
    long n_again;
    assert_int_equal(runfile_read_validation(rf, &again, &n_again, err, sizeof err), 0);
    runfile_close(rf);
    assert_int_equal(n_again, 500);
    assert_memory_equal(indices, again, 500 * sizeof(int32_t));
    free(indices);
    free(again);
}

/* Validation images are never augmented: with the same weights, a trainer
 * that augments its training images scores them exactly as one that does not. */
static void test_validation_not_augmented(void **state)
{
    (void)state;
    Dataset full, d;
    char err[512];
    if (dataset_load("mnist", 600, 64, &full, err, sizeof err)) {
        print_message("MNIST not available (%s)\n", err);
        skip();
    }
    dataset_hold_out(&full, 100, 0, &d);
    set_compute_threads(2);
    TrainConfig plain, augmented;
    config_defaults(&plain, model_find("gecco"));
    config_defaults(&augmented, model_find("gecco"));
    assert_int_equal(config_set(&augmented, "augment", "rotate:20,shift:3,erase:6", err, sizeof err), 0);
    Trainer a, b;
    trainer_init(&a, &plain, &d);
    trainer_init(&b, &augmented, &d);
    Evaluation ea, eb;
    trainer_evaluate(&a, SPLIT_VALIDATION, &ea);
    trainer_evaluate(&b, SPLIT_VALIDATION, &eb);
    assert_int_equal(ea.count, 100);
    assert_true(ea.loss == eb.loss);
    assert_memory_equal(ea.predictions, eb.predictions, 100 * sizeof(int));
    evaluation_free(&ea);
    evaluation_free(&eb);
    trainer_free(&a);
    trainer_free(&b);
    dataset_free(&d);
    dataset_free(&full);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_is_a_stratified_partition),
        cmocka_unit_test(test_split_depends_on_val_seed_only),
        cmocka_unit_test(test_short_class),
        cmocka_unit_test(test_count),
        cmocka_unit_test(test_early_stop_rule),
        cmocka_unit_test(test_validation_not_augmented),
        cmocka_unit_test(test_choices_follow_validation),
    };
    return cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown);
}
