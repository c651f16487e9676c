#include "config.h"
#include "util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void config_defaults(TrainConfig *c, const ModelDesc *model)
{
    memset(c, 0, sizeof *c);
    c->model = model;
    for (int i = 0; i < model->n_options; i++) c->model_options[i] = model->options[i].default_value;
    const Recipe *r = &model->recipe;
    snprintf(c->dataset, sizeof c->dataset, "mnist");
    c->epochs = r->epochs;
    c->batch_size = r->batch_size;
    c->eval_batch_size = 64;
    c->grad_accum = 1;
    c->lr = r->lr;
    c->optim = optim_config_default(r->optimizer);
    c->optim.weight_decay = r->weight_decay;
    c->optim.l2_scope = r->l2_scope;
    c->optim.momentum = r->momentum;
    if (r->adam_eps > 0) c->optim.eps = r->adam_eps;
    snprintf(c->schedule_spec, sizeof c->schedule_spec, "%s", r->schedule);
    char err[256];
    schedule_parse(c->schedule_spec, &c->schedule, err, sizeof err);
    c->seed = 0;
    snprintf(c->device, sizeof c->device, "auto");
    if (r->augment) CHECK(augment_parse(r->augment, &c->augment, err, sizeof err) == 0,
                          "model %s: recipe augment '%s': %s", model->name, r->augment, err);
    c->tf32 = 0;
    c->cuda_graph = 1;
}

/* ---- value parsers: 0 ok, -1 with message --------------------------------- */

static int parse_long(const char *key, const char *v, long lo, long hi, long *out, char *err, int n)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < lo || x > hi) {
        snprintf(err, n, "%s: expected a whole number in [%ld, %ld], got '%s'", key, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_int(const char *key, const char *v, int lo, int hi, int *out, char *err, int n)
{
    long x;
    if (parse_long(key, v, lo, hi, &x, err, n)) return -1;
    *out = (int)x;
    return 0;
}

static int parse_float(const char *key, const char *v, double lo, double hi, float *out, char *err, int n)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x) || x < lo || x > hi) {
        snprintf(err, n, "%s: expected a number in [%g, %g], got '%s'", key, lo, hi, v);
        return -1;
    }
    *out = (float)x;
    return 0;
}

static int parse_bool(const char *key, const char *v, int *out, char *err, int n)
{
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on")) *out = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off")) *out = 0;
    else {
        snprintf(err, n, "%s: expected true or false, got '%s'", key, v);
        return -1;
    }
    return 0;
}

static int copy_text(const char *key, const char *v, char *dst, size_t size, char *err, int n)
{
    if (!*v || strlen(v) >= size) {
        snprintf(err, n, "%s: expected a non-empty value of at most %zu characters", key, size - 1);
        return -1;
    }
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int parse_device(const char *v, char *dst, size_t size, char *err, int n)
{
    int ok = !strcmp(v, "auto") || !strcmp(v, "cpu") || !strcmp(v, "cuda");
    if (!ok && !strncmp(v, "cuda:", 5)) {
        char *end;
        long idx = strtol(v + 5, &end, 10);
        ok = end != v + 5 && !*end && idx >= 0 && idx < 1024;
    }
    if (!ok || strlen(v) >= size) {
        snprintf(err, n, "device: expected auto, cpu, cuda or cuda:N, got '%s'", v);
        return -1;
    }
    strcpy(dst, v);
    return 0;
}

static int set_model_option(TrainConfig *c, int i, const char *v, char *err, int n)
{
    double value;
    if (model_option_parse(c->model, i, v, &value, err, n)) return -1;
    c->model_options[i] = value;
    if (c->model->validate && c->model->validate(c->model_options, err, n)) return -1;
    return 0;
}

static int set_schedule(TrainConfig *c, const char *v, char *err, int n)
{
    char why[200];
    if (schedule_parse(v, &c->schedule, why, sizeof why)) {
        snprintf(err, n, "schedule: %s, got '%s'", why, v);
        return -1;
    }
    snprintf(c->schedule_spec, sizeof c->schedule_spec, "%s", v);
    return 0;
}

static const char *const KEYS =
    "model dataset epochs batch_size eval_batch_size grad_accum lr optimizer weight_decay "
    "l2_scope momentum nesterov adam_eps schedule seed device threads out train_subset test_subset "
    "data_parallel allreduce augment tf32 cuda_graph and the model's options";

const char *config_key_list(void) { return KEYS; }

int config_set(TrainConfig *c, const char *k, const char *v, char *err, int n)
{
    if (!strcmp(k, "model")) {
        const ModelDesc *d = model_find(v);
        if (!d) {
            char names[256] = "";
            for (int i = 0; i < model_count(); i++) {
                strncat(names, i ? ", " : "", sizeof names - strlen(names) - 1);
                strncat(names, model_at(i)->name, sizeof names - strlen(names) - 1);
            }
            snprintf(err, n, "model: expected one of %s, got '%s'", names, v);
            return -1;
        }
        TrainConfig keep = *c;
        config_defaults(c, d);
        if (!keep.model) return 0;
        /* Keys that do not belong to a recipe survive a model change. */
        memcpy(c->dataset, keep.dataset, sizeof c->dataset);
        memcpy(c->device, keep.device, sizeof c->device);
        c->tf32 = keep.tf32;
        c->cuda_graph = keep.cuda_graph;
        memcpy(c->out, keep.out, sizeof c->out);
        c->threads = keep.threads;
        c->seed = keep.seed;
        c->data_parallel = keep.data_parallel;
        c->allreduce = keep.allreduce;
        return 0;
    }
    if (!c->model) {
        snprintf(err, n, "%s: set the model first (model=NAME)", k);
        return -1;
    }
    if (!strcmp(k, "dataset")) return copy_text(k, v, c->dataset, sizeof c->dataset, err, n);
    if (!strcmp(k, "epochs")) return parse_int(k, v, 1, 100000, &c->epochs, err, n);
    if (!strcmp(k, "batch_size")) return parse_int(k, v, 1, 65536, &c->batch_size, err, n);
    if (!strcmp(k, "eval_batch_size")) return parse_int(k, v, 1, 65536, &c->eval_batch_size, err, n);
    if (!strcmp(k, "grad_accum")) return parse_int(k, v, 1, 1024, &c->grad_accum, err, n);
    if (!strcmp(k, "lr")) return parse_float(k, v, 0, 1e3, &c->lr, err, n);
    if (!strcmp(k, "weight_decay")) return parse_float(k, v, 0, 1e3, &c->optim.weight_decay, err, n);
    if (!strcmp(k, "momentum")) return parse_float(k, v, 0, 1, &c->optim.momentum, err, n);
    if (!strcmp(k, "nesterov")) return parse_bool(k, v, &c->optim.nesterov, err, n);
    if (!strcmp(k, "adam_eps")) return parse_float(k, v, 1e-30, 1, &c->optim.eps, err, n);
    if (!strcmp(k, "schedule")) return set_schedule(c, v, err, n);
    if (!strcmp(k, "device")) return parse_device(v, c->device, sizeof c->device, err, n);
    if (!strcmp(k, "threads")) return parse_int(k, v, 0, 1024, &c->threads, err, n);
    if (!strcmp(k, "tf32")) return parse_bool(k, v, &c->tf32, err, n);
    if (!strcmp(k, "cuda_graph")) return parse_bool(k, v, &c->cuda_graph, err, n);
    if (!strcmp(k, "out")) return copy_text(k, v, c->out, sizeof c->out, err, n);
    if (!strcmp(k, "train_subset")) return parse_long(k, v, 0, 1L << 40, &c->train_subset, err, n);
    if (!strcmp(k, "test_subset")) return parse_long(k, v, 0, 1L << 40, &c->test_subset, err, n);
    if (!strcmp(k, "data_parallel")) return parse_bool(k, v, &c->data_parallel, err, n);
    if (!strcmp(k, "allreduce")) {
        if (!strcmp(v, "auto")) c->allreduce = ALLREDUCE_AUTO;
        else if (!strcmp(v, "mpi")) c->allreduce = ALLREDUCE_MPI;
        else if (!strcmp(v, "nccl")) c->allreduce = ALLREDUCE_NCCL;
        else {
            snprintf(err, n, "allreduce: expected auto, mpi or nccl, got '%s'", v);
            return -1;
        }
        return 0;
    }
    if (!strcmp(k, "augment")) {
        char why[200];
        if (augment_parse(v, &c->augment, why, sizeof why)) {
            snprintf(err, n, "augment: %s", why);
            return -1;
        }
        return 0;
    }
    if (!strcmp(k, "seed")) {
        char *end;
        unsigned long long s = strtoull(v, &end, 10);
        if (end == v || *end || *v == '-') {
            snprintf(err, n, "seed: expected a non-negative whole number, got '%s'", v);
            return -1;
        }
        c->seed = s;
        return 0;
    }
    if (!strcmp(k, "optimizer")) {
        OptimKind kind;
        if (optim_kind_parse(v, &kind)) {
            snprintf(err, n, "optimizer: expected sgd, adam or adamw, got '%s'", v);
            return -1;
        }
        OptimConfig keep = c->optim;
        c->optim = optim_config_default(kind);
        c->optim.weight_decay = keep.weight_decay;
        c->optim.l2_scope = keep.l2_scope;
        c->optim.momentum = keep.momentum;
        c->optim.nesterov = keep.nesterov;
        c->optim.eps = keep.eps;
        return 0;
    }
    if (!strcmp(k, "l2_scope")) {
        if (!strcmp(v, "all")) c->optim.l2_scope = L2_SCOPE_ALL;
        else if (!strcmp(v, "fc")) c->optim.l2_scope = L2_SCOPE_FC;
        else {
            snprintf(err, n, "l2_scope: expected all or fc, got '%s'", v);
            return -1;
        }
        return 0;
    }
    int opt = model_option_index(c->model, k);
    if (opt >= 0) return set_model_option(c, opt, v, err, n);
    snprintf(err, n, "%s: unknown key for model %s (keys: %s)", k, c->model->name, KEYS);
    return -1;
}

int config_apply_pairs(TrainConfig *c, int n, const char *const *keys,
                       const char *const *values, char *err, int err_size)
{
    int have_model = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(keys[i], "model")) continue;
        if (config_set(c, keys[i], values[i], err, err_size)) return -1;
        have_model = 1;
    }
    if (!have_model && !c->model) {
        snprintf(err, err_size, "no model given: use --model NAME (see 'sweeprun models')");
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (strcmp(keys[i], "model") && config_set(c, keys[i], values[i], err, err_size)) return -1;
    return 0;
}

int config_validate(const TrainConfig *c, char *err, int n)
{
    if (c->batch_size % c->grad_accum) {
        snprintf(err, n, "grad_accum: %d does not divide batch_size %d", c->grad_accum, c->batch_size);
        return -1;
    }
    if (c->optim.nesterov && (c->optim.kind != OPTIM_SGD || c->optim.momentum <= 0)) {
        snprintf(err, n, "nesterov: needs optimizer sgd with momentum > 0");
        return -1;
    }
    if (c->allreduce == ALLREDUCE_NCCL && !c->data_parallel) {
        snprintf(err, n, "allreduce: nccl sums the gradients of data-parallel ranks; it needs data_parallel "
                         "(--data-parallel)");
        return -1;
    }
    if (c->model->validate && c->model->validate(c->model_options, err, n)) return -1;
    return 0;
}

void config_each(const TrainConfig *c, void (*fn)(const char *, const char *, void *), void *user)
{
    char b[CONFIG_PATH_MAX + 32];
#define EMIT(key, ...) do { snprintf(b, sizeof b, __VA_ARGS__); fn(key, b, user); } while (0)
/* Floats as the shortest text that reads back as the same float (1e-4, not
 * 9.99999975e-05): what the user typed, for run files, reports and ids. */
#define EMIT_FLOAT(key, x) do { float_shortest_text((x), b, sizeof b); fn(key, b, user); } while (0)
    EMIT("model", "%s", c->model->name);
    EMIT("dataset", "%s", c->dataset);
    EMIT("epochs", "%d", c->epochs);
    EMIT("batch_size", "%d", c->batch_size);
    EMIT("eval_batch_size", "%d", c->eval_batch_size);
    EMIT("grad_accum", "%d", c->grad_accum);
    EMIT_FLOAT("lr", c->lr);
    EMIT("optimizer", "%s", optim_kind_name(c->optim.kind));
    EMIT_FLOAT("weight_decay", c->optim.weight_decay);
    EMIT("l2_scope", "%s", c->optim.l2_scope == L2_SCOPE_FC ? "fc" : "all");
    EMIT_FLOAT("momentum", c->optim.momentum);
    EMIT("nesterov", "%s", c->optim.nesterov ? "true" : "false");
    EMIT_FLOAT("adam_eps", c->optim.eps);
    EMIT("schedule", "%s", c->schedule_spec);
    EMIT("seed", "%llu", (unsigned long long)c->seed);
    EMIT("train_subset", "%ld", c->train_subset);
    EMIT("test_subset", "%ld", c->test_subset);
    EMIT("data_parallel", "%s", c->data_parallel ? "true" : "false");
    EMIT("allreduce", "%s", c->allreduce == ALLREDUCE_NCCL ? "nccl"
                            : c->allreduce == ALLREDUCE_MPI ? "mpi" : "auto");
    augment_format(&c->augment, b, sizeof b);
    fn("augment", b, user);
    EMIT("tf32", "%s", c->tf32 ? "true" : "false");
    EMIT("cuda_graph", "%s", c->cuda_graph ? "true" : "false");
    for (int i = 0; i < c->model->n_options; i++) {
        model_option_format(c->model, i, c->model_options[i], b, sizeof b);
        fn(c->model->options[i].name, b, user);
    }
#undef EMIT
}
