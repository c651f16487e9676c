/* comm/: the process group alone (no MPI calls), and, by re-launching this
 * program under mpirun, the collectives on 2 ranks, an abort that ends the
 * whole job, and data-parallel training (2 ranks) against one process with
 * --grad-accum 2 on synthetic images: identical parameters, identical
 * evaluation. */
#include "testutil.h"
#include "comm.h"
#include "config.h"
#include "train.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const LAUNCH_VARS[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"};

/* ---- a plain process: a group of one --------------------------------------- */

static void test_singleton(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof LAUNCH_VARS / sizeof LAUNCH_VARS[0]; i++) unsetenv(LAUNCH_VARS[i]);
    assert_false(comm_launched());
    ProcessGroup w;
    comm_init(NULL, NULL, &w);
    assert_int_equal(w.use_mpi, 0);
    assert_int_equal(w.world_size, 1);
    assert_int_equal(w.size, 1);
    assert_int_equal(w.rank, 0);
    assert_int_equal(w.local_rank, 0);
    assert_int_equal(w.local_size, 1);
    float f[3] = {1, 2, 3};
    double d[2] = {0.5, -1};
    int k[2] = {7, 8};
    comm_allreduce_sum_float(&w, f, 3);
    comm_allreduce_sum_double(&w, d, 2);
    comm_allreduce_sum_int(&w, k, 2);
    comm_broadcast_float(&w, f, 3, 0);
    comm_barrier(&w);
    assert_true(f[0] == 1 && f[1] == 2 && f[2] == 3);
    assert_true(d[0] == 0.5 && d[1] == -1);
    assert_true(k[0] == 7 && k[1] == 8);
    assert_int_equal(comm_allreduce_max_int(&w, 42), 42);
    assert_int_equal(comm_agree(&w, NULL), 0);
    assert_int_equal(comm_agree(&w, ""), 0);
    assert_int_equal(comm_agree(&w, "test: an expected message"), 1);

    ProcessGroup g;
    char err[256] = "";
    assert_int_equal(comm_split(&w, 1, &g, err, sizeof err), 0);
    assert_int_equal(g.size, 1);
    assert_int_equal(g.n_groups, 1);
    comm_group_free(&g);
    assert_int_equal(comm_split(&w, 2, &g, err, sizeof err), -1);
    assert_non_null(strstr(err, "does not divide"));

    int dev = 0;
    if (!comm_have_nccl()) {
        assert_int_equal(comm_nccl_init(&w, &dev, err, sizeof err), -1);
        assert_non_null(strstr(err, "without the CUDA backend"));
    } else if (comm_nccl_init(&w, &dev, err, sizeof err) == 0) {
        /* A GPU: a communicator of one rank; its all-reduce is a copy. */
        float h[4] = {1.5f, -2, 3, 1e-3f};
        comm_nccl_allreduce_sum_host(&w, h, 4);
        assert_true(h[0] == 1.5f && h[1] == -2 && h[2] == 3 && h[3] == 1e-3f);
        print_message("NCCL on cuda:%d: one-rank all-reduce ok\n", dev);
    } else {
        print_message("NCCL built, no GPU here: %s\n", err);
        assert_non_null(strstr(err, "no usable CUDA device"));
    }
    comm_finalize(&w);
}

/* ---- under mpirun: this program again, as rank 0 and 1 ----------------------- */

static int have_mpirun(void) { return system("command -v mpirun >/dev/null 2>&1") == 0; }

/* Run `mpirun -np N <this program> ARG`, output into out (NUL-terminated).
 * Returns the exit status, or -1; *seconds the wall time. */
static int run_mpi(int ranks, const char *arg, char *out, size_t size, double *seconds)
{
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return -1;
    self[len] = 0;
    if (geteuid() == 0) {
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    }
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "timeout 120 mpirun -np %d --oversubscribe --bind-to none '%s' %s 2>&1",
             ranks, self, arg);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t used = fread(out, 1, size - 1, p);
    out[used] = 0;
    while (fgetc(p) != EOF) {}
    int status = pclose(p);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *seconds = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_two_ranks_collectives(void **state)
{
    (void)state;
    if (!have_mpirun()) skip();
    static char out[65536];
    double s;
    int rc = run_mpi(2, "--child-collectives", out, sizeof out, &s);
    print_message("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "collectives ok"));
}

static void test_abort_ends_the_job(void **state)
{
    (void)state;
    if (!have_mpirun()) skip();
    static char out[65536];
    double s;
    int rc = run_mpi(2, "--child-abort", out, sizeof out, &s);
    print_message("exit %d after %.1f s:\n%s", rc, s, out);
    assert_int_not_equal(rc, 0);
    assert_int_not_equal(rc, 124);   /* not the timeout: no hang */
    assert_non_null(strstr(out, "sweeprun: rank 1: deliberate failure"));
    assert_true(s < 30);
}

static void test_two_ranks_train_like_grad_accum(void **state)
{
    (void)state;
    if (!have_mpirun()) skip();
    static char out[65536];
    double s;
    int rc = run_mpi(2, "--child-train", out, sizeof out, &s);
    print_message("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "training ok"));
}

/* ---- the children -------------------------------------------------------------- */

#define EXPECT(cond)                                                                         \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "rank %d: %s:%d: failed: %s\n", w.world_rank, __FILE__, __LINE__, #cond); \
            failures++;                                                                      \
        }                                                                                    \
    } while (0)

static int child_collectives(void)
{
    ProcessGroup w;
    comm_init(NULL, NULL, &w);
    int failures = 0, r = w.rank;
    EXPECT(w.use_mpi == 1);
    EXPECT(w.size == 2 && w.world_size == 2);
    EXPECT(w.local_size == 2 && w.local_rank == r);   /* one node */

    float f[3] = {(float)r + 1, 10.0f * (r + 1), -0.5f};
    comm_allreduce_sum_float(&w, f, 3);
    EXPECT(f[0] == 3 && f[1] == 30 && f[2] == -1);
    double d = r ? 0.25 : 0.5;
    comm_allreduce_sum_double(&w, &d, 1);
    EXPECT(d == 0.75);
    int k[2] = {r, 5};
    comm_allreduce_sum_int(&w, k, 2);
    EXPECT(k[0] == 1 && k[1] == 10);
    EXPECT(comm_allreduce_max_int(&w, r ? 9 : 4) == 9);

    long n = 3L << 20;   /* a big buffer: 12 MB */
    float *big = malloc((size_t)n * sizeof *big);
    for (long i = 0; i < n; i++) big[i] = (float)(i % 1000) * (r + 1);
    comm_allreduce_sum_float(&w, big, n);
    int ok = 1;
    for (long i = 0; i < n; i++) ok &= big[i] == (float)(i % 1000) * 3;
    EXPECT(ok);
    for (long i = 0; i < n; i++) big[i] = r ? (float)i : -1.0f;
    comm_broadcast_float(&w, big, n, 1);   /* from rank 1 */
    ok = 1;
    for (long i = 0; i < n; i++) ok &= big[i] == (float)i;
    EXPECT(ok);
    free(big);
    comm_barrier(&w);

    /* Groups of 1: each rank alone; group of 2: the world again. */
    ProcessGroup g;
    char err[256];
    EXPECT(comm_split(&w, 1, &g, err, sizeof err) == 0);
    EXPECT(g.size == 1 && g.rank == 0 && g.group_index == r && g.n_groups == 2);
    float one = 5;
    comm_allreduce_sum_float(&g, &one, 1);
    EXPECT(one == 5);
    comm_group_free(&g);
    EXPECT(comm_split(&w, 2, &g, err, sizeof err) == 0);
    EXPECT(g.size == 2 && g.rank == r && g.group_index == 0 && g.n_groups == 1);
    one = 5;
    comm_allreduce_sum_float(&g, &one, 1);
    EXPECT(one == 10);
    comm_group_free(&g);
    EXPECT(comm_split(&w, 3, &g, err, sizeof err) == -1);

    /* Everyone learns that one rank failed. */
    EXPECT(comm_agree(&w, r == 1 ? "test: rank 1 has a (deliberate) problem" : NULL) == 1);
    EXPECT(comm_agree(&w, NULL) == 0);

    int total = failures;
    comm_allreduce_sum_int(&w, &total, 1);
    if (r == 0 && total == 0) printf("collectives ok\n");
    fflush(stdout);
    comm_finalize(&w);
    return total ? 1 : 0;
}

static int child_abort(void)
{
    ProcessGroup w;
    comm_init(NULL, NULL, &w);
    if (w.rank == 1) {
        sleep(1);
        comm_abort(&w, 3, "deliberate failure while rank 0 waits");
    }
    comm_barrier(&w);   /* rank 0 waits here until the abort ends it */
    sleep(100);
    comm_finalize(&w);
    return 0;
}

/* 96 synthetic 28x28 images (digit = brightness band plus noise), so the
 * test needs no dataset. */
static void synthetic(Dataset *d)
{
    memset(d, 0, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "synthetic");
    d->rows = d->cols = 28;
    d->n_train = 96;
    d->n_test = 40;
    d->train_x = malloc((size_t)d->n_train * 784);
    d->train_y = malloc((size_t)d->n_train);
    d->test_x = malloc((size_t)d->n_test * 784);
    d->test_y = malloc((size_t)d->n_test);
    uint64_t s = 12345;
    for (int split = 0; split < 2; split++) {
        int n = split ? d->n_test : d->n_train;
        unsigned char *x = split ? d->test_x : d->train_x, *y = split ? d->test_y : d->train_y;
        for (int i = 0; i < n; i++) {
            int label = test_int(&s, 0, 9);
            y[i] = (unsigned char)label;
            for (int p = 0; p < 784; p++)
                x[(long)i * 784 + p] = (unsigned char)((p / 78 == label ? 200 : 20) + test_int(&s, 0, 40));
        }
    }
}

static void configure(TrainConfig *cfg, int grad_accum)
{
    char err[256];
    config_defaults(cfg, model_find("gecco"));
    if (config_set(cfg, "feature_length", "16", err, sizeof err)
        || config_set(cfg, "dropout", "0.2", err, sizeof err))   /* masks must match too */
        fprintf(stderr, "config: %s\n", err);
    cfg->batch_size = 16;      /* 6 steps; the last epoch's order differs */
    cfg->eval_batch_size = 16; /* 40 test images: batches 16, 16, 8 */
    cfg->epochs = 2;
    cfg->grad_accum = grad_accum;
    cfg->seed = 11;
}

static int child_train(void)
{
    ProcessGroup w;
    comm_init(NULL, NULL, &w);
    int failures = 0;
    set_compute_threads(1);
    Dataset data;
    synthetic(&data);

    TrainConfig dp_cfg;
    configure(&dp_cfg, 1);
    Trainer dp;
    trainer_init(&dp, &dp_cfg, &data);
    trainer_set_group(&dp, &w, 0);
    EpochStats dp_stats;
    EXPECT(trainer_run(&dp, 0, NULL, &dp_stats) == RUN_COMPLETE);
    Evaluation dp_ev;
    trainer_evaluate(&dp, SPLIT_TEST, &dp_ev);

    /* Every rank holds the same parameters. */
    long np = dp.model.table.n_params;
    float *other = malloc((size_t)np * sizeof *other);
    memcpy(other, dp.model.params, (size_t)np * sizeof *other);
    comm_broadcast_float(&w, other, np, 1);
    EXPECT(!memcmp(other, dp.model.params, (size_t)np * sizeof *other));
    free(other);

    if (w.rank == 0) {
        TrainConfig one_cfg;
        configure(&one_cfg, 2);
        Trainer one;
        trainer_init(&one, &one_cfg, &data);
        EpochStats one_stats;
        EXPECT(trainer_run(&one, 0, NULL, &one_stats) == RUN_COMPLETE);
        /* Two ranks add two micro-batch gradients in one addition, as the
         * accumulation does: the same bits. */
        EXPECT(!memcmp(one.model.params, dp.model.params, (size_t)np * sizeof(float)));
        EXPECT(fabs(one_stats.train_loss - dp_stats.train_loss) <= 1e-12 * fabs(one_stats.train_loss));
        EXPECT(one_stats.train_accuracy == dp_stats.train_accuracy);
        /* The same weights and statistics score the same in one process. */
        memcpy(one.model.buffers, dp.model.buffers, (size_t)one.model.table.n_buffers * sizeof(float));
        Evaluation one_ev;
        trainer_evaluate(&one, SPLIT_TEST, &one_ev);
        EXPECT(one_ev.count == dp_ev.count && one_ev.correct == dp_ev.correct);
        EXPECT(!memcmp(one_ev.predictions, dp_ev.predictions, (size_t)one_ev.count * sizeof(int)));
        EXPECT(fabs(one_ev.loss - dp_ev.loss) <= 1e-12 * fabs(one_ev.loss) + 1e-15);
        printf("one process: train loss %.9g, test loss %.9g; two ranks: %.9g, %.9g\n",
               one_stats.train_loss, one_ev.loss, dp_stats.train_loss, dp_ev.loss);
        evaluation_free(&one_ev);
        trainer_free(&one);
    }
    evaluation_free(&dp_ev);
    trainer_free(&dp);
    dataset_free(&data);
    int total = failures;
    comm_allreduce_sum_int(&w, &total, 1);
    if (w.rank == 0 && total == 0) printf("training ok\n");
    fflush(stdout);
    comm_finalize(&w);
    return total ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--child-collectives")) return child_collectives();
    if (argc > 1 && !strcmp(argv[1], "--child-abort")) return child_abort();
    if (argc > 1 && !strcmp(argv[1], "--child-train")) return child_train();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_singleton),
        cmocka_unit_test(test_two_ranks_collectives),
        cmocka_unit_test(test_abort_ends_the_job),
        cmocka_unit_test(test_two_ranks_train_like_grad_accum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
