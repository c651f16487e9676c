/* The configuration text and trial ids of known configurations, pinned.
 * A trial id hashes the resolved configuration text (config_to_text, one
 * "key=value" line per key, trial_id.h), and an existing sweep folder
 * resumes only if its trials keep their ids: so the keys, their order and
 * their value text must never drift. Each case goes through the sweep's
 * own path (sweep_trial_config, config_to_text, trial_id_make); the
 * expected strings were captured from the code before the key table.
 * The keys added later (val_split, val_seed, early_stop) are in the text
 * only when on: with val_split = 0 the first five cases keep the ids runs
 * had before the validation split existed. */
#include <stdio.h>
#include <string.h>
#include "testutil.h"
#include "run_record.h"
#include "sweep_config.h"
#include "trial_id.h"

#define MAX_SETTINGS 24

typedef struct PinnedCase {
    const char *settings[MAX_SETTINGS];   /* "key=value", NULL-terminated */
    int ranks_per_trial;
    const char *text;                     /* config_to_text */
    const char *id;                       /* trial_id_make */
} PinnedCase;

static const PinnedCase CASES[] = {
    /* a model's recipe, nothing else */
    {{"model=gecco", "val_split=0"}, 1,
     "model=gecco\ndataset=mnist\nepochs=50\nbatch_size=64\neval_batch_size=64\n"
     "grad_accum=1\nlr=0.001\noptimizer=adam\nweight_decay=0\nl2_scope=all\n"
     "momentum=0\nnesterov=false\nadam_eps=1e-08\nschedule=constant\nseed=0\n"
     "train_subset=0\ntest_subset=0\ndata_parallel=false\nallreduce=auto\n"
     "augment=none\ntf32=false\ncuda_graph=true\nfeature_length=64\ndropout=0.15\n"
     "graph=selfloop\n",
     "f3381b40349e"},
    {{"model=baseline_cnn", "lr=0.001", "batch_size=32", "seed=3", "val_split=0"}, 1,
     "model=baseline_cnn\ndataset=mnist\nepochs=7\nbatch_size=32\neval_batch_size=64\n"
     "grad_accum=1\nlr=0.001\noptimizer=adam\nweight_decay=0\nl2_scope=all\n"
     "momentum=0\nnesterov=false\nadam_eps=1e-08\nschedule=step:7:0.1\nseed=3\n"
     "train_subset=0\ntest_subset=0\ndata_parallel=false\nallreduce=auto\n"
     "augment=none\ntf32=false\ncuda_graph=true\ndropout=0.5\n",
     "6e2cb814a1d2"},
    /* augment and a schedule; resnet's recipe is SGD with momentum */
    {{"model=resnet", "augment=rotate:10,shift:2,erase:4", "schedule=cosine:20:0.0001", "depth=18",
      "stem=small", "zero_init_residual=on", "val_split=0"}, 1,
     "model=resnet\ndataset=mnist\nepochs=25\nbatch_size=64\neval_batch_size=64\n"
     "grad_accum=1\nlr=0.1\noptimizer=sgd\nweight_decay=0.0001\nl2_scope=all\n"
     "momentum=0.9\nnesterov=false\nadam_eps=1e-08\nschedule=cosine:20:0.0001\n"
     "seed=0\ntrain_subset=0\ntest_subset=0\ndata_parallel=false\nallreduce=auto\n"
     "augment=rotate:10,shift:2,erase:4\ntf32=false\ncuda_graph=true\ndepth=18\n"
     "stem=small\nzero_init_residual=on\n",
     "30a868c50729"},
    /* every model option set, and the optimizer changed after its fields */
    {{"model=gecco", "weight_decay=0.05", "adam_eps=1e-07", "optimizer=adamw", "feature_length=32",
      "dropout=0.2", "graph=complete", "eval_batch_size=128", "grad_accum=2", "lr=3e-4", "val_split=0"}, 1,
     "model=gecco\ndataset=mnist\nepochs=50\nbatch_size=64\neval_batch_size=128\n"
     "grad_accum=2\nlr=0.0003\noptimizer=adamw\nweight_decay=0.05\nl2_scope=all\n"
     "momentum=0\nnesterov=false\nadam_eps=1e-07\nschedule=constant\nseed=0\n"
     "train_subset=0\ntest_subset=0\ndata_parallel=false\nallreduce=auto\n"
     "augment=none\ntf32=false\ncuda_graph=true\nfeature_length=32\ndropout=0.2\n"
     "graph=complete\n",
     "741f2469c0f5"},
    /* the remaining keys; device, threads and out are not part of the text */
    {{"model=baseline_cnn", "dataset=fashion-mnist", "epochs=3", "optimizer=sgd", "momentum=0.9",
      "nesterov=true", "l2_scope=fc", "train_subset=1000", "test_subset=500", "data_parallel=true",
      "allreduce=mpi", "tf32=true", "cuda_graph=false", "seed=18446744073709551615", "device=cpu",
      "threads=2", "out=x.h5", "val_split=0"}, 2,
     "model=baseline_cnn\ndataset=fashion-mnist\nepochs=3\nbatch_size=64\n"
     "eval_batch_size=64\ngrad_accum=1\nlr=0.001\noptimizer=sgd\nweight_decay=0\n"
     "l2_scope=fc\nmomentum=0.9\nnesterov=true\nadam_eps=1e-08\nschedule=step:7:0.1\n"
     "seed=18446744073709551615\ntrain_subset=1000\ntest_subset=500\n"
     "data_parallel=true\nallreduce=mpi\naugment=none\ntf32=true\ncuda_graph=false\n"
     "dropout=0.5\n",
     "63ab6eb9ff4e"},
    /* the validation split's default (auto) and early stopping: new lines at the end of the keys */
    {{"model=gecco"}, 1,
     "model=gecco\ndataset=mnist\nepochs=50\nbatch_size=64\neval_batch_size=64\n"
     "grad_accum=1\nlr=0.001\noptimizer=adam\nweight_decay=0\nl2_scope=all\n"
     "momentum=0\nnesterov=false\nadam_eps=1e-08\nschedule=constant\nseed=0\n"
     "train_subset=0\ntest_subset=0\ndata_parallel=false\nallreduce=auto\n"
     "augment=none\ntf32=false\ncuda_graph=true\nval_split=auto\nval_seed=0\nfeature_length=64\n"
     "dropout=0.15\ngraph=selfloop\n",
     "4c0d521070d6"},
    {{"model=gecco", "val_split=5000", "val_seed=9", "early_stop=patience:5,min_delta:0.001,on:val_accuracy"}, 1,
     "model=gecco\ndataset=mnist\nepochs=50\nbatch_size=64\neval_batch_size=64\n"
     "grad_accum=1\nlr=0.001\noptimizer=adam\nweight_decay=0\nl2_scope=all\n"
     "momentum=0\nnesterov=false\nadam_eps=1e-08\nschedule=constant\nseed=0\n"
     "train_subset=0\ntest_subset=0\ndata_parallel=false\nallreduce=auto\n"
     "augment=none\ntf32=false\ncuda_graph=true\nval_split=5000\nval_seed=9\n"
     "early_stop=patience:5,min_delta:0.001,on:val_accuracy\nfeature_length=64\n"
     "dropout=0.15\ngraph=selfloop\n",
     "084124a05d9e"},
};

/* Enhanced GECCO's recipe. Its text and id were captured before the gate
 * options existed: options added later print only away from their default
 * (quiet_default, model.h), so this trial keeps its id. */
static const char ENHANCED_TEXT[] =
    "model=gecco_enhanced\ndataset=mnist\nepochs=50\nbatch_size=64\neval_batch_size=64\n"
    "grad_accum=1\nlr=0.001\noptimizer=adam\nweight_decay=0.0001\nl2_scope=all\n"
    "momentum=0\nnesterov=false\nadam_eps=1e-08\nschedule=constant\nseed=0\n"
    "train_subset=0\ntest_subset=0\ndata_parallel=false\nallreduce=auto\n"
    "augment=none\ntf32=false\ncuda_graph=true\nfeature_length=48\ndropout=0.15\n"
    "graph=selfloop\n";
static const char ENHANCED_ID[] = "97706a66d716";

/* settings "key=value" -> SweepSetting (line = position + 1). */
static int to_settings(const char *const *text, SweepSetting *out)
{
    int n = 0;
    for (; n < MAX_SETTINGS && text[n]; n++) {
        const char *eq = strchr(text[n], '=');
        assert_non_null(eq);
        snprintf(out[n].key, sizeof out[n].key, "%.*s", (int)(eq - text[n]), text[n]);
        snprintf(out[n].value, sizeof out[n].value, "%s", eq + 1);
        out[n].line = n + 1;
    }
    return n;
}

static void test_pinned_text_and_ids(void **state)
{
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
        const PinnedCase *c = &CASES[k];
        SweepSetting s[MAX_SETTINGS];
        int n = to_settings(c->settings, s);
        SweepConfigContext ctx = {.ranks_per_trial = c->ranks_per_trial};
        TrainConfig cfg;
        char err[1024] = "", text[8192], id[TRIAL_ID_LEN + 1];
        if (sweep_trial_config(&ctx, s, n, &cfg, NULL, err, sizeof err)) fail_msg("case %zu: %s", k, err);
        config_to_text(&cfg, text, sizeof text);
        trial_id_make(text, c->ranks_per_trial, id);
        assert_string_equal(text, c->text);
        assert_string_equal(id, c->id);
    }
}

/* The sweep's path for one list of settings: text and id. */
static void text_and_id(const char *const *settings, char *text, int size, char *id)
{
    SweepSetting s[MAX_SETTINGS];
    int n = to_settings(settings, s);
    SweepConfigContext ctx = {.ranks_per_trial = 1};
    TrainConfig cfg;
    char err[1024] = "";
    if (sweep_trial_config(&ctx, s, n, &cfg, NULL, err, sizeof err)) fail_msg("%s", err);
    config_to_text(&cfg, text, size);
    trial_id_make(text, 1, id);
}

/* Replays a configuration text as `sweeprun eval` does (run_load.c: the
 * lines as key=value pairs on a zeroed config) and writes its text again. */
static void replay(const char *text, TrainConfig *cfg, char *again, int size)
{
    char err[1024] = "";
    if (config_from_text(cfg, text, err, sizeof err)) fail_msg("%s", err);
    config_to_text(cfg, again, size);
}

/* The gate options at their defaults leave the text and id as they were,
 * also when set explicitly; away from the default each adds its line (in
 * option order) and a new id; every text replays to itself, the missing
 * lines taking their defaults. */
static void test_quiet_default_options(void **state)
{
    (void)state;
    char text[8192], again[8192], id[TRIAL_ID_LEN + 1];
    TrainConfig cfg;
    /* val_split = 0: ENHANCED_TEXT and its id come from before the split existed */
    const char *plain[] = {"model=gecco_enhanced", "val_split=0", NULL};
    text_and_id(plain, text, sizeof text, id);
    assert_string_equal(text, ENHANCED_TEXT);
    assert_string_equal(id, ENHANCED_ID);
    const char *explicit_defaults[] = {"model=gecco_enhanced", "gate=before_pool", "gate_softmax=features",
                                       "gate_scale=none", "val_split=0", NULL};
    text_and_id(explicit_defaults, text, sizeof text, id);
    assert_string_equal(text, ENHANCED_TEXT);
    assert_string_equal(id, ENHANCED_ID);
    replay(text, &cfg, again, sizeof again);
    assert_string_equal(again, ENHANCED_TEXT);
    assert_int_equal((int)cfg.model_options[model_option_index(cfg.model, "gate")], 0);

    const char *gated[] = {"model=gecco_enhanced", "gate_scale=length", "gate=after_pool", "val_split=0", NULL};
    text_and_id(gated, text, sizeof text, id);
    char want[8192];
    snprintf(want, sizeof want, "%sgate=after_pool\ngate_scale=length\n", ENHANCED_TEXT);
    assert_string_equal(text, want);
    assert_string_not_equal(id, ENHANCED_ID);
    replay(text, &cfg, again, sizeof again);
    assert_string_equal(again, want);
    assert_int_equal((int)cfg.model_options[model_option_index(cfg.model, "gate")], 1);
    assert_int_equal((int)cfg.model_options[model_option_index(cfg.model, "gate_softmax")], 0);
    assert_int_equal((int)cfg.model_options[model_option_index(cfg.model, "gate_scale")], 1);

    const char *batch[] = {"model=gecco_enhanced", "gate_softmax=batch", "val_split=0", NULL};
    text_and_id(batch, text, sizeof text, id);
    snprintf(want, sizeof want, "%sgate_softmax=batch\n", ENHANCED_TEXT);
    assert_string_equal(text, want);
    assert_string_not_equal(id, ENHANCED_ID);
}

/* A new model resets the recipe's keys and keeps the others. */
static void test_model_change_keeps_run_keys(void **state)
{
    static const char *const before[][2] = {
        {"model", "resnet"}, {"dataset", "fashion-mnist"}, {"device", "cpu"}, {"tf32", "true"},
        {"cuda_graph", "false"}, {"out", "x.h5"}, {"threads", "3"}, {"seed", "7"}, {"data_parallel", "true"},
        {"allreduce", "nccl"}, {"lr", "0.5"}, {"epochs", "2"}, {"augment", "shift:1"}, {"depth", "18"},
    };
    TrainConfig cfg;
    char err[1024], text[8192];
    memset(&cfg, 0, sizeof cfg);
    for (size_t i = 0; i < sizeof before / sizeof before[0]; i++)
        if (config_set(&cfg, before[i][0], before[i][1], err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(config_set(&cfg, "model", "baseline_cnn", err, sizeof err), 0);
    config_to_text(&cfg, text, sizeof text);
    assert_string_equal(text,
                        "model=baseline_cnn\ndataset=fashion-mnist\nepochs=7\nbatch_size=64\n"
                        "eval_batch_size=64\ngrad_accum=1\nlr=0.001\noptimizer=adam\nweight_decay=0\n"
                        "l2_scope=all\nmomentum=0\nnesterov=false\nadam_eps=1e-08\nschedule=step:7:0.1\n"
                        "seed=7\ntrain_subset=0\ntest_subset=0\ndata_parallel=true\nallreduce=nccl\n"
                        "augment=none\ntf32=true\ncuda_graph=false\nval_split=auto\nval_seed=0\ndropout=0.5\n");
    assert_string_equal(cfg.device, "cpu");
    assert_string_equal(cfg.out, "x.h5");
    assert_int_equal(cfg.threads, 3);
}

/* config_set's messages, word for word (the CLI and sweep files show them). */
static void test_messages(void **state)
{
    static const char *const cases[][3] = {
        {"colour", "blue",
         "colour: unknown key for model gecco (keys: model dataset epochs batch_size "
         "eval_batch_size grad_accum lr optimizer weight_decay l2_scope momentum nesterov "
         "adam_eps schedule seed device threads out train_subset test_subset data_parallel "
         "allreduce augment tf32 cuda_graph val_split val_seed early_stop and the model's options)"},
        {"feature_length", "3", "feature_length: expected an even number, got 3"},
        {"epochs", "0", "epochs: expected a whole number in [1, 100000], got '0'"},
        {"threads", "x", "threads: expected a whole number in [0, 1024], got 'x'"},
        {"train_subset", "-1", "train_subset: expected a whole number in [0, 1099511627776], got '-1'"},
        {"lr", "fast", "lr: expected a number in [0, 1000], got 'fast'"},
        {"momentum", "2", "momentum: expected a number in [0, 1], got '2'"},
        {"adam_eps", "0", "adam_eps: expected a number in [1e-30, 1], got '0'"},
        {"nesterov", "maybe", "nesterov: expected true or false, got 'maybe'"},
        {"dataset", "", "dataset: expected a non-empty value of at most 4095 characters"},
        {"out", "", "out: expected a non-empty value of at most 4095 characters"},
        {"device", "gpu", "device: expected auto, cpu, cuda or cuda:N, got 'gpu'"},
        {"device", "cuda:x", "device: expected auto, cpu, cuda or cuda:N, got 'cuda:x'"},
        {"schedule", "step:0",
         "schedule: expected step:STEP:GAMMA with STEP a positive integer and GAMMA a number > 0, "
         "got 'step:0'"},
        {"augment", "shift:-1",
         "augment: expected shift:PIXELS with a whole number of pixels in [0, 28], got 'shift:-1'"},
        {"seed", "-3", "seed: expected a non-negative whole number, got '-3'"},
        {"val_seed", "x", "val_seed: expected a non-negative whole number, got 'x'"},
        {"val_split", "-5", "val_split: expected auto or a whole number of images in [0, 1073741824], got '-5'"},
        {"early_stop", "patience:0",
         "early_stop: patience: expected a whole number in [1, 100000], got '0'"},
        {"early_stop", "min_delta:0.1",
         "early_stop: expected off or patience:P[,min_delta:D][,on:val_loss|val_accuracy] (patience is required), "
         "got 'min_delta:0.1'"},
        {"seed", "18446744073709551616",
         "seed: expected a whole number in [0, 18446744073709551615], got '18446744073709551616'"},
        {"optimizer", "lbfgs", "optimizer: expected sgd, adam or adamw, got 'lbfgs'"},
        {"l2_scope", "conv", "l2_scope: expected all or fc, got 'conv'"},
        {"allreduce", "gloo", "allreduce: expected auto, mpi or nccl, got 'gloo'"},
        {"model", "lenet",
         "model: expected one of baseline_cnn, gecco, gecco_enhanced, spinalnet, resnet, "
         "efficient_capsnet, got 'lenet'"},
        {"dropout", "1.5", "dropout: expected a value in [0, 0.99], got 1.5"},
        {"graph", "ring", "graph: expected one of selfloop|complete, got 'ring'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TrainConfig cfg;
        char err[1024] = "";
        config_defaults(&cfg, model_find("gecco"));
        assert_int_equal(config_set(&cfg, cases[i][0], cases[i][1], err, sizeof err), -1);
        assert_string_equal(err, cases[i][2]);
    }
    TrainConfig empty;
    char err[256];
    memset(&empty, 0, sizeof empty);
    assert_int_equal(config_set(&empty, "lr", "0.1", err, sizeof err), -1);
    assert_string_equal(err, "lr: set the model first (model=NAME)");
}

/* eval and predict check --threads by the threads row: train's range. */
static void test_parse_int_by_row(void **state)
{
    (void)state;
    char err[256] = "";
    int threads = -1;
    assert_int_equal(config_parse_int("threads", "8", &threads, err, sizeof err), 0);
    assert_int_equal(threads, 8);
    assert_int_equal(config_parse_int("threads", "-5", &threads, err, sizeof err), -1);
    assert_string_equal(err, "threads: expected a whole number in [0, 1024], got '-5'");
    assert_int_equal(config_parse_int("threads", "1000000", &threads, err, sizeof err), -1);
    assert_string_equal(err, "threads: expected a whole number in [0, 1024], got '1000000'");
    assert_int_equal(threads, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pinned_text_and_ids),
        cmocka_unit_test(test_model_change_keeps_run_keys),
        cmocka_unit_test(test_quiet_default_options),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_parse_int_by_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
