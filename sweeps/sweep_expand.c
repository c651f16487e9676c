#include "sweep_expand.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "rng.h"
#include "util.h"

/* [random] draws use their own Philox streams, apart from the streams a
 * trial trains with; each key has its own, so adding a key does not change
 * the draws of the others. */
static uint32_t draw_stream(const char *key)
{
    return 0x80000000u | (uint32_t)(trial_hash(key) & 0x7fffffffu);
}

void sweep_draw(const SweepAxis *a, uint64_t random_seed, uint64_t draw, char *buf, int size)
{
    uint32_t stream = draw_stream(a->key);
    double u = rng_uniform(random_seed, stream, draw);
    switch (a->kind) {
    case AXIS_LIST:
        snprintf(buf, size, "%s", a->values[rng_below(random_seed, stream, draw, (uint32_t)a->n_values)]);
        break;
    case AXIS_UNIFORM:
        snprintf(buf, size, "%.4g", a->lo + u * (a->hi - a->lo));
        break;
    case AXIS_LOGUNIFORM:
        snprintf(buf, size, "%.4g", exp(log(a->lo) + u * (log(a->hi) - log(a->lo))));
        break;
    case AXIS_INT: {
        double span = a->hi - a->lo + 1;
        uint32_t n = span > 4294967295.0 ? 4294967295u : (uint32_t)span;
        snprintf(buf, size, "%.0f", a->lo + rng_below(random_seed, stream, draw, n));
        break;
    }
    }
}

static int has_word(const char *list, const char *key)
{
    char pattern[SWEEP_KEY_MAX + 4];
    snprintf(pattern, sizeof pattern, " %s ", key);
    return strstr(list, pattern) != NULL;
}

typedef struct Builder {
    SweepSetting *items;
    int count, capacity;
} Builder;

static void put(Builder *b, const char *key, const char *value, int line)
{
    if (b->count == b->capacity) {
        b->capacity = b->capacity ? 2 * b->capacity : 32;
        b->items = xrealloc(b->items, (size_t)b->capacity * sizeof *b->items);
    }
    SweepSetting *s = &b->items[b->count++];
    snprintf(s->key, sizeof s->key, "%s", key);
    snprintf(s->value, sizeof s->value, "%.*s", (int)sizeof s->value - 1, value);
    s->line = line;
}

/* The settings of configuration `values` (one per axis) with seed. */
static void build_settings(const SweepFile *sf, char **values, const char *model, int model_line,
                           uint64_t seed, Builder *b)
{
    b->count = 0;
    put(b, "model", model, model_line);
    put(b, "dataset", sf->dataset, sf->line_dataset);
    for (int i = 0; i < sf->defaults.count; i++)
        if (strcmp(sf->defaults.items[i].key, "model"))
            put(b, sf->defaults.items[i].key, sf->defaults.items[i].value, sf->defaults.items[i].line);
    const SweepModelSection *m = sweep_find_model(sf, model);
    for (int i = 0; m && i < m->settings.count; i++)
        put(b, m->settings.items[i].key, m->settings.items[i].value, m->settings.items[i].line);
    for (int i = 0; i < sf->n_axes; i++)
        if (strcmp(sf->axes[i].key, "model")) put(b, sf->axes[i].key, values[i], sf->axes[i].line);
    char text[32];
    snprintf(text, sizeof text, "%llu", (unsigned long long)seed);
    put(b, "seed", text, sf->line_seeds);
    if (sf->ranks_per_trial > 1) put(b, "data_parallel", "true", sf->line_ranks);
}

/* The product of the [grid] list sizes; -1 beyond SWEEP_MAX_TRIALS. */
static long grid_points(const SweepFile *sf)
{
    long n = 1;
    for (int i = 0; i < sf->n_axes; i++) {
        if (sf->axes[i].random) continue;
        n *= sf->axes[i].n_values;
        if (n > SWEEP_MAX_TRIALS) return -1;
    }
    return n;
}

/* Random search: samples = S draws at each grid point, or trials = N
 * draws in all. */
static long samples_per_point(const SweepFile *sf)
{
    return sweep_draws(sf->search) && !sf->trials ? (sf->samples > 0 ? sf->samples : 1) : 1;
}

/* Number of configurations: grid points x samples, or trials = N for
 * random search. -1 when it is beyond SWEEP_MAX_TRIALS. */
static long count_configs(const SweepFile *sf)
{
    long g = grid_points(sf);
    if (g < 0) return -1;
    long n = sweep_draws(sf->search) && sf->trials ? sf->trials : g * samples_per_point(sf);
    return n * sf->n_seeds > SWEEP_MAX_TRIALS ? -1 : n;
}

/* The axis values of configuration c: grid lists in mixed radix (the last
 * grid key varies fastest), random keys drawn with index c. With samples,
 * a grid point's draws are consecutive; with trials = N, draw c goes to
 * grid point c mod (grid points), so the N draws spread evenly over them. */
static void config_values(const SweepFile *sf, long c, char **values)
{
    long rest = sweep_draws(sf->search) && sf->trials ? c % grid_points(sf) : c / samples_per_point(sf);
    for (int i = sf->n_axes - 1; i >= 0; i--) {
        const SweepAxis *a = &sf->axes[i];
        if (a->random) continue;
        snprintf(values[i], SWEEP_VALUE_MAX, "%s", a->values[rest % a->n_values]);
        rest /= a->n_values;
    }
    for (int i = 0; i < sf->n_axes; i++)
        if (sf->axes[i].random) sweep_draw(&sf->axes[i], sf->random_seed, (uint64_t)c, values[i], SWEEP_VALUE_MAX);
}

/* Trial ids seen so far: open addressing on the id's hex value, so a sweep
 * of 100,000 trials checks for twins in linear time. */
typedef struct IdSet {
    int *slot;                     /* trial index + 1; 0 = empty */
    size_t mask;
} IdSet;

static void id_set_init(IdSet *s, long expected)
{
    size_t n = 16;
    while (n < (size_t)expected * 2) n *= 2;
    s->slot = xcalloc(n, sizeof *s->slot);
    s->mask = n - 1;
}

/* The index of the trial with this id, or -1 after recording index for it. */
static int id_set_find_or_add(IdSet *s, const SweepTrials *t, const char *id, int index)
{
    size_t h = (size_t)strtoull(id, NULL, 16);
    for (size_t i = h & s->mask;; i = (i + 1) & s->mask) {
        if (!s->slot[i]) {
            s->slot[i] = index + 1;
            return -1;
        }
        if (!strcmp(t->items[s->slot[i] - 1].id, id)) return s->slot[i] - 1;
    }
}

/* x (its index set) as configuration `config` with these values. */
static void fill_trial(SweepTrial *x, const SweepFile *sf, long config, const char *id, const char *model,
                       uint64_t seed, int epochs, const Builder *b, char **values)
{
    x->config = (int)config;
    snprintf(x->id, sizeof x->id, "%s", id);
    snprintf(x->model, sizeof x->model, "%.*s", (int)sizeof x->model - 1, model);
    x->seed = seed;
    x->epochs = epochs;
    x->n_settings = b->count;
    x->settings = xmalloc((size_t)b->count * sizeof *x->settings);
    memcpy(x->settings, b->items, (size_t)b->count * sizeof *x->settings);
    x->n_axes = sf->n_axes;
    x->axis_values = xmalloc((size_t)(sf->n_axes ? sf->n_axes : 1) * sizeof *x->axis_values);
    for (int i = 0; i < sf->n_axes; i++) x->axis_values[i] = strdup(values[i]);
    trial_run_file(sf->out, model, seed, id, x->run_file, sizeof x->run_file);
}

static void add_trial(SweepTrials *t, const SweepFile *sf, long config, const char *id, const char *model,
                      uint64_t seed, int epochs, const Builder *b, char **values)
{
    if (t->count == t->capacity) {
        t->capacity = t->capacity ? 2 * t->capacity : 64;
        t->items = xrealloc(t->items, (size_t)t->capacity * sizeof *t->items);
    }
    SweepTrial *x = &t->items[t->count];
    memset(x, 0, sizeof *x);
    x->index = t->count++;
    fill_trial(x, sf, config, id, model, seed, epochs, b, values);
    if (epochs > t->max_epochs) t->max_epochs = epochs;
}

static void trial_clear(SweepTrial *x)
{
    free(x->settings);
    for (int k = 0; k < x->n_axes; k++) free(x->axis_values[k]);
    free(x->axis_values);
}

/* The model of a configuration: its model axis's value, else [defaults]'
 * model = (NULL: none), and the line that set it. */
static const char *config_model(const SweepFile *sf, char **values, int *line)
{
    const SweepAxis *model_axis = sweep_find_axis(sf, "model");
    for (int i = 0; i < sf->n_axes; i++)
        if (&sf->axes[i] == model_axis) {
            *line = model_axis->line;
            return values[i];
        }
    for (int i = 0; i < sf->defaults.count; i++)
        if (!strcmp(sf->defaults.items[i].key, "model")) {
            *line = sf->defaults.items[i].line;
            return sf->defaults.items[i].value;
        }
    *line = 0;
    return NULL;
}

int sweep_trial_rebuild(const SweepFile *sf, const SweepResolver *r, SweepTrial *x, char **values,
                        SweepProblems *pr)
{
    int line;
    const char *model = config_model(sf, values, &line);
    if (!model) return -1;   /* sweep_expand refused the file */
    Builder b = {0};
    SweepResolved *resolved = xcalloc(1, sizeof *resolved);
    build_settings(sf, values, model, line, x->seed, &b);
    int rc = r->resolve(r->user, b.items, b.count, resolved, pr);
    if (rc == 0) {
        char id[TRIAL_ID_LEN + 1], name[SWEEP_VALUE_MAX];
        trial_id_make(resolved->canonical, sf->ranks_per_trial, id);
        snprintf(name, sizeof name, "%s", model);   /* model may point into x->axis_values */
        char **copy = xmalloc((size_t)(sf->n_axes ? sf->n_axes : 1) * sizeof *copy);
        for (int i = 0; i < sf->n_axes; i++) copy[i] = strdup(values[i]);
        trial_clear(x);
        fill_trial(x, sf, x->config, id, name, x->seed, resolved->epochs, &b, copy);
        for (int i = 0; i < sf->n_axes; i++) free(copy[i]);
        free(copy);
    }
    free(resolved);
    free(b.items);
    return rc;
}

/* Every [model.NAME] must name a registered model that some trial uses
 * (one lookup per trial: 20,000 sections x 100,000 trials stay cheap). */
static void check_model_sections(const SweepFile *sf, const SweepResolver *r, const SweepTrials *t,
                                 SweepProblems *pr)
{
    char *used = xcalloc((size_t)sf->n_models + 1, 1);
    for (int k = 0; k < t->count; k++) {
        const SweepModelSection *m = sweep_find_model(sf, t->items[k].model);
        if (m) used[m - sf->models] = 1;
    }
    for (int i = 0; i < sf->n_models; i++) {
        const SweepModelSection *m = &sf->models[i];
        char why[512];
        if (r->check_model && r->check_model(r->user, m->model, why, sizeof why)) {
            sweep_problems_add(pr, m->line, "[model.%s]: %s", m->model, why);
            continue;
        }
        if (!used[i] && t->count)
            sweep_problems_add(pr, m->line, "[model.%s] applies to no trial (no trial of this sweep "
                                            "trains %s)", m->model, m->model);
    }
    free(used);
}

int sweep_expand(const SweepFile *sf, const SweepResolver *r, SweepTrials *out, SweepProblems *pr)
{
    memset(out, 0, sizeof *out);
    int before = pr->count;
    long configs = count_configs(sf);
    if (configs < 0) {
        sweep_problems_add(pr, 0, "the sweep has more than %d trials (grid sizes x samples, or trials, x seeds)",
                           SWEEP_MAX_TRIALS);
        return pr->count - before;
    }
    if (!sweep_find_axis(sf, "model") && !config_model(sf, NULL, &(int){0})) {
        if (!has_word(sf->broken_axes, "model"))
            sweep_problems_add(pr, 0, "no model: set model = NAME in [defaults], or list models in [grid]");
        return pr->count - before;
    }
    char **values = xmalloc((size_t)(sf->n_axes ? sf->n_axes : 1) * sizeof *values);
    for (int i = 0; i < sf->n_axes; i++) values[i] = xmalloc(SWEEP_VALUE_MAX);
    Builder b = {0};
    SweepResolved *resolved = xmalloc(sizeof *resolved);
    IdSet seen;
    id_set_init(&seen, configs * sf->n_seeds);
    long checked = 0;
    int failed = 0;
    for (long c = 0; c < configs && failed < SWEEP_MAX_FAILED_TRIALS; c++) {
        config_values(sf, c, values);
        int model_line;
        const char *model = config_model(sf, values, &model_line);
        for (int s = 0; s < sf->n_seeds && failed < SWEEP_MAX_FAILED_TRIALS; s++, checked++) {
            build_settings(sf, values, model, model_line, sf->seeds[s], &b);
            memset(resolved, 0, sizeof *resolved);
            if (r->resolve(r->user, b.items, b.count, resolved, pr)) {
                failed++;
                continue;
            }
            char id[TRIAL_ID_LEN + 1];
            trial_id_make(resolved->canonical, sf->ranks_per_trial, id);
            int twin = id_set_find_or_add(&seen, out, id, out->count);
            if (twin >= 0) {
                /* Random draws may repeat (a small choice()); a repeated
                 * grid value is a mistake in the file. */
                if (sweep_draws(sf->search)) out->duplicates_dropped++;
                else
                    sweep_problems_add(pr, 0, "two grid points give the same configuration (trial %s, "
                                              "first as trial %d): is a value listed twice in [grid]?",
                                       id, twin + 1);
                continue;
            }
            add_trial(out, sf, c, id, model, sf->seeds[s], resolved->epochs, &b, values);
        }
    }
    if (checked < configs * sf->n_seeds)
        sweep_problems_add(pr, 0, "stopped checking trials after %d with problems (of %ld); fix these and "
                                  "check again", failed, configs * sf->n_seeds);
    check_model_sections(sf, r, out, pr);
    free(seen.slot);
    free(resolved);
    free(b.items);
    for (int i = 0; i < sf->n_axes; i++) free(values[i]);
    free(values);
    return pr->count - before;
}

void sweep_trials_free(SweepTrials *t)
{
    for (int i = 0; i < t->count; i++) trial_clear(&t->items[i]);
    free(t->items);
    memset(t, 0, sizeof *t);
}
