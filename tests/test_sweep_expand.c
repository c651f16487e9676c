/* Expanding sweep files into trials: grid and random counts and order,
 * determinism, trial ids (FNV-1a test vectors, a known answer, stability,
 * canonical spelling), the pruning rule on hand-computed medians, the
 * trial counter and pruning board of a single process, and the resume
 * state read from run files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "testutil.h"
#include "prune_board.h"
#include "runfile.h"
#include "sweep_config.h"
#include "sweep_expand.h"
#include "trial_id.h"
#include "trial_queue.h"
#include "trial_state.h"

static char err[1024];

/* A resolver that knows no model: the canonical text is the settings as
 * "key=value" lines, model first, so ids can be computed by hand. */
static int fake_resolve(void *user, const SweepSetting *s, int n, SweepResolved *out, SweepProblems *pr)
{
    (void)user;
    (void)pr;
    int used = 0;
    for (int i = 0; i < n; i++)
        used += snprintf(out->canonical + used, sizeof out->canonical - used, "%s=%s\n", s[i].key, s[i].value);
    out->epochs = 3;
    return 0;
}

static void expand_fake(const char *name, const char *text, SweepFile *sf, SweepTrials *t)
{
    const char *path = test_write_text(name, text);
    SweepProblems pr;
    sweep_problems_init(&pr, path);
    sweep_file_parse(path, sf, &pr);
    SweepResolver r = {.resolve = fake_resolve};
    sweep_expand(sf, &r, t, &pr);
    if (pr.count) sweep_problems_print(&pr, stderr);
    assert_int_equal(pr.count, 0);
    sweep_problems_free(&pr);
}

static void expand_real(const char *name, const char *text, SweepFile *sf, SweepTrials *t)
{
    const char *path = test_write_text(name, text);
    SweepProblems pr;
    sweep_problems_init(&pr, path);
    sweep_file_parse(path, sf, &pr);
    SweepConfigContext ctx = {.ranks_per_trial = sf->ranks_per_trial, .n_train = 60000, .n_test = 10000};
    SweepResolver r = sweep_config_resolver(&ctx);
    sweep_expand(sf, &r, t, &pr);
    if (pr.count) sweep_problems_print(&pr, stderr);
    assert_int_equal(pr.count, 0);
    sweep_problems_free(&pr);
}

static void test_hash_vectors(void **state)
{
    (void)state;
    /* Published FNV-1a 64 test vectors. */
    assert_true(trial_hash("") == 0xcbf29ce484222325ULL);
    assert_true(trial_hash("a") == 0xaf63dc4c8601ec8cULL);
    assert_true(trial_hash("foobar") == 0x85944171f73967e8ULL);
    char id[TRIAL_ID_LEN + 1];
    /* Low 48 bits of FNV-1a("model=m\nlr=0.1\nseed=0\n"), computed independently. */
    trial_id_make("model=m\nlr=0.1\nseed=0\n", 1, id);
    assert_string_equal(id, "feb423bad054");
    /* ... and of the same text + "ranks_per_trial=2\n". */
    trial_id_make("model=m\nlr=0.1\nseed=0\n", 2, id);
    assert_string_equal(id, "c0c4a165c4a7");
    char path[256];
    assert_int_equal(trial_run_file("runs/x", "gecco", 3, "feb423bad054", path, sizeof path), 0);
    assert_string_equal(path, "runs/x/gecco-s3-feb423bad054.h5");
    assert_int_equal(trial_run_file("runs/x/", "gecco", 3, "feb423bad054", path, sizeof path), 0);
    assert_string_equal(path, "runs/x/gecco-s3-feb423bad054.h5");
    assert_int_equal(trial_run_file("runs/x", "gecco", 3, "feb423bad054", path, 20), -1);
}

static const char *GRID =
    "[sweep]\nname = g\nseeds = 7, 8\nout = o\n"          /* lines 1-4 */
    "[defaults]\nmodel = m\nepochs = 3\n"                 /* 5-7 */
    "[model.m]\nbatch_size = 16\n"                        /* 8-9 */
    "[grid]\nlr = 0.1, 0.2, 0.3\ndropout = 0, 0.5\n";     /* 10-12 */

static void test_grid_order_and_ids(void **state)
{
    (void)state;
    SweepFile sf;
    SweepTrials t;
    expand_fake("grid.ini", GRID, &sf, &t);
    assert_int_equal(t.count, 3 * 2 * 2);
    /* First key outermost, seeds innermost. */
    const char *lr[] = {"0.1", "0.1", "0.1", "0.1", "0.2"}, *dropout[] = {"0", "0", "0.5", "0.5", "0"};
    const int seed[] = {7, 8, 7, 8, 7};
    for (int i = 0; i < 5; i++) {
        assert_string_equal(t.items[i].axis_values[0], lr[i]);
        assert_string_equal(t.items[i].axis_values[1], dropout[i]);
        assert_int_equal((int)t.items[i].seed, seed[i]);
        assert_int_equal(t.items[i].config, i / 2);
    }
    /* Settings in order: model, dataset, defaults, [model.m], axes, seed;
     * the id hashes exactly that text here. */
    const char *expected = "model=m\ndataset=mnist\nepochs=3\nbatch_size=16\nlr=0.2\ndropout=0.5\nseed=8\n";
    const SweepTrial *x = &t.items[7];
    char text[2048] = "";
    for (int i = 0; i < x->n_settings; i++) {
        size_t used = strlen(text);
        snprintf(text + used, sizeof text - used, "%s=%s\n", x->settings[i].key, x->settings[i].value);
    }
    assert_string_equal(text, expected);
    const int lines[] = {6, 0, 7, 9, 11, 12, 3};
    for (int i = 0; i < 7; i++) assert_int_equal(x->settings[i].line, lines[i]);
    char id[TRIAL_ID_LEN + 1];
    trial_id_make(expected, 1, id);
    assert_string_equal(x->id, id);
    char file[128];
    snprintf(file, sizeof file, "o/m-s8-%s.h5", id);
    assert_string_equal(x->run_file, file);
    /* All ids distinct; the same file expands to the same list. */
    SweepFile sf2;
    SweepTrials t2;
    expand_fake("grid2.ini", GRID, &sf2, &t2);
    assert_int_equal(t2.count, t.count);
    for (int i = 0; i < t.count; i++) {
        assert_string_equal(t.items[i].id, t2.items[i].id);
        for (int k = 0; k < i; k++) assert_string_not_equal(t.items[i].id, t.items[k].id);
    }
    sweep_trials_free(&t2);
    sweep_file_free(&sf2);
    sweep_trials_free(&t);
    sweep_file_free(&sf);
}

/* With the real configuration: the id hashes the resolved configuration,
 * so two spellings of one value are one trial and every real change is a
 * new one. */
static void test_ids_canonical(void **state)
{
    (void)state;
    SweepFile a, b, c, d;
    SweepTrials ta, tb, tc, td;
    expand_real("a.ini", "[sweep]\nname = a\n[defaults]\nmodel = gecco\nlr = 0.001\n", &a, &ta);
    expand_real("b.ini", "[sweep]\nname = b\nout = elsewhere\n[defaults]\nmodel = gecco\nlr = 1e-3\nthreads = 2\n",
                &b, &tb);
    expand_real("c.ini", "[sweep]\nname = c\n[defaults]\nmodel = gecco\nlr = 0.001\nepochs = 7\n", &c, &tc);
    expand_real("d.ini", "[sweep]\nname = d\nranks_per_trial = 2\n[defaults]\nmodel = gecco\nlr = 0.001\n", &d, &td);
    assert_int_equal(ta.count, 1);
    /* Another name, out folder, spelling, thread count: the same trial. */
    assert_string_equal(ta.items[0].id, tb.items[0].id);
    /* Another epoch count, or 2 ranks per trial: another trial. */
    assert_string_not_equal(ta.items[0].id, tc.items[0].id);
    assert_string_not_equal(ta.items[0].id, td.items[0].id);
    assert_int_equal(tc.items[0].epochs, 7);
    /* The gecco recipe's epoch count (docs/models.md) when none is given. */
    assert_true(ta.items[0].epochs > 0);
    SweepTrials *all[] = {&ta, &tb, &tc, &td};
    SweepFile *files[] = {&a, &b, &c, &d};
    for (int i = 0; i < 4; i++) {
        sweep_trials_free(all[i]);
        sweep_file_free(files[i]);
    }
}

static const char *RANDOM =
    "[sweep]\nname = r\nsearch = random\nsamples = 50\nrandom_seed = %d\n"
    "[defaults]\nmodel = m\n"
    "[random]\nlr = loguniform(1e-4, 1e-1)\ndropout = uniform(0.1, 0.5)\nbatch_size = int(16, 64)\n"
    "optimizer = choice(sgd, adam, adamw)\n";

static void test_random(void **state)
{
    (void)state;
    char text[1024];
    snprintf(text, sizeof text, RANDOM, 5);
    SweepFile sf, sf2, sf3;
    SweepTrials t, t2, t3;
    expand_fake("r1.ini", text, &sf, &t);
    expand_fake("r2.ini", text, &sf2, &t2);
    snprintf(text, sizeof text, RANDOM, 6);
    expand_fake("r3.ini", text, &sf3, &t3);
    assert_int_equal(t.count + t.duplicates_dropped, 50);
    assert_int_equal(t.duplicates_dropped, 0);       /* continuous draws do not repeat */
    int low_lr = 0, high_lr = 0, same_as_other_seed = 0, seen[3] = {0};
    for (int i = 0; i < t.count; i++) {
        double lr = atof(t.items[i].axis_values[0]), p = atof(t.items[i].axis_values[1]);
        char *end;
        long b = strtol(t.items[i].axis_values[2], &end, 10);
        assert_true(lr >= 1e-4 && lr <= 1e-1);
        assert_true(p >= 0.1 && p <= 0.5);
        assert_true(*end == 0 && b >= 16 && b <= 64);
        const char *o = t.items[i].axis_values[3];
        assert_true(!strcmp(o, "sgd") || !strcmp(o, "adam") || !strcmp(o, "adamw"));
        seen[!strcmp(o, "sgd") ? 0 : !strcmp(o, "adam") ? 1 : 2] = 1;
        low_lr += lr < 1e-3;                          /* the lowest third of the log range */
        high_lr += lr > 1e-2;                         /* the highest third */
        /* Deterministic: the same file draws the same values. */
        for (int k = 0; k < 4; k++) assert_string_equal(t.items[i].axis_values[k], t2.items[i].axis_values[k]);
        assert_string_equal(t.items[i].id, t2.items[i].id);
        same_as_other_seed += !strcmp(t.items[i].axis_values[0], t3.items[i].axis_values[0]);
    }
    /* Uniform in log space: both ends of the range are drawn. */
    assert_true(low_lr >= 5 && high_lr >= 5);
    assert_true(seen[0] && seen[1] && seen[2]);
    /* Another random_seed, other draws. */
    assert_true(same_as_other_seed < 3);
    sweep_trials_free(&t);
    sweep_trials_free(&t2);
    sweep_trials_free(&t3);
    sweep_file_free(&sf);
    sweep_file_free(&sf2);
    sweep_file_free(&sf3);
}

/* Adding a [random] key does not change the draws of the others; grid
 * keys multiply the draws; repeated draws of a small choice are dropped. */
static void test_random_independent_and_grid(void **state)
{
    (void)state;
    SweepFile s1, s2, s3;
    SweepTrials t1, t2, t3;
    expand_fake("i1.ini", "[sweep]\nname = i\nsearch = random\nsamples = 6\n[defaults]\nmodel = m\n"
                          "[random]\nlr = uniform(0, 1)\n", &s1, &t1);
    expand_fake("i2.ini", "[sweep]\nname = i\nsearch = random\nsamples = 6\n[defaults]\nmodel = m\n"
                          "[random]\ndropout = uniform(0, 0.5)\nlr = uniform(0, 1)\n", &s2, &t2);
    assert_int_equal(t1.count, 6);
    assert_int_equal(t2.count, 6);
    for (int i = 0; i < 6; i++) assert_string_equal(t1.items[i].axis_values[0], t2.items[i].axis_values[1]);
    expand_fake("i3.ini", "[sweep]\nname = i\nsearch = random\nsamples = 10\nseeds = 0, 1\n"
                          "[grid]\nmodel = m, n, o\n[random]\nopt = choice(x, y)\n", &s3, &t3);
    /* 3 models x 10 draws of a 2-way choice: 3 x 2 distinct configurations, x 2 seeds. */
    assert_int_equal(t3.count, 12);
    assert_int_equal(t3.duplicates_dropped, 3 * 8 * 2);
    sweep_trials_free(&t1);
    sweep_trials_free(&t2);
    sweep_trials_free(&t3);
    sweep_file_free(&s1);
    sweep_file_free(&s2);
    sweep_file_free(&s3);
}

static void test_prune_decide(void **state)
{
    (void)state;
    PruneRule r = {.enabled = 1, .warmup = 2, .min_trials = 1};
    double med;
    const double odd[] = {0.9, 0.7, 0.8};
    assert_int_equal(prune_decide(&r, 2, 0.75, odd, 3, &med), 1);
    assert_true(med == 0.8);
    assert_int_equal(prune_decide(&r, 2, 0.8, odd, 3, &med), 0);      /* equal to the median: kept */
    assert_int_equal(prune_decide(&r, 1, 0.1, odd, 3, &med), 0);      /* before the warm-up */
    assert_true(isnan(med));
    const double even[] = {0.6, NAN, 0.9, 0.8, 0.7};                  /* NaN: trial not there yet */
    assert_int_equal(prune_decide(&r, 3, 0.74, even, 5, &med), 1);
    assert_true(fabs(med - 0.75) < 1e-15);
    assert_int_equal(prune_decide(&r, 3, 0.76, even, 5, &med), 0);
    r.min_trials = 5;                                                 /* only 4 others reported */
    assert_int_equal(prune_decide(&r, 3, 0.1, even, 5, &med), 0);
    r.min_trials = 1;
    assert_int_equal(prune_decide(&r, 3, 0.1, even, 0, &med), 0);     /* nobody to compare with */
    r.enabled = 0;
    assert_int_equal(prune_decide(&r, 3, 0.1, odd, 3, &med), 0);
}

/* Without MPI the counter and the board are this process's own. */
static void test_queue_and_board_single(void **state)
{
    (void)state;
    ProcessGroup solo = {.world_size = 1, .size = 1, .local_size = 1, .n_groups = 1, .comm = MPI_COMM_NULL};
    TrialQueue q;
    trial_queue_open(&q, &solo);
    for (int i = 0; i < 5; i++) assert_int_equal((int)trial_queue_next(&q), i);
    assert_int_equal((int)trial_queue_failures(&q), 0);
    assert_int_equal((int)trial_queue_add_failure(&q), 1);
    assert_int_equal((int)trial_queue_add_failure(&q), 2);
    assert_int_equal((int)trial_queue_failures(&q), 2);
    assert_false(trial_queue_stopped(&q));
    trial_queue_stop(&q);
    trial_queue_stop(&q);                                              /* twice: still one mark */
    assert_true(trial_queue_stopped(&q));
    assert_int_equal((int)trial_queue_next(&q), 5);                    /* the counters are apart */
    assert_int_equal((int)trial_queue_failures(&q), 2);
    trial_queue_close(&q);
    double initial[2 * 3] = {0.1, NAN, 0.3, NAN, NAN, 0.6};           /* [epoch][trial] */
    PruneBoard b;
    prune_board_open(&b, &solo, 3, (PruneSpan){.first = 4, .count = 2}, initial);   /* epochs 5 and 6 */
    prune_board_post(&b, 1, 4, 0.2);
    prune_board_post(&b, 7, 4, 0.9);                                  /* no such trial: ignored */
    prune_board_post(&b, 0, 3, 0.9);                                  /* no decision there: not kept */
    double col[3];
    prune_board_read(&b, 4, col);
    assert_true(col[0] == 0.1 && col[1] == 0.2 && col[2] == 0.3);
    prune_board_read(&b, 5, col);
    assert_true(isnan(col[0]) && isnan(col[1]) && col[2] == 0.6);
    prune_board_read(&b, 3, col);
    assert_true(isnan(col[0]));
    prune_board_close(&b);
}

static void write_run(const char *final, const char *trial_id, int epochs, const char *status)
{
    RunFile *rf = runfile_create(final, err, sizeof err);
    assert_non_null(rf);
    assert_int_equal(runfile_set_attr_string(rf, "trial_id", trial_id, err, sizeof err), 0);
    for (int e = 1; e <= epochs; e++) {
        RunEpoch row = {.epoch = e, .test_accuracy = 0.5 + 0.1 * e};
        assert_int_equal(runfile_append_epoch(rf, &row, err, sizeof err), 0);
    }
    if (!status) runfile_close(rf);                                   /* interrupted: the .tmp stays */
    else if (runfile_finish(rf, status, err, sizeof err)) fail_msg("%s", err);
}

static void test_trial_scan(void **state)
{
    (void)state;
    char path[512];
    double acc[4];
    TrialScan s;
    test_tmpdir_path(path, sizeof path, "none.h5");
    trial_scan(path, "aaa", 4, &s, acc);
    assert_int_equal(s.state, TRIAL_NEW);
    assert_true(isnan(acc[0]));

    test_tmpdir_path(path, sizeof path, "pruned.h5");
    write_run(path, "bbb", 2, "pruned");
    trial_scan(path, "bbb", 4, &s, acc);
    assert_int_equal(s.state, TRIAL_PRUNED);
    assert_int_equal(s.epochs, 2);
    assert_true(fabs(acc[0] - 0.6) < 1e-12 && fabs(acc[1] - 0.7) < 1e-12 && isnan(acc[2]));
    assert_true(trial_state_finished(s.state));

    test_tmpdir_path(path, sizeof path, "cut.h5");
    write_run(path, "ccc", 3, NULL);
    trial_scan(path, "ccc", 4, &s, acc);
    assert_int_equal(s.state, TRIAL_UNFINISHED);
    assert_int_equal(s.epochs, 3);
    assert_true(fabs(acc[2] - 0.8) < 1e-12);
    assert_false(trial_state_finished(s.state));
    /* A .tmp under this trial's name that holds another trial: the trial
     * still has to run (the .tmp is set aside then), and that trial's
     * accuracies are not this one's. */
    trial_scan(path, "zzz", 4, &s, acc);
    assert_int_equal(s.state, TRIAL_UNFINISHED);
    assert_false(trial_state_finished(s.state));
    assert_int_equal(s.epochs, 0);
    assert_true(isnan(acc[0]));
    assert_non_null(strstr(s.note, "holds trial ccc, not zzz"));

    /* Not HDF5 at all under a final name: never overwritten, reported. */
    test_tmpdir_path(path, sizeof path, "junk.h5");
    FILE *f = fopen(path, "w");
    fputs("not a run file\n", f);
    fclose(f);
    trial_scan(path, "ddd", 4, &s, acc);
    assert_int_equal(s.state, TRIAL_UNREADABLE);
    assert_true(trial_state_finished(s.state));
}

/* The board keeps only the epochs a pruning decision can look at. */
static void test_board_span(void **state)
{
    (void)state;
    PruneRule off = {0}, rule = {.enabled = 1, .warmup = 3, .min_trials = 1};
    PruneSpan s = prune_board_span(&off, 100000);
    assert_int_equal(s.count, 0);                       /* no pruning: no board */
    s = prune_board_span(&rule, 10);                     /* decisions after epochs 3..9 */
    assert_int_equal(s.first, 2);
    assert_int_equal(s.count, 7);
    s = prune_board_span(&rule, 3);                      /* the last epoch never decides */
    assert_int_equal(s.count, 0);
    assert_int_equal(prune_board_check(50, prune_board_span(&rule, 100), err, sizeof err), 0);
    /* 2,000 trials x 100,000 epochs would be 1.6 GB on rank 0 before the first epoch */
    assert_int_equal(prune_board_check(2000, prune_board_span(&rule, 100000), err, sizeof err), -1);
    assert_non_null(strstr(err, "2000 trials x 99997 epochs"));
    assert_non_null(strstr(err, "MB"));
}

/* An unusable .tmp is kept under a name no scan looks at: NAME.bad-N. */
static void test_set_aside(void **state)
{
    (void)state;
    char path[512], tmp[600], moved[700], want[600];
    test_tmpdir_path(path, sizeof path, "aside.h5");
    assert_int_equal(runfile_tmp_path(path, tmp, sizeof tmp), 0);
    for (int n = 1; n <= 2; n++) {
        write_run(path, "eee", 1, NULL);
        assert_int_equal(trial_set_aside(path, moved, sizeof moved, err, sizeof err), 0);
        snprintf(want, sizeof want, "%s.bad-%d", path, n);
        assert_string_equal(moved, want);
        assert_int_equal(access(tmp, F_OK), -1);
        assert_int_equal(access(want, F_OK), 0);
    }
    TrialScan s;
    double acc[2];
    trial_scan(path, "eee", 2, &s, acc);
    assert_int_equal(s.state, TRIAL_NEW);
    assert_int_equal(trial_set_aside(path, moved, sizeof moved, err, sizeof err), -1);   /* nothing there */
    assert_non_null(strstr(err, "aside.h5.tmp"));
    assert_int_equal(mkdir(tmp, 0700), 0);            /* a folder is not a damaged run file: left */
    assert_int_equal(trial_set_aside(path, moved, sizeof moved, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
    assert_int_equal(access(tmp, F_OK), 0);
    rmdir(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_vectors),
        cmocka_unit_test(test_grid_order_and_ids),
        cmocka_unit_test(test_ids_canonical),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_random_independent_and_grid),
        cmocka_unit_test(test_prune_decide),
        cmocka_unit_test(test_queue_and_board_single),
        cmocka_unit_test(test_trial_scan),
        cmocka_unit_test(test_board_span),
        cmocka_unit_test(test_set_aside),
    };
    return cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown);
}
