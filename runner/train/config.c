#include "config.h"
#include "util.h"
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- one row per key ----------------------------------------------------------
 *
 * Every key is one row of KEYS below: its field in TrainConfig, its parse
 * and format hooks, its range, whether it enters the configuration text
 * (run files and the trial id) and whether it survives a model change,
 * its initial value (the model's recipe may set it instead: see
 * config_defaults) and its --help line. config_defaults, config_set,
 * config_each, the "unknown key" message and `sweeprun train --help` all
 * read the table; model options come from the model's own table
 * (ModelDesc.options) and follow the keys. */

typedef struct ConfigKey ConfigKey;
/* 0 ok; -1 with "key: expected ..., got ..." in err. */
typedef int (*KeyParse)(const ConfigKey *key, TrainConfig *c, const char *value, char *err, int n);
typedef void (*KeyFormat)(const ConfigKey *key, const TrainConfig *c, char *buf, size_t size);

enum {
    IN_ID = 1,   /* in the configuration text: run files, and the trial id hashes it */
    KEEP = 2,    /* not part of a recipe: keeps its value when the model changes */
};

struct ConfigKey {
    const char *name;
    size_t offset, size;              /* the field in TrainConfig */
    double lo, hi;                    /* numbers: the accepted range */
    const char *const *choices;       /* choice keys: the names of the enum's values, in order */
    KeyParse parse;
    KeyFormat format;
    int flags;                        /* IN_ID | KEEP */
    const char *initial;              /* the value before the model's recipe; NULL = zero */
    const char *arg, *help;           /* --help: "--NAME ARG  HELP" (lines split at '\n') */
    /* IN_ID keys only: NULL = always in the configuration text; else it
     * is there only when this says so (a key added later, left out at its
     * "off" value so the runs made before it keep their trial ids). */
    int (*in_text)(const TrainConfig *c);
};

static void *field_of(const ConfigKey *key, TrainConfig *c) { return (char *)c + key->offset; }
static const void *field_in(const ConfigKey *key, const TrainConfig *c) { return (const char *)c + key->offset; }

/* ---- value types: parse and format hooks --------------------------------------- */

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

static int parse_long_key(const ConfigKey *key, TrainConfig *c, const char *v, char *err, int n)
{
    return parse_long(key->name, v, (long)key->lo, (long)key->hi, field_of(key, c), err, n);
}

static void format_long_key(const ConfigKey *key, const TrainConfig *c, char *buf, size_t size)
{
    snprintf(buf, size, "%ld", *(const long *)field_in(key, c));
}

static int parse_int_key(const ConfigKey *key, TrainConfig *c, const char *v, char *err, int n)
{
    long x;
    if (parse_long(key->name, v, (long)key->lo, (long)key->hi, &x, err, n)) return -1;
    *(int *)field_of(key, c) = (int)x;
    return 0;
}

static void format_int_key(const ConfigKey *key, const TrainConfig *c, char *buf, size_t size)
{
    snprintf(buf, size, "%d", *(const int *)field_in(key, c));
}

static int parse_float_key(const ConfigKey *key, TrainConfig *c, const char *v, char *err, int n)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x) || x < key->lo || x > key->hi) {
        snprintf(err, n, "%s: expected a number in [%g, %g], got '%s'", key->name, key->lo, key->hi, v);
        return -1;
    }
    *(float *)field_of(key, c) = (float)x;
    return 0;
}

/* The shortest text that reads back as the same float (1e-4, not
 * 9.99999975e-05): what the user typed, for run files, reports and ids. */
static void format_float_key(const ConfigKey *key, const TrainConfig *c, char *buf, size_t size)
{
    float_shortest_text(*(const float *)field_in(key, c), buf, size);
}

static int parse_bool_key(const ConfigKey *key, TrainConfig *c, const char *v, char *err, int n)
{
    int *out = field_of(key, c);
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on")) *out = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off")) *out = 0;
    else {
        snprintf(err, n, "%s: expected true or false, got '%s'", key->name, v);
        return -1;
    }
    return 0;
}

static void format_bool_key(const ConfigKey *key, const TrainConfig *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s", *(const int *)field_in(key, c) ? "true" : "false");
}

static int parse_text_key(const ConfigKey *key, TrainConfig *c, const char *v, char *err, int n)
{
    if (!*v || strlen(v) >= key->size) {
        snprintf(err, n, "%s: expected a non-empty value of at most %zu characters", key->name, key->size - 1);
        return -1;
    }
    memcpy(field_of(key, c), v, strlen(v) + 1);
    return 0;
}

static void format_text_key(const ConfigKey *key, const TrainConfig *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s", (const char *)field_in(key, c));
}

/* An enum stored as int, named by key->choices ("expected a, b or c"). */
static int parse_choice_key(const ConfigKey *key, TrainConfig *c, const char *v, char *err, int n)
{
    int count = 0;
    while (key->choices[count]) count++;
    for (int i = 0; i < count; i++)
        if (!strcmp(v, key->choices[i])) {
            *(int *)field_of(key, c) = i;
            return 0;
        }
    int used = snprintf(err, n, "%s: expected ", key->name);
    for (int i = 0; i < count && used < n; i++)
        used += snprintf(err + used, n - used, "%s%s", i == 0 ? "" : i == count - 1 ? " or " : ", ",
                         key->choices[i]);
    if (used < n) snprintf(err + used, n - used, ", got '%s'", v);
    return -1;
}

static void format_choice_key(const ConfigKey *key, const TrainConfig *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s", key->choices[*(const int *)field_in(key, c)]);
}
_Static_assert(sizeof(AllreduceKind) == sizeof(int) && sizeof(L2Scope) == sizeof(int),
               "choice keys are stored as int");

/* ---- the special keys ------------------------------------------------------------ */

static void keep_run_keys(TrainConfig *c, const TrainConfig *old);

/* A new model resets every key to its recipe, except the KEEP keys. */
static int set_model(const ConfigKey *key, TrainConfig *c, const char *v, char *err, int n)
{
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
    TrainConfig old = *c;
    config_defaults(c, d);
    if (old.model) keep_run_keys(c, &old);
    return 0;
}

static void format_model(const ConfigKey *key, const TrainConfig *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s", c->model->name);
}

/* A new optimizer takes its own defaults (betas), keeping the fields that
 * are keys of their own. */
static int set_optimizer(const ConfigKey *key, TrainConfig *c, const char *v, char *err, int n)
{
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

static void format_optimizer(const ConfigKey *key, const TrainConfig *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s", optim_kind_name(c->optim.kind));
}

/* The text (schedule_spec, what run files record) and its parsed form. */
static int set_schedule(const ConfigKey *key, TrainConfig *c, const char *v, char *err, int n)
{
    char why[200];
    if (schedule_parse(v, &c->schedule, why, sizeof why)) {
        snprintf(err, n, "schedule: %s, got '%s'", why, v);
        return -1;
    }
    snprintf(c->schedule_spec, sizeof c->schedule_spec, "%s", v);
    return 0;
}

static int parse_seed(const ConfigKey *key, TrainConfig *c, const char *v, char *err, int n)
{
    uint64_t *out = field_of(key, c);
    char *end;
    errno = 0;
    unsigned long long s = strtoull(v, &end, 10);
    if (end == v || *end || *v == '-') {
        snprintf(err, n, "%s: expected a non-negative whole number, got '%s'", key->name, v);
        return -1;
    }
    if (errno == ERANGE) {   /* beyond 64 bits: strtoull saturates at ULLONG_MAX and sets ERANGE */
        snprintf(err, n, "%s: expected a whole number in [0, %llu], got '%s'", key->name,
                 (unsigned long long)UINT64_MAX, v);
        return -1;
    }
    *out = s;
    return 0;
}

static void format_seed(const ConfigKey *key, const TrainConfig *c, char *buf, size_t size)
{
    snprintf(buf, size, "%llu", (unsigned long long)*(const uint64_t *)field_in(key, c));
}

static int parse_device(const ConfigKey *key, TrainConfig *c, const char *v, char *err, int n)
{
    int ok = !strcmp(v, "auto") || !strcmp(v, "cpu") || !strcmp(v, "cuda");
    if (!ok && !strncmp(v, "cuda:", 5)) {
        char *end;
        long idx = strtol(v + 5, &end, 10);
        ok = end != v + 5 && !*end && idx >= 0 && idx < 1024;
    }
    if (!ok || strlen(v) >= sizeof c->device) {
        snprintf(err, n, "device: expected auto, cpu, cuda or cuda:N, got '%s'", v);
        return -1;
    }
    strcpy(c->device, v);
    return 0;
}

static int parse_augment(const ConfigKey *key, TrainConfig *c, const char *v, char *err, int n)
{
    char why[200];
    if (augment_parse(v, &c->augment, why, sizeof why)) {
        snprintf(err, n, "augment: %s", why);
        return -1;
    }
    return 0;
}

static void format_augment(const ConfigKey *key, const TrainConfig *c, char *buf, size_t size)
{
    augment_format(&c->augment, buf, (int)size);
}

/* A count of held-out images, or "auto". */
static int parse_val_split(const ConfigKey *key, TrainConfig *c, const char *v, char *err, int n)
{
    if (!strcmp(v, "auto")) {
        c->val_split = VAL_SPLIT_AUTO;
        return 0;
    }
    if (parse_long(key->name, v, 0, 1L << 30, &c->val_split, err, n) == 0) return 0;
    snprintf(err, n, "val_split: expected auto or a whole number of images in [0, %ld], got '%s'", 1L << 30, v);
    return -1;
}

static void format_val_split(const ConfigKey *key, const TrainConfig *c, char *buf, size_t size)
{
    if (c->val_split == VAL_SPLIT_AUTO) snprintf(buf, size, "auto");
    else snprintf(buf, size, "%ld", c->val_split);
}

static int parse_early_stop(const ConfigKey *key, TrainConfig *c, const char *v, char *err, int n)
{
    char why[200];
    if (early_stop_parse(v, &c->early_stop, why, sizeof why)) {
        snprintf(err, n, "early_stop: %s", why);
        return -1;
    }
    return 0;
}

static void format_early_stop(const ConfigKey *key, const TrainConfig *c, char *buf, size_t size)
{
    early_stop_format(&c->early_stop, buf, (int)size);
}

static int has_validation(const TrainConfig *c) { return c->val_split != 0; }
static int has_early_stop(const TrainConfig *c) { return c->early_stop.patience > 0; }

static const char *const ALLREDUCE_NAMES[] = {"auto", "mpi", "nccl", NULL};   /* AllreduceKind order */
static const char *const L2_SCOPE_NAMES[] = {"all", "fc", NULL};              /* L2Scope order */

/* ---- the table ---------------------------------------------------------------------
 * The order is the order of the configuration text, so of every trial id.
 * A new IN_ID key adds a line to every text, so it gives every trial a new
 * id (existing sweep folders would start over). */

#define FIELD(f) offsetof(TrainConfig, f), sizeof(((TrainConfig *)0)->f)
#define INT_KEY(f, lo, hi) FIELD(f), lo, hi, NULL, parse_int_key, format_int_key
#define LONG_KEY(f, lo, hi) FIELD(f), lo, hi, NULL, parse_long_key, format_long_key
#define FLOAT_KEY(f, lo, hi) FIELD(f), lo, hi, NULL, parse_float_key, format_float_key
#define BOOL_KEY(f) FIELD(f), 0, 1, NULL, parse_bool_key, format_bool_key
#define TEXT_KEY(f) FIELD(f), 0, 0, NULL, parse_text_key, format_text_key
#define CHOICE_KEY(f, names) FIELD(f), 0, 0, names, parse_choice_key, format_choice_key
#define SPECIAL_KEY(f, parse, format) FIELD(f), 0, 0, NULL, parse, format

static const ConfigKey KEYS[] = {
    {"model", SPECIAL_KEY(model, set_model, format_model), IN_ID, NULL, "NAME",
     "see 'sweeprun models'; every other key defaults to its recipe", NULL},
    {"dataset", TEXT_KEY(dataset), IN_ID | KEEP, "mnist", "D",
     "mnist | fashion-mnist | a folder of IDX files (default mnist)", NULL},
    {"epochs", INT_KEY(epochs, 1, 100000), IN_ID, NULL, "N", "default: the model's recipe", NULL},
    {"batch_size", INT_KEY(batch_size, 1, 65536), IN_ID, NULL, "B",
     "default: the model's recipe (the global batch when data-parallel)", NULL},
    {"eval_batch_size", INT_KEY(eval_batch_size, 1, 65536), IN_ID, "64", "N",
     "test-set batch size (default 64; GECCO's predictions depend on it)", NULL},
    {"grad_accum", INT_KEY(grad_accum, 1, 1024), IN_ID, "1", "K",
     "split each batch into K micro-batches, average their gradients", NULL},
    {"lr", FLOAT_KEY(lr, 0, 1e3), IN_ID, NULL, "X", "learning rate", NULL},
    {"optimizer", SPECIAL_KEY(optim.kind, set_optimizer, format_optimizer), IN_ID, NULL, "O", "sgd | adam | adamw", NULL},
    {"weight_decay", FLOAT_KEY(optim.weight_decay, 0, 1e3), IN_ID, NULL, "X",
     "L2 (coupled for sgd/adam, decoupled for adamw)", NULL},
    {"l2_scope", CHOICE_KEY(optim.l2_scope, L2_SCOPE_NAMES), IN_ID, NULL, "S",
     "all | fc (decay only the fully connected layers)", NULL},
    {"momentum", FLOAT_KEY(optim.momentum, 0, 1), IN_ID, NULL, "X", "momentum (sgd)", NULL},
    {"nesterov", BOOL_KEY(optim.nesterov), IN_ID, NULL, "true|false", "Nesterov momentum (sgd)", NULL},
    {"adam_eps", FLOAT_KEY(optim.eps, 1e-30, 1), IN_ID, NULL, "X", "epsilon of adam and adamw", NULL},
    {"schedule", SPECIAL_KEY(schedule_spec, set_schedule, format_text_key), IN_ID, NULL, "SPEC",
     "constant | step:STEP:GAMMA | exp:GAMMA[:FLOOR] | cosine:T_MAX[:ETA_MIN]", NULL},
    {"seed", SPECIAL_KEY(seed, parse_seed, format_seed), IN_ID | KEEP, NULL, "S",
     "one seed drives init, shuffling and dropout (default 0)", NULL},
    {"device", SPECIAL_KEY(device, parse_device, format_text_key), KEEP, "auto", "D",
     "auto | cpu | cuda | cuda:I (default auto)", NULL},
    {"threads", INT_KEY(threads, 0, 1024), KEEP, NULL, "N",
     "CPU threads (default: all cores, shared among the ranks on a node)", NULL},
    {"out", TEXT_KEY(out), KEEP, NULL, "FILE.h5",
     "run file (default runs/<model>-s<seed>-<time>.h5); never overwritten", NULL},
    {"train_subset", LONG_KEY(train_subset, 0, 1L << 40), IN_ID, NULL, "N", "use only the first N training images", NULL},
    {"test_subset", LONG_KEY(test_subset, 0, 1L << 40), IN_ID, NULL, "N", "use only the first N test images", NULL},
    {"data_parallel", BOOL_KEY(data_parallel), IN_ID | KEEP, NULL, "",
     "under mpirun: train one model on all ranks; each rank takes\n"
     "batch-size/ranks images of every step, gradients are averaged\n"
     "(the same result as one process with --grad-accum ranks)", NULL},
    {"allreduce", CHOICE_KEY(allreduce, ALLREDUCE_NAMES), IN_ID | KEEP, NULL, "A",
     "auto | mpi | nccl: how data-parallel gradients are summed\n"
     "(auto = MPI for CPU training; nccl stages them through the GPU)", NULL},
    {"augment", SPECIAL_KEY(augment, parse_augment, format_augment), IN_ID, NULL, "SPEC",
     "none | rotate:DEG,shift:PIXELS,scale:FRACTION,erase:PIXELS (any of them)\n"
     "on training images (default: the model's recipe)", NULL},
    {"tf32", BOOL_KEY(tf32), IN_ID | KEEP, NULL, "true|false",
     "CUDA: allow TF32 tensor-core GEMMs (default false)", NULL},
    {"cuda_graph", BOOL_KEY(cuda_graph), IN_ID | KEEP, "true", "true|false",
     "CUDA: replay each step as a graph (default true)", NULL},
    /* Added with the validation split: in the text only when on, so runs
     * made before it (val_split = 0) keep their trial ids. */
    {"val_split", SPECIAL_KEY(val_split, parse_val_split, format_val_split), IN_ID | KEEP, "auto", "N|auto",
     "training images held out for validation, on which every choice\n"
     "(best epoch, early stopping, pruning, best trial) is made;\n"
     "auto = 1/12 of the training set, at most 5000 (default); 0 = none", has_validation},
    {"val_seed", SPECIAL_KEY(val_seed, parse_seed, format_seed), IN_ID | KEEP, "0", "S",
     "draws the validation images (class-stratified; default 0,\nindependent of --seed)", has_validation},
    {"early_stop", SPECIAL_KEY(early_stop, parse_early_stop, format_early_stop), IN_ID | KEEP, NULL,
     "off|patience:P[,min_delta:D][,on:val_loss|val_accuracy]",
     "stop when the validation loss (or accuracy) has not improved\nfor P epochs (default off)", has_early_stop},
};
static const int KEY_COUNT = sizeof KEYS / sizeof KEYS[0];

static void keep_run_keys(TrainConfig *c, const TrainConfig *old)
{
    for (int i = 0; i < KEY_COUNT; i++)
        if (KEYS[i].flags & KEEP) memcpy(field_of(&KEYS[i], c), field_in(&KEYS[i], old), KEYS[i].size);
}

/* Every key at its row's initial value (zero without one), then the
 * model's options and recipe on top. */
void config_defaults(TrainConfig *c, const ModelDesc *model)
{
    memset(c, 0, sizeof *c);
    c->model = model;
    char err[256];
    for (int i = 0; i < KEY_COUNT; i++)
        if (KEYS[i].initial)
            CHECK(KEYS[i].parse(&KEYS[i], c, KEYS[i].initial, err, sizeof err) == 0, "key %s: initial value: %s",
                  KEYS[i].name, err);
    for (int i = 0; i < model->n_options; i++) c->model_options[i] = model->options[i].default_value;
    const Recipe *r = &model->recipe;
    c->epochs = r->epochs;
    c->batch_size = r->batch_size;
    c->lr = r->lr;
    c->optim = optim_config_default(r->optimizer);
    c->optim.weight_decay = r->weight_decay;
    c->optim.l2_scope = r->l2_scope;
    c->optim.momentum = r->momentum;
    if (r->adam_eps > 0) c->optim.eps = r->adam_eps;
    snprintf(c->schedule_spec, sizeof c->schedule_spec, "%s", r->schedule);
    schedule_parse(c->schedule_spec, &c->schedule, err, sizeof err);
    if (r->augment) CHECK(augment_parse(r->augment, &c->augment, err, sizeof err) == 0,
                          "model %s: recipe augment '%s': %s", model->name, r->augment, err);
}

static const ConfigKey *find_key(const char *name)
{
    for (int i = 0; i < KEY_COUNT; i++)
        if (!strcmp(KEYS[i].name, name)) return &KEYS[i];
    return NULL;
}

static int set_model_option(TrainConfig *c, int i, const char *v, char *err, int n)
{
    double value;
    if (model_option_parse(c->model, i, v, &value, err, n)) return -1;
    c->model_options[i] = value;
    if (c->model->validate && c->model->validate(c->model_options, err, n)) return -1;
    return 0;
}

int config_parse_int(const char *name, const char *value, int *out, char *err, int n)
{
    const ConfigKey *key = find_key(name);
    CHECK(key && key->parse == parse_int_key, "config_parse_int: '%s' is not a whole-number key", name);
    TrainConfig scratch;
    memset(&scratch, 0, sizeof scratch);
    if (key->parse(key, &scratch, value, err, n)) return -1;
    *out = *(const int *)field_in(key, &scratch);
    return 0;
}

int config_set(TrainConfig *c, const char *k, const char *v, char *err, int n)
{
    if (!c->model && strcmp(k, "model")) {
        snprintf(err, n, "%s: set the model first (model=NAME)", k);
        return -1;
    }
    const ConfigKey *key = find_key(k);
    if (key) return key->parse(key, c, v, err, n);
    int opt = model_option_index(c->model, k);
    if (opt >= 0) return set_model_option(c, opt, v, err, n);
    char names[512] = "";
    for (int i = 0; i < KEY_COUNT; i++) {
        strncat(names, KEYS[i].name, sizeof names - strlen(names) - 1);
        strncat(names, " ", sizeof names - strlen(names) - 1);
    }
    snprintf(err, n, "%s: unknown key for model %s (keys: %sand the model's options)", k, c->model->name, names);
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

enum { TEXT_MAX_PAIRS = 128 };

int config_from_text(TrainConfig *c, const char *text, char *err, int n)
{
    size_t len = strlen(text);
    char *copy = xmalloc(len + 1);
    memcpy(copy, text, len + 1);
    const char *keys[TEXT_MAX_PAIRS + 1], *values[TEXT_MAX_PAIRS + 1];
    int count = 0, has_val_split = 0;
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line && count < TEXT_MAX_PAIRS; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq = 0;
        has_val_split |= !strcmp(line, "val_split");
        keys[count] = line;
        values[count++] = eq + 1;
    }
    if (!has_val_split) {   /* before the validation split existed */
        keys[count] = "val_split";
        values[count++] = "0";
    }
    memset(c, 0, sizeof *c);
    int rc = config_apply_pairs(c, count, keys, values, err, n);
    free(copy);
    return rc;
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
    if (c->early_stop.patience > 0 && c->val_split == 0) {
        snprintf(err, n, "early_stop: decides on the validation split, and val_split = 0 has none "
                         "(the test set is never used to decide); set val_split or early_stop = off");
        return -1;
    }
    if (c->model->validate && c->model->validate(c->model_options, err, n)) return -1;
    return 0;
}

void config_each(const TrainConfig *c, void (*fn)(const char *, const char *, void *), void *user)
{
    char b[CONFIG_PATH_MAX + 32];
    for (int i = 0; i < KEY_COUNT; i++) {
        if (!(KEYS[i].flags & IN_ID) || (KEYS[i].in_text && !KEYS[i].in_text(c))) continue;
        KEYS[i].format(&KEYS[i], c, b, sizeof b);
        fn(KEYS[i].name, b, user);
    }
    for (int i = 0; i < c->model->n_options; i++) {
        if (!model_option_in_text(c->model, i, c->model_options[i])) continue;
        model_option_format(c->model, i, c->model_options[i], b, sizeof b);
        fn(c->model->options[i].name, b, user);
    }
}

void config_each_key(void (*fn)(const char *name, const char *arg, const char *help, void *user), void *user)
{
    for (int i = 0; i < KEY_COUNT; i++) fn(KEYS[i].name, KEYS[i].arg, KEYS[i].help, user);
}
