/* Sweep files: a table of bad files, each with the one "FILE:LINE: message"
 * it must produce (checked through the runner's real resolver, so training
 * keys are judged by config_set() exactly as `sweeprun train` judges them),
 * a file with many problems reporting all of them in line order, good
 * files parsed into the expected values, what is not a sweep file (a
 * device, a folder, a huge file, a huge line), long lines, and work that
 * grows linearly with the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "sweep_config.h"
#include "sweep_expand.h"
#include "sweep_file.h"
#include "sweep_scheduler.h"

typedef struct BadCase {
    const char *text;
    int line;                 /* expected line (0: the file as a whole) */
    const char *message;      /* expected text after "FILE:LINE: " (a prefix of the message) */
} BadCase;

#define HEAD "[sweep]\nname = t\n"   /* lines 1-2 */
#define LONG_50 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define LONG_200 LONG_50 LONG_50 LONG_50 LONG_50

static const BadCase BAD[] = {
    {HEAD "[grids]\nlr = 0.1\n[defaults]\nmodel = gecco\n", 3,
     "unknown section [grids] (expected [sweep], [defaults], [model.NAME], [grid] or [random])"},
    {HEAD "colour = blue\n[defaults]\nmodel = gecco\n", 3, "unknown key 'colour' in [sweep]"},
    {HEAD "[defaults]\nmodel = gecco\nlr = fast\n", 5, "lr: expected a number in [0, 1000], got 'fast'"},
    {HEAD "[defaults]\nmodel = gecco\nepochs = 2.5\n", 5, "epochs: expected a whole number in [1, 100000], got '2.5'"},
    {HEAD "[defaults]\nmodel = gecco\n[model.gecco]\n  dropout = 1.5\n", 6, "dropout: expected a value in [0, 0.99], got 1.5"},
    {HEAD "[defaults]\nmodel = gecco\n[grid]\nlr =\n", 6, "lr: expected a comma-separated list of values, got an empty list"},
    {HEAD "[defaults]\nmodel = gecco\n[grid]\nlr = 0.1, , 0.2\n", 6,
     "lr: expected a comma-separated list of values, got an empty item in the list"},
    {HEAD "[grid]\nmodel = gecco, lenet\n", 4, "model: expected one of baseline_cnn, gecco, gecco_enhanced, spinalnet, resnet, efficient_capsnet, got 'lenet'"},
    {HEAD "[defaults]\nmodel = baseline_cnn\nfeature_length = 32\n", 5, "feature_length: unknown key for model baseline_cnn"},
    {HEAD "[defaults]\nfeature_length = 32\n[grid]\nmodel = gecco, baseline_cnn\n", 4,
     "feature_length: unknown key for model baseline_cnn"},
    {HEAD "seeds = 1, 2, 1\n[defaults]\nmodel = gecco\n", 3, "seeds: seed 1 is listed twice"},
    {HEAD "seeds = 0, -1\n[defaults]\nmodel = gecco\n", 3, "seeds: expected non-negative whole numbers, got '-1'"},
    {HEAD "search = bayes\n[defaults]\nmodel = gecco\n", 3, "search: expected grid, random or tpe, got 'bayes'"},
    {HEAD "search = random\n[defaults]\nmodel = gecco\n[random]\nlr = uniform(0.001, 0.01)\n", 3,
     "search = random needs samples = N (draws per grid point) or trials = N (draws in all) in [sweep]"},
    {HEAD "[defaults]\nmodel = gecco\n[random]\nlr = uniform(0.001, 0.01)\n", 5, "[random] needs search = random or tpe in [sweep]"},
    {HEAD "search = random\nsamples = 2\n[defaults]\nmodel = gecco\n[random]\nlr = normal(0, 1)\n", 8,
     "lr: unknown distribution 'normal'"},
    {HEAD "search = random\nsamples = 2\n[defaults]\nmodel = gecco\n[random]\nlr = loguniform(0, 0.1)\n", 8,
     "lr: loguniform() needs 0 < low, got '0, 0.1'"},
    {HEAD "search = random\nsamples = 2\n[defaults]\nmodel = gecco\n[random]\ndropout = uniform(0.5, 0.1)\n", 8,
     "dropout: uniform() needs low < high, got '0.5, 0.1'"},
    {HEAD "search = random\nsamples = 2\n[defaults]\nmodel = gecco\n[random]\nbatch_size = int(16, 64.5)\n", 8,
     "batch_size: int() takes whole numbers, got '16, 64.5'"},
    {HEAD "search = random\nsamples = 2\n[defaults]\nmodel = gecco\n[random]\nlr = 0.1\n", 8,
     "lr: expected uniform(a, b), loguniform(a, b), int(a, b) or choice(x, y, ...), got '0.1'"},
    {HEAD "search = random\nsamples = 3\n[defaults]\nmodel = gecco\n[random]\ndropout = choice(0.1, 7)\n", 8,
     "dropout: expected a value in [0, 0.99], got 7"},
    {HEAD "[defaults]\nmodel = gecco\nthis line is not ini\n", 5, "syntax error"},
    {HEAD "[defaults]\nmodel = gecco\nlr = 0.1\nlr = 0.2\n", 6, "lr is set twice in [defaults] (first at line 5)"},
    {HEAD "[defaults]\nmodel = gecco\n[model.baseline_cnn]\nlr = 0.1\n", 5,
     "[model.baseline_cnn] applies to no trial"},
    {HEAD "[defaults]\nmodel = gecco\n[model.lenet]\nlr = 0.1\n", 5,
     "[model.lenet]: model: expected one of baseline_cnn, gecco, gecco_enhanced, spinalnet, resnet, efficient_capsnet, got 'lenet'"},
    {HEAD "[defaults]\nmodel = gecco\n[model.gecco]\nmodel = baseline_cnn\n", 6,
     "model cannot be set in [model.gecco]"},
    {HEAD "ranks_per_trial = 2\n[defaults]\nmodel = gecco\nbatch_size = 31\n", 6,
     "batch_size 31 is not divisible by 2 ranks x grad_accum 1"},
    {HEAD "[defaults]\nmodel = gecco\nbatch_size = 64\ngrad_accum = 3\n", 6, "grad_accum: 3 does not divide batch_size 64"},
    {HEAD "[defaults]\nmodel = gecco\nlr = 0.1\n[grid]\nlr = 0.1, 0.2\n", 5,
     "lr is swept in [grid] (line 7); this [defaults] value would never be used"},
    {HEAD "[defaults]\nmodel = gecco\n[grid]\nlr = 0.1, 0.10\n", 0, "two grid points give the same configuration"},
    {HEAD "[defaults]\nlr = 0.1\n", 0, "no model: set model = NAME in [defaults], or list models in [grid]"},
    {HEAD "prune = median:warmup=0\n[defaults]\nmodel = gecco\n", 3, "prune: expected median:warmup=E"},
    {HEAD "max_failures = -1\n[defaults]\nmodel = gecco\n", 3, "max_failures: expected a whole number >= 0, got '-1'"},
    {HEAD "[defaults]\nmodel = gecco\nseed = 4\n", 5, "seed cannot be set in [defaults]: the seeds are listed in [sweep] seeds"},
    {HEAD "[defaults]\nmodel = gecco\ndata_parallel = true\n", 5, "data_parallel cannot be set in [defaults]"},
    {HEAD "[defaults]\nmodel = gecco\n[grid]\nout = a, b\n", 6, "out cannot be swept"},
    {HEAD "search = random\nsamples = 2\n[defaults]\nmodel = gecco\n[grid]\nlr = 0.1\n[random]\nlr = uniform(0, 1)\n",
     10, "lr is swept twice (first at line 8, in [grid])"},
    /* No machine here has 8 GPUs: refused with or without a GPU (the reason differs). */
    {HEAD "[defaults]\nmodel = gecco\ndevice = cuda:7\n", 5, "device cuda:7: "},
    {"name = t\n" HEAD "[defaults]\nmodel = gecco\n", 1, "'name' is outside any section (start with [sweep])"},
    {"[defaults]\nmodel = gecco\n", 0, "no [sweep] section"},
    {"[sweep]\nseeds = 1\n[defaults]\nmodel = gecco\n", 1, "[sweep] has no name = ..."},
    {HEAD "[defaults]\nmodel = gecco\n[grid]\nlr = 0.1, uniform(0, 1)\n", 6,
     "lr: [grid] takes plain values; distributions such as 'uniform(0' belong in [random]"},
    /* Names that are no folder of their own under runs/ (runs/.. is the working directory). */
    {"[sweep]\nname = ..\n[defaults]\nmodel = gecco\n", 2,
     "name: '..' is not allowed (the default out folder runs/.. would not be the sweep's own)"},
    {"[sweep]\nname = .\n[defaults]\nmodel = gecco\n", 2,
     "name: '.' is not allowed (the default out folder runs/. would not be the sweep's own)"},
    {"[sweep]\nname = a/b\n[defaults]\nmodel = gecco\n", 2,
     "name: expected letters, digits, '_', '-' or '.' (at most 100), got 'a/b'"},
    {"[sweep]\nname = a\x01b\n[defaults]\nmodel = gecco\n", 2, "name: expected letters, digits"},
    /* Schedulers: the spec, its fit to the trials' epochs (at the scheduler's line), validation. */
    {HEAD "scheduler = tpe\n[defaults]\nmodel = gecco\n", 3,
     "scheduler: unknown scheduler 'tpe' (expected median:warmup=E[:min_trials=N], asha:min_epochs=R,eta=H"
     "[,max_epochs=M] or hyperband[:min_epochs=R,eta=H[,max_epochs=M][,brackets=B]])"},
    {HEAD "scheduler = asha:min_epochs=1,eta=1\n[defaults]\nmodel = gecco\n", 3,
     "scheduler: asha: eta must be a whole number from 2 to 100000 (a trial goes on past a rung only if in the "
     "top 1/eta of it), got '1'"},
    {HEAD "scheduler = asha:min_epochs=3,eta=2\n[defaults]\nmodel = gecco\nepochs = 2\n", 3,
     "scheduler: asha: min_epochs (3) is above epochs (2) (trials of 2 epochs)"},
    {HEAD "scheduler = asha:min_epochs=1,eta=2\n[defaults]\nmodel = gecco\n[grid]\nepochs = 4, 2\n", 3,
     "scheduler: the trials have different epochs (2 to 4); asha and hyperband compare trials at the same rungs "
     "toward the same max_epochs: give every trial the same epochs, or set max_epochs=M (at most 2)"},
    {HEAD "scheduler = hyperband:max_epochs=9\n[defaults]\nmodel = gecco\nepochs = 5\n", 3,
     "scheduler: hyperband: max_epochs (9) is above epochs (5): a trial cannot train past its epochs "
     "(trials of 5 epochs)"},
    {HEAD "scheduler = asha:min_epochs=1,eta=3\n[defaults]\nmodel = gecco\nval_split = 0\n", 6,
     "val_split: the asha scheduler stops and promotes trials on their validation accuracy, and val_split = 0 has "
     "none (the test set is never used to decide); set val_split or remove scheduler = asha"},
    {HEAD "prune = median:warmup=1\nscheduler = asha:min_epochs=1,eta=3\n[defaults]\nmodel = gecco\n", 4,
     "prune and scheduler (lines 3 and 4) are one setting: prune = median:... is scheduler = median:...; keep "
     "one of them"},
    {HEAD "scheduler = median:warmup=1\n[defaults]\nmodel = gecco\nval_split = 0\n", 6,
     "val_split: pruning decides on the validation split, and val_split = 0 has none"},
    /* search = tpe: trials = N, a [random] section, no rung scheduler. */
    {HEAD "search = tpe\n[defaults]\nmodel = gecco\n[random]\nlr = loguniform(1e-4, 1e-2)\n", 3,
     "search = tpe needs trials = N in [sweep] (the trials in all: the first random draws, the rest proposed)"},
    {HEAD "search = tpe\ntrials = 20\n[defaults]\nmodel = gecco\n[grid]\nlr = 0.001, 0.01\n", 3,
     "search = tpe needs a [random] section with at least one key (TPE proposes the [random] keys; a [grid]-only "
     "sweep has nothing to propose)"},
    {HEAD "search = tpe\ntrials = 20\nscheduler = asha:min_epochs=1,eta=3\n[defaults]\nmodel = gecco\n[random]\n"
     "lr = loguniform(1e-4, 1e-2)\n", 5, "search = tpe (line 3) with scheduler = asha: not supported"},
    {HEAD "search = random\ntrials = 20\ntpe_startup = 5\n[defaults]\nmodel = gecco\n[random]\n"
     "lr = loguniform(1e-4, 1e-2)\n", 5, "tpe_startup applies to search = tpe only"},
    {HEAD "search = tpe\ntrials = 20\ntpe_startup = 20\n[defaults]\nmodel = gecco\n[random]\n"
     "lr = loguniform(1e-4, 1e-2)\n", 5, "tpe_startup (20) is not below trials (20): every trial would be a random "
     "draw (use search = random)"},
    /* objectives: metrics a choice may be made on, on the validation split when named. */
    {HEAD "objectives = val_acc:max, test_acc:max\n[defaults]\nmodel = gecco\n", 3,
     "objectives: unknown metric 'test_acc' (known: val_acc, val_loss, params, s_per_epoch)"},
    {HEAD "objectives = params\n[defaults]\nmodel = gecco\n", 3,
     "objectives: params needs a direction: params:max or params:min"},
    {HEAD "objectives = val_loss:min, params:min\n[defaults]\nmodel = gecco\nval_split = 0\n", 6,
     "val_split: objectives names val_loss, a metric of the validation split, and val_split = 0 has none"},
    /* trials = N: draws in all, random search only, not with samples. */
    {HEAD "search = random\nsamples = 2\ntrials = 5\n[defaults]\nmodel = gecco\n[random]\nlr = uniform(0.001, 0.1)\n",
     5, "trials and samples (line 4) exclude each other: trials = N is the number of draws in all, samples = N the "
     "draws per grid point"},
    {HEAD "trials = 5\n[defaults]\nmodel = gecco\n", 3, "trials applies to search = random or tpe only"},
    /* A header longer than inih's line buffer (only key = value lines may be). */
    {HEAD "[defaults]\nmodel = gecco\n[model.gecco" LONG_200 "]\n", 5,
     "line is longer than 198 characters (only key = value lines may be longer)"},
};

static char err[4096];

/* A file parsed and expanded with the runner's resolver (MNIST-sized dataset). */
typedef struct Checked {
    SweepFile sf;
    SweepTrials trials;
    SweepProblems pr;
} Checked;

static void check_file(const char *path, Checked *c)
{
    sweep_problems_init(&c->pr, path);
    sweep_file_parse(path, &c->sf, &c->pr);
    /* As `sweeprun sweep` checks a plan (cmd_sweep.c, make_plan). */
    SweepConfigContext ctx = sweep_config_context(&c->sf, 60000, 10000);
    SweepResolver r = sweep_config_resolver(&ctx);
    sweep_expand(&c->sf, &r, &c->trials, &c->pr);
    sweep_scheduler_check(&c->sf, &c->trials, &c->pr);
}

static void checked_free(Checked *c)
{
    sweep_problems_free(&c->pr);
    sweep_trials_free(&c->trials);
    sweep_file_free(&c->sf);
}

static void test_bad_files(void **state)
{
    (void)state;
    int n = (int)(sizeof BAD / sizeof *BAD);
    for (int i = 0; i < n; i++) {
        char name[32], expected[2048], got[4096];
        snprintf(name, sizeof name, "bad%02d.ini", i);
        const char *path = test_write_text(name, BAD[i].text);
        Checked c;
        check_file(path, &c);
        if (BAD[i].line) snprintf(expected, sizeof expected, "%s:%d: %s", path, BAD[i].line, BAD[i].message);
        else snprintf(expected, sizeof expected, "%s: %s", path, BAD[i].message);
        if (c.pr.count != 1) {
            sweep_problems_print(&c.pr, stderr);
            fail_msg("case %d: expected exactly one problem (%s), got %d", i, expected, c.pr.count);
        }
        sweep_problem_format(&c.pr, 0, got, sizeof got);
        if (strncmp(got, expected, strlen(expected)))
            fail_msg("case %d:\n  expected: %s\n  got:      %s", i, expected, got);
        checked_free(&c);
    }
}

/* Every problem of a file at once, in line order, each once. */
static void test_all_problems_reported(void **state)
{
    (void)state;
    const char *path = test_write_text("many.ini",
        "[sweep]\n"                     /* 1 */
        "name = many\n"                 /* 2 */
        "seeds = 0, x\n"                /* 3 */
        "colour = blue\n"               /* 4 */
        "[defaults]\n"                  /* 5 */
        "model = gecco\n"               /* 6 */
        "lr = fast\n"                   /* 7 */
        "[grid]\n"                      /* 8 */
        "dropout = 0.1, 3, 0.2\n"       /* 9: one bad value shared by 2 trials: one message */
        "batch_size = 32, 64\n"         /* 10 */
        "[extra]\n");                   /* 11 */
    Checked c;
    check_file(path, &c);
    sweep_problems_print(&c.pr, stderr);
    assert_int_equal(c.pr.count, 5);
    const int lines[] = {3, 4, 7, 9, 11};
    for (int i = 0; i < 5; i++) assert_int_equal(c.pr.items[i].line, lines[i]);
    assert_string_equal(c.pr.items[3].message, "dropout: expected a value in [0, 0.99], got 3");
    checked_free(&c);
}

static void test_missing_file(void **state)
{
    (void)state;
    SweepFile sf;
    SweepProblems pr;
    sweep_problems_init(&pr, "no/such.ini");
    assert_int_equal(sweep_file_parse("no/such.ini", &sf, &pr), 1);
    sweep_problem_format(&pr, 0, err, sizeof err);
    assert_string_equal(err, "no/such.ini: cannot read the sweep file: No such file or directory");
    sweep_problems_free(&pr);
    sweep_file_free(&sf);
}

/* A good file: every [sweep] value, sections, comments, indentation. */
static void test_good_file(void **state)
{
    (void)state;
    const char *path = test_write_text("good.ini",
        "; a comment\n"
        "[sweep]\n"
        "name = good-1\n"
        "dataset = mnist\n"
        "seeds = 3, 1, 2   # inline comment\n"
        "ranks_per_trial = 2\n"
        "prune = median:warmup=2:min_trials=3\n"
        "max_failures = 4\n"
        "[defaults]\n"
        "model = gecco\n"
        "epochs = 2\n"
        "  batch_size = 64   ; indented, inih-style inline comment\n"
        "[model.gecco]\n"
        "feature_length = 32\n"
        "[grid]\n"
        "lr = 0.001, 0.003\n"
        "weight_decay = 0, 1e-4, 1e-3\n");
    Checked c;
    check_file(path, &c);
    sweep_problems_print(&c.pr, stderr);
    assert_int_equal(c.pr.count, 0);
    assert_string_equal(c.sf.name, "good-1");
    assert_string_equal(c.sf.out, "runs/good-1");
    assert_int_equal(c.sf.n_seeds, 3);
    assert_true(c.sf.seeds[0] == 3 && c.sf.seeds[1] == 1 && c.sf.seeds[2] == 2);
    assert_int_equal(c.sf.ranks_per_trial, 2);
    assert_true(c.sf.prune.enabled && c.sf.prune.warmup == 2 && c.sf.prune.min_trials == 3);
    assert_int_equal(c.sf.max_failures, 4);
    assert_int_equal(c.sf.defaults.count, 3);
    assert_string_equal(c.sf.defaults.items[2].value, "64");
    assert_int_equal(c.sf.defaults.items[2].line, 12);
    assert_int_equal(c.sf.n_axes, 2);
    assert_int_equal(c.sf.axes[1].n_values, 3);
    assert_string_equal(c.sf.axes[1].values[2], "1e-3");
    /* 2 lr x 3 weight decay x 3 seeds */
    assert_int_equal(c.trials.count, 18);
    checked_free(&c);
}

/* scheduler = asha: the spec lands in the file; scheduler = median is the
 * prune rule; trials = N draws N configurations in all, spread over the
 * grid points (draw c at grid point c mod 2 here). */
static void test_scheduler_and_trials(void **state)
{
    (void)state;
    const char *path = test_write_text("asha.ini",
        "[sweep]\nname = a\nsearch = random\ntrials = 5\nscheduler = asha:min_epochs=1,eta=2\n"
        "[defaults]\nmodel = gecco\nepochs = 4\n[grid]\nbatch_size = 32, 64\n[random]\nlr = uniform(0.001, 0.1)\n");
    Checked c;
    check_file(path, &c);
    sweep_problems_print(&c.pr, stderr);
    assert_int_equal(c.pr.count, 0);
    assert_int_equal(c.sf.scheduler.kind, SCHEDULER_ASHA);
    assert_int_equal(c.sf.scheduler.min_epochs, 1);
    assert_int_equal(c.sf.scheduler.eta, 2);
    assert_int_equal(c.sf.line_scheduler, 5);
    assert_false(c.sf.prune.enabled);
    assert_int_equal(c.trials.count, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(c.trials.items[i].config, i);
        assert_string_equal(c.trials.items[i].axis_values[0], i % 2 ? "64" : "32");
    }
    checked_free(&c);
    path = test_write_text("median.ini", "[sweep]\nname = m\nscheduler = median:warmup=2:min_trials=3\n"
                                         "[defaults]\nmodel = gecco\n");
    check_file(path, &c);
    assert_int_equal(c.pr.count, 0);
    assert_int_equal(c.sf.scheduler.kind, SCHEDULER_MEDIAN);
    assert_true(c.sf.prune.enabled && c.sf.prune.warmup == 2 && c.sf.prune.min_trials == 3);
    assert_int_equal(c.sf.line_prune, 3);
    checked_free(&c);
}

static void test_prune_rule_parse(void **state)
{
    (void)state;
    PruneRule r;
    assert_int_equal(prune_rule_parse("median:warmup=3", &r, err, sizeof err), 0);
    assert_true(r.enabled && r.warmup == 3 && r.min_trials == 1);
    assert_int_equal(prune_rule_parse("median:min_trials=4:warmup=1", &r, err, sizeof err), 0);
    assert_true(r.warmup == 1 && r.min_trials == 4);
    assert_int_equal(prune_rule_parse("median", &r, err, sizeof err), -1);          /* warmup is required */
    assert_int_equal(prune_rule_parse("mean:warmup=2", &r, err, sizeof err), -1);
    assert_int_equal(prune_rule_parse("median:warmup=x", &r, err, sizeof err), -1);
    assert_int_equal(prune_rule_parse("median:patience=2", &r, err, sizeof err), -1);
    assert_int_equal(prune_rule_parse("medianx:warmup=2", &r, err, sizeof err), -1);
}

/* NAME in the test folder, opened for writing; its path into path. */
static FILE *create_test_file(const char *name, char *path, size_t size)
{
    test_tmpdir_path(path, size, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    return f;
}

/* Parse path alone; its problems formatted, one per line, into text. */
static int parse_problems(const char *path, char *text, int size)
{
    SweepFile sf;
    SweepProblems pr;
    sweep_problems_init(&pr, path);
    int n = sweep_file_parse(path, &sf, &pr);
    int used = 0;
    text[0] = 0;
    for (int i = 0; i < pr.count && used < size; i++) {
        char line[4096];
        sweep_problem_format(&pr, i, line, sizeof line);
        used += snprintf(text + used, size - used, "%s\n", line);
    }
    sweep_problems_free(&pr);
    sweep_file_free(&sf);
    return n;
}

/* Only regular files are read: /dev/zero (an endless line) was read into
 * memory without bound (7 GB in 20 s), a folder read as an empty file. */
static void test_not_a_regular_file(void **state)
{
    (void)state;
    char text[8192];
    assert_int_equal(parse_problems("/dev/zero", text, sizeof text), 1);
    assert_string_equal(text, "/dev/zero: cannot read the sweep file: not a regular file\n");
    assert_int_equal(parse_problems(test_tmpdir, text, sizeof text), 1);
    assert_non_null(strstr(text, ": cannot read the sweep file: not a regular file\n"));
}

/* A file over the size limit is refused before a byte of it is read. */
static void test_file_size_limit(void **state)
{
    (void)state;
    char path[512], text[8192], expected[1024];
    FILE *f = create_test_file("huge.ini", path, sizeof path);
    assert_int_equal(ftruncate(fileno(f), SWEEP_FILE_MAX + 1), 0);   /* sparse: one line of NULs */
    fclose(f);
    assert_int_equal(parse_problems(path, text, sizeof text), 1);
    snprintf(expected, sizeof expected, "%s: cannot read the sweep file: it is larger than 1 MiB (%d bytes)\n",
             path, SWEEP_FILE_MAX + 1);
    assert_string_equal(text, expected);
}

/* A line over SWEEP_LINE_MAX is reported at its line and skipped without
 * being held in memory; the lines after it keep their numbers. */
static void test_line_too_long(void **state)
{
    (void)state;
    char path[512], text[8192], expected[2048];
    FILE *f = create_test_file("longline.ini", path, sizeof path);
    fputs(HEAD "[defaults]\nmodel = gecco\nlr = ", f);
    for (int i = 0; i < 3 * SWEEP_LINE_MAX; i++) fputc('1', f);
    fputs("\nbatch_size = 32\nbatch_size = 64\n", f);
    fclose(f);
    assert_int_equal(parse_problems(path, text, sizeof text), 2);
    snprintf(expected, sizeof expected, "%s:5: line is longer than %d characters\n"
             "%s:7: batch_size is set twice in [defaults] (first at line 6)\n", path, SWEEP_LINE_MAX, path);
    assert_string_equal(text, expected);
}

/* inih's 200-byte line buffer is no limit on key = value lines: 100 seeds
 * (390 characters), a grid list of 60 values with an inline comment; a
 * value over 511 characters gets the value-length message. */
/* "[ defaults ]" and "[model. gecco]" name the same sections as without
 * the spaces: their keys once vanished silently (inih keeps the spaces in
 * the name it hands each entry). */
static void test_spaced_section_names(void **state)
{
    (void)state;
    const char *path = test_write_text("spaced.ini", "[ sweep ]\nname = spaced\n[ defaults ]\nmodel = gecco\n"
                                                     "lr = 0.002\n[ model. gecco ]\nfeature_length = 32\n"
                                                     "[ grid ]\nbatch_size = 32, 64\n");
    Checked c;
    check_file(path, &c);
    sweep_problems_print(&c.pr, stderr);
    assert_int_equal(c.pr.count, 0);
    assert_string_equal(c.sf.name, "spaced");
    assert_int_equal(c.sf.defaults.count, 2);
    assert_string_equal(c.sf.defaults.items[1].key, "lr");
    assert_int_equal(c.sf.n_models, 1);
    assert_int_equal(c.sf.models[0].settings.count, 1);
    assert_string_equal(c.sf.models[0].settings.items[0].value, "32");
    assert_int_equal(c.trials.count, 2);
    checked_free(&c);
}

static void test_long_lines(void **state)
{
    (void)state;
    char text[16384], seeds[1024] = "", lrs[1024] = "", big[700];
    for (int i = 0; i < 100; i++) snprintf(seeds + strlen(seeds), sizeof seeds - strlen(seeds), "%s%d", i ? ", " : "", i);
    for (int i = 0; i < 60; i++) snprintf(lrs + strlen(lrs), sizeof lrs - strlen(lrs), "%s%de-4", i ? ", " : "", i + 1);
    snprintf(text, sizeof text, "[sweep]\nname = long\nseeds = %s\n[defaults]\nmodel = gecco\n"
             "[grid]\nlr = %s   ; sixty learning rates\n", seeds, lrs);
    const char *path = test_write_text("long.ini", text);
    Checked c;
    check_file(path, &c);
    sweep_problems_print(&c.pr, stderr);
    assert_int_equal(c.pr.count, 0);
    assert_int_equal(c.sf.n_seeds, 100);
    assert_true(c.sf.seeds[0] == 0 && c.sf.seeds[99] == 99);
    assert_int_equal(c.sf.axes[0].n_values, 60);
    assert_int_equal(c.sf.axes[0].line, 7);
    assert_string_equal(c.sf.axes[0].values[59], "60e-4");
    assert_int_equal(c.trials.count, 6000);
    checked_free(&c);

    memset(big, '7', sizeof big - 1);
    big[sizeof big - 1] = 0;
    snprintf(text, sizeof text, HEAD "[defaults]\nmodel = gecco\nlr = %s\n", big);
    assert_int_equal(parse_problems(test_write_text("big.ini", text), text, sizeof text), 1);
    assert_non_null(strstr(text, ":5: key or value too long (keys up to 63, values up to 511 characters)\n"));
}

/* Work counter for the linearity test: the sweeps library is linked
 * statically into this program, so its strcmp calls land here (the
 * program's own definition comes before libc's). */
static long strcmp_calls;

int strcmp(const char *a, const char *b)
{
    strcmp_calls++;
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    while (*x && *x == *y) x++, y++;
    return *x - *y;
}

typedef void (*WriteBody)(FILE *f, int n);

static void many_unknown_defaults(FILE *f, int n)
{
    fputs(HEAD "[defaults]\nmodel = gecco\n", f);
    for (int i = 0; i < n; i++) fprintf(f, "unknown_%d = 1\n", i);
}

static void many_model_sections(FILE *f, int n)
{
    fputs(HEAD "[defaults]\nmodel = gecco\n", f);
    for (int i = 0; i < n; i++) fprintf(f, "[model.m%d]\nlr = 0.1\n", i);
}

static void many_grid_keys(FILE *f, int n)
{
    fputs(HEAD "[defaults]\nmodel = gecco\n[grid]\n", f);
    for (int i = 0; i < n; i++) fprintf(f, "unknown_%d = 1\n", i);
}

/* strcmp calls to parse and expand the file write(n) writes. */
static long work_for(WriteBody write, int n)
{
    char path[512];
    FILE *f = create_test_file("many.ini", path, sizeof path);
    write(f, n);
    fclose(f);
    Checked c;
    long before = strcmp_calls;
    check_file(path, &c);
    long work = strcmp_calls - before;
    assert_true(c.pr.count >= n);
    checked_free(&c);
    return work;
}

/* Twice the keys or sections, at most about twice the work (a quadratic
 * step makes it 4 times: 4.6 and 18.2 million strcmp calls before the
 * fix). By hand, `sweeprun sweep F --dry-run` on 2 busy cores, ~1 s of it
 * loading MNIST: 80,000 unknown [defaults] keys 67 s before, 1.8 s after;
 * 80,000 [grid] keys 25 s, 2.1 s; 20,000 [model.X] sections with a key
 * each 3.4 s, 1.3 s. */
static void test_work_is_linear(void **state)
{
    (void)state;
    const WriteBody bodies[] = {many_unknown_defaults, many_model_sections, many_grid_keys};
    const char *names[] = {"unknown [defaults] keys", "[model.X] sections", "[grid] keys"};
    int faster = 0;
    for (int i = 0; i < 3; i++) {
        long once = work_for(bodies[i], 3000), twice = work_for(bodies[i], 6000);
        print_message("%s: %ld strcmp calls for 3000, %ld for 6000\n", names[i], once, twice);
        faster += twice > 3 * once;
    }
    assert_int_equal(faster, 0);
}

/* The real resolver, counting its calls. */
typedef struct CountingResolver {
    SweepResolver real;
    int calls;
} CountingResolver;

static int counting_resolve(void *user, const SweepSetting *s, int n, SweepResolved *out, SweepProblems *pr)
{
    CountingResolver *c = user;
    c->calls++;
    return c->real.resolve(c->real.user, s, n, out, pr);
}

/* samples = 20000 draws of an lr out of range: every trial fails with its
 * own message. Expansion stops after SWEEP_MAX_FAILED_TRIALS of them
 * instead of resolving every draw (by hand, as above, samples = 100000:
 * 23.4 s and 50,651 messages before, 0.8 s and 101 after). */
static void test_failing_trials_stop_expansion(void **state)
{
    (void)state;
    const char *path = test_write_text("badrange.ini", "[sweep]\nname = r\nsearch = random\nsamples = 20000\n"
                                       "[defaults]\nmodel = gecco\n[random]\nlr = loguniform(2000, 1e12)\n");
    Checked c;
    sweep_problems_init(&c.pr, path);
    sweep_file_parse(path, &c.sf, &c.pr);
    SweepConfigContext ctx = {.ranks_per_trial = 1, .n_train = 60000, .n_test = 10000};
    CountingResolver counting = {.real = sweep_config_resolver(&ctx)};
    SweepResolver r = {.user = &counting, .check_model = counting.real.check_model, .resolve = counting_resolve};
    sweep_expand(&c.sf, &r, &c.trials, &c.pr);
    assert_int_equal(counting.calls, SWEEP_MAX_FAILED_TRIALS);
    assert_int_equal(c.trials.count, 0);
    char first[4096], expected[1024];
    sweep_problems_print(&c.pr, stderr);
    sweep_problem_format(&c.pr, 0, first, sizeof first);
    snprintf(expected, sizeof expected, "%s: stopped checking trials after %d with problems (of 20000); "
             "fix these and check again", path, SWEEP_MAX_FAILED_TRIALS);
    assert_string_equal(first, expected);
    assert_true(c.pr.count > 1 && c.pr.count <= SWEEP_MAX_FAILED_TRIALS + 1);
    checked_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_all_problems_reported),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_spaced_section_names),
        cmocka_unit_test(test_prune_rule_parse),
        cmocka_unit_test(test_scheduler_and_trials),
        cmocka_unit_test(test_not_a_regular_file),
        cmocka_unit_test(test_file_size_limit),
        cmocka_unit_test(test_line_too_long),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_work_is_linear),
        cmocka_unit_test(test_failing_trials_stop_expansion),
    };
    return cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown);
}
