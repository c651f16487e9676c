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
#include "run_record.h"
#include "runfile.h"
#include "stop_signals.h"
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
        "  --train-until T         train only until epoch T of --epochs for now (the run's schedule stays that of\n"
        "                          all its epochs), keep FILE.tmp with status paused; the same command with a\n"
        "                          larger T, or without it, continues exactly as the straight run would\n"
        "  --stop-signals LIST     signals that stop training after the current step with a checkpoint\n"
        "                          (default " STOP_SIGNALS_DEFAULT "; 'none': no handler). A second SIGINT stops at once\n"
        "\n"
        "An interrupted run (its --out FILE.tmp, killed or stopped by a signal) continues from its last\n"
        "checkpoint when the same command is run again; a FILE.tmp of another configuration is refused.\n"
        "\n"
        "exit codes: 0 complete (or paused at --train-until), 1 failed, 2 bad input, 3 diverged (the run file is kept),\n"
        "143 stopped by a stop signal (checkpoint written; rerun the same command to continue),\n"
        "130 a second SIGINT (stopped at once; a rerun continues from the last complete checkpoint)\n");
}

/* Build the config from the command line; -1 with the reason in err. */
static int parse_train_args(int argc, char **argv, TrainConfig *cfg, int *quiet, int *train_until, int *help,
                            StopSignals *stops, char *err, int err_size)
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
        if (!strcmp(argv[i], "--train-until")) {
            char *end = NULL;
            long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
            if (!end || end == argv[i + 1] || *end || v < 1 || v > 100000) {
                snprintf(err, err_size, "train: --train-until: expected a whole number of epochs in [1, 100000], "
                         "got '%.100s'", i + 1 < argc ? argv[i + 1] : "");
                return -1;
            }
            *train_until = (int)v;
            i++;
            continue;
        }
        int took = stop_signals_take_flag(argc, argv, &i, stops, why, sizeof why);
        if (took < 0) {
            snprintf(err, err_size, "train: %.1000s", why);
            return -1;
        }
        if (took) continue;
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
    if (*train_until > cfg->epochs) {
        snprintf(err, err_size, "train: --train-until: %d is above --epochs %d (a run trains at most its epochs)",
                 *train_until, cfg->epochs);
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


/* The value of key (key_len characters) in a configuration text of
 * "key=value" lines, its length in *len; NULL when the text has no such key. */
static const char *text_value(const char *text, const char *key, size_t key_len, size_t *len)
{
    for (const char *line = text; *line;) {
        size_t n = strcspn(line, "\n");
        if (n > key_len && line[key_len] == '=' && !strncmp(line, key, key_len)) {
            *len = n - key_len - 1;
            return line + key_len + 1;
        }
        line += n + (line[n] == '\n');
    }
    return NULL;
}

/* The first key of text a whose value in text b differs (or is missing):
 * "key: A there, B here" (swap: a is here). 0 when there is none. */
static int key_differing(const char *a, const char *b, int swap, char *out, int size)
{
    for (const char *line = a; *line;) {
        size_t n = strcspn(line, "\n"), key = strcspn(line, "="), len_b = 5;
        if (key < n) {
            size_t len_a = n - key - 1;
            const char *va = line + key + 1, *vb = text_value(b, line, key, &len_b);
            if (!vb || len_b != len_a || strncmp(vb, va, len_a)) {
                if (!vb) vb = "unset";
                if (swap) snprintf(out, size, "%.*s: %.*s there, %.*s here", (int)key, line, (int)len_b, vb, (int)len_a, va);
                else snprintf(out, size, "%.*s: %.*s there, %.*s here", (int)key, line, (int)len_a, va, (int)len_b, vb);
                return 1;
            }
        }
        line += n + (line[n] == '\n');
    }
    return 0;
}

static void first_difference(const char *there, const char *here, char *out, int size)
{
    if (!key_differing(there, here, 0, out, size) && !key_differing(here, there, 1, out, size))
        snprintf(out, size, "the same keys in another order");
}

/* An interrupted run at --out (FILE.tmp) continues when the command is
 * run again (trial_run resumes it), but only as the run it was: the same
 * configuration text and rank count. Another one is refused before
 * anything is written. A .tmp without a readable configuration (killed
 * before its first flush, damaged) is left to trial_run, which starts
 * afresh (keeping it as FILE.bad-N when it holds finished epochs). */
static int check_interrupted_run(const TrainConfig *cfg, int ranks, char *err, int err_size)
{
    char tmp[CONFIG_PATH_MAX + 8], why[600], there[8192], here[8192], diff[600];
    if (runfile_tmp_path(cfg->out, tmp, sizeof tmp) || access(tmp, F_OK)) return 0;
    if (runfile_is_being_written(tmp)) {
        snprintf(err, err_size, "train: %.900s: another process is writing this run (it holds the file locked)", tmp);
        return -1;
    }
    RunFile *rf = runfile_open(tmp, why, sizeof why);
    if (!rf) return 0;
    int64_t their_ranks = 1;
    int readable = runfile_read_attr_string(rf, "config", there, sizeof there, why, sizeof why) == 0
                   && (!runfile_has_attr(rf, "ranks_per_trial")
                       || runfile_read_attr_int64(rf, "ranks_per_trial", &their_ranks, why, sizeof why) == 0);
    runfile_close(rf);
    if (!readable) return 0;
    config_to_text(cfg, here, sizeof here);
    if (strcmp(there, here)) first_difference(there, here, diff, sizeof diff);
    else if (their_ranks != ranks)
        snprintf(diff, sizeof diff, "%lld data-parallel ranks there, %d here", (long long)their_ranks, ranks);
    else
        return 0;
    snprintf(err, err_size, "train: %.480s holds an interrupted run of another configuration (%.300s); run the "
             "command that started it to continue it, or move the file away", tmp, diff);
    return -1;
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
        if (check_interrupted_run(cfg, cfg->data_parallel ? world->size : 1, err, err_size)) return -1;
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

/* Trainer.stop_requested for `train`: a stop signal reached this rank. */
static int signal_caught(void *user)
{
    (void)user;
    return stop_signal_caught() != 0;
}

/* The first rank's report of an interrupted run. */
static void print_interrupted(const TrialOutcome *out, const char *path)
{
    int signo = stop_signal_caught();
    const TrainPosition *at = &out->stopped_at;
    report_error("train: stopped by %s after step %d of epoch %d; checkpoint written to %s.tmp (status "
                 "interrupted); run the same command again to continue", signo ? stop_signal_name(signo) : "a signal",
                 at->batch, at->epoch + 1, path);
}

static int train_main(ProcessGroup *world, int argc, char **argv)
{
    int lead = world->rank == 0;
    TrainConfig cfg;
    int quiet = 0, help = 0, train_until = 0;
    char err[1024] = "";
    StopSignals stops;
    stop_signals_parse(STOP_SIGNALS_DEFAULT, &stops, err, sizeof err);
    int bad = parse_train_args(argc, argv, &cfg, &quiet, &train_until, &help, &stops, err, sizeof err);
    StopSignals none = {0};
    stop_signals_install(bad || help ? &none : &stops);
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
    /* resume: an interrupted run at --out (checked in prepare) continues. */
    TrialSpec spec = {.cfg = &cfg, .group = world, .data = &data, .cuda_index = cuda_index, .threads = threads,
                      .command = command, .resume = 1, .train_until = train_until, .use_nccl = use_nccl,
                      .hooks = &hooks, .stop_requested = signal_caught};
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
        else if (out.status == RUN_INTERRUPTED) print_interrupted(&out, cfg.out);
        else if (out.status == RUN_PAUSED)
            printf("paused after epoch %d of %d: %s.tmp (status paused); the same command with a larger "
                   "--train-until, or without it, continues\n", train_until, cfg.epochs, cfg.out);
        else if (!quiet)
            print_done(&out, cfg.out);
    }
    switch (out.status) {
    case RUN_COMPLETE: return EXIT_OK;
    case RUN_DIVERGED: return EXIT_DIVERGED;
    case RUN_INTERRUPTED: return EXIT_INTERRUPTED;
    case RUN_PAUSED: return EXIT_OK;
    default: return EXIT_FAILED;
    }
}

int cmd_train(int argc, char **argv)
{
    ProcessGroup world;
    stop_signals_hold();   /* before MPI starts its threads */
    comm_init(NULL, NULL, &world);
    int rc = train_main(&world, argc, argv);
    comm_finalize(&world);
    return rc;
}
