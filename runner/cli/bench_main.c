/* sweeprun-bench: measurements for scripts/bench/gpu_vs_pytorch.py, built
 * without HDF5 or MPI (a GPU machine may have neither).
 *
 *   sweeprun-bench train KEY=VALUE...   the real training loop (train.h) on
 *       the configured device, no run file; one line per epoch:
 *       "epoch E train_seconds T epoch_seconds S images_per_second X
 *        train_loss L test_accuracy A"
 *   sweeprun-bench flops KEY=VALUE...   matrix-product FLOPs of one training
 *       step (forward + backward) at batch_size, and of one epoch over the
 *       training set (full batches plus the partial last one), counted by
 *       bk_gemm on the CPU: "flops_per_step F flops_per_epoch E"
 *   sweeprun-bench peak [N [REPS]]     measured FP32 SGEMM rate of the GPU
 *       on N x N matrices (default 8192, best of 10): "peak_sgemm_flops P"
 *   sweeprun-bench profile [steps=N] KEY=VALUE...   where a CPU training
 *       step's time goes: N timed steps (default 20, after 3 untimed) of
 *       forward, loss, backward and the optimizer on random images at
 *       batch_size, each tape entry's forward and backward milliseconds
 *       per step (ctx.h: profile), then the totals per op and per phase
 *
 * KEY=VALUE are config keys (runner/config.h: model=gecco batch_size=64
 * device=cuda cuda_graph=false tf32=true train_subset=...). Every command
 * first prints "device: ..." naming where it ran. Exit 2 on bad input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend.h"
#include "config.h"
#include "dataset.h"
#include "device.h"
#include "model.h"
#include "ops.h"
#include "optim.h"
#include "train.h"
#include "util.h"

static int parse_pairs(int argc, char **argv, TrainConfig *cfg)
{
    const char *keys[64], *values[64];
    char copies[64][256];
    int n = 0;
    for (int i = 0; i < argc && n < 64; i++) {
        snprintf(copies[n], sizeof copies[n], "%s", argv[i]);
        char *eq = strchr(copies[n], '=');
        if (!eq) {
            fprintf(stderr, "sweeprun-bench: expected KEY=VALUE, got '%s'\n", argv[i]);
            return -1;
        }
        *eq = 0;
        keys[n] = copies[n];
        values[n] = eq + 1;
        n++;
    }
    char err[1024];
    memset(cfg, 0, sizeof *cfg);
    if (config_apply_pairs(cfg, n, keys, values, err, sizeof err) || config_validate(cfg, err, sizeof err)) {
        fprintf(stderr, "sweeprun-bench: %s\n", err);
        return -1;
    }
    return 0;
}

static int on_epoch(void *user, const EpochStats *s, const Evaluation *ev, const Model *m, const Optimizer *o)
{
    (void)user, (void)ev, (void)m, (void)o;
    double train_seconds = s->train_images_per_second > 0 ? *(const int *)user / s->train_images_per_second : 0;
    printf("epoch %d train_seconds %.4f epoch_seconds %.4f images_per_second %.1f train_loss %.5f "
           "test_accuracy %.4f\n",
           s->epoch + 1, train_seconds, s->seconds, s->train_images_per_second, s->train_loss, s->test_accuracy);
    fflush(stdout);
    return 0;
}

static int cmd_train_bench(int argc, char **argv)
{
    TrainConfig cfg;
    if (parse_pairs(argc, argv, &cfg)) return 2;
    char err[1024], note[400], device[400];
    int index;
    int where = train_resolve_device(&cfg, &index, note, sizeof note, err, sizeof err);
    if (where < 0) {
        fprintf(stderr, "sweeprun-bench: %s\n", err);
        return 2;
    }
    Dataset data;
    if (dataset_load(cfg.dataset, cfg.train_subset, cfg.test_subset, &data, err, sizeof err)) {
        fprintf(stderr, "sweeprun-bench: %s\n", err);
        return 2;
    }
    set_compute_threads(cfg.threads);
    Trainer t;
    trainer_init_on(&t, &cfg, &data, where ? index : -1);
    trainer_device_name(&t, device, sizeof device);
    if (note[0]) printf("note: %s\n", note);
    printf("device: %s\n", device);
    printf("model %s batch_size %d epochs %d train_images %d test_images %d cuda_graph %d tf32 %d\n",
           cfg.model->name, cfg.batch_size, cfg.epochs, data.n_train, data.n_test, cfg.cuda_graph, cfg.tf32);
    fflush(stdout);
    int n_train = data.n_train;
    TrainObserver obs = {.user = &n_train, .on_epoch = on_epoch};
    RunStatus st = trainer_run(&t, 0, &obs, NULL);
    trainer_free(&t);
    dataset_free(&data);
    if (st != RUN_COMPLETE) {
        fprintf(stderr, "sweeprun-bench: training ended %s\n", run_status_name(st));
        return 1;
    }
    return 0;
}

/* GEMM FLOPs of one training step (forward, cross-entropy, backward) on a
 * batch of n random images, counted on the CPU. */
static double step_flops(const TrainConfig *cfg, int n)
{
    Model m;
    model_create(&m, cfg->model, cfg->model_options, 1);
    Ctx c;
    ctx_init(&c, 1, (size_t)64 << 20);
    ctx_begin(&c, 1, 1);
    int dims[4] = {n, 1, 28, 28};
    Tensor *x = ctx_tensor(&c, 4, dims, 0);
    int *labels = xmalloc((size_t)n * sizeof *labels);
    for (long i = 0; i < x->numel; i++) x->data[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;
    for (int i = 0; i < n; i++) labels[i] = i % 10;
    bk_flops_reset();
    Tensor *loss = op_cross_entropy(&c, m.desc->forward(&m, &c, x), labels);
    ctx_backward(&c, loss);
    double f = bk_flops();
    free(labels);
    ctx_free(&c);
    model_free(&m);
    return f;
}

static int cmd_flops(int argc, char **argv)
{
    TrainConfig cfg;
    if (parse_pairs(argc, argv, &cfg)) return 2;
    int images = cfg.train_subset > 0 ? (int)cfg.train_subset : 60000, b = cfg.batch_size;
    double full = step_flops(&cfg, b), last = images % b ? step_flops(&cfg, images % b) : 0;
    char cpu[256];
    device_cpu_name(cpu, sizeof cpu);
    printf("device: %s (FLOPs are counted, not timed)\n", cpu);
    printf("model %s batch_size %d train_images %d flops_per_step %.6g flops_per_epoch %.6g\n", cfg.model->name, b,
           images, full, full * (images / b) + last);
    return 0;
}

/* ---- profile ------------------------------------------------------------ */

typedef struct ProfileRow {
    const char *name;
    char shape[64];
    double fwd, bwd;
} ProfileRow;

static void shape_text(const Tensor *t, char *buf, int size)
{
    int n = snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && n < size; i++) n += snprintf(buf + n, size - n, i ? ",%d" : "%d", t->dims[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
}

/* Per op name: summed over the step's entries of that op. */
static void print_op_totals(const ProfileRow *rows, int n, int steps, double step_ms)
{
    printf("\n%-28s %8s %10s %10s %10s %7s\n", "op", "entries", "fwd ms", "bwd ms", "total ms", "share");
    char done[256] = {0};
    for (int i = 0; i < n && i < 256; i++) {
        if (done[i]) continue;
        int count = 0;
        double f = 0, b = 0;
        for (int j = i; j < n && j < 256; j++)
            if (!done[j] && !strcmp(rows[j].name, rows[i].name)) {
                done[j] = 1;
                count++;
                f += rows[j].fwd;
                b += rows[j].bwd;
            }
        f = 1e3 * f / steps, b = 1e3 * b / steps;
        printf("%-28s %8d %10.3f %10.3f %10.3f %6.1f%%\n", rows[i].name, count, f, b, f + b,
               100.0 * (f + b) / step_ms);
    }
}

static int cmd_profile(int argc, char **argv)
{
    int steps = 20, warm = 3, kept = 0;
    char *pairs[64];
    for (int i = 0; i < argc && kept < 64; i++) {
        if (!strncmp(argv[i], "steps=", 6)) steps = atoi(argv[i] + 6);
        else pairs[kept++] = argv[i];
    }
    if (steps < 1) {
        fprintf(stderr, "sweeprun-bench: profile: steps must be at least 1\n");
        return 2;
    }
    TrainConfig cfg;
    if (parse_pairs(kept, pairs, &cfg)) return 2;
    int threads = set_compute_threads(cfg.threads), b = cfg.batch_size;
    Model m;
    model_create(&m, cfg.model, cfg.model_options, cfg.seed);
    Optimizer o;
    OptimConfig oc = cfg.optim;
    optim_init(&o, &oc, &m.table);
    Ctx c;
    ctx_init(&c, cfg.seed, (size_t)64 << 20);
    c.profile = 1;
    int dims[4] = {b, 1, 28, 28};
    float *images = xmalloc((size_t)b * 784 * sizeof(float));
    int *labels = xmalloc((size_t)b * sizeof *labels);
    for (long i = 0; i < (long)b * 784; i++) images[i] = (float)((i * 7919) % 2001) / 1000.0f - 1.0f;
    for (int i = 0; i < b; i++) labels[i] = i % 10;
    ProfileRow *rows = NULL;
    int n_rows = 0;
    double phase[3] = {0, 0, 0};   /* forward + loss, backward, optimizer */
    for (int s = 0; s < warm + steps; s++) {
        double t0 = now_seconds();
        memset(m.grads, 0, (size_t)m.table.n_params * sizeof(float));
        ctx_begin(&c, 1, 1);
        Tensor *x = ctx_wrap(&c, images, NULL, 4, dims);
        Tensor *loss = model_loss(&m, &c, m.desc->forward(&m, &c, x), labels);
        double t1 = now_seconds();
        ctx_backward(&c, loss);
        double t2 = now_seconds();
        optim_step(&o, m.params, m.grads, cfg.lr);
        double t3 = now_seconds();
        if (s < warm) continue;
        if (!rows) {
            n_rows = c.tape_len;
            rows = xcalloc((size_t)n_rows, sizeof *rows);
            for (int i = 0; i < n_rows; i++) {
                rows[i].name = c.tape[i].name;
                shape_text(c.tape[i].out, rows[i].shape, sizeof rows[i].shape);
            }
        }
        CHECK(c.tape_len == n_rows, "profile: the tape changed length between steps");
        for (int i = 0; i < n_rows; i++) {
            rows[i].fwd += c.tape[i].fwd_seconds;
            rows[i].bwd += c.tape[i].bwd_seconds;
        }
        phase[0] += t1 - t0, phase[1] += t2 - t1, phase[2] += t3 - t2;
    }
    char cpu[256];
    device_cpu_name(cpu, sizeof cpu);
    printf("device: %s, %d thread(s)\n", cpu, threads);
    printf("model %s batch_size %d optimizer %s steps %d (after %d untimed); ms per step\n", cfg.model->name, b,
           optim_kind_name(cfg.optim.kind), steps, warm);
    printf("\n%4s %-28s %-18s %10s %10s\n", "#", "op", "output", "fwd ms", "bwd ms");
    for (int i = 0; i < n_rows; i++)
        printf("%4d %-28s %-18s %10.3f %10.3f\n", i, rows[i].name, rows[i].shape, 1e3 * rows[i].fwd / steps,
               1e3 * rows[i].bwd / steps);
    double step_ms = 1e3 * (phase[0] + phase[1] + phase[2]) / steps;
    print_op_totals(rows, n_rows, steps, step_ms);
    printf("\nphase: forward+loss %.3f ms, backward %.3f ms, optimizer %.3f ms, step %.3f ms (%.0f images/s)\n",
           1e3 * phase[0] / steps, 1e3 * phase[1] / steps, 1e3 * phase[2] / steps, step_ms, b / step_ms * 1e3);
    free(rows);
    free(images);
    free(labels);
    ctx_free(&c);
    optim_free(&o);
    model_free(&m);
    return 0;
}

static int cmd_peak(int argc, char **argv)
{
#ifdef SWEEPRUN_HAVE_CUDA
    int n = argc > 0 ? atoi(argv[0]) : 8192, reps = argc > 1 ? atoi(argv[1]) : 10;
    char err[512], device[400];
    CudaBackend *cu = cuda_backend_create(0, 0, err, sizeof err);
    if (!cu) {
        fprintf(stderr, "sweeprun-bench: %s\n", err);
        return 2;
    }
    cuda_backend_describe(cu, device, sizeof device);
    double peak = cuda_peak_sgemm_flops(cu, n > 0 ? n : 8192, reps > 0 ? reps : 10);
    printf("device: %s\n", device);
    printf("peak_sgemm_flops %.6g n %d (FP32, no TF32)\n", peak, n);
    cuda_backend_free(cu);
    return 0;
#else
    (void)argc, (void)argv;
    fprintf(stderr, "sweeprun-bench: peak: built without the CUDA backend\n");
    return 2;
#endif
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: sweeprun-bench train|flops|profile KEY=VALUE... | peak [N [REPS]]\n");
        return 2;
    }
    if (!strcmp(argv[1], "train")) return cmd_train_bench(argc - 2, argv + 2);
    if (!strcmp(argv[1], "flops")) return cmd_flops(argc - 2, argv + 2);
    if (!strcmp(argv[1], "peak")) return cmd_peak(argc - 2, argv + 2);
    if (!strcmp(argv[1], "profile")) return cmd_profile(argc - 2, argv + 2);
    fprintf(stderr, "sweeprun-bench: unknown command '%s' (train, flops, profile or peak)\n", argv[1]);
    return 2;
}
