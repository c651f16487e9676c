/* `sweeprun train`: one run on one device, with progress, into one run file;
 * or, under mpirun with --data-parallel, one run on every rank of the job
 * (the first rank prints and writes the run file). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cli_args.h"
#include "comm.h"
#include "commands.h"
#include "config.h"
#include "progress.h"
#include "trial.h"

/* "  --batch-size B         help": the flag is the key with '-' for '_'. */
static void print_key_help(const char *name, const char *arg, const char *help, void *user)
{
    FILE *f = user;
    char flag[64];
    snprintf(flag, sizeof flag, "--%s%s%s", name, *arg ? " " : "", arg);
    for (char *p = flag; *p && *p != ' '; p++)
        if (*p == '_') *p = '-';
    const char *line = help;
    for (const char *column = flag; *line; column = "") {
        size_t line_len = strcspn(line, "\n");
        fprintf(f, "  %-23s %.*s\n", column, (int)line_len, line);
        line += line_len + (line[line_len] == '\n');
    }
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: sweeprun train --model NAME [options]\n"
        "       mpirun -np N sweeprun train --data-parallel --model NAME [options]\n"
        "\n");
    config_each_key(print_key_help, f);
    fprintf(f,
        "  --set KEY=VALUE         any of the above by key, or a model option (feature_length, graph, ...;\n"
        "                          see 'sweeprun models')\n"
        "  --quiet                 no per-epoch lines\n"
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
        if (!strcmp(argv[i], "--data-parallel")) {  /* a switch: --data-parallel=false also works */
            if (pairs.n == CLI_MAX_PAIRS) {
                snprintf(err, err_size, "train: too many options (at most %d)", CLI_MAX_PAIRS);
                return -1;
            }
            pairs.key[pairs.n] = "data_parallel";
            pairs.value[pairs.n++] = "true";
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

/* "train: " before a message shared with `sweep`. */
static void prefix_train(char *err, int err_size)
{
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", err);
    snprintf(err, err_size, "train: %.1000s", copy);
}

/* runs/<model>-s<seed>-<time>.h5, creating runs/ when it is missing. 0 ok;
 * -1 with mkdir's own reason (EACCES, EROFS, ...) in err: the run file's
 * open would only report that runs/ does not exist. */
static int default_out_path(TrainConfig *cfg, char *err, int err_size)
{
    char stamp[32];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    snprintf(cfg->out, sizeof cfg->out, "runs/%s-s%llu-%s.h5", cfg->model->name,
             (unsigned long long)cfg->seed, stamp);
    if (mkdir("runs", 0777) != 0 && errno != EEXIST) {
        snprintf(err, err_size, "train: cannot create the folder runs/ for the run file: %s (or choose "
                 "--out FILE.h5)", strerror(errno));
        return -1;
    }
    return 0;
}

/* What `train` shows while its one trial runs: a banner, the progress bar
 * (plain per-epoch lines under MPI or without a terminal). */
typedef struct TrainView {
    const ProcessGroup *world;
    const TrainConfig *cfg;
    const Dataset *data;
    int threads, quiet;
    const char *note;             /* why "auto" chose the CPU ("" if it did not) */
    Progress progress;
} TrainView;

static void on_start(void *user, const Trainer *t, int start_epoch)
{
    TrainView *v = user;
    const TrainConfig *cfg = v->cfg;
    if (!v->quiet) {
        char device[480];
        trainer_device_name(t, device, sizeof device);
        if (v->note[0]) printf("note: %s\n", v->note);
        printf("device: %s\n", device);
        printf("training %s (%ld parameters) on %s: %d train / %d validation / %d test images from %s, %d epochs, "
               "batch %d, %s lr %g, %d threads\n",
               cfg->model->name, model_param_count(&t->model), cfg->dataset, v->data->n_train, v->data->n_val,
               v->data->n_test, v->data->dir, cfg->epochs, cfg->batch_size, optim_kind_name(cfg->optim.kind),
               cfg->lr, v->threads);
        if (cfg->data_parallel)
            printf("data-parallel on %d rank%s (%d threads each): %d images per rank per step, "
                   "gradients summed with %s\n", v->world->size, v->world->size == 1 ? "" : "s", v->threads,
                   cfg->batch_size / v->world->size, cfg->allreduce == ALLREDUCE_NCCL ? "NCCL" : "MPI");
    }
    progress_init(&v->progress, stdout, cfg->epochs, v->quiet);
    /* mpirun hands each rank a pseudo-terminal even when its own output
     * goes to a log file: plain per-epoch lines under MPI. */
    if (v->world->use_mpi) v->progress.live = 0;
}

static void on_batch(void *user, int epoch, int batch, int batches, double loss, double elapsed,
                     long images)
{
    TrainView *v = user;
    progress_batch(&v->progress, epoch, batch, batches, loss, elapsed, images);
}

static int on_epoch(void *user, const EpochStats *st)
{
    TrainView *v = user;
    progress_epoch(&v->progress, st);
    return 0;
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
    if (trial_resolve_device(cfg, world, cuda_index, note, note_size, err, err_size)) {
        prefix_train(err, err_size);
        return -1;
    }
    if (lead) {
        if (!cfg->out[0] && default_out_path(cfg, err, err_size)) return -1;
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
    Dataset full = *data;
    if (trial_hold_out(cfg, &full, data, why, sizeof why)) {
        *data = full;
        snprintf(err, err_size, "train: %.1000s", why);
        return -1;
    }
    dataset_free(&full);
    if (trial_check_batches(cfg, data->n_train, world->size, err, err_size)) {
        prefix_train(err, err_size);
        return -1;
    }
    return 0;
}

/* The last line: the final test accuracy; with a validation split, also
 * the best-validation epoch and that epoch's test accuracy. */
static void print_done(const TrialOutcome *out, const char *path)
{
    printf("done: final test accuracy %.2f%%", 100 * out->last.test_accuracy);
    if (out->stopped_early) printf(" (early stopping after epoch %d)", out->stopped_early);
    if (out->best_epoch > 0)
        printf("; best validation accuracy %.2f%% at epoch %d, its test accuracy %.2f%%", 100 * out->best_val_accuracy,
               out->best_epoch, 100 * out->best_epoch_test_accuracy);
    printf(", run file %s\n", path);
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
    char note[400] = "";
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
    int use_nccl = cfg.allreduce == ALLREDUCE_NCCL || (cuda_index >= 0 && cfg.data_parallel && world->size > 1);
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
    int threads = set_compute_threads(cfg.threads ? cfg.threads : trial_default_threads(world));
    char command[4096];
    cli_command_line(argc, argv, command, sizeof command);
    TrainView view = {.world = world, .cfg = &cfg, .data = &data, .threads = threads, .quiet = quiet,
                      .note = note};
    TrialHooks hooks = {.user = &view, .on_start = on_start, .on_batch = on_batch, .on_epoch = on_epoch};
    TrialSpec spec = {.cfg = &cfg, .group = world, .data = &data, .cuda_index = cuda_index, .threads = threads,
                      .command = command, .use_nccl = use_nccl, .hooks = &hooks};
    TrialOutcome out;
    trial_run(&spec, &out);
    dataset_free(&data);
    if (!out.started) {
        if (lead) report_error("train: %s", out.error);
        return out.disk_error ? EXIT_FAILED : EXIT_BAD_INPUT;   /* a full disk is no bad input */
    }
    if (lead) {
        if (out.status == RUN_DIVERGED) report_error("train: diverged (%s); run file kept: %s", out.error, cfg.out);
        else if (out.status == RUN_FAILED) report_error("train: %s", out.error);
        else if (!quiet)
            print_done(&out, cfg.out);
    }
    return out.status == RUN_COMPLETE ? EXIT_OK : out.status == RUN_DIVERGED ? EXIT_DIVERGED : EXIT_FAILED;
}

int cmd_train(int argc, char **argv)
{
    ProcessGroup world;
    comm_init(NULL, NULL, &world);
    int rc = train_main(&world, argc, argv);
    comm_finalize(&world);
    return rc;
}
