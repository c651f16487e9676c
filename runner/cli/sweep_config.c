#include "sweep_config.h"
#include <stdlib.h>
#include <string.h>
#include "run_record.h"
#include "sweep_scheduler.h"
#include "trial.h"
#include "util.h"

typedef struct Reporter {
    SweepProblems *problems;
    char *err;
    int err_size;
    int count;
} Reporter;

static void report(Reporter *r, int line, const char *message)
{
    if (r->problems) sweep_problems_add(r->problems, line, "%s", message);
    else if (!r->count) snprintf(r->err, r->err_size, "%s", message);
    r->count++;
}

/* The line of the last setting of key, or 0 (the key kept its default). */
static int line_of(const SweepSetting *s, int n, const char *key)
{
    for (int i = n - 1; i >= 0; i--)
        if (!strcmp(s[i].key, key)) return s[i].line;
    return 0;
}

/* A cross-key message starts with the key it is about ("grad_accum: ..."). */
static int line_of_message(const SweepSetting *s, int n, const char *message)
{
    const char *colon = strchr(message, ':');
    if (!colon || colon - message >= SWEEP_KEY_MAX) return 0;
    char key[SWEEP_KEY_MAX];
    snprintf(key, sizeof key, "%.*s", (int)(colon - message), message);
    return line_of(s, n, key);
}

static int subset_of(long subset, long full) { return (int)(subset > 0 && subset < full ? subset : full); }

int sweep_trial_config(const SweepConfigContext *ctx, const SweepSetting *s, int n, TrainConfig *cfg,
                       SweepProblems *problems, char *err, int err_size)
{
    Reporter r = {problems, err, err_size, 0};
    char why[1024];
    memset(cfg, 0, sizeof *cfg);
    int model = -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(s[i].key, "model")) model = i;
    if (model < 0) {
        report(&r, 0, "no model: set model = NAME in [defaults], or list models in [grid]");
        return -1;
    }
    if (config_set(cfg, "model", s[model].value, why, sizeof why)) {
        report(&r, s[model].line, why);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (i != model && config_set(cfg, s[i].key, s[i].value, why, sizeof why)) report(&r, s[i].line, why);
    if (r.count) return -1;
    if (config_validate(cfg, why, sizeof why)) {
        report(&r, line_of_message(s, n, why), why);
        return -1;
    }
    /* The device as rank 0 of a one-rank group would resolve it. */
    ProcessGroup alone = {.world_size = 1, .size = 1, .local_size = 1};
    int cuda_index;
    if (trial_resolve_device(cfg, &alone, &cuda_index, NULL, 0, why, sizeof why))
        report(&r, line_of(s, n, "device"), why);
    if (ctx->prune && cfg->val_split == 0)
        report(&r, line_of(s, n, "val_split"), "val_split: pruning decides on the validation split, and val_split = 0 "
               "has none (the test set is never used to decide); set val_split or drop the [prune] section");
    else if (ctx->scheduler && cfg->val_split == 0) {
        snprintf(why, sizeof why, "val_split: the %s scheduler stops and promotes trials on their validation "
                 "accuracy, and val_split = 0 has none (the test set is never used to decide); set val_split or "
                 "remove scheduler = %s", ctx->scheduler, ctx->scheduler);
        report(&r, line_of(s, n, "val_split"), why);
    } else if (ctx->objective && cfg->val_split == 0) {
        snprintf(why, sizeof why, "val_split: objectives names %s, a metric of the validation split, and "
                 "val_split = 0 has none (the test set is never used to choose); set val_split or choose other "
                 "objectives", ctx->objective);
        report(&r, line_of(s, n, "val_split"), why);
    }
    int ranks = ctx->ranks_per_trial > 1 ? ctx->ranks_per_trial : 1;
    int n_train = ctx->n_train > 0 ? trial_train_count(cfg, subset_of(cfg->train_subset, ctx->n_train), why, sizeof why) : 0;
    if (n_train < 0) {
        int line = line_of(s, n, "val_split");
        report(&r, line ? line : line_of(s, n, "train_subset"), why);
    } else if (n_train > 0 && trial_check_batches(cfg, n_train, ranks, why, sizeof why)) {
        int line = line_of(s, n, "batch_size");
        if (!line) line = line_of(s, n, "train_subset");
        report(&r, line, why);
    }
    return r.count ? -1 : 0;
}

SweepConfigContext sweep_config_context(const SweepFile *sf, long n_train, long n_test)
{
    SweepConfigContext ctx = {.ranks_per_trial = sf->ranks_per_trial, .n_train = n_train, .n_test = n_test,
                              .prune = sf->prune.enabled};
    if (sweep_uses_rungs(sf)) ctx.scheduler = sf->scheduler.kind == SCHEDULER_ASHA ? "asha" : "hyperband";
    for (int i = 0; i < sf->n_objectives && !ctx.objective; i++)
        if (!strncmp(sf->objectives[i].metric, "val_", 4)) ctx.objective = sf->objectives[i].metric;
    return ctx;
}

static int check_model(void *user, const char *name, char *err, int err_size)
{
    TrainConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    return config_set(&cfg, "model", name, err, err_size);
}

static int resolve(void *user, const SweepSetting *s, int n, SweepResolved *out, SweepProblems *problems)
{
    TrainConfig *cfg = xmalloc(sizeof *cfg);
    char err[16];
    int rc = sweep_trial_config(user, s, n, cfg, problems, err, sizeof err);
    if (rc == 0) {
        config_to_text(cfg, out->canonical, sizeof out->canonical);
        out->epochs = cfg->epochs;
    }
    free(cfg);
    return rc;
}

SweepResolver sweep_config_resolver(SweepConfigContext *ctx)
{
    return (SweepResolver){.user = ctx, .check_model = check_model, .resolve = resolve};
}
