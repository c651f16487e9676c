/* Models: exact parameter counts (MODELS.md), PyTorch state_dict names and
 * shapes, initialisation ranges, and that each model can overfit 64 real
 * MNIST images (the end-to-end sanity check of ops + tape + optimizer). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "dataset.h"
#include "model.h"
#include "train.h"

static double *options_with(const ModelDesc *d, const char *key, double value, double *buf)
{
    for (int i = 0; i < d->n_options; i++) buf[i] = d->options[i].default_value;
    if (key) buf[model_option_index(d, key)] = value;
    return buf;
}

static void test_parameter_counts(void **state)
{
    (void)state;
    double o[MODEL_MAX_OPTIONS];
    const ModelDesc *cnn = model_find("baseline_cnn"), *gecco = model_find("gecco");
    assert_non_null(cnn);
    assert_non_null(gecco);
    assert_int_equal(model_param_count_for(cnn, NULL), 3390634);
    assert_int_equal(model_param_count_for(gecco, NULL), 67466);
    assert_int_equal(model_param_count_for(gecco, options_with(gecco, "feature_length", 32, o)), 29642);
    /* MODELS.md 3.4: 4F^2 + 798F + 10 for even F. */
    assert_int_equal(model_param_count_for(gecco, options_with(gecco, "feature_length", 48, o)), 47530);
    assert_int_equal(model_param_count_for(gecco, options_with(gecco, "feature_length", 50, o)), 49910);
}

typedef struct { const char *name; int ndim; int dims[4]; } Expect;

static void check_entries(const char *model, const Expect *want, int n)
{
    Model m;
    model_create(&m, model_find(model), NULL, 1);
    for (int i = 0; i < n; i++) {
        int k = param_table_find(&m.table, want[i].name);
        if (k < 0) fail_msg("%s: no entry %s", model, want[i].name);
        const ParamEntry *e = &m.table.entries[k];
        assert_int_equal(e->ndim, want[i].ndim);
        for (int d = 0; d < e->ndim; d++) assert_int_equal(e->dims[d], want[i].dims[d]);
    }
    assert_int_equal(m.table.count, n);
    model_free(&m);
}

static void test_gecco_state_dict(void **state)
{
    (void)state;
    const Expect want[] = {
        {"conv1.linear.weight", 2, {64, 784}}, {"conv1.linear.bias", 1, {64}},
        {"conv1.norm.weight", 1, {64}}, {"conv1.norm.bias", 1, {64}},
        {"conv2.bias", 1, {64}},
        {"conv2.lin_key.weight", 2, {64, 64}}, {"conv2.lin_key.bias", 1, {64}},
        {"conv2.lin_query.weight", 2, {64, 64}}, {"conv2.lin_query.bias", 1, {64}},
        {"conv2.lin_value.weight", 2, {64, 64}}, {"conv2.lin_value.bias", 1, {64}},
        {"conv2.lin_skip.weight", 2, {64, 64}},
        {"fc1.weight", 2, {10, 32}}, {"fc1.bias", 1, {10}},
        {"bn.weight", 1, {64}}, {"bn.bias", 1, {64}}, {"bn.running_mean", 1, {64}},
        {"bn.running_var", 1, {64}}, {"bn.num_batches_tracked", 1, {1}},
    };
    check_entries("gecco", want, (int)(sizeof want / sizeof want[0]));
}

static void test_baseline_state_dict(void **state)
{
    (void)state;
    const Expect want[] = {
        {"conv_block1.0.weight", 4, {32, 1, 3, 3}}, {"conv_block1.0.bias", 1, {32}},
        {"conv_block1.1.weight", 1, {32}}, {"conv_block1.1.bias", 1, {32}}, {"conv_block1.1.running_mean", 1, {32}},
        {"conv_block1.1.running_var", 1, {32}}, {"conv_block1.1.num_batches_tracked", 1, {1}},
        {"conv_block1.3.weight", 4, {32, 32, 3, 3}}, {"conv_block1.3.bias", 1, {32}},
        {"conv_block1.4.weight", 1, {32}}, {"conv_block1.4.bias", 1, {32}}, {"conv_block1.4.running_mean", 1, {32}},
        {"conv_block1.4.running_var", 1, {32}}, {"conv_block1.4.num_batches_tracked", 1, {1}},
        {"conv_block2.0.weight", 4, {64, 32, 3, 3}}, {"conv_block2.0.bias", 1, {64}},
        {"conv_block2.1.weight", 1, {64}}, {"conv_block2.1.bias", 1, {64}}, {"conv_block2.1.running_mean", 1, {64}},
        {"conv_block2.1.running_var", 1, {64}}, {"conv_block2.1.num_batches_tracked", 1, {1}},
        {"conv_block2.3.weight", 4, {64, 64, 3, 3}}, {"conv_block2.3.bias", 1, {64}},
        {"conv_block2.4.weight", 1, {64}}, {"conv_block2.4.bias", 1, {64}}, {"conv_block2.4.running_mean", 1, {64}},
        {"conv_block2.4.running_var", 1, {64}}, {"conv_block2.4.num_batches_tracked", 1, {1}},
        {"fcs.0.weight", 2, {1152, 2304}}, {"fcs.0.bias", 1, {1152}},
        {"fcs.3.weight", 2, {576, 1152}}, {"fcs.3.bias", 1, {576}},
        {"fcs.6.weight", 2, {10, 576}}, {"fcs.6.bias", 1, {10}},
    };
    check_entries("baseline_cnn", want, (int)(sizeof want / sizeof want[0]));
}

/* Weights fall inside PyTorch's init bounds and are not degenerate. */
static void test_initialisation(void **state)
{
    (void)state;
    Model m;
    model_create(&m, model_find("gecco"), NULL, 7);
    const ParamEntry *e = &m.table.entries[param_table_find(&m.table, "conv1.linear.weight")];
    double bound = sqrt(6.0 / (784 + 64)), sum = 0, sumsq = 0;
    for (long i = 0; i < e->numel; i++) {
        double v = m.params[e->offset + i];
        assert_true(fabs(v) <= bound);
        sum += v;
        sumsq += v * v;
    }
    /* Uniform(-b, b): mean 0, variance b^2/3. */
    double mean = sum / e->numel, var = sumsq / e->numel - mean * mean;
    assert_true(fabs(mean) < 0.01 * bound);
    assert_true(fabs(var / (bound * bound / 3) - 1) < 0.02);
    e = &m.table.entries[param_table_find(&m.table, "conv2.lin_key.bias")];
    for (long i = 0; i < e->numel; i++) assert_true(fabs(m.params[e->offset + i]) <= 1 / sqrt(64.0));
    e = &m.table.entries[param_table_find(&m.table, "bn.running_var")];
    assert_float_equal(m.buffers[e->offset], 1.0, 0);
    /* Same seed, same weights; another seed, other weights. */
    Model m2;
    model_create(&m2, model_find("gecco"), NULL, 7);
    assert_memory_equal(m.params, m2.params, (size_t)m.table.n_params * sizeof(float));
    model_free(&m2);
    model_create(&m2, model_find("gecco"), NULL, 8);
    assert_memory_not_equal(m.params, m2.params, (size_t)m.table.n_params * sizeof(float));
    model_free(&m2);
    model_free(&m);
}

static int load_mnist(Dataset *d, long train_subset)
{
    char err[512];
    if (dataset_load("mnist", train_subset, 64, d, err, sizeof err)) {
        print_message("MNIST not available (%s)\n", err);
        return -1;
    }
    return 0;
}

/* 64 images, one batch of 64 per step: the training loss must go below
 * 0.05 (memorisation), proving forward, backward and Adam work together. */
static void overfit(const char *model, const char *key, const char *value, int max_epochs)
{
    Dataset d;
    if (load_mnist(&d, 64)) skip();
    TrainConfig cfg;
    char err[256];
    config_defaults(&cfg, model_find(model));
    assert_int_equal(config_set(&cfg, "epochs", "1", err, sizeof err), 0);
    assert_int_equal(config_set(&cfg, key, value, err, sizeof err), 0);
    assert_int_equal(config_set(&cfg, "schedule", "constant", err, sizeof err), 0);
    cfg.seed = 3;
    set_compute_threads(0);
    Trainer t;
    trainer_init(&t, &cfg, &d);
    EpochStats s = {0};
    for (int e = 0; e < max_epochs; e++) {
        cfg.epochs = e + 1;
        assert_int_equal(trainer_run(&t, e, NULL, &s), RUN_COMPLETE);
        if (s.train_loss < 0.05) break;
    }
    print_message("%s: train loss %.4f after %d steps\n", model, s.train_loss, s.epoch + 1);
    assert_true(s.train_loss < 0.05);
    assert_true(s.train_accuracy == 1.0);
    trainer_free(&t);
    dataset_free(&d);
}

static void test_gecco_overfits_64_images(void **state)
{
    (void)state;
    overfit("gecco", "dropout", "0", 300);
}

static void test_baseline_overfits_64_images(void **state)
{
    (void)state;
    overfit("baseline_cnn", "dropout", "0", 60);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parameter_counts),
        cmocka_unit_test(test_gecco_state_dict),
        cmocka_unit_test(test_baseline_state_dict),
        cmocka_unit_test(test_initialisation),
        cmocka_unit_test(test_gecco_overfits_64_images),
        cmocka_unit_test(test_baseline_overfits_64_images),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
