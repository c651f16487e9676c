/* `sweeprun train`: one run on one device, with progress, into one run file. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cli_args.h"
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
        "\n"
        "  --model NAME           baseline_cnn | gecco (see 'sweeprun models')\n"
        "  --dataset D            mnist | fashion-mnist | a folder of IDX files (default mnist)\n"
        "  --epochs N             default: the model's recipe\n"
        "  --batch-size B         default: the model's recipe\n"
        "  --lr X                 learning rate\n"
        "  --optimizer O          sgd | adam | adamw\n"
        "  --weight-decay X       L2 (coupled for sgd/adam, decoupled for adamw)\n"
        "  --l2-scope S           all | fc (decay only the fully connected layers)\n"
        "  --momentum X, --nesterov true|false   (sgd)\n"
        "  --dropout P            the model's dropout\n"
        "  --schedule SPEC        constant | step:STEP:GAMMA | exp:GAMMA[:FLOOR] | cosine:T_MAX[:ETA_MIN]\n"
        "  --seed S               one seed drives init, shuffling and dropout (default 0)\n"
        "  --device D             auto | cpu | cuda | cuda:I (default auto)\n"
        "  --threads N            CPU threads (default: all cores)\n"
        "  --out FILE.h5          run file (default runs/<model>-s<seed>-<time>.h5); never overwritten\n"
        "  --grad-accum K         split each batch into K micro-batches, average their gradients\n"
        "  --eval-batch-size N    test-set batch size (default 64; GECCO's predictions depend on it)\n"
        "  --train-subset N, --test-subset N   use only the first N images\n"
        "  --set KEY=VALUE        any of the above by key, or a model option (feature_length, graph, ...)\n"
        "  --quiet                no per-epoch lines\n"
        "\n"
        "exit codes: 0 complete, 1 failed, 2 bad input, 3 diverged (the run file is kept)\n");
}

/* Build the config from the command line; -1 after printing why. */
static int parse_train_args(int argc, char **argv, TrainConfig *cfg, int *quiet, int *help)
{
    CliPairs pairs = {0};
    char err[1024];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            *help = 1;
            return 0;
        }
        if (!strcmp(argv[i], "--quiet")) {
            *quiet = 1;
            continue;
        }
        if (cli_take_pair(&pairs, argc, argv, &i, err, sizeof err)) {
            report_error("train: %s", err);
            return -1;
        }
    }
    memset(cfg, 0, sizeof *cfg);
    if (config_apply_pairs(cfg, pairs.n, pairs.key, pairs.value, err, sizeof err)
        || config_validate(cfg, err, sizeof err)) {
        report_error("train: %s", err);
        return -1;
    }
    return 0;
}

/* Pick the device; fills a description for the run file. -1 if unusable. */
static int resolve_device(const TrainConfig *cfg, char *desc, int size)
{
    char why[256];
    int gpus = device_cuda_count(why, sizeof why);
    if (!strncmp(cfg->device, "cuda", 4)) {
        /* The CUDA ops are the next milestone; until then a GPU request is
         * refused rather than silently run on the CPU. */
        report_error("train: device %s: the CUDA training path is not available in this version (%s); "
                     "use --device cpu", cfg->device, gpus ? "GPU present, CUDA ops not built yet" : why);
        return -1;
    }
    if (!strcmp(cfg->device, "auto") && gpus > 0)
        fprintf(stderr, "sweeprun: note: a GPU is present but CUDA training is not available yet; using the CPU\n");
    device_cpu_name(desc, size);
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

/* Batch norm cannot train on one image; catch a batch that would have one. */
static int check_batches(const TrainConfig *cfg, const Dataset *d)
{
    int last = d->n_train % cfg->batch_size;
    int micro_full = cfg->batch_size / cfg->grad_accum;
    int micro_last = last ? last / cfg->grad_accum : micro_full;
    if (d->n_train < 2 || micro_full < 2 || (last && micro_last < 2)) {
        report_error("train: batch_size %d with grad_accum %d over %d training images leaves a "
                     "micro-batch of fewer than 2 images; batch norm needs at least 2 "
                     "(choose another batch_size or train_subset)",
                     cfg->batch_size, cfg->grad_accum, d->n_train);
        return -1;
    }
    return 0;
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

int cmd_train(int argc, char **argv)
{
    TrainConfig cfg;
    int quiet = 0, help = 0;
    if (parse_train_args(argc, argv, &cfg, &quiet, &help)) return EXIT_BAD_INPUT;
    if (help) {
        usage(stdout);
        return EXIT_OK;
    }
    char device[300];
    if (resolve_device(&cfg, device, sizeof device)) return EXIT_BAD_INPUT;
    if (!cfg.out[0]) default_out_path(&cfg, cfg.out, sizeof cfg.out);
    if (access(cfg.out, F_OK) == 0) {
        report_error("train: %s already exists; run files are never overwritten (choose another --out)", cfg.out);
        return EXIT_BAD_INPUT;
    }
    Dataset data;
    char err[1024];
    if (dataset_load(cfg.dataset, cfg.train_subset, cfg.test_subset, &data, err, sizeof err)) {
        report_error("train: %s", err);
        return EXIT_BAD_INPUT;
    }
    if (check_batches(&cfg, &data)) {
        dataset_free(&data);
        return EXIT_BAD_INPUT;
    }
    int threads = set_compute_threads(cfg.threads);
    Trainer t;
    trainer_init(&t, &cfg, &data);
    TrainSession s = {0};
    char command[4096];
    join_args(argc, argv, command, sizeof command);
    if (run_record_open(&s.rec, cfg.out, &cfg, &data, model_param_count(&t.model), device, threads,
                        command)) {
        report_error("train: %s", s.rec.err);
        trainer_free(&t);
        dataset_free(&data);
        return EXIT_BAD_INPUT;
    }
    if (!quiet)
        printf("training %s (%ld parameters) on %s: %d train / %d test images from %s, %d epochs, "
               "batch %d, %s lr %g, %d threads\n",
               cfg.model->name, model_param_count(&t.model), cfg.dataset, data.n_train, data.n_test,
               data.dir, cfg.epochs, cfg.batch_size, optim_kind_name(cfg.optim.kind), cfg.lr, threads);
    progress_init(&s.progress, stdout, cfg.epochs, quiet);
    TrainObserver obs = {.user = &s, .on_batch = on_batch, .on_epoch = on_epoch};
    EpochStats last = {0};
    RunStatus status = trainer_run(&t, 0, &obs, &last);
    const char *why = status == RUN_DIVERGED ? "loss became NaN or infinite"
                      : s.io_failed ? s.rec.err : "";
    int rc = status == RUN_COMPLETE ? EXIT_OK : status == RUN_DIVERGED ? EXIT_DIVERGED : EXIT_FAILED;
    if (s.io_failed) report_error("train: writing %s failed: %s", cfg.out, s.rec.err);
    if (run_record_finish(&s.rec, status, why)) {
        report_error("train: %s", s.rec.err);
        rc = EXIT_FAILED;
    }
    if (status == RUN_DIVERGED) report_error("train: diverged (%s); run file kept: %s", why, cfg.out);
    else if (!quiet && status == RUN_COMPLETE)
        printf("done: final test accuracy %.2f%%, run file %s\n", 100 * last.test_accuracy, cfg.out);
    trainer_free(&t);
    dataset_free(&data);
    return rc;
}
