/* sweepreport on run files written here with the runfile API, with known
 * accuracies: statistics against hand-computed values, the table in every
 * format (golden text), grouping, sorting, the marginal view, statuses
 * that are counted but not averaged, corrupt and foreign files skipped
 * with a warning, and the figures (valid PNGs of the documented sizes;
 * the heat map's counts are the run file's). */
#define _XOPEN_SOURCE 700
#include "testutil.h"
#include "report.h"
#include "report_figures.h"
#include "runfile.h"
#include <hdf5.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char err[2048];

#define OK(call)                                                  \
    do {                                                          \
        if ((call) != 0) fail_msg("%s failed: %s", #call, err);   \
    } while (0)

/* ---- fixtures: a small sweep ------------------------------------------------- */

typedef struct Fake {
    const char *file, *model, *status;   /* status "running": left as .tmp */
    int seed;
    const char *dropout;                 /* NULL: the model has none */
    double best, final;                  /* test accuracy of epoch 1 and 2 */
    double sec1, sec2;                   /* seconds of epoch 1 and 2 */
    long params;
    const char *device;
    int images;                          /* store misclassified pixels */
} Fake;

/* Hand-computed below from these numbers. */
static const Fake SWEEP[] = {
    {"g-d0.1-s1.h5", "gecco", "complete", 1, "0.1", 0.975, 0.97, 1.5, 2.5, 67466, "cpu", 1},
    {"g-d0.1-s2.h5", "gecco", "complete", 2, "0.1", 0.98, 0.98, 3.0, 3.0, 67466, "cpu", 1},
    {"g-d0.2-s1.h5", "gecco", "complete", 1, "0.2", 0.96, 0.95, 2.0, 2.0, 67466, "cpu", 1},
    {"g-d0.2-s2.h5", "gecco", "diverged", 2, "0.2", 0.50, 0.10, 2.0, 2.0, 67466, "cpu", 0},
    {"g-d0.2-s3.h5", "gecco", "running", 3, "0.2", 0.90, 0.90, 2.0, 2.0, 67466, "cpu", 0},
    {"g-d0.1-s3.h5", "gecco", "pruned", 3, "0.1", 0.99, 0.99, 2.0, 2.0, 67466, "cpu", 0},
    {"cnn-s1.h5", "baseline_cnn", "complete", 1, NULL, 0.99, 0.99, 10.0, 20.0, 3390634,
     "cuda:0 NVIDIA H100", 0},
};
#define N_SWEEP (int)(sizeof SWEEP / sizeof SWEEP[0])

/* The confusion matrix of a run: depends on its seed, so the best trial's
 * can be told from the others. */
static int64_t confusion_at(int seed, int t, int p) { return t == p ? 900 + 10 * t + seed : (t * 3 + p * 7 + seed) % 5; }

static void write_test_results(RunFile *rf, const Fake *f)
{
    int64_t conf[100];
    int32_t idx[6], pred[6], lab[6];
    uint8_t px[6 * 784];
    for (int t = 0; t < 10; t++)
        for (int p = 0; p < 10; p++) conf[t * 10 + p] = confusion_at(f->seed, t, p);
    for (int i = 0; i < 6; i++) {
        idx[i] = 10 * i + 3;
        lab[i] = i;
        pred[i] = (i + 1) % 10;
    }
    for (int i = 0; i < 6 * 784; i++) px[i] = (uint8_t)((i % 28) * 9);
    RunTestResults r = {.num_classes = 10, .confusion = conf, .n_mis = 6, .mis_index = idx,
                        .mis_pred = pred, .mis_label = lab};
    if (f->images) {
        r.n_mis_images = 6;
        r.image_rows = r.image_cols = 28;
        r.mis_images = px;
    }
    OK(runfile_write_test_results(rf, &r, err, sizeof err));
}

static void write_fake(const char *dir, const Fake *f)
{
    char path[512], tmp[600], config[512];
    snprintf(path, sizeof path, "%s/%s", dir, f->file);
    RunFile *rf = runfile_create(path, err, sizeof err);
    if (!rf) fail_msg("create %s: %s", path, err);
    snprintf(config, sizeof config, "model=%s\nepochs=2\nlr=0.001\nseed=%d\n%s%s%s", f->model,
             f->seed, f->dropout ? "dropout=" : "", f->dropout ? f->dropout : "",
             f->dropout ? "\n" : "");
    OK(runfile_set_attr_string(rf, "config", config, err, sizeof err));
    OK(runfile_set_attr_string(rf, "model", f->model, err, sizeof err));
    OK(runfile_set_attr_int64(rf, "seed", f->seed, err, sizeof err));
    OK(runfile_set_attr_int64(rf, "epochs", 2, err, sizeof err));
    OK(runfile_set_attr_double(rf, "lr", 0.001, err, sizeof err));
    if (f->dropout) OK(runfile_set_attr_double(rf, "dropout", atof(f->dropout), err, sizeof err));
    OK(runfile_set_attr_int64(rf, "param_count", f->params, err, sizeof err));
    OK(runfile_set_attr_string(rf, "device", f->device, err, sizeof err));
    OK(runfile_set_attr_string(rf, "start_time", "2024-05-01T12:00:00Z", err, sizeof err));
    OK(runfile_set_attr_double(rf, "final_test_accuracy", f->final, err, sizeof err));
    /* validation agrees with test here: the best epoch is the best-test one
     * (epoch 1 on a tie, the earlier), so "best" keeps its hand-computed numbers */
    RunEpoch e1 = {1, 0.9, 0.8, 0.5, f->best, 0.001, f->sec1, 0.5, f->best};
    RunEpoch e2 = {2, 0.4, 0.9, 0.3, f->final, 0.001, f->sec2, 0.5, f->final};
    OK(runfile_append_epoch(rf, &e1, err, sizeof err));
    OK(runfile_append_epoch(rf, &e2, err, sizeof err));
    write_test_results(rf, f);
    if (!strcmp(f->status, "running")) {
        runfile_close(rf);   /* interrupted: the .tmp stays */
    } else if (!strcmp(f->status, "pruned")) {
        /* what a sweep's pruner leaves: a finished file with that status */
        OK(runfile_set_attr_string(rf, "status", "pruned", err, sizeof err));
        runfile_close(rf);
        runfile_tmp_path(path, tmp, sizeof tmp);
        assert_int_equal(rename(tmp, path), 0);
    } else {
        OK(runfile_finish(rf, f->status, err, sizeof err));
    }
}

static char sweep_dir[512];

/* The sweep, plus files that are not run files. */
static int make_sweep(void **state)
{
    test_tmpdir_setup(state);
    test_tmpdir_path(sweep_dir, sizeof sweep_dir, "sweep");
    mkdir(sweep_dir, 0777);
    for (int i = 0; i < N_SWEEP; i++) write_fake(sweep_dir, &SWEEP[i]);
    char path[600];
    snprintf(path, sizeof path, "%s/corrupt.h5", sweep_dir);
    FILE *f = fopen(path, "w");
    fputs("this is not HDF5\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/foreign.h5", sweep_dir);   /* HDF5, not ours */
    hid_t h = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(h);
    snprintf(path, sizeof path, "%s/notes.txt", sweep_dir);     /* not looked at */
    f = fopen(path, "w");
    fputs("notes\n", f);
    fclose(f);
    return 0;
}

static void load_sweep(ReportRuns *runs, char *warnings, size_t size)
{
    char *paths[1] = {sweep_dir};
    FILE *w = fmemopen(warnings, size, "w");
    OK(report_load(1, paths, runs, w, err, sizeof err));
    fclose(w);
}

/* Render a table to a string (caller frees). */
static char *render(const Table *t, ReportFormat fmt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    report_write(f, t, fmt);
    fclose(f);
    return buf;
}

static char *report_text(const ReportOptions *o, ReportFormat fmt)
{
    ReportRuns runs;
    char warnings[4096];
    load_sweep(&runs, warnings, sizeof warnings);
    Table t;
    OK(report_build(&runs, o, &t, err, sizeof err));
    char *s = render(&t, fmt);
    table_free(&t);
    report_runs_free(&runs);
    return s;
}

static void assert_text(const char *got, const char *want)
{
    if (strcmp(got, want)) fail_msg("got:\n%s\nexpected:\n%s", got, want);
}

/* ---- statistics ------------------------------------------------------------------- */

static void test_stats(void **state)
{
    (void)state;
    ReportStats s;
    double x[4] = {1, 2, 3, 4};
    report_stats(x, 4, &s);
    assert_true(s.mean == 2.5 && s.min == 1 && s.max == 4);
    /* sample deviation: sqrt(((1.5^2 + 0.5^2) * 2) / 3) = sqrt(5/3) */
    assert_true(fabs(s.std - 1.2909944487358056) < 1e-15);
    report_stats(x, 1, &s);
    assert_true(s.mean == 1 && isnan(s.std));
    report_stats(x, 0, &s);
    assert_true(isnan(s.mean) && s.n == 0);
}

/* ---- loading: statuses and bad files ---------------------------------------------- */

static void test_load_skips_bad_files(void **state)
{
    (void)state;
    ReportRuns runs;
    char warnings[4096] = "";
    load_sweep(&runs, warnings, sizeof warnings);
    assert_int_equal(runs.count, N_SWEEP);   /* the .tmp of the running one included */
    assert_int_equal(runs.n_skipped, 2);
    if (!strstr(warnings, "corrupt.h5: not an HDF5 file") || !strstr(warnings, "foreign.h5: not a sweeprun run file"))
        fail_msg("warnings should name both files: %s", warnings);
    if (strstr(warnings, "notes.txt")) fail_msg("notes.txt is not a run file candidate: %s", warnings);
    int per_status[STATUS_COUNT] = {0};
    for (int i = 0; i < runs.count; i++) per_status[runs.runs[i].status]++;
    assert_int_equal(per_status[STATUS_COMPLETE], 4);
    assert_int_equal(per_status[STATUS_RUNNING], 1);
    assert_int_equal(per_status[STATUS_DIVERGED], 1);
    assert_int_equal(per_status[STATUS_PRUNED], 1);
    const ReportRun *r = &runs.runs[0];   /* cnn-s1.h5 comes first by path */
    assert_string_equal(r->model, "baseline_cnn");
    assert_true(r->sec_per_epoch == 15.0 && r->param_count == 3390634);
    assert_string_equal(report_run_value(r, "lr"), "0.001");
    assert_null(report_run_value(r, "dropout"));
    report_runs_free(&runs);
}

/* A .tmp next to its finished file is the same trial: counted once. */
static void test_tmp_beside_final_counted_once(void **state)
{
    (void)state;
    char dir[512], tmp[600], final[600];
    test_tmpdir_path(dir, sizeof dir, "twice");
    mkdir(dir, 0777);
    Fake f = SWEEP[0];
    write_fake(dir, &f);
    f.status = "running";
    f.file = "other.h5";
    write_fake(dir, &f);
    snprintf(tmp, sizeof tmp, "%s/other.h5.tmp", dir);
    snprintf(final, sizeof final, "%s/g-d0.1-s1.h5.tmp", dir);
    assert_int_equal(rename(tmp, final), 0);
    char *paths[1] = {dir};
    ReportRuns runs;
    OK(report_load(1, paths, &runs, NULL, err, sizeof err));
    assert_int_equal(runs.count, 1);
    assert_int_equal(runs.runs[0].status, STATUS_COMPLETE);
    report_runs_free(&runs);
    char *missing[1] = {"/nonexistent/runs"};
    assert_int_equal(report_load(1, missing, &runs, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/runs: No such file"));
    report_runs_free(&runs);
}

/* ---- the main table: numbers ------------------------------------------------------- */

static const Table *row_table;
static int row_of(const char *model)
{
    for (int r = 0; r < row_table->nrows; r++)
        if (!strcmp(row_table->cells[(size_t)r * row_table->ncols].text, model)) return r;
    fail_msg("no row for %s", model);
    return -1;
}

static const TableCell *cell_by_key(const Table *t, int row, const char *key)
{
    for (int c = 0; c < t->ncols; c++)
        if (!strcmp(t->cols[c].key, key)) return &t->cells[(size_t)row * t->ncols + c];
    fail_msg("no column %s", key);
    return NULL;
}

static void assert_num(const Table *t, int row, const char *key, double want)
{
    const TableCell *c = cell_by_key(t, row, key);
    if (!c->has_num || fabs(c->num - want) > 1e-9 * (fabs(want) + 1))
        fail_msg("%s: got %.12g (has_num %d), expected %.12g", key, c->num, c->has_num, want);
}

static void test_statistics_by_hand(void **state)
{
    (void)state;
    ReportRuns runs;
    char warnings[4096];
    load_sweep(&runs, warnings, sizeof warnings);
    ReportOptions o;
    report_options_default(&o);
    Table t;
    OK(report_build(&runs, &o, &t, err, sizeof err));
    row_table = &t;
    int g = row_of("gecco"), b = row_of("baseline_cnn");
    /* final: complete gecco runs 97, 98, 95; mean 96.667; deviations
     * 0.333, 1.333, -1.667: sum of squares 4.6667 / (3 - 1) = 2.3333,
     * std = 1.527525 */
    assert_num(&t, g, "test_last_mean_pct", 290.0 / 3);
    assert_num(&t, g, "test_last_std_pct", sqrt(7.0 / 3));
    assert_num(&t, g, "best_trial_test_pct", 98);
    assert_num(&t, g, "complete", 3);
    assert_num(&t, g, "trials", 6);
    assert_num(&t, g, "running", 1);
    assert_num(&t, g, "diverged", 1);
    assert_num(&t, g, "pruned", 1);
    assert_num(&t, g, "failed", 0);
    /* seconds per epoch: mean of each run's mean: (2 + 3 + 2) / 3 */
    assert_num(&t, g, "s_per_epoch", 7.0 / 3);
    assert_num(&t, g, "params", 67466);
    assert_string_equal(cell_by_key(&t, g, "best_hparams")->text, "dropout=0.1, seed=2");
    assert_num(&t, b, "test_last_mean_pct", 99);
    assert_false(cell_by_key(&t, b, "test_last_std_pct")->has_num);   /* one trial: no deviation */
    table_free(&t);
    /* best epoch: 97.5, 98, 96; mean 97.1667; squares 0.1111 + 0.6944 +
     * 1.3611 = 2.1667 / 2: std 1.040833 */
    o.metric = METRIC_BEST;
    OK(report_build(&runs, &o, &t, err, sizeof err));
    row_table = &t;
    g = row_of("gecco");
    assert_num(&t, g, "test_at_best_mean_pct", 291.5 / 3);
    assert_num(&t, g, "test_at_best_std_pct", sqrt(13.0 / 12));
    assert_num(&t, g, "best_trial_test_pct", 98);
    table_free(&t);
    report_runs_free(&runs);
}

/* ---- the main table: every format ----------------------------------------------------- */

#define CAPTION_FINAL "Accuracies in %%; mean ± sample standard deviation (n - 1) over the complete " \
                      "trials; runs with another status are counted, not averaged. --metric final: the " \
                      "test accuracy after the last epoch. Every choice (best epoch, best trial) is made " \
                      "on the validation split, never on the test set."
/* in JSON the quotes are escaped */
#define SKIPPED_FOREIGN_JSON "skipped %s/foreign.h5: not a sweeprun run file (an HDF5 file without the " \
                             "root attribute format = \\\"sweeprun-run\\\")"
#define SKIPPED_CORRUPT "skipped %s/corrupt.h5: not an HDF5 file, so not a sweeprun run file"
#define SKIPPED_FOREIGN "skipped %s/foreign.h5: not a sweeprun run file (an HDF5 file without the " \
                        "root attribute format = \"sweeprun-run\")"

static void test_markdown(void **state)
{
    (void)state;
    ReportOptions o;
    report_options_default(&o);
    char *got = report_text(&o, FORMAT_MARKDOWN), want[8192];
    snprintf(want, sizeof want,
             "One row per model. " CAPTION_FINAL "\n\n"
             "| model | trials | not averaged | test acc, last epoch | test acc @ best-val epoch | "
             "val acc @ best epoch | best epoch | best trial: test acc, last epoch | params | s/epoch | device | "
             "best trial's hyperparameters |\n"
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n"
             "| baseline_cnn | 1/1 |  | 99.00 | 99.00 | 99.00 | 1.0 | 99.00 | 3,390,634 | 15.0 | cuda:0 NVIDIA H100 |  |\n"
             "| gecco | 3/6 | 1 running, 1 diverged, 1 pruned | 96.67 ± 1.53 | 97.17 ± 1.04 | 97.17 ± 1.04 | 1.0 | "
             "98.00 | 67,466 | 2.33 | cpu | dropout=0.1, seed=2 |\n"
             "\n- " SKIPPED_CORRUPT "\n- " SKIPPED_FOREIGN "\n", sweep_dir, sweep_dir);
    assert_text(got, want);
    free(got);
}

static void test_csv(void **state)
{
    (void)state;
    ReportOptions o;
    report_options_default(&o);
    char *got = report_text(&o, FORMAT_CSV), want[8192];
    snprintf(want, sizeof want,
             "model,complete,trials,running,diverged,failed,pruned,other,test_last_mean_pct,test_last_std_pct,"
             "test_at_best_mean_pct,test_at_best_std_pct,val_at_best_mean_pct,val_at_best_std_pct,"
             "best_epoch_mean,runs_without_validation,best_trial_test_pct,params,s_per_epoch,device,"
             "best_hparams,best_file,best_chosen_on\n"
             "baseline_cnn,1,1,0,0,0,0,0,99,,99,,99,,1,0,99,3390634,15,cuda:0 NVIDIA H100,,%s/cnn-s1.h5,"
             "validation\n"
             "gecco,3,6,1,1,0,1,0,96.66666667,1.527525232,97.16666667,1.040833,97.16666667,1.040833,1,0,98,"
             "67466,2.333333333,cpu,\"dropout=0.1, seed=2\",%s/g-d0.1-s2.h5,validation\n", sweep_dir, sweep_dir);
    assert_text(got, want);
    free(got);
}

static void test_latex(void **state)
{
    (void)state;
    ReportOptions o;
    report_options_default(&o);
    char *got = report_text(&o, FORMAT_LATEX);
    const char *want =
        "% One row per model. Accuracies in %; mean ± sample standard deviation (n - 1) over the "
        "complete trials; runs with another status are counted, not averaged. --metric final: the test "
        "accuracy after the last epoch. Every choice (best epoch, best trial) is made on the validation "
        "split, never on the test set.\n"
        "% needs \\usepackage{booktabs}\n"
        "\\begin{tabular}{lrlrrrrrrrll}\n\\toprule\n"
        "model & trials & not averaged & test acc, last epoch & test acc @ best-val epoch & val acc @ best "
        "epoch & best epoch & best trial: test acc, last epoch & params & s/epoch & device & best "
        "trial's hyperparameters \\\\\n\\midrule\n"
        "baseline\\_cnn & 1/1 &  & 99.00 & 99.00 & 99.00 & 1.0 & 99.00 & 3,390,634 & 15.0 & cuda:0 NVIDIA "
        "H100 &  \\\\\n"
        "gecco & 3/6 & 1 running, 1 diverged, 1 pruned & 96.67 $\\pm$ 1.53 & 97.17 $\\pm$ 1.04 & 97.17 "
        "$\\pm$ 1.04 & 1.0 & 98.00 & 67,466 & 2.33 & cpu & dropout=0.1, seed=2 \\\\\n"
        "\\bottomrule\n\\end{tabular}\n";
    if (strncmp(got, want, strlen(want))) fail_msg("got:\n%s\nexpected to start with:\n%s", got, want);
    assert_non_null(strstr(got, "% skipped "));   /* notes as comments */
    free(got);
}

static void test_json(void **state)
{
    (void)state;
    ReportOptions o;
    report_options_default(&o);
    char *got = report_text(&o, FORMAT_JSON), want[8192];
    snprintf(want, sizeof want,
             "{\n  \"metric\": \"final\",\n  \"caption\": \"One row per model. " CAPTION_FINAL "\",\n"
             "  \"rows\": [\n"
             "    {\"model\": \"baseline_cnn\", \"complete\": 1, \"trials\": 1, \"running\": 0, "
             "\"diverged\": 0, \"failed\": 0, \"pruned\": 0, \"other\": 0, \"test_last_mean_pct\": 99, "
             "\"test_last_std_pct\": null, \"test_at_best_mean_pct\": 99, \"test_at_best_std_pct\": null, "
             "\"val_at_best_mean_pct\": 99, \"val_at_best_std_pct\": null, \"best_epoch_mean\": 1, "
             "\"runs_without_validation\": 0, \"best_trial_test_pct\": 99, \"params\": 3390634, "
             "\"s_per_epoch\": 15, \"device\": \"cuda:0 NVIDIA H100\", \"best_hparams\": null, "
             "\"best_file\": \"%s/cnn-s1.h5\", \"best_chosen_on\": \"validation\"},\n"
             "    {\"model\": \"gecco\", \"complete\": 3, \"trials\": 6, \"running\": 1, \"diverged\": 1, "
             "\"failed\": 0, \"pruned\": 1, \"other\": 0, \"test_last_mean_pct\": 96.66666667, "
             "\"test_last_std_pct\": 1.527525232, \"test_at_best_mean_pct\": 97.16666667, "
             "\"test_at_best_std_pct\": 1.040833, \"val_at_best_mean_pct\": 97.16666667, "
             "\"val_at_best_std_pct\": 1.040833, \"best_epoch_mean\": 1, \"runs_without_validation\": 0, "
             "\"best_trial_test_pct\": 98, \"params\": 67466, "
             "\"s_per_epoch\": 2.333333333, \"device\": \"cpu\", \"best_hparams\": \"dropout=0.1, seed=2\", "
             "\"best_file\": \"%s/g-d0.1-s2.h5\", \"best_chosen_on\": \"validation\"}\n  ],\n"
             "  \"notes\": [\"" SKIPPED_CORRUPT "\", \"" SKIPPED_FOREIGN_JSON "\"]\n}\n",
             sweep_dir, sweep_dir, sweep_dir, sweep_dir);
    assert_text(got, want);
    free(got);
}

/* ---- grouping, sorting, marginals ------------------------------------------------------ */

static void test_group_by(void **state)
{
    (void)state;
    ReportOptions o;
    report_options_default(&o);
    OK(report_parse_group_by("dropout", &o, err, sizeof err));
    assert_int_equal(o.n_keys, 2);
    assert_string_equal(o.keys[0], "model");
    char *got = report_text(&o, FORMAT_MARKDOWN);
    /* dropout 0.1: 97, 98 -> 97.50 ± 0.71 (sqrt(0.5)); the pruned s3 counted.
     * dropout 0.2: 95 alone; the diverged and the running counted. */
    const char *want =
        "| model | dropout | trials | not averaged | test acc, last epoch | test acc @ best-val epoch | "
        "val acc @ best epoch | best epoch | best trial: test acc, last epoch | params | s/epoch | device | "
        "best trial's hyperparameters |\n"
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n"
        "| baseline_cnn | - | 1/1 |  | 99.00 | 99.00 | 99.00 | 1.0 | 99.00 | 3,390,634 | 15.0 | cuda:0 NVIDIA H100 |  |\n"
        "| gecco | 0.1 | 2/3 | 1 pruned | 97.50 ± 0.71 | 97.75 ± 0.35 | 97.75 ± 0.35 | 1.0 | 98.00 | 67,466 | "
        "2.50 | cpu | seed=2 |\n"
        "| gecco | 0.2 | 1/3 | 1 running, 1 diverged | 95.00 | 96.00 | 96.00 | 1.0 | 95.00 | 67,466 | 2.00 | "
        "cpu | seed=1 |\n";
    if (!strstr(got, want)) fail_msg("got:\n%s\nexpected to contain:\n%s", got, want);
    assert_non_null(strstr(got, "One row per combination of model, dropout."));
    free(got);
    /* model named explicitly, duplicates ignored; bad lists refused */
    OK(report_parse_group_by("model,seed,seed", &o, err, sizeof err));
    assert_int_equal(o.n_keys, 2);
    assert_string_equal(o.keys[1], "seed");
    assert_int_equal(report_parse_group_by("lr,,seed", &o, err, sizeof err), -1);
    assert_non_null(strstr(err, "--group-by: expected KEY[,KEY...]"));
}

static void first_column_order(const ReportOptions *o, int col, const char *a, const char *b,
                               const char *c)
{
    ReportRuns runs;
    char warnings[4096];
    load_sweep(&runs, warnings, sizeof warnings);
    Table t;
    OK(report_build(&runs, o, &t, err, sizeof err));
    const char *want[3] = {a, b, c};
    for (int r = 0; r < 3 && want[r]; r++)
        assert_string_equal(t.cells[(size_t)r * t.ncols + col].text, want[r]);
    table_free(&t);
    report_runs_free(&runs);
}

static void test_sort(void **state)
{
    (void)state;
    ReportOptions o;
    report_options_default(&o);
    OK(report_parse_group_by("dropout", &o, err, sizeof err));
    /* means: cnn 99, gecco/0.1 97.5, gecco/0.2 95 */
    snprintf(o.sort, sizeof o.sort, "mean");          /* accuracies: best first */
    first_column_order(&o, 1, "-", "0.1", "0.2");
    snprintf(o.sort, sizeof o.sort, "+mean");
    first_column_order(&o, 1, "0.2", "0.1", "-");
    snprintf(o.sort, sizeof o.sort, "dropout");        /* numbers before text */
    first_column_order(&o, 1, "0.1", "0.2", "-");
    snprintf(o.sort, sizeof o.sort, "-params");
    first_column_order(&o, 0, "baseline_cnn", "gecco", "gecco");
    snprintf(o.sort, sizeof o.sort, "trials");         /* 1, 3, 3 (ties by keys) */
    first_column_order(&o, 1, "-", "0.1", "0.2");
    snprintf(o.sort, sizeof o.sort, "test_last_mean_pct");  /* the data column name works too */
    first_column_order(&o, 1, "-", "0.1", "0.2");
    snprintf(o.sort, sizeof o.sort, "colour");
    ReportRuns runs;
    char warnings[4096];
    load_sweep(&runs, warnings, sizeof warnings);
    Table t;
    assert_int_equal(report_build(&runs, &o, &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "--sort: unknown column 'colour'"));
    report_runs_free(&runs);
}

static void test_marginal(void **state)
{
    (void)state;
    ReportOptions o;
    report_options_default(&o);
    snprintf(o.marginal, sizeof o.marginal, "dropout");
    char *got = report_text(&o, FORMAT_MARKDOWN);
    const char *want =
        "| model | dropout=0.1 | dropout=0.2 |\n"
        "| --- | ---: | ---: |\n"
        "| baseline_cnn | - | - |\n"
        "| gecco | 97.50 ± 0.71 (2) | 95.00 (1) |\n";
    if (!strstr(got, want)) fail_msg("got:\n%s\nexpected to contain:\n%s", got, want);
    free(got);
    /* seed: gecco 97 and 95 with seed 1 -> 96.00 ± 1.41; seed 3 has no
     * complete run, so its cells are empty */
    snprintf(o.marginal, sizeof o.marginal, "seed");
    got = report_text(&o, FORMAT_CSV);
    want = "model,seed=1_test_last_mean_pct,seed=1_test_last_std_pct,seed=1_n,seed=2_test_last_mean_pct,"
           "seed=2_test_last_std_pct,seed=2_n,seed=3_test_last_mean_pct,seed=3_test_last_std_pct,seed=3_n\n"
           "baseline_cnn,99,,1,,,0,,,0\n"
           "gecco,96,1.414213562,2,98,,1,,,0\n";
    assert_text(got, want);
    free(got);
    snprintf(o.marginal, sizeof o.marginal, "momentum");
    ReportRuns runs;
    char warnings[4096];
    load_sweep(&runs, warnings, sizeof warnings);
    Table t;
    assert_int_equal(report_build(&runs, &o, &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "--marginal: no run has the key 'momentum'"));
    report_runs_free(&runs);
}

/* ---- figures ------------------------------------------------------------------------ */

/* Width and height from the PNG signature and IHDR chunk; -1 if not a PNG. */
static int png_size(const char *path, int *w, int *h)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char b[24];
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t got = fread(b, 1, sizeof b, f);
    fclose(f);
    if (got != sizeof b || memcmp(b, sig, 8) || memcmp(b + 12, "IHDR", 4)) return -1;
    *w = (b[16] << 24) | (b[17] << 16) | (b[18] << 8) | b[19];
    *h = (b[20] << 24) | (b[21] << 16) | (b[22] << 8) | b[23];
    return 0;
}

/* Distinct RGB colours of a PNG, decoded with libpng (at most 1000 counted):
 * a blank or failed drawing has one or two. */
static int png_colours(const char *path)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path)) return -1;
    im.format = PNG_FORMAT_RGB;
    unsigned char *px = malloc(PNG_IMAGE_SIZE(im));
    if (!png_image_finish_read(&im, NULL, px, 0, NULL)) return -1;
    static unsigned seen[1000];
    int n = 0;
    for (size_t i = 0; i < (size_t)im.width * im.height && n < 1000; i++) {
        unsigned c = (unsigned)px[3 * i] << 16 | (unsigned)px[3 * i + 1] << 8 | px[3 * i + 2];
        int known = 0;
        for (int j = 0; j < n && !known; j++) known = seen[j] == c;
        if (!known) seen[n++] = c;
    }
    free(px);
    return n;
}

static void assert_png(const char *dir, const char *name, int w, int h)
{
    char path[1024];
    int gw, gh;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (png_size(path, &gw, &gh) != 0) fail_msg("%s: missing or not a PNG", path);
    if (gw != w || gh != h) fail_msg("%s: %dx%d, expected %dx%d", path, gw, gh, w, h);
    int colours = png_colours(path);
    if (colours < 20) fail_msg("%s: only %d colours; a drawing has hundreds (anti-aliasing)", path, colours);
}

/* accuracy-vs-params.csv: one row per group, the group's mean and 95 % t
 * interval; gecco (97, 98, 95: mean 96.67, s 1.53, t(2) 4.3027) is on the
 * front (fewer parameters than the baseline), the baseline too (more accurate). */
static void assert_scatter_sidecar(const char *dir, const ReportRuns *runs, const ReportOptions *o)
{
    char path[1024], line[1024];
    ReportGroups g;
    OK(report_group(runs, o, &g, err, sizeof err));
    snprintf(path, sizeof path, "%s/accuracy-vs-params.csv", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "label,params,s_per_epoch,mean,ci_lo,ci_hi,on_front\n");
    int rows = 0, gecco = 0;
    while (fgets(line, sizeof line, f)) {
        rows++;
        const char *prefix = "\"gecco\",67466,";
        if (strncmp(line, prefix, strlen(prefix))) continue;
        double mean, lo, hi;
        int front;
        char *p = strchr(line + strlen(prefix), ',');   /* after s_per_epoch */
        assert_int_equal(sscanf(p, ",%lf,%lf,%lf,%d", &mean, &lo, &hi, &front), 4);
        double half = 4.3027 * 1.5275252316519468 / sqrt(3.0);
        assert_true(fabs(mean - 96.666666667) < 1e-6 && fabs(hi - mean - half) < 1e-3 && fabs(mean - lo - half) < 1e-3);
        assert_int_equal(front, 1);
        gecco = 1;
    }
    fclose(f);
    assert_int_equal(rows, g.count);
    assert_true(gecco);
    report_groups_free(&g);
}

static void test_figures(void **state)
{
    (void)state;
    ReportRuns runs;
    char warnings[4096], fig_warnings[4096] = "", dir[512];
    load_sweep(&runs, warnings, sizeof warnings);
    ReportOptions o;
    report_options_default(&o);
    Table t;
    OK(report_build(&runs, &o, &t, err, sizeof err));
    test_tmpdir_path(dir, sizeof dir, "figures/nested");
    FILE *w = fmemopen(fig_warnings, sizeof fig_warnings, "w");
    int n = report_figures(&runs, &o, &t, dir, w, err, sizeof err);
    fclose(w);
    /* gecco: curves, confusion, misclassified; the baseline stores no
     * images: curves and confusion, and a warning */
    if (n != 10) fail_msg("%d figures (%s); warnings: %s", n, err, fig_warnings);
    if (!strstr(fig_warnings, "figures of baseline_cnn:") || !strstr(fig_warnings, "stores no misclassified images"))
        fail_msg("expected a warning about the baseline's images: %s", fig_warnings);
    assert_png(dir, "curves-gecco.png", FIG_CURVES_W, FIG_CURVES_H);
    assert_png(dir, "confusion-gecco.png", FIG_CONFUSION_W, FIG_CONFUSION_H);
    assert_png(dir, "misclassified-gecco.png", FIG_MIS_W, FIG_MIS_H);
    assert_png(dir, "curves-baseline_cnn.png", FIG_CURVES_W, FIG_CURVES_H);
    assert_png(dir, "confusion-baseline_cnn.png", FIG_CONFUSION_W, FIG_CONFUSION_H);
    assert_png(dir, "accuracy-vs-params.png", FIG_SCATTER_W, FIG_SCATTER_H);
    assert_png(dir, "accuracy-vs-cost.png", FIG_SCATTER_W, FIG_SCATTER_H);
    assert_png(dir, "effects-gecco-dropout.png", FIG_EFFECTS_W, FIG_EFFECTS_H);
    assert_png(dir, "parallel-gecco.png", FIG_PARALLEL_W, FIG_PARALLEL_H);
    assert_png(dir, "importance-gecco.png", FIG_IMPORTANCE_W, FIG_IMPORTANCE_H);
    assert_scatter_sidecar(dir, &runs, &o);
    /* The heat map's cell texts (its sidecar) are the best gecco trial's
     * (seed 2, 98%) confusion matrix as the run file holds it. */
    char path[1024], line[1024];
    snprintf(path, sizeof path, "%s/g-d0.1-s2.h5", sweep_dir);
    RunFile *rf = runfile_open(path, err, sizeof err);
    RunTestResults tr;
    OK(runfile_read_test_results(rf, &tr, err, sizeof err));
    runfile_close(rf);
    snprintf(path, sizeof path, "%s/confusion-gecco.csv", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "true\\predicted,0,1,2,3,4,5,6,7,8,9\n");
    for (int tl = 0; tl < 10; tl++) {
        assert_non_null(fgets(line, sizeof line, f));
        char *p = line;
        assert_int_equal(strtol(p, &p, 10), tl);
        for (int pl = 0; pl < 10; pl++) {
            assert_int_equal(*p++, ',');
            long v = strtol(p, &p, 10);
            assert_int_equal(v, tr.confusion[tl * 10 + pl]);
            assert_int_equal(v, confusion_at(2, tl, pl));
        }
    }
    assert_null(fgets(line, sizeof line, f));
    fclose(f);
    run_test_results_free(&tr);
    /* index.html shows the table and every figure */
    snprintf(path, sizeof path, "%s/index.html", dir);
    f = fopen(path, "r");
    assert_non_null(f);
    static char html[65536];
    html[fread(html, 1, sizeof html - 1, f)] = 0;
    fclose(f);
    const char *needles[] = {"<td class=\"num\">96.67 ± 1.53</td>", "<img src=\"curves-gecco.png\"",
                             "<img src=\"confusion-gecco.png\"", "<img src=\"misclassified-gecco.png\"",
                             "<img src=\"curves-baseline_cnn.png\"", "<img src=\"confusion-baseline_cnn.png\"",
                             "<a href=\"confusion-gecco.csv\">", "not an HDF5 file",
                             "<img src=\"accuracy-vs-params.png\"", "<a href=\"accuracy-vs-params.csv\">",
                             "<img src=\"accuracy-vs-cost.png\"", "<img src=\"effects-gecco-dropout.png\"",
                             "<img src=\"parallel-gecco.png\"", "<img src=\"importance-gecco.png\"",
                             "Hyperparameter importance", "one complete trial (3 of 6 runs"};
    for (size_t i = 0; i < sizeof needles / sizeof *needles; i++)
        if (!strstr(html, needles[i])) fail_msg("index.html lacks %s", needles[i]);
    table_free(&t);
    report_runs_free(&runs);
}

/* ---- hyperparameter importance ------------------------------------------------------- */

static void test_t_quantile(void **state)
{
    (void)state;
    assert_true(fabs(report_t975(1) - 12.7062) < 1e-4 && fabs(report_t975(4) - 2.7764) < 1e-4);
    assert_true(fabs(report_t975(40) - 2.0211) < 2e-4 && fabs(report_t975(120) - 1.9799) < 2e-4);
    assert_true(isnan(report_t975(0)));
    ReportStats s = {.n = 1, .mean = 0.5, .std = NAN};
    double lo, hi;
    report_ci95(&s, &lo, &hi);
    assert_true(isnan(lo) && isnan(hi));   /* one run: no interval */
}

/* A sweep whose accuracy is 0.90 + 0.02 * index(a) + 0.03 * (b == "y")
 * + noise below 0.001 from the seed; c does nothing. */
static void write_synthetic(const char *dir, int a, const char *b, const char *c, int seed)
{
    char path[640], config[256];
    snprintf(path, sizeof path, "%s/syn-%d-%s-%s-%d.h5", dir, a, b, c, seed);
    RunFile *rf = runfile_create(path, err, sizeof err);
    if (!rf) fail_msg("create %s: %s", path, err);
    snprintf(config, sizeof config, "model=gecco\na=%d\nb=%s\nc=%s\nseed=%d\n", a, b, c, seed);
    OK(runfile_set_attr_string(rf, "config", config, err, sizeof err));
    OK(runfile_set_attr_string(rf, "model", "gecco", err, sizeof err));
    OK(runfile_set_attr_int64(rf, "a", a, err, sizeof err));
    OK(runfile_set_attr_string(rf, "b", b, err, sizeof err));
    OK(runfile_set_attr_string(rf, "c", c, err, sizeof err));
    OK(runfile_set_attr_int64(rf, "seed", seed, err, sizeof err));
    OK(runfile_set_attr_int64(rf, "param_count", 1000, err, sizeof err));
    double noise = 0.0008 * (((seed * 7 + a * 3 + (c[0] == 'q') * 5) % 5) - 2) / 2.0;
    double acc = 0.90 + 0.02 * (a - 1) + (b[0] == 'y' ? 0.03 : 0) + noise;
    RunEpoch e = {1, 0.5, 0.9, 0.3, acc, 0.001, 1.0, 0.3, acc};
    OK(runfile_append_epoch(rf, &e, err, sizeof err));
    OK(runfile_finish(rf, "complete", err, sizeof err));
}

static void load_dir(const char *dir, ReportRuns *runs);

static void test_importance_synthetic(void **state)
{
    (void)state;
    char dir[512];
    test_tmpdir_path(dir, sizeof dir, "synthetic");
    mkdir(dir, 0777);
    const char *bs[2] = {"x", "y"}, *cs[2] = {"p", "q"};
    for (int a = 1; a <= 3; a++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 2; c++)
                for (int seed = 1; seed <= 3; seed++) write_synthetic(dir, a, bs[b], cs[c], seed);
    ReportRuns runs;
    load_dir(dir, &runs);
    ReportOptions o;
    report_options_default(&o);
    ModelTrials mt;
    report_model_trials(&runs, &o, "gecco", &mt);
    assert_int_equal(mt.n_keys, 3);   /* a, b, c: the seed is not a key */
    assert_string_equal(mt.keys[0].name, "a");
    assert_string_equal(mt.keys[2].name, "c");
    assert_int_equal(mt.n_trials, 36);
    double share[REPORT_MAX_SWEPT];
    report_importance(&mt, share);
    /* a's means 0, 2, 4 (+1.5) % apart: variance 2.67e-4; b's ±1.5 %: 2.25e-4 */
    if (!(share[0] > share[1] && share[1] > 0.3 && share[2] < 0.05 && share[0] + share[1] > 0.95))
        fail_msg("shares a %.3f b %.3f c %.3f", share[0], share[1], share[2]);
    char path[600];
    snprintf(path, sizeof path, "%s/importance.png", dir);
    OK(figure_importance(path, "importance", "synthetic", &mt, share, err, sizeof err));
    assert_png(dir, "importance.png", FIG_IMPORTANCE_W, FIG_IMPORTANCE_H);
    snprintf(path, sizeof path, "%s/effects.png", dir);
    OK(figure_effects(path, "effects", "synthetic", &mt, 0, err, sizeof err));
    assert_png(dir, "effects.png", FIG_EFFECTS_W, FIG_EFFECTS_H);
    report_model_trials_free(&mt);
    /* --importance: the same numbers through the Table machinery */
    o.importance = 1;
    Table t;
    OK(report_build(&runs, &o, &t, err, sizeof err));
    char *csv = render(&t, FORMAT_CSV);
    if (!strstr(csv, "model,key,values,share_pct,complete,trials\n") || !strstr(csv, "gecco,a,3,") ||
        !strstr(csv, ",36,36\n") || !strstr(csv, "(interactions, seeds)"))
        fail_msg("importance CSV:\n%s", csv);
    free(csv);
    table_free(&t);
    report_runs_free(&runs);
}

/* ---- the Pareto front (--pareto) ------------------------------------------------------ */

/* A trial of size params with validation accuracy val (test accuracy
 * val - 0.01) and the given status. */
static void write_sized(const char *dir, const char *name, long params, double val, const char *status)
{
    char path[640], config[128];
    snprintf(path, sizeof path, "%s/%s.h5", dir, name);
    RunFile *rf = runfile_create(path, err, sizeof err);
    if (!rf) fail_msg("create %s: %s", path, err);
    snprintf(config, sizeof config, "model=gecco\nfeature_length=%ld\nseed=0\n", params / 100);
    OK(runfile_set_attr_string(rf, "config", config, err, sizeof err));
    OK(runfile_set_attr_string(rf, "model", "gecco", err, sizeof err));
    OK(runfile_set_attr_string(rf, "trial_id", name, err, sizeof err));
    OK(runfile_set_attr_int64(rf, "feature_length", params / 100, err, sizeof err));
    OK(runfile_set_attr_int64(rf, "param_count", params, err, sizeof err));
    RunEpoch e = {1, 0.5, 0.9, 0.3, val - 0.01, 0.001, 1.0, 0.3, val};
    OK(runfile_append_epoch(rf, &e, err, sizeof err));
    OK(runfile_finish(rf, status, err, sizeof err));
}

static void test_pareto_table(void **state)
{
    (void)state;
    char dir[512];
    test_tmpdir_path(dir, sizeof dir, "pareto");
    mkdir(dir, 0777);
    write_sized(dir, "small", 500, 0.85, "complete");
    write_sized(dir, "medium", 1000, 0.90, "complete");
    write_sized(dir, "large", 2000, 0.95, "complete");
    write_sized(dir, "larger", 3000, 0.94, "complete");     /* beaten by large on both */
    write_sized(dir, "twin", 2000, 0.93, "complete");       /* as large as large, less accurate */
    write_sized(dir, "pruned", 400, 0.99, "pruned");        /* would beat all: not complete */
    ReportRuns runs;
    load_dir(dir, &runs);
    ReportOptions o;
    report_options_default(&o);
    snprintf(o.pareto, sizeof o.pareto, "val_acc:max, params:min");
    Table t;
    OK(report_build(&runs, &o, &t, err, sizeof err));
    char *csv = render(&t, FORMAT_CSV);
    const char *want = "model,trial,config,val_acc,params,test_at_best\n"
                       "gecco,large,feature_length=20,95,2000,94\n"
                       "gecco,medium,feature_length=10,90,1000,89\n"
                       "gecco,small,feature_length=5,85,500,84\n";
    if (strcmp(csv, want)) fail_msg("pareto CSV:\n%s\nexpected:\n%s", csv, want);
    if (!strstr(t.caption, "3 of 5 complete trials")) fail_msg("caption: %s", t.caption);
    free(csv);
    table_free(&t);
    /* the test set never chooses; one table at a time */
    snprintf(o.pareto, sizeof o.pareto, "test_acc:max");
    assert_int_equal(report_build(&runs, &o, &t, err, sizeof err), -1);
    if (!strstr(err, "--pareto: ") || !strstr(err, "unknown metric 'test_acc'") || !strstr(err, "val_acc"))
        fail_msg("%s", err);
    snprintf(o.pareto, sizeof o.pareto, "val_acc:max");
    o.importance = 1;
    assert_int_equal(report_build(&runs, &o, &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "expected one of them"));
    report_runs_free(&runs);
}

/* A random search: 70 trials, each with its own learning rate (more than
 * the 64 values a per-value plot takes), accuracy peaked at lr = 1e-2:
 * drawn as the trials and a smoothed trend on a log axis. */
static void test_effects_random_search(void **state)
{
    (void)state;
    enum { N = 70 };
    ModelTrials mt;
    memset(&mt, 0, sizeof mt);
    snprintf(mt.model, sizeof mt.model, "gecco");
    mt.n_keys = 1;
    snprintf(mt.keys[0].name, sizeof mt.keys[0].name, "lr");
    mt.keys[0].n_values = N;
    mt.keys[0].values = calloc(N, sizeof *mt.keys[0].values);
    mt.n_trials = mt.n_runs = N;
    mt.value = calloc(N, sizeof(int));
    mt.acc = calloc(N, sizeof(double));
    for (int i = 0; i < N; i++) {
        double log_lr = -4 + 3.0 * i / (N - 1);   /* ascending, as the values are sorted */
        snprintf(mt.keys[0].values[i], REPORT_VALUE_MAX, "%.6g", pow(10, log_lr));
        mt.value[i] = i;
        mt.acc[i] = 0.97 - 0.01 * (log_lr + 2) * (log_lr + 2) + 0.002 * ((i * 37) % 5 - 2);
    }
    char dir[512], path[600];
    test_tmpdir_path(dir, sizeof dir, "random");
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/effects-lr.png", dir);
    OK(figure_effects(path, "gecco: accuracy by lr", "random search", &mt, 0, err, sizeof err));
    assert_png(dir, "effects-lr.png", FIG_EFFECTS_W, FIG_EFFECTS_H);
    free(mt.keys[0].values);
    free(mt.value);
    free(mt.acc);
}

/* A confusion figure for a single class and one with many, and an
 * unwritable path: an error, not an exit. */
static void test_figure_edges(void **state)
{
    (void)state;
    char path[512];
    int64_t one = 7;
    test_tmpdir_path(path, sizeof path, "one.png");
    OK(figure_confusion(path, NULL, "one class", &one, 1, err, sizeof err));
    int w, h;
    assert_int_equal(png_size(path, &w, &h), 0);
    assert_int_equal(w, FIG_CONFUSION_W);
    assert_int_equal(figure_confusion("/nonexistent/dir/x.png", NULL, "t", &one, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/dir/x.png: cannot write"));
    RunTestResults none = {0};
    test_tmpdir_path(path, sizeof path, "none.png");
    assert_int_equal(figure_misclassified(path, "t", &none, err, sizeof err), -1);
    assert_non_null(strstr(err, "stores no misclassified images"));
}

/* ---- choosing on validation ------------------------------------------------------------ */

/* Three epochs where test and validation disagree. */
typedef struct ValFake {
    const char *file, *model, *dropout;
    int seed;
    double test[3], val[3], val_loss[3];
} ValFake;

/* v1: best on test is epoch 2 (97), best on validation epoch 3 (test 95).
 * v2: higher test everywhere (99, 98), lower validation (95 < 96). */
static const ValFake VAL_RUNS[] = {
    {"v1.h5", "gecco", "0.1", 1, {0.90, 0.97, 0.95}, {0.89, 0.93, 0.96}, {0.5, 0.4, 0.3}},
    {"v2.h5", "gecco", "0.2", 2, {0.91, 0.99, 0.98}, {0.90, 0.94, 0.95}, {0.5, 0.4, 0.3}},
};

static void write_val_fake(const char *dir, const ValFake *f, int old_layout)
{
    char path[512], config[256];
    snprintf(path, sizeof path, "%s/%s", dir, f->file);
    RunFile *rf = runfile_create(path, err, sizeof err);
    if (!rf) fail_msg("create %s: %s", path, err);
    snprintf(config, sizeof config, "model=%s\nepochs=3\nseed=%d\ndropout=%s\n%s", f->model, f->seed,
             f->dropout, old_layout ? "" : "val_split=0.1\n");
    OK(runfile_set_attr_string(rf, "config", config, err, sizeof err));
    OK(runfile_set_attr_string(rf, "model", f->model, err, sizeof err));
    OK(runfile_set_attr_int64(rf, "epochs", 3, err, sizeof err));
    for (int i = 0; i < 3; i++) {
        RunEpoch e = {i + 1, 0.5, 0.9, 0.3, f->test[i], 0.001, 1.0, f->val_loss[i], f->val[i]};
        OK(runfile_append_epoch(rf, &e, err, sizeof err));
    }
    OK(runfile_finish(rf, "complete", err, sizeof err));
    if (!old_layout) return;
    /* as written before validation existed: no val_* datasets */
    hid_t h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Ldelete(h, "/epochs/val_loss", H5P_DEFAULT) >= 0);
    assert_true(H5Ldelete(h, "/epochs/val_accuracy", H5P_DEFAULT) >= 0);
    H5Fclose(h);
}

/* A folder with VAL_RUNS, plus an old-layout baseline_cnn run when old. */
static void make_val_dir(const char *name, int old, char *dir, size_t size)
{
    test_tmpdir_path(dir, size, name);
    mkdir(dir, 0777);
    for (int i = 0; i < 2; i++) write_val_fake(dir, &VAL_RUNS[i], 0);
    if (old) {
        ValFake f = {"old.h5", "baseline_cnn", "0.1", 1, {0.90, 0.99, 0.98}, {0.5, 0.6, 0.7}, {1, 1, 1}};
        write_val_fake(dir, &f, 1);
    }
}

static void load_dir(const char *dir, ReportRuns *runs)
{
    char *paths[1] = {(char *)dir};
    OK(report_load(1, paths, runs, NULL, err, sizeof err));
}

static const ReportRun *run_named(const ReportRuns *runs, const char *file)
{
    for (int i = 0; i < runs->count; i++)
        if (strstr(runs->runs[i].path, file)) return &runs->runs[i];
    fail_msg("no run %s", file);
    return NULL;
}

static void test_best_epoch_on_validation(void **state)
{
    (void)state;
    char dir[512];
    make_val_dir("val", 0, dir, sizeof dir);
    ReportRuns runs;
    load_dir(dir, &runs);
    const ReportRun *v1 = run_named(&runs, "v1.h5");
    assert_int_equal(v1->has_validation, 1);
    assert_int_equal(v1->best_epoch, 3);
    assert_true(v1->best_epoch_test_acc == 0.95 && v1->best_val_acc == 0.96 && v1->max_test_acc == 0.97);
    ReportOptions o;
    report_options_default(&o);
    o.metric = METRIC_BEST;
    assert_true(report_run_metric(v1, &o) == 0.95);   /* epoch 3's test accuracy, not epoch 2's */
    Table t;
    OK(report_build(&runs, &o, &t, err, sizeof err));
    row_table = &t;
    int g = row_of("gecco");
    assert_num(&t, g, "test_at_best_mean_pct", (95.0 + 98.0) / 2);
    assert_num(&t, g, "val_at_best_mean_pct", (96.0 + 95.0) / 2);
    assert_num(&t, g, "best_epoch_mean", 3);
    assert_num(&t, g, "test_last_mean_pct", (95.0 + 98.0) / 2);
    /* v2 has the higher test accuracy, v1 the higher validation accuracy */
    assert_num(&t, g, "best_trial_test_pct", 95);
    assert_string_equal(cell_by_key(&t, g, "best_hparams")->text, "dropout=0.1, seed=1");
    assert_string_equal(cell_by_key(&t, g, "best_chosen_on")->text, "validation");
    assert_int_equal(t.n_notes, 0);   /* every run has validation */
    table_free(&t);
    /* final: chosen on the last epoch's validation accuracy (96 vs 95) */
    o.metric = METRIC_FINAL;
    OK(report_build(&runs, &o, &t, err, sizeof err));
    row_table = &t;
    assert_num(&t, row_of("gecco"), "best_trial_test_pct", 95);
    assert_num(&t, row_of("gecco"), "test_at_best_mean_pct", (95.0 + 98.0) / 2);   /* shown either way */
    table_free(&t);
    report_runs_free(&runs);
}

/* Ties on validation accuracy go to the lower validation loss. */
static void test_best_trial_tie_by_loss(void **state)
{
    (void)state;
    char dir[512];
    test_tmpdir_path(dir, sizeof dir, "tie");
    mkdir(dir, 0777);
    ValFake a = {"a.h5", "gecco", "0.1", 1, {0.99, 0.99, 0.99}, {0.9, 0.9, 0.95}, {0.5, 0.5, 0.4}};
    ValFake b = {"b.h5", "gecco", "0.2", 2, {0.90, 0.90, 0.90}, {0.9, 0.9, 0.95}, {0.5, 0.5, 0.2}};
    write_val_fake(dir, &a, 0);
    write_val_fake(dir, &b, 0);
    ReportRuns runs;
    load_dir(dir, &runs);
    ReportOptions o;
    report_options_default(&o);
    int idx[2] = {0, 1};
    int best = report_best_run(&runs, idx, 2, &o);
    assert_true(best >= 0 && strstr(runs.runs[best].path, "b.h5"));
    report_runs_free(&runs);
}

static void test_refuses_best_without_validation(void **state)
{
    (void)state;
    char dir[512];
    make_val_dir("mixed", 1, dir, sizeof dir);
    ReportRuns runs;
    load_dir(dir, &runs);
    const ReportRun *old = run_named(&runs, "old.h5");
    assert_int_equal(old->has_validation, 0);   /* the old layout loads, marked */
    assert_int_equal(old->best_epoch, -1);
    ReportOptions o;
    report_options_default(&o);
    o.metric = METRIC_BEST;
    Table t;
    assert_int_equal(report_build(&runs, &o, &t, err, sizeof err), -1);
    char want[600];
    snprintf(want, sizeof want, "%s/old.h5: no validation numbers (written before validation existed, or "
                                "val_split = 0)", dir);
    if (!strstr(err, want) || !strstr(err, "--select-on-test") || !strstr(err, "rerun with a validation split"))
        fail_msg("message: %s", err);
    /* final works, with a note marking the run */
    o.metric = METRIC_FINAL;
    OK(report_build(&runs, &o, &t, err, sizeof err));
    assert_int_equal(t.n_notes, 1);
    assert_non_null(strstr(t.notes[0], "1 of 3 runs have no validation numbers (written before validation "
                                       "existed or val_split = 0)"));
    row_table = &t;
    assert_num(&t, row_of("baseline_cnn"), "runs_without_validation", 1);
    assert_false(cell_by_key(&t, row_of("baseline_cnn"), "best_trial_test_pct")->has_num);
    assert_string_equal(cell_by_key(&t, row_of("baseline_cnn"), "best_hparams")->text, "-");
    table_free(&t);
    report_runs_free(&runs);
}

static void test_select_on_test_is_labelled(void **state)
{
    (void)state;
    char dir[512];
    make_val_dir("ontest", 1, dir, sizeof dir);
    ReportRuns runs;
    load_dir(dir, &runs);
    ReportOptions o;
    report_options_default(&o);
    o.metric = METRIC_BEST;
    o.select_on_test = 1;
    Table t;
    OK(report_build(&runs, &o, &t, err, sizeof err));
    row_table = &t;
    int b = row_of("baseline_cnn"), g = row_of("gecco");
    assert_num(&t, b, "test_at_best_mean_pct", 99);   /* the highest test accuracy: epoch 2 */
    assert_num(&t, b, "best_trial_test_pct", 99);
    assert_string_equal(cell_by_key(&t, b, "best_chosen_on")->text, "test");
    assert_non_null(strstr(cell_by_key(&t, b, "best_hparams")->text, "chosen on test"));
    assert_num(&t, g, "test_at_best_mean_pct", (95.0 + 98.0) / 2);   /* validation runs unchanged */
    assert_string_equal(cell_by_key(&t, g, "best_chosen_on")->text, "validation");
    int titled = 0;
    for (int c = 0; c < t.ncols; c++) titled |= strstr(t.cols[c].title, "best-TEST") && strstr(t.cols[c].title, "optimistic");
    assert_true(titled);
    assert_non_null(strstr(t.caption, "--select-on-test"));
    assert_non_null(strstr(t.caption, "TEST set (optimistic)"));
    table_free(&t);
    report_runs_free(&runs);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ---- --compare: the t distribution, Welch's and the paired test ------------------------ */

static void assert_close(double got, double want, double tol, const char *what)
{
    if (!(fabs(got - want) <= tol)) fail_msg("%s: got %.17g, expected %.17g", what, got, want);
}

/* Table values (t_{0.975,10} = 2.228138852, t_{0.975,4} = 2.776445105),
 * closed forms (df 1 is Cauchy: F(1) = 3/4; df 2: F(t) = 1/2 + t / (2
 * sqrt(2 + t^2))), and values from mpmath at 30 digits (the regularized
 * incomplete beta: F(t) = 1 - I_{df/(df+t^2)}(df/2, 1/2) / 2 for t > 0,
 * the quantile by mpmath.findroot). */
static void test_t_distribution(void **state)
{
    (void)state;
    assert_close(stats_t_quantile(0.975, 10), 2.228138852, 1e-9, "t_0.975,10");
    assert_close(stats_t_quantile(0.975, 4), 2.776445105, 1e-9, "t_0.975,4");
    assert_close(stats_t_quantile(0.975, 2.5), 3.5746548420036832, 1e-10, "t_0.975,2.5");
    assert_close(stats_t_quantile(0.025, 4), -2.776445105, 1e-9, "t_0.025,4");
    assert_close(stats_t_cdf(1, 1), 0.75, 1e-14, "F_1(1)");
    assert_close(stats_t_cdf(3, 2), 0.5 + 3 / (2 * sqrt(11)), 1e-14, "F_2(3)");
    assert_close(stats_t_cdf(1.5, 7), 0.91135075650501498, 1e-13, "F_7(1.5)");
    assert_close(stats_t_cdf(-0.8, 3.3), 0.23865104064950215, 1e-13, "F_3.3(-0.8)");
}

/* Reference values from mpmath (30 digits) with the textbook formulas:
 * Welch se = sqrt(va/na + vb/nb), df = (va/na + vb/nb)^2 / ((va/na)^2/(na-1)
 * + (vb/nb)^2/(nb-1)), p = 2 (1 - F_df(|t|)), CI = diff -+ t_{0.975,df} se.
 * The paired case by hand: d = 2, 1.5, 1.5, mean 5/3, sd sqrt(1/12), se
 * 1/6, t = 10, df 2, p = 1 - 10/sqrt(102) (df 2 closed form), CI
 * 5/3 -+ 4.302652730 / 6. */
static const double WA[] = {97, 98, 97.5, 98.5}, WB[] = {95, 96.5, 96};

static void test_welch_and_paired(void **state)
{
    (void)state;
    StatsTest s;
    stats_welch(WA, 4, WB, 3, &s);
    assert_close(s.diff, 23.0 / 12, 1e-12, "welch diff");
    assert_close(s.se, 0.54645321035850005, 1e-12, "welch se");
    assert_close(s.df, 3.9593147751605996, 1e-12, "welch df");
    assert_close(s.t, 3.5074671176499073, 1e-11, "welch t");
    assert_close(s.p, 0.025144312941231169, 1e-11, "welch p");
    assert_close(s.lo, 0.39330093728044471, 1e-9, "welch lo");
    assert_close(s.hi, 3.4400323960528886, 1e-9, "welch hi");
    double d[] = {2, 1.5, 1.5};
    stats_paired(d, 3, &s);
    assert_int_equal(s.n, 3);
    assert_close(s.diff, 5.0 / 3, 1e-14, "paired diff");
    assert_close(s.t, 10, 1e-12, "paired t");
    assert_close(s.df, 2, 0, "paired df");
    assert_close(s.p, 1 - 10 / sqrt(102), 1e-12, "paired p");
    assert_close(s.lo, 5.0 / 3 - 4.302652730 / 6, 1e-9, "paired lo");
    assert_close(s.hi, 5.0 / 3 + 4.302652730 / 6, 1e-9, "paired hi");
    double same[] = {97, 97};   /* no spread: the difference, nothing else */
    stats_welch(same, 2, same, 2, &s);
    assert_true(s.diff == 0 && isnan(s.t) && isnan(s.p) && isnan(s.lo) && isnan(s.df));
}

/* Groups of gecco by dropout: 0.1 (seeds 1-4: 97, 98, 97.5, 98.5), 0.2
 * (seeds 1-3: 95, 96.5, 96; plus a diverged run), 0.3 (one run), and
 * baseline_cnn (seeds 1, 2): the numbers of test_welch_and_paired. */
static const Fake CMP_RUNS[] = {
    {"a1.h5", "gecco", "complete", 1, "0.1", 0.97, 0.97, 1, 1, 67466, "cpu", 0},
    {"a2.h5", "gecco", "complete", 2, "0.1", 0.98, 0.98, 1, 1, 67466, "cpu", 0},
    {"a3.h5", "gecco", "complete", 3, "0.1", 0.975, 0.975, 1, 1, 67466, "cpu", 0},
    {"a4.h5", "gecco", "complete", 4, "0.1", 0.985, 0.985, 1, 1, 67466, "cpu", 0},
    {"b1.h5", "gecco", "complete", 1, "0.2", 0.95, 0.95, 1, 1, 67466, "cpu", 0},
    {"b2.h5", "gecco", "complete", 2, "0.2", 0.965, 0.965, 1, 1, 67466, "cpu", 0},
    {"b3.h5", "gecco", "complete", 3, "0.2", 0.96, 0.96, 1, 1, 67466, "cpu", 0},
    {"b4.h5", "gecco", "diverged", 4, "0.2", 0.10, 0.10, 1, 1, 67466, "cpu", 0},
    {"c1.h5", "gecco", "complete", 1, "0.3", 0.90, 0.90, 1, 1, 67466, "cpu", 0},
    {"n1.h5", "baseline_cnn", "complete", 1, NULL, 0.99, 0.99, 1, 1, 3390634, "cpu", 0},
    {"n2.h5", "baseline_cnn", "complete", 2, NULL, 0.992, 0.992, 1, 1, 3390634, "cpu", 0},
};

static void compare_runs(ReportRuns *runs)
{
    char dir[512];
    test_tmpdir_path(dir, sizeof dir, "compare");
    if (mkdir(dir, 0777) == 0)
        for (size_t i = 0; i < sizeof CMP_RUNS / sizeof CMP_RUNS[0]; i++) write_fake(dir, &CMP_RUNS[i]);
    load_dir(dir, runs);
}

/* --compare with options o; -1 with err on bad options. */
static int compare_table(const char *group_by, const char *compare, Table *t)
{
    ReportRuns runs;
    compare_runs(&runs);
    ReportOptions o;
    report_options_default(&o);
    if (group_by) OK(report_parse_group_by(group_by, &o, err, sizeof err));
    snprintf(o.compare, sizeof o.compare, "%s", compare);
    int rc = report_build(&runs, &o, t, err, sizeof err);
    report_runs_free(&runs);
    return rc;
}

static void test_compare_pair(void **state)
{
    (void)state;
    Table t;
    OK(compare_table("dropout", "gecco+dropout=0.1,dropout=0.2", &t));
    assert_int_equal(t.nrows, 1);
    assert_string_equal(cell_by_key(&t, 0, "a")->text, "gecco+dropout=0.1");
    assert_string_equal(cell_by_key(&t, 0, "b")->text, "gecco+dropout=0.2");
    assert_num(&t, 0, "n_a", 4);
    assert_num(&t, 0, "n_b", 3);   /* the diverged run is not averaged */
    assert_num(&t, 0, "mean_a_pct", 97.75);
    assert_num(&t, 0, "mean_b_pct", 95.833333333333333);
    assert_num(&t, 0, "diff_pct", 23.0 / 12);
    assert_num(&t, 0, "df", 3.9593147751605996);
    assert_num(&t, 0, "t", 3.5074671176499073);
    assert_num(&t, 0, "p", 0.025144312941231169);
    assert_num(&t, 0, "ci_low_pct", 0.39330093728044471);
    assert_num(&t, 0, "ci_high_pct", 3.4400323960528886);
    assert_num(&t, 0, "pairs", 3);   /* seeds 1-3; seed 4 only in A */
    assert_num(&t, 0, "paired_t", 10);
    assert_num(&t, 0, "paired_p", 1 - 10 / sqrt(102));
    assert_num(&t, 0, "paired_diff_pct", 5.0 / 3);
    char *md = render(&t, FORMAT_MARKDOWN);
    const char *want =
        "| A | B | n A | n B | mean A | mean B | A - B (points) | 95 % CI | t | df | p | pairs | "
        "paired A - B (points) | paired 95 % CI | paired t | paired p |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        "| gecco+dropout=0.1 | gecco+dropout=0.2 | 4 | 3 | 97.75 | 95.83 | +1.92 | [+0.39, +3.44] | 3.51 | 4.0 | "
        "0.0251 | 3 | +1.67 | [+0.95, +2.38] | 10.00 | 0.0099 |\n";
    size_t caption_len = strcspn(md, "\n");   /* the caption, a blank line, the table */
    assert_text(md + caption_len + 2, want);
    assert_non_null(strstr(md, "Welch's t-test"));
    free(md);
    table_free(&t);
}

/* Grouped by model only; gecco's seeds repeat, so no pairing. */
static void test_compare_models_and_all(void **state)
{
    (void)state;
    Table t;
    OK(compare_table(NULL, "all", &t));
    assert_int_equal(t.nrows, 1);
    assert_string_equal(cell_by_key(&t, 0, "a")->text, "baseline_cnn");
    assert_num(&t, 0, "n_b", 8);
    assert_int_equal(t.n_notes, 0);
    for (int c = 0; c < t.ncols; c++) assert_true(strncmp(t.cols[c].key, "paired", 6) != 0);
    table_free(&t);
    /* within gecco: 0.1-0.2 (0.3 has one run: a note), never across models */
    OK(compare_table("dropout", "all", &t));
    assert_int_equal(t.nrows, 1);
    assert_string_equal(cell_by_key(&t, 0, "b")->text, "gecco+dropout=0.2");
    assert_int_equal(t.n_notes, 1);
    assert_string_equal(t.notes[0], "not compared: gecco+dropout=0.3 (1 complete run; a t-test needs 2)");
    table_free(&t);
}

static void test_compare_errors(void **state)
{
    (void)state;
    static const struct {
        const char *group_by, *compare, *want;
    } cases[] = {
        {"dropout", "dropout=0.1,dropout=0.5", "--compare: no group 'dropout=0.5'; the groups are: "
                                               "baseline_cnn+dropout=-, gecco+dropout=0.1, gecco+dropout=0.2, "
                                               "gecco+dropout=0.3"},
        {"dropout", "gecco,dropout=0.1", "--compare: 'gecco' names 3 groups"},
        {"dropout", "gate=none,dropout=0.1", "--compare: 'gate' is not a group key"},
        {"dropout", "dropout=0.1,dropout=0.3", "--compare: group 'gecco+dropout=0.3' has 1 complete run "
                                               "with a --metric final accuracy; a t-test needs at least 2"},
        {NULL, "gecco", "--compare: expected A,B (two groups separated by one comma) or all, got 'gecco'"},
        {NULL, "gecco,,gecco", "--compare: expected A,B"},
        {NULL, "gecco,+", "--compare: expected A,B with A and B each MODEL or KEY=VALUE joined by +"},
        {NULL, "gecco,gecco", "--compare: 'gecco' and 'gecco' are the same group"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Table t = {0};
        assert_int_equal(compare_table(cases[i].group_by, cases[i].compare, &t), -1);
        if (strncmp(err, cases[i].want, strlen(cases[i].want)))
            fail_msg("case %zu: got \"%s\", expected \"%s\"", i, err, cases[i].want);
    }
}

/* --reference on the --compare runs: gecco's 8 complete runs (97, 98, 97.5,
 * 98.5, 95, 96.5, 96, 90; mean 96.0625, sd 2.6918, t_{0.975,7} 2.3646:
 * 95 % CI 93.8121 to 98.3129, from mpmath) and baseline_cnn's 2 (99,
 * 99.2; CI 97.83 to 100.37). */
static void test_reference_columns(void **state)
{
    (void)state;
    char csv[600];
    test_tmpdir_path(csv, sizeof csv, "reported.csv");
    write_text(csv, "model,source,mean_accuracy_pct,best_accuracy_pct,param_count,notes\n"
                    "gecco,paper,99.32,99.10,50800,\"mean above best, swapped?\"\n"
                    "baseline_cnn,paper,99.5,,3390634,\n"
                    "gecco,\"the authors\",98.04,,,\n"
                    "resnet,paper,99.41,99.48,46833226,not in these runs\n");
    ReportReference ref;
    OK(report_reference_load(csv, &ref, err, sizeof err));
    assert_int_equal(ref.count, 4);
    assert_int_equal(ref.n_sources, 2);
    ReportRuns runs;
    compare_runs(&runs);
    ReportOptions o;
    report_options_default(&o);
    o.reference = &ref;
    Table t;
    OK(report_build(&runs, &o, &t, err, sizeof err));
    row_table = &t;
    int g = row_of("gecco");
    assert_num(&t, g, "diff_pct:paper", 96.0625 - 99.32);
    assert_num(&t, g, "reported_best_pct:paper", 99.10);
    assert_num(&t, g, "reported_params:paper", 50800);
    assert_string_equal(cell_by_key(&t, g, "mean_in_ci95:the authors")->text, "yes");
    assert_close(cell_by_key(&t, g, "measured_ci95_low_pct")->num, 93.812137943, 1e-8, "CI low");
    char *md = render(&t, FORMAT_MARKDOWN);
    const char *want =
        "| model | trials | not averaged | test acc, last epoch | test acc @ best-val epoch | val acc @ best epoch | "
        "best epoch | best trial: test acc, last epoch | params | s/epoch | device | best trial's hyperparameters | "
        "paper: reported | paper: measured - reported (points) | paper: reported mean in measured 95 % CI | "
        "paper: params match | the authors: reported | the authors: measured - reported (points) | "
        "the authors: reported mean in measured 95 % CI | the authors: params match |\n"
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | "
        "---: | ---: | ---: | ---: |\n"
        "| baseline_cnn | 2/2 |  | 99.10 ± 0.14 | 99.10 ± 0.14 | 99.10 ± 0.14 | 1.0 | 99.20 | 3,390,634 | 1.00 | cpu | "
        "seed=2 | 99.50 mean, 3,390,634 params | -0.40 | yes | yes |  |  |  |  |\n"
        "| gecco | 8/9 | 1 diverged | 96.06 ± 2.69 | 96.06 ± 2.69 | 96.06 ± 2.69 | 1.0 | 98.50 | 67,466 | 1.00 | cpu | "
        "dropout=0.1, seed=4 | 99.32 mean, 99.10 best, 50,800 params | -3.26 | no | no | 98.04 mean | -1.98 | yes | - |\n"
        "\n- paper, gecco: mean above best, swapped?\n";
    size_t caption_len = strcspn(md, "\n");
    assert_text(md + caption_len + 2, want);
    free(md);
    table_free(&t);
    report_runs_free(&runs);
    report_reference_free(&ref);
}

/* Every bad reference file: one message naming file:line and what was expected. */
#define REF_HEAD "model,source,mean_accuracy_pct,best_accuracy_pct,param_count,notes\n"
static void test_reference_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"model,label,test_accuracy_pct,param_count\n",
         ":1: expected the header model,source,mean_accuracy_pct,best_accuracy_pct,param_count,notes"},
        {"", ":1: expected the header"},
        {REF_HEAD "gecco,r,99.1,,1,\ngecco,s,ninety,,,\n", ":3: expected mean_accuracy_pct as a number from 0 to 100"},
        {REF_HEAD "gecco,r,99,101,,\n", ":2: expected best_accuracy_pct"},
        {REF_HEAD "gecco,r,99,,-5,\n", ":2: expected param_count"},
        {REF_HEAD "gecco,r,99,,1\n", ":2: expected 6 comma-separated fields"},
        {REF_HEAD "gecco,r,99,,1,,x\n", ":2: expected 6 comma-separated fields"},
        {REF_HEAD "gecco,r,99,,,\ngecco,r,98,,,\n", ":3: expected one line per model and source"},
        {REF_HEAD ",r,99,,1,\n", ":2: expected a model name"},
        {REF_HEAD "gecco,,99,,1,\n", ":2: expected a source"},
        {REF_HEAD "gecco,r,99,,1,\"open quote\n", ":2: expected 6 comma-separated fields"},
    };
    char path[512];
    test_tmpdir_path(path, sizeof path, "bad-claims.csv");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text(path, cases[i].text);
        ReportReference ref;
        assert_int_equal(report_reference_load(path, &ref, err, sizeof err), -1);
        char want[800];
        snprintf(want, sizeof want, "%s%s", path, cases[i].want);
        if (!strstr(err, want)) fail_msg("case %zu: got \"%s\", expected \"%s\"", i, err, want);
        assert_int_equal(ref.count, 0);
    }
    ReportReference ref;
    assert_int_equal(report_reference_load("/nonexistent/claims.csv", &ref, err, sizeof err), -1);
    assert_non_null(strstr(err, "--reference /nonexistent/claims.csv: No such file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_load_skips_bad_files),
        cmocka_unit_test(test_tmp_beside_final_counted_once),
        cmocka_unit_test(test_statistics_by_hand),
        cmocka_unit_test(test_markdown),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_latex),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_group_by),
        cmocka_unit_test(test_sort),
        cmocka_unit_test(test_marginal),
        cmocka_unit_test(test_figures),
        cmocka_unit_test(test_figure_edges),
        cmocka_unit_test(test_t_quantile),
        cmocka_unit_test(test_importance_synthetic),
        cmocka_unit_test(test_pareto_table),
        cmocka_unit_test(test_effects_random_search),
        cmocka_unit_test(test_best_epoch_on_validation),
        cmocka_unit_test(test_best_trial_tie_by_loss),
        cmocka_unit_test(test_refuses_best_without_validation),
        cmocka_unit_test(test_select_on_test_is_labelled),
        cmocka_unit_test(test_t_distribution),
        cmocka_unit_test(test_welch_and_paired),
        cmocka_unit_test(test_compare_pair),
        cmocka_unit_test(test_compare_models_and_all),
        cmocka_unit_test(test_compare_errors),
        cmocka_unit_test(test_reference_columns),
        cmocka_unit_test(test_reference_errors),
    };
    return cmocka_run_group_tests(tests, make_sweep, test_tmpdir_teardown);
}
