/* `sweeprun train`: one run on one device, with progress, into one run file;
 * or, under mpirun with --data-parallel, one run on every rank of the job
 * (the first rank prints and writes the run file). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <omp.h>
#include "cli_args.h"
#include "comm.h"
#include "commands.h"
#include "config.h"
#include "device.h"
#include "progress.h"
#include "run_record.h"
#include "train.h"

void report_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sweeprun: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: sweeprun train --model NAME [options]\n"
        "       mpirun -np N sweeprun train --data-parallel --model NAME [options]\n"
        "\n"
        "  --model NAME           baseline_cnn | gecco (see 'sweeprun models')\n"
        "  --dataset D            mnist | fashion-mnist | a folder of IDX files (default mnist)\n"
        "  --epochs N             default: the model's recipe\n"
        "  --batch-size B         default: the model's recipe (the global batch when data-parallel)\n"
        "  --lr X                 learning rate\n"
        "  --optimizer O          sgd | adam | adamw\n"
        "  --weight-decay X       L2 (coupled for sgd/adam, decoupled for adamw)\n"
        "  --l2-scope S           all | fc (decay only the fully connected layers)\n"
        "  --momentum X, --nesterov true|false   (sgd)\n"
        "  --dropout P            the model's dropout\n"
        "  --schedule SPEC        constant | step:STEP:GAMMA | exp:GAMMA[:FLOOR] | cosine:T_MAX[:ETA_MIN]\n"
        "  --seed S               one seed drives init, shuffling and dropout (default 0)\n"
        "  --device D             auto | cpu | cuda | cuda:I (default auto: the first GPU if one is usable)\n"
        "  --tf32                 CUDA: allow TF32 tensor cores in matrix products (faster, ~1e-3 relative)\n"
        "  --no-graph             CUDA: run every step eagerly instead of replaying a CUDA graph\n"
        "  --threads N            CPU threads (default: all cores, shared among the ranks on a node)\n"
        "  --out FILE.h5          run file (default runs/<model>-s<seed>-<time>.h5); never overwritten\n"
        "  --grad-accum K         split each batch into K micro-batches, average their gradients\n"
        "  --eval-batch-size N    test-set batch size (default 64; GECCO's predictions depend on it)\n"
        "  --train-subset N, --test-subset N   use only the first N images\n"
        "  --data-parallel        under mpirun: train one model on all ranks; each rank takes\n"
        "                         batch-size/ranks images of every step, gradients are averaged\n"
        "                         (the same result as one process with --grad-accum ranks)\n"
        "  --set allreduce=A      auto | mpi | nccl: how data-parallel gradients are summed\n"
        "                         (auto = MPI for CPU training; nccl stages them through the GPU)\n"
        "  --set KEY=VALUE        any of the above by key, or a model option (feature_length, graph, ...)\n"
        "  --quiet                no per-epoch lines\n"
        "\n"
        "exit codes: 0 complete, 1 failed, 2 bad input, 3 diverged (the run file is kept)\n");
}

/* Build the config from the command line; -1 with the reason in err. */
static int parse_train_args(int argc, char **argv, TrainConfig *cfg, int *quiet, int *help,
                            char *err, int err_size)
{
    CliPairs pairs = {0};
    char why[1024];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            *help = 1;
            return 0;
        }
        if (!strcmp(argv[i], "--quiet")) {
            *quiet = 1;
            continue;
        }
        /* Switches: --data-parallel=false etc. also work (as pairs). */
        const char *switch_key = !strcmp(argv[i], "--data-parallel") ? "data_parallel"
                                 : !strcmp(argv[i], "--tf32") ? "tf32"
                                 : !strcmp(argv[i], "--no-graph") ? "cuda_graph" : NULL;
        if (switch_key) {
            if (pairs.n == CLI_MAX_PAIRS) {
                snprintf(err, err_size, "train: too many options (at most %d)", CLI_MAX_PAIRS);
                return -1;
            }
            pairs.key[pairs.n] = switch_key;
            pairs.value[pairs.n++] = strcmp(switch_key, "cuda_graph") ? "true" : "false";
            continue;
        }
        if (cli_take_pair(&pairs, argc, argv, &i, why, sizeof why)) {
            snprintf(err, err_size, "train: %.1000s", why);
            return -1;
        }
    }
    memset(cfg, 0, sizeof *cfg);
    if (config_apply_pairs(cfg, pairs.n, pairs.key, pairs.value, why, sizeof why)
        || config_validate(cfg, why, sizeof why)) {
        snprintf(err, err_size, "train: %.1000s", why);
        return -1;
    }
    return 0;
}

/* Pick the device (train_resolve_device): *cuda_index >= 0 for a GPU, -1
 * for the CPU; note gets the reason "auto" fell back to the CPU. -1 with
 * err when CUDA was asked for and is not usable. */
static int resolve_device(const TrainConfig *cfg, int ranks, int *cuda_index, char *note, int note_size,
                          char *err, int err_size)
{
    char why[700];
    int where = train_resolve_device(cfg, cuda_index, note, note_size, why, sizeof why);
    if (where < 0) {
        snprintf(err, err_size, "train: %s", why);
        return -1;
    }
    if (where == 1 && ranks > 1 && cfg->allreduce == ALLREDUCE_MPI) {
        snprintf(err, err_size, "train: allreduce: mpi sums CPU gradients; data-parallel CUDA training sums "
                                "them with NCCL (use allreduce=auto or nccl)");
        return -1;
    }
    return 0;
}

static void default_out_path(const TrainConfig *cfg, char *out, size_t size)
{
    char stamp[32];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    snprintf(out, size, "runs/%s-s%llu-%s.h5", cfg->model->name, (unsigned long long)cfg->seed, stamp);
    mkdir("runs", 0777);
}

/* Batch norm cannot train on one image; catch a batch that would have one.
 * ranks x grad_accum micro-batches per step (data-parallel ranks each take
 * grad_accum of them). */
static int check_batches(const TrainConfig *cfg, const Dataset *d, int ranks, char *err, int err_size)
{
    int parts = cfg->grad_accum * ranks;
    if (cfg->batch_size % parts) {
        snprintf(err, err_size, "train: batch_size %d is not divisible by %d ranks x grad_accum %d "
                 "(each rank takes an equal share of every batch)", cfg->batch_size, ranks, cfg->grad_accum);
        return -1;
    }
    int last = d->n_train % cfg->batch_size;
    int micro_full = cfg->batch_size / parts;
    int micro_last = last ? last / parts : micro_full;
    if (d->n_train < 2 || micro_full < 2 || (last && micro_last < 2)) {
        if (ranks > 1)
            snprintf(err, err_size, "train: batch_size %d over %d ranks x grad_accum %d with %d training "
                     "images leaves a micro-batch of fewer than 2 images; batch norm needs at least 2 "
                     "(choose another batch_size or train_subset)",
                     cfg->batch_size, ranks, cfg->grad_accum, d->n_train);
        else
            snprintf(err, err_size, "train: batch_size %d with grad_accum %d over %d training images leaves a "
                     "micro-batch of fewer than 2 images; batch norm needs at least 2 "
                     "(choose another batch_size or train_subset)",
                     cfg->batch_size, cfg->grad_accum, d->n_train);
        return -1;
    }
    return 0;
}

/* Default thread count: all cores, but ranks sharing a node share them
 * (unless the launcher already bound each rank to its own cores). */
static int default_threads(const ProcessGroup *world)
{
    int usable = omp_get_num_procs();                 /* respects the affinity mask */
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (world->local_size > 1 && usable >= online) usable = (int)(online / world->local_size);
    return usable > 0 ? usable : 1;
}

typedef struct TrainSession {
    RunRecord rec;
    Progress progress;
    int io_failed;
} TrainSession;

static void on_batch(void *user, int epoch, int batch, int batches, double loss, double elapsed,
                     long images)
{
    TrainSession *s = user;
    progress_batch(&s->progress, epoch, batch, batches, loss, elapsed, images);
}

static int on_epoch(void *user, const EpochStats *st, const Evaluation *ev, const Model *m,
                    const Optimizer *opt)
{
    TrainSession *s = user;
    progress_epoch(&s->progress, st);
    if (run_record_epoch(&s->rec, st, ev, m, opt)) {
        s->io_failed = 1;
        return 1;
    }
    return 0;
}

static void join_args(int argc, char **argv, char *buf, size_t size)
{
    buf[0] = 0;
    strncat(buf, "sweeprun", size - 1);
    for (int i = 0; i < argc; i++) {
        strncat(buf, " ", size - strlen(buf) - 1);
        strncat(buf, argv[i], size - strlen(buf) - 1);
    }
}

/* Everything a rank checks before training: the config, the device, the
 * run file name (first rank), the dataset, the batch split. 0 ok; -1 with
 * the reason in err (printed by comm_agree, so all ranks stop together). */
static int prepare(const ProcessGroup *world, TrainConfig *cfg, int *cuda_index, char *note, int note_size,
                   Dataset *data, char *err, int err_size)
{
    int lead = world->rank == 0;
    if (world->size > 1 && !cfg->data_parallel) {
        snprintf(err, err_size, "train: this job has %d MPI ranks but --data-parallel was not given; "
                 "each rank would train the same run (add --data-parallel to train one model on all "
                 "ranks, or run without mpirun)", world->size);
        return -1;
    }
    if (resolve_device(cfg, world->size, cuda_index, note, note_size, err, err_size)) return -1;
    if (lead) {
        if (!cfg->out[0]) default_out_path(cfg, cfg->out, sizeof cfg->out);
        if (access(cfg->out, F_OK) == 0) {
            snprintf(err, err_size, "train: %.900s already exists; run files are never overwritten "
                     "(choose another --out)", cfg->out);
            return -1;
        }
    }
    char why[1024];
    if (dataset_load(cfg->dataset, cfg->train_subset, cfg->test_subset, data, why, sizeof why)) {
        snprintf(err, err_size, "train: %.1000s", why);
        return -1;
    }
    return check_batches(cfg, data, world->size, err, err_size);
}

static int train_main(ProcessGroup *world, int argc, char **argv)
{
    int lead = world->rank == 0;
    TrainConfig cfg;
    int quiet = 0, help = 0;
    char err[1024] = "";
    int bad = parse_train_args(argc, argv, &cfg, &quiet, &help, err, sizeof err);
    if (comm_allreduce_max_int(world, help)) {
        if (lead) usage(stdout);
        return EXIT_OK;
    }
    char device[400], note[400] = "";
    int cuda_index = -1;
    Dataset data;
    memset(&data, 0, sizeof data);
    if (!bad) bad = prepare(world, &cfg, &cuda_index, note, sizeof note, &data, err, sizeof err);
    if (comm_agree(world, bad ? err : NULL)) {
        dataset_free(&data);
        return EXIT_BAD_INPUT;
    }
    cfg.world_size = world->world_size;
    cfg.ranks_per_trial = cfg.data_parallel ? world->size : 1;
    int nccl_device = -1;
    /* GPU ranks always sum with NCCL; CPU ranks only when asked (staged). */
    int use_nccl = cfg.allreduce == ALLREDUCE_NCCL
                   || (cuda_index >= 0 && cfg.data_parallel && world->size > 1);
    if (use_nccl) {
        /* Collective; the verdict is the same on every rank. */
        char why[900];
        if (comm_nccl_init(world, &nccl_device, why, sizeof why)) {
            if (lead) report_error("train: allreduce nccl: %s", why);
            dataset_free(&data);
            return EXIT_BAD_INPUT;
        }
        if (cuda_index >= 0) cuda_index = nccl_device;   /* one GPU per rank */
    }
    int threads = set_compute_threads(cfg.threads ? cfg.threads : default_threads(world));
    Trainer t;
    trainer_init_on(&t, &cfg, &data, cuda_index);
    if (cfg.data_parallel) trainer_set_group(&t, world, use_nccl);
    trainer_device_name(&t, device, sizeof device);
    if (use_nccl) {
        size_t used = strlen(device);
        snprintf(device + used, sizeof device - used, "; gradients summed with NCCL via cuda:%d", nccl_device);
    }
    TrainSession s = {0};
    char command[4096];
    join_args(argc, argv, command, sizeof command);
    err[0] = 0;
    if (lead && run_record_open(&s.rec, cfg.out, &cfg, &data, model_param_count(&t.model), device, threads,
                                command))
        snprintf(err, sizeof err, "train: %.1000s", s.rec.err);
    if (comm_agree(world, err[0] ? err : NULL)) {
        trainer_free(&t);
        dataset_free(&data);
        return EXIT_BAD_INPUT;
    }
    if (lead && !quiet) {
        if (note[0]) printf("note: %s\n", note);
        printf("device: %s\n", device);
        printf("training %s (%ld parameters) on %s: %d train / %d test images from %s, %d epochs, "
               "batch %d, %s lr %g, %d threads\n",
               cfg.model->name, model_param_count(&t.model), cfg.dataset, data.n_train, data.n_test,
               data.dir, cfg.epochs, cfg.batch_size, optim_kind_name(cfg.optim.kind), cfg.lr, threads);
        if (cfg.data_parallel)
            printf("data-parallel on %d rank%s (%d threads each): %d images per rank per step, "
                   "gradients summed with %s\n", world->size, world->size == 1 ? "" : "s", threads,
                   cfg.batch_size / world->size, cfg.allreduce == ALLREDUCE_NCCL ? "NCCL" : "MPI");
    }
    progress_init(&s.progress, stdout, cfg.epochs, quiet);
    /* mpirun hands each rank a pseudo-terminal even when its own output
     * goes to a log file: plain per-epoch lines under MPI. */
    if (world->use_mpi) s.progress.live = 0;
    /* Only the first rank reports; the others train silently. */
    TrainObserver obs = {.user = &s, .on_batch = on_batch, .on_epoch = on_epoch};
    EpochStats last = {0};
    RunStatus status = trainer_run(&t, 0, lead ? &obs : NULL, &last);
    int rc = status == RUN_COMPLETE ? EXIT_OK : status == RUN_DIVERGED ? EXIT_DIVERGED : EXIT_FAILED;
    if (lead) {
        const char *why = status == RUN_DIVERGED ? "loss became NaN or infinite"
                          : s.io_failed ? s.rec.err : "";
        if (s.io_failed) report_error("train: writing %s failed: %s", cfg.out, s.rec.err);
        if (run_record_finish(&s.rec, status, why)) {
            report_error("train: %s", s.rec.err);
            rc = EXIT_FAILED;
        }
        if (status == RUN_DIVERGED) report_error("train: diverged (%s); run file kept: %s", why, cfg.out);
        else if (!quiet && status == RUN_COMPLETE)
            printf("done: final test accuracy %.2f%%, run file %s\n", 100 * last.test_accuracy, cfg.out);
    }
    trainer_free(&t);
    dataset_free(&data);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    ProcessGroup world;
    comm_init(NULL, NULL, &world);
    int rc = train_main(&world, argc, argv);
    comm_finalize(&world);
    return rc;
}
