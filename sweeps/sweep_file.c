/* Reading a sweep file with inih. inih knows sections and "key = value";
 * this file gives every value its line (inih's handler has no line number
 * in Debian's build, so we feed inih our own line reader and count) and
 * checks everything that does not need a model. */
#include "sweep_file.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util.h"

static const char *const SWEEP_KEYS =
    "name, dataset, out, seeds, search, samples, trials, random_seed, ranks_per_trial, prune, scheduler, "
    "max_failures, objectives, tpe_startup";

typedef enum { SEC_NONE, SEC_SWEEP, SEC_DEFAULTS, SEC_MODEL, SEC_GRID, SEC_RANDOM, SEC_UNKNOWN } SectionKind;

typedef struct Parser {
    SweepFile *sf;
    SweepProblems *pr;
    FILE *file;
    long bytes_read;
    int line;                     /* the physical line inih is handling */
    char text[SWEEP_LINE_MAX + 1];   /* that line (its first SWEEP_LINE_MAX characters) */
    /* A value too long for inih's line buffer: inih gets "KEY =" and the
     * handler takes the value from here (a place in text). */
    char *long_value;
    int long_value_line;
    /* Sections seen, by header line (for "appears twice", "needs ..."). */
    int line_sweep, line_defaults, line_grid, line_random;
    /* [sweep] keys seen (for duplicates), by line. */
    int sweep_key_line[16];
    NameIndex setting_keys;       /* "SECTION\nKEY" -> line, for [defaults] and [model.X] */
} Parser;

/* ---- small text helpers --------------------------------------------------- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1])) *--end = 0;
    return s;
}

static int parse_ulong(const char *s, unsigned long long *out)
{
    if (!*s || *s == '-' || *s == '+') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno) return -1;
    *out = v;
    return 0;
}

static int parse_int_in(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* Split "a, b, c" into trimmed items. Returns the count, or -1 (with the
 * reason in why) for an empty list or an empty item. */
static int split_list(const char *text, char ***items, char *why, int why_size)
{
    char *copy = strdup(text);
    int blank = !*trim(copy);
    strcpy(copy, text);
    int n = 0, cap = 4;
    char **out = xmalloc((size_t)cap * sizeof *out);
    char *s = copy;
    for (;;) {
        char *comma = strchr(s, ',');
        if (comma) *comma = 0;
        char *item = trim(s);
        if (!*item) {
            snprintf(why, why_size, "%s", blank ? "an empty list" : "an empty item in the list");
            for (int i = 0; i < n; i++) free(out[i]);
            free(out);
            free(copy);
            return -1;
        }
        if (n == cap) out = xrealloc(out, (size_t)(cap *= 2) * sizeof *out);
        out[n++] = strdup(item);
        if (!comma) break;
        s = comma + 1;
    }
    free(copy);
    *items = out;
    return n;
}

static void free_list(char **items, int n)
{
    for (int i = 0; i < n; i++) free(items[i]);
    free(items);
}

/* items with room for count + 1 of size bytes: the capacity doubles, so
 * N appends copy O(N) bytes in all. */
static void *room_for_one_more(void *items, int count, int *capacity, size_t size)
{
    if (count < *capacity) return items;
    *capacity = *capacity ? 2 * *capacity : 8;
    return xrealloc(items, (size_t)*capacity * size);
}

static void settings_add(SweepSettings *s, const char *key, const char *value, int line)
{
    s->items = room_for_one_more(s->items, s->count, &s->capacity, sizeof *s->items);
    SweepSetting *x = &s->items[s->count++];
    snprintf(x->key, sizeof x->key, "%s", key);
    snprintf(x->value, sizeof x->value, "%s", value);
    x->line = line;
}

const SweepAxis *sweep_find_axis(const SweepFile *sf, const char *key)
{
    int i = name_index_find(&sf->axis_index, key);
    return i < 0 ? NULL : &sf->axes[i];
}

const SweepModelSection *sweep_find_model(const SweepFile *sf, const char *model)
{
    int i = name_index_find(&sf->model_index, model);
    return i < 0 ? NULL : &sf->models[i];
}

/* ---- the line reader inih calls ------------------------------------------- */

/* The next physical line into p->text, without its '\n'; its length, or
 * -1 at the end of the file. Of a line longer than SWEEP_LINE_MAX only the
 * first SWEEP_LINE_MAX characters are kept (the rest is read and dropped),
 * so no line is held whole: /dev/zero, one endless line, took 7 GB in 20 s
 * through getline(). Stops once SWEEP_FILE_MAX bytes are read (a file that
 * grows while it is read). */
static long read_physical_line(Parser *p)
{
    long n = 0;
    int c = EOF;
    while (p->bytes_read < SWEEP_FILE_MAX && (c = getc(p->file)) != EOF) {
        p->bytes_read++;
        if (c == '\n') break;
        if (n < SWEEP_LINE_MAX) p->text[n] = (char)c;
        n++;
    }
    if (c == EOF && n == 0) return -1;
    p->text[n < SWEEP_LINE_MAX ? n : SWEEP_LINE_MAX] = 0;
    return n;
}

/* The line as inih should see it: no line end, no byte order mark, no
 * leading whitespace (inih would read an indented line as the
 * continuation of the previous value), no '#' comment after whitespace
 * (inih strips only ';' inline comments). */
static char *clean_line(Parser *p)
{
    char *s = p->text;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '\r') s[--n] = 0;
    if (p->line == 1 && !strncmp(s, "\xEF\xBB\xBF", 3)) s += 3;   /* UTF-8 byte order mark */
    while (*s == ' ' || *s == '\t') s++;
    for (char *c = s + 1; *s && *s != '#' && *s != ';' && *c; c++)
        if (*c == '#' && (c[-1] == ' ' || c[-1] == '\t')) {
            *c = 0;
            break;
        }
    return s;
}

static void report_too_long(Parser *p)
{
    sweep_problems_add(p->pr, p->line, "key or value too long (keys up to %d, values up to %d characters)",
                       SWEEP_KEY_MAX - 1, SWEEP_VALUE_MAX - 1);
}

/* A line s longer than inih's buffer (num bytes: 200 in Debian's build)
 * into str. inih's reader contract is fgets': had it got the line in
 * pieces, it would read each piece as a line of its own. So a
 * "key = value" line goes to inih as "key =" and the value waits in
 * p->long_value for on_entry; a comment goes as an empty comment. A
 * section header cannot be that long (inih keeps 50 characters of it). */
static char *hand_over_long_line(Parser *p, char *s, char *str, int num)
{
    char *delimiter = strpbrk(s, "=:");            /* inih splits at the first '=' or ':' */
    if (*s == ';' || *s == '#') snprintf(str, num, ";\n");
    else if (*s == '[') {
        sweep_problems_add(p->pr, p->line, "line is longer than %d characters (only key = value lines may be "
                                           "longer)", num - 2);
        snprintf(str, num, "\n");
    } else if (!delimiter) snprintf(str, num, "%.*s\n", num - 2, s);   /* inih reports the syntax error */
    else if (delimiter - s + 3 > num) {
        report_too_long(p);
        snprintf(str, num, "\n");
    } else {
        p->long_value = delimiter + 1;
        p->long_value_line = p->line;
        snprintf(str, num, "%.*s\n", (int)(delimiter - s + 1), s);
    }
    return str;
}

/* One physical line per call, so inih's line count is ours. */
static char *read_line(char *str, int num, void *stream)
{
    Parser *p = stream;
    long n = read_physical_line(p);
    if (n < 0) return NULL;
    p->line++;
    if (n > SWEEP_LINE_MAX) {
        sweep_problems_add(p->pr, p->line, "line is longer than %d characters", SWEEP_LINE_MAX);
        snprintf(str, num, "\n");
        return str;
    }
    char *s = clean_line(p);
    if ((int)strlen(s) + 2 > num) return hand_over_long_line(p, s, str, num);
    snprintf(str, num, "%s\n", s);
    return str;
}

/* The value of a line hand_over_long_line kept, as inih would have cut it:
 * trimmed, without a ';' comment after whitespace. */
static const char *long_line_value(Parser *p)
{
    char *v = trim(p->long_value);
    for (char *c = v + (*v != 0); *c; c++)
        if (*c == ';' && isspace((unsigned char)c[-1])) {
            *c = 0;
            break;
        }
    return trim(v);
}

/* ---- sections --------------------------------------------------------------- */

static SectionKind section_kind(const char *name)
{
    if (!strcmp(name, "sweep")) return SEC_SWEEP;
    if (!strcmp(name, "defaults")) return SEC_DEFAULTS;
    if (!strcmp(name, "grid")) return SEC_GRID;
    if (!strcmp(name, "random")) return SEC_RANDOM;
    if (!strncmp(name, "model.", 6)) return SEC_MODEL;
    return SEC_UNKNOWN;
}

static void add_model_section(Parser *p, const char *model)
{
    SweepFile *sf = p->sf;
    sf->models = room_for_one_more(sf->models, sf->n_models, &sf->models_capacity, sizeof *sf->models);
    SweepModelSection *m = &sf->models[sf->n_models];
    memset(m, 0, sizeof *m);
    snprintf(m->model, sizeof m->model, "%s", model);
    m->line = p->line;
    name_index_add(&sf->model_index, m->model, sf->n_models++);
}

/* A header line "[name]": check the name once, where it is written. */
static void on_header(Parser *p, const char *line)
{
    const char *close = strchr(line, ']');
    if (!close) return;                    /* inih reports the syntax error */
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(close - line - 1), line + 1);
    char *n = trim(name);
    int *seen = NULL;
    switch (section_kind(n)) {
    case SEC_SWEEP: seen = &p->line_sweep; break;
    case SEC_DEFAULTS: seen = &p->line_defaults; break;
    case SEC_GRID: seen = &p->line_grid; break;
    case SEC_RANDOM: seen = &p->line_random; break;
    case SEC_MODEL: {
        const char *model = trim(n + 6);
        if (!*model) {
            sweep_problems_add(p->pr, p->line, "section [model.] names no model (expected [model.NAME])");
            return;
        }
        if (strlen(model) >= sizeof p->sf->models[0].model) {
            /* Found by fuzzing: two such names cut to one prefix were one section. */
            sweep_problems_add(p->pr, p->line, "section [model.%.40s...]: a model name is at most %d characters",
                               model, (int)sizeof p->sf->models[0].model - 1);
            return;
        }
        const SweepModelSection *m = sweep_find_model(p->sf, model);
        if (m) sweep_problems_add(p->pr, p->line, "section [model.%s] appears twice (first at line %d)", model, m->line);
        else add_model_section(p, model);
        return;
    }
    default:
        sweep_problems_add(p->pr, p->line, "unknown section [%s] (expected [sweep], [defaults], "
                                           "[model.NAME], [grid] or [random])", n);
        return;
    }
    if (*seen) sweep_problems_add(p->pr, p->line, "section [%s] appears twice (first at line %d)", n, *seen);
    else *seen = p->line;
}

/* ---- [sweep] --------------------------------------------------------------- */

static const char *const SWEEP_KEY_NAMES[] = {"name", "dataset", "out", "seeds", "search", "samples", "trials",
                                              "random_seed", "ranks_per_trial", "prune", "scheduler",
                                              "max_failures", "objectives", "tpe_startup"};
enum { N_SWEEP_KEYS = sizeof SWEEP_KEY_NAMES / sizeof *SWEEP_KEY_NAMES };

static int valid_name(const char *s)
{
    if (!*s || strlen(s) > 100) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.') return 0;
    return 1;
}

static void parse_seeds(Parser *p, const char *value)
{
    SweepFile *sf = p->sf;
    char **items, why[128];
    int n = split_list(value, &items, why, sizeof why);
    if (n < 0) {
        sweep_problems_add(p->pr, p->line, "seeds: expected a comma-separated list of seeds, got %s", why);
        return;
    }
    uint64_t *seeds = xmalloc((size_t)n * sizeof *seeds);
    int ok = 1;
    for (int i = 0; i < n && ok; i++) {
        unsigned long long v = 0;
        if (parse_ulong(items[i], &v)) {
            sweep_problems_add(p->pr, p->line, "seeds: expected non-negative whole numbers, got '%s'", items[i]);
            ok = 0;
        }
        seeds[i] = v;
        for (int j = 0; ok && j < i; j++)
            if (seeds[j] == seeds[i]) {
                sweep_problems_add(p->pr, p->line, "seeds: seed %llu is listed twice", (unsigned long long)v);
                ok = 0;
            }
    }
    free_list(items, n);
    if (!ok) {
        free(seeds);
        return;
    }
    free(sf->seeds);
    sf->seeds = seeds;
    sf->n_seeds = n;
}

/* scheduler = median:... is the same setting as prune = median:... (the
 * median rule, with line_prune pointing here); asha and hyperband only
 * fill sf->scheduler. Their fit to the trials' epochs is checked after
 * expansion (scheduler_check_epochs). */
static void parse_scheduler(Parser *p, const char *value)
{
    SweepFile *sf = p->sf;
    char why[1024];
    SchedulerSpec spec;
    sf->line_scheduler = p->line;
    if (scheduler_parse(value, &spec, why, sizeof why)) {
        sweep_problems_add(p->pr, p->line, "scheduler: %s", why);   /* why quotes what it rejects */
        return;
    }
    sf->scheduler = spec;
    if (spec.kind == SCHEDULER_MEDIAN) {
        sf->prune = spec.median;
        sf->line_prune = p->line;
    }
}

/* The key's place in SWEEP_KEY_NAMES (N_SWEEP_KEYS: not a [sweep] key). */
static int key_position(const char *key)
{
    int k = 0;
    while (k < N_SWEEP_KEYS && strcmp(SWEEP_KEY_NAMES[k], key)) k++;
    return k;
}

static void on_sweep_key(Parser *p, const char *key, const char *value)
{
    SweepFile *sf = p->sf;
    int k = key_position(key);
    if (k == N_SWEEP_KEYS) {
        sweep_problems_add(p->pr, p->line, "unknown key '%s' in [sweep] (expected %s; training keys "
                                           "belong in [defaults])", key, SWEEP_KEYS);
        return;
    }
    if (p->sweep_key_line[k]) {
        sweep_problems_add(p->pr, p->line, "%s is set twice in [sweep] (first at line %d)", key,
                           p->sweep_key_line[k]);
        return;
    }
    p->sweep_key_line[k] = p->line;
    int line = p->line;
    SweepProblems *pr = p->pr;
    if (!strcmp(key, "name")) {
        if (!strcmp(value, ".") || !strcmp(value, ".."))
            sweep_problems_add(pr, line, "name: '%s' is not allowed (the default out folder runs/%s would not be "
                                         "the sweep's own)", value, value);
        else if (!valid_name(value))
            sweep_problems_add(pr, line, "name: expected letters, digits, '_', '-' or '.' (at most 100), got '%s'", value);
        else snprintf(sf->name, sizeof sf->name, "%s", value);
        sf->line_name = line;
    } else if (!strcmp(key, "dataset")) {
        if (!*value || strlen(value) >= SWEEP_VALUE_MAX)
            sweep_problems_add(pr, line, "dataset: expected mnist, fashion-mnist or a folder of IDX files");
        else snprintf(sf->dataset, sizeof sf->dataset, "%s", value);
        sf->line_dataset = line;
    } else if (!strcmp(key, "out")) {
        if (!*value || strlen(value) >= sizeof sf->out - 64)
            sweep_problems_add(pr, line, "out: expected the folder for the run files");
        else snprintf(sf->out, sizeof sf->out, "%s", value);
    } else if (!strcmp(key, "seeds")) {
        parse_seeds(p, value);
        sf->line_seeds = line;
    } else if (!strcmp(key, "search")) {
        if (!strcmp(value, "grid")) sf->search = SEARCH_GRID;
        else if (!strcmp(value, "random")) sf->search = SEARCH_RANDOM;
        else if (!strcmp(value, "tpe")) sf->search = SEARCH_TPE;
        else sweep_problems_add(pr, line, "search: expected grid, random or tpe, got '%s'", value);
        sf->line_search = line;
    } else if (!strcmp(key, "samples")) {
        if (parse_int_in(value, 1, 100000, &sf->samples))
            sweep_problems_add(pr, line, "samples: expected a whole number in [1, 100000], got '%s'", value);
        sf->line_samples = line;
    } else if (!strcmp(key, "trials")) {
        if (parse_int_in(value, 1, 100000, &sf->trials))
            sweep_problems_add(pr, line, "trials: expected a whole number in [1, 100000], got '%s'", value);
        sf->line_trials = line;
    } else if (!strcmp(key, "random_seed")) {
        unsigned long long v;
        if (parse_ulong(value, &v))
            sweep_problems_add(pr, line, "random_seed: expected a non-negative whole number, got '%s'", value);
        else sf->random_seed = v;
    } else if (!strcmp(key, "ranks_per_trial")) {
        if (parse_int_in(value, 1, 65536, &sf->ranks_per_trial))
            sweep_problems_add(pr, line, "ranks_per_trial: expected a whole number in [1, 65536], got '%s'", value);
        sf->line_ranks = line;
    } else if (!strcmp(key, "prune")) {
        char why[256];
        if (prune_rule_parse(value, &sf->prune, why, sizeof why))
            sweep_problems_add(pr, line, "prune: %s, got '%s'", why, value);
        else sf->scheduler = (SchedulerSpec){.kind = SCHEDULER_MEDIAN, .median = sf->prune};
        sf->line_prune = line;
    } else if (!strcmp(key, "scheduler")) {
        parse_scheduler(p, value);
    } else if (!strcmp(key, "max_failures")) {
        if (parse_int_in(value, 0, 1000000000, &sf->max_failures))
            sweep_problems_add(pr, line, "max_failures: expected a whole number >= 0, got '%s'", value);
    } else if (!strcmp(key, "tpe_startup")) {
        if (parse_int_in(value, 1, 100000, &sf->tpe_startup))
            sweep_problems_add(pr, line, "tpe_startup: expected a whole number in [1, 100000], got '%s'", value);
        sf->line_tpe_startup = line;
    } else if (!strcmp(key, "objectives")) {
        char why[512];
        int k = pareto_objectives_parse(value, pareto_run_metrics, PARETO_RUN_METRICS, sf->objectives, why, sizeof why);
        if (k < 0) sweep_problems_add(pr, line, "%s", why);   /* why starts "objectives: " */
        sf->n_objectives = k < 0 ? 0 : k;
        sf->line_objectives = line;
    }
}

int prune_rule_parse(const char *text, PruneRule *rule, char *err, int err_size)
{
    PruneRule r = {.enabled = 1, .warmup = 0, .min_trials = 1};
    const char *expected = "expected median:warmup=E[:min_trials=N] (E >= 1 epochs, N >= 1 other trials)";
    if (strncmp(text, "median", 6) || (text[6] && text[6] != ':')) {
        snprintf(err, err_size, "%s", expected);
        return -1;
    }
    char copy[256];
    snprintf(copy, sizeof copy, "%s", text[6] ? text + 7 : "");
    char *save = NULL;
    for (char *part = strtok_r(copy, ":", &save); part; part = strtok_r(NULL, ":", &save)) {
        char *eq = strchr(part, '=');
        int *target = NULL;
        if (eq && !strncmp(part, "warmup", (size_t)(eq - part)) && eq - part == 6) target = &r.warmup;
        else if (eq && !strncmp(part, "min_trials", (size_t)(eq - part)) && eq - part == 10) target = &r.min_trials;
        if (!target || parse_int_in(eq + 1, 1, 1000000, target)) {
            snprintf(err, err_size, "%s", expected);
            return -1;
        }
    }
    if (r.warmup < 1) {
        snprintf(err, err_size, "%s", expected);
        return -1;
    }
    *rule = r;
    return 0;
}

/* ---- training sections ------------------------------------------------------ */

/* Keys a sweep sets itself: a training section may not. NULL if allowed. */
static const char *reserved_reason(const char *key)
{
    if (!strcmp(key, "seed")) return "the seeds are listed in [sweep] seeds";
    if (!strcmp(key, "out")) return "run files go to the folder [sweep] out, one per trial";
    if (!strcmp(key, "dataset")) return "the dataset is set once, in [sweep] dataset";
    if (!strcmp(key, "data_parallel")) return "set [sweep] ranks_per_trial to train each trial on several ranks";
    return NULL;
}

/* Is key set in section already? (Reported if so; remembered if not.) */
static int in_settings_twice(Parser *p, const char *section, const char *key)
{
    char name[256 + SWEEP_KEY_MAX + 2];   /* a section name, a newline, a key */
    snprintf(name, sizeof name, "%s\n%s", section, key);
    int first = name_index_find(&p->setting_keys, name);
    if (first < 0) {
        name_index_add(&p->setting_keys, name, p->line);
        return 0;
    }
    sweep_problems_add(p->pr, p->line, "%s is set twice in [%s] (first at line %d)", key, section, first);
    return 1;
}

static void on_training_key(Parser *p, const char *section, SectionKind kind, const char *key,
                            const char *value)
{
    const char *why = reserved_reason(key);
    if (why) {
        sweep_problems_add(p->pr, p->line, "%s cannot be set in [%s]: %s", key, section, why);
        return;
    }
    if (!*value) {
        sweep_problems_add(p->pr, p->line, "%s: expected a value", key);
        return;
    }
    if (kind == SEC_DEFAULTS) {
        if (!in_settings_twice(p, section, key))
            settings_add(&p->sf->defaults, key, value, p->line);
        return;
    }
    int at = name_index_find(&p->sf->model_index, section + 6);
    if (at < 0) return;                     /* its header was already reported */
    SweepModelSection *m = &p->sf->models[at];
    if (!strcmp(key, "model")) {
        sweep_problems_add(p->pr, p->line, "model cannot be set in [%s]: the section applies to model %s",
                           section, m->model);
        return;
    }
    if (!in_settings_twice(p, section, key)) settings_add(&m->settings, key, value, p->line);
}

/* "name(args)" -> kind and the argument text; -1 if value is no such call. */
static int split_call(const char *value, char *name, int name_size, char *args, int args_size)
{
    const char *open = strchr(value, '(');
    size_t len = strlen(value);
    if (!open || len < 2 || value[len - 1] != ')') return -1;
    snprintf(name, name_size, "%.*s", (int)(open - value), value);
    snprintf(args, args_size, "%.*s", (int)(len - (size_t)(open - value) - 2), open + 1);
    char *n = trim(name);
    memmove(name, n, strlen(n) + 1);
    return 0;
}

static int parse_distribution(Parser *p, SweepAxis *a, const char *value)
{
    char name[64], args[SWEEP_VALUE_MAX], why[128];
    const char *expected = "expected uniform(a, b), loguniform(a, b), int(a, b) or choice(x, y, ...)";
    if (split_call(value, name, sizeof name, args, sizeof args)) {
        sweep_problems_add(p->pr, p->line, "%s: %s, got '%s'", a->key, expected, value);
        return -1;
    }
    char **items;
    int n = split_list(args, &items, why, sizeof why);
    if (n < 0) {
        sweep_problems_add(p->pr, p->line, "%s: %s() has %s", a->key, name, why);
        return -1;
    }
    if (!strcmp(name, "choice")) {
        a->kind = AXIS_LIST;
        a->values = items;
        a->n_values = n;
        return 0;
    }
    int rc = 0;
    if (!strcmp(name, "uniform")) a->kind = AXIS_UNIFORM;
    else if (!strcmp(name, "loguniform")) a->kind = AXIS_LOGUNIFORM;
    else if (!strcmp(name, "int")) a->kind = AXIS_INT;
    else {
        sweep_problems_add(p->pr, p->line, "%s: unknown distribution '%s' (%s)", a->key, name, expected);
        rc = -1;
    }
    if (rc == 0 && n != 2) {
        sweep_problems_add(p->pr, p->line, "%s: %s() takes 2 numbers (low, high), got %d", a->key, name, n);
        rc = -1;
    }
    if (rc == 0 && (parse_double(items[0], &a->lo) || parse_double(items[1], &a->hi))) {
        sweep_problems_add(p->pr, p->line, "%s: %s() takes 2 numbers (low, high), got '%s'", a->key, name, args);
        rc = -1;
    }
    if (rc == 0 && a->kind == AXIS_INT && (a->lo != floor(a->lo) || a->hi != floor(a->hi))) {
        sweep_problems_add(p->pr, p->line, "%s: int() takes whole numbers, got '%s'", a->key, args);
        rc = -1;
    }
    if (rc == 0 && (a->kind == AXIS_INT ? a->lo > a->hi : a->lo >= a->hi)) {
        sweep_problems_add(p->pr, p->line, "%s: %s() needs low %s high, got '%s'", a->key, name,
                           a->kind == AXIS_INT ? "<=" : "<", args);
        rc = -1;
    }
    if (rc == 0 && a->kind == AXIS_LOGUNIFORM && a->lo <= 0) {
        sweep_problems_add(p->pr, p->line, "%s: loguniform() needs 0 < low, got '%s'", a->key, args);
        rc = -1;
    }
    free_list(items, n);
    return rc;
}

/* Remember a key whose axis could not be read (reported already), so
 * expansion does not add a second, confusing message about it. */
static void mark_broken(SweepFile *sf, const char *key)
{
    size_t used = strlen(sf->broken_axes);
    if (used + strlen(key) + 2 < sizeof sf->broken_axes)
        snprintf(sf->broken_axes + used, sizeof sf->broken_axes - used, " %s ", key);
}

static void on_axis(Parser *p, int random, const char *key, const char *value)
{
    SweepFile *sf = p->sf;
    const char *why = reserved_reason(key);
    if (why) {
        sweep_problems_add(p->pr, p->line, "%s cannot be swept: %s", key, why);
        return;
    }
    const SweepAxis *old = sweep_find_axis(sf, key);
    if (old) {
        sweep_problems_add(p->pr, p->line, "%s is swept twice (first at line %d, in [%s])", key, old->line,
                           old->random ? "random" : "grid");
        return;
    }
    SweepAxis a = {.line = p->line, .random = random};
    snprintf(a.key, sizeof a.key, "%s", key);
    if (random) {
        if (parse_distribution(p, &a, value)) {
            mark_broken(sf, key);
            return;
        }
    } else {
        char why_list[128];
        int n = split_list(value, &a.values, why_list, sizeof why_list);
        if (n < 0) {
            sweep_problems_add(p->pr, p->line, "%s: expected a comma-separated list of values, got %s", key, why_list);
            mark_broken(sf, key);
            return;
        }
        a.n_values = n;
        a.kind = AXIS_LIST;
        for (int i = 0; i < n; i++)
            if (strchr(a.values[i], '(')) {
                sweep_problems_add(p->pr, p->line, "%s: [grid] takes plain values; distributions such as "
                                                   "'%s' belong in [random]", key, a.values[i]);
                free_list(a.values, n);
                mark_broken(sf, key);
                return;
            }
    }
    sf->axes = room_for_one_more(sf->axes, sf->n_axes, &sf->axes_capacity, sizeof *sf->axes);
    name_index_add(&sf->axis_index, a.key, sf->n_axes);
    sf->axes[sf->n_axes++] = a;
}

/* inih hands entries the section name as written between the brackets;
 * on_header reads "[ defaults ]" and "[model. gecco]" without the spaces,
 * so entries must too (they were silently dropped). */
static const char *section_name(const char *raw, char *buf, size_t size)
{
    snprintf(buf, size, "%s", raw);
    char *n = trim(buf);
    if (section_kind(n) != SEC_MODEL) return n;
    char model[256];
    snprintf(model, sizeof model, "%s", trim(n + 6));
    snprintf(buf, size, "model.%.240s", model);   /* longer names are refused at the header */
    return buf;
}

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
    Parser *p = user;
    if (!*section) {
        sweep_problems_add(p->pr, p->line, "'%s' is outside any section (start with [sweep])", key);
        return 1;
    }
    if (p->long_value_line == p->line) value = long_line_value(p);
    if (strlen(key) >= SWEEP_KEY_MAX || strlen(value) >= SWEEP_VALUE_MAX) {
        report_too_long(p);
        return 1;
    }
    char name[256];
    section = section_name(section, name, sizeof name);
    SectionKind kind = section_kind(section);
    switch (kind) {
    case SEC_SWEEP: on_sweep_key(p, key, value); break;
    case SEC_DEFAULTS:
    case SEC_MODEL: on_training_key(p, section, kind, key, value); break;
    case SEC_GRID: on_axis(p, 0, key, value); break;
    case SEC_RANDOM: on_axis(p, 1, key, value); break;
    default: break;                         /* reported at its header */
    }
    return 1;
}

/* inih calls the handler only for entries; headers are seen here, by
 * peeking at the line the reader just gave it. */
static char *read_line_and_headers(char *str, int num, void *stream)
{
    Parser *p = stream;
    char *line = read_line(str, num, stream);
    if (line && line[0] == '[') on_header(p, line);
    return line;
}

/* ---- checks across keys -------------------------------------------------------- */

/* A [defaults] or [model.X] value for a key that an axis sweeps is dead. */
static void check_shadowed(Parser *p, const SweepSettings *s, const char *section)
{
    for (int i = 0; i < s->count; i++) {
        const SweepAxis *a = sweep_find_axis(p->sf, s->items[i].key);
        if (a)
            sweep_problems_add(p->pr, s->items[i].line, "%s is swept in [%s] (line %d); this [%s] value would "
                               "never be used", s->items[i].key, a->random ? "random" : "grid", a->line, section);
    }
}

const char *sweep_search_name(SearchKind search)
{
    return search == SEARCH_TPE ? "tpe" : search == SEARCH_RANDOM ? "random" : "grid";
}

static void check_whole(Parser *p)
{
    SweepFile *sf = p->sf;
    if (!p->line_sweep) sweep_problems_add(p->pr, 0, "no [sweep] section (it needs at least name = ...)");
    else if (!sf->line_name) sweep_problems_add(p->pr, p->line_sweep, "[sweep] has no name = ...");
    if (sf->line_tpe_startup && sf->search != SEARCH_TPE)
        sweep_problems_add(p->pr, sf->line_tpe_startup, "tpe_startup applies to search = tpe only");
    if (sf->search == SEARCH_TPE && sf->line_tpe_startup && sf->trials && sf->tpe_startup >= sf->trials)
        sweep_problems_add(p->pr, sf->line_tpe_startup, "tpe_startup (%d) is not below trials (%d): every trial would "
                           "be a random draw (use search = random)", sf->tpe_startup, sf->trials);
    if (sf->search == SEARCH_TPE) {
        if (!sf->line_trials)
            sweep_problems_add(p->pr, sf->line_search, "search = tpe needs trials = N in [sweep] (the trials in "
                                                       "all: the first random draws, the rest proposed)");
        if (sf->line_samples)
            sweep_problems_add(p->pr, sf->line_samples, "samples applies to search = random only (search = tpe "
                                                        "takes trials = N)");
        if (sf->scheduler.kind == SCHEDULER_ASHA || sf->scheduler.kind == SCHEDULER_HYPERBAND)
            sweep_problems_add(p->pr, sf->line_scheduler, "search = tpe (line %d) with scheduler = %s: not "
                               "supported; TPE takes pruning with scheduler = median:..., or use search = random "
                               "with asha", sf->line_search,
                               sf->scheduler.kind == SCHEDULER_ASHA ? "asha" : "hyperband");
    }
    if (sweep_draws(sf->search)) {
        const char *name = sweep_search_name(sf->search);
        int n_random = 0;
        for (int i = 0; i < sf->n_axes; i++) n_random += sf->axes[i].random;
        if (sf->search == SEARCH_RANDOM && !sf->line_samples && !sf->samples && !sf->line_trials)
            sweep_problems_add(p->pr, sf->line_search, "search = random needs samples = N (draws per grid point) "
                                                       "or trials = N (draws in all) in [sweep]");
        if (sf->line_samples && sf->line_trials)
            sweep_problems_add(p->pr, sf->line_trials, "trials and samples (line %d) exclude each other: trials = "
                               "N is the number of draws in all, samples = N the draws per grid point",
                               sf->line_samples);
        if (!n_random && !p->line_random)
            sweep_problems_add(p->pr, sf->line_search, "search = %s needs a [random] section with at least one key%s",
                               name, sf->search == SEARCH_TPE ? " (TPE proposes the [random] keys; a [grid]-only "
                                                                "sweep has nothing to propose)" : "");
    } else {
        if (p->line_random)
            sweep_problems_add(p->pr, p->line_random, "[random] needs search = random or tpe in [sweep]");
        if (sf->line_samples)
            sweep_problems_add(p->pr, sf->line_samples, "samples applies to search = random only");
        if (sf->line_trials)
            sweep_problems_add(p->pr, sf->line_trials, "trials applies to search = random or tpe only");
    }
    int prune_line = p->sweep_key_line[key_position("prune")];
    int scheduler_line = p->sweep_key_line[key_position("scheduler")];
    if (prune_line && scheduler_line)
        sweep_problems_add(p->pr, prune_line > scheduler_line ? prune_line : scheduler_line,
                           "prune and scheduler (lines %d and %d) are one setting: prune = median:... is scheduler "
                           "= median:...; keep one of them", prune_line < scheduler_line ? prune_line : scheduler_line,
                           prune_line > scheduler_line ? prune_line : scheduler_line);
    char section[SWEEP_KEY_MAX + 8];
    check_shadowed(p, &sf->defaults, "defaults");
    for (int i = 0; i < sf->n_models; i++) {
        snprintf(section, sizeof section, "model.%s", sf->models[i].model);
        check_shadowed(p, &sf->models[i].settings, section);
    }
}

/* ---- entry point ----------------------------------------------------------------- */

/* path opened for reading if it is a regular file of at most SWEEP_FILE_MAX
 * bytes; NULL with the problem added otherwise. O_NONBLOCK: opening a FIFO
 * must not wait for a writer before it is refused. */
static FILE *open_sweep_file(const char *path, SweepProblems *pr)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    char why[128] = "";
    if (fd < 0 || fstat(fd, &st)) snprintf(why, sizeof why, "%s", strerror(errno));
    else if (!S_ISREG(st.st_mode)) snprintf(why, sizeof why, "not a regular file");
    else if (st.st_size > SWEEP_FILE_MAX)
        snprintf(why, sizeof why, "it is larger than %d MiB (%lld bytes)", SWEEP_FILE_MAX >> 20,
                 (long long)st.st_size);
    FILE *f = why[0] ? NULL : fdopen(fd, "r");
    if (f) return f;
    if (!why[0]) snprintf(why, sizeof why, "%s", strerror(errno));
    sweep_problems_add(pr, 0, "cannot read the sweep file: %s", why);
    if (fd >= 0) close(fd);
    return NULL;
}

int sweep_file_parse(const char *path, SweepFile *sf, SweepProblems *pr)
{
    memset(sf, 0, sizeof *sf);
    snprintf(sf->path, sizeof sf->path, "%s", path);
    snprintf(sf->dataset, sizeof sf->dataset, "mnist");
    sf->ranks_per_trial = 1;
    sf->max_failures = -1;
    int before = pr->count;
    Parser p = {.sf = sf, .pr = pr, .file = open_sweep_file(path, pr)};
    if (!p.file) {
        sf->unreadable = 1;
        return pr->count - before;
    }
    int rc = ini_parse_stream(read_line_and_headers, &p, on_entry, &p);
    if (p.bytes_read == SWEEP_FILE_MAX && getc(p.file) != EOF)
        sweep_problems_add(pr, 0, "cannot read the sweep file: it grew past %d MiB while it was read",
                           SWEEP_FILE_MAX >> 20);
    fclose(p.file);
    name_index_free(&p.setting_keys);
    if (rc > 0)
        sweep_problems_add(pr, rc, "syntax error: expected [section], key = value, or a comment "
                                   "(the first such line; fix it and check again)");
    else if (rc < 0)
        sweep_problems_add(pr, 0, "cannot parse the sweep file (out of memory)");
    check_whole(&p);
    if (!sf->n_seeds) {
        sf->seeds = xcalloc(1, sizeof *sf->seeds);
        sf->n_seeds = 1;
    }
    if (!sf->out[0] && sf->name[0]) snprintf(sf->out, sizeof sf->out, "runs/%s", sf->name);
    return pr->count - before;
}

void sweep_file_free(SweepFile *sf)
{
    free(sf->seeds);
    free(sf->defaults.items);
    for (int i = 0; i < sf->n_models; i++) free(sf->models[i].settings.items);
    free(sf->models);
    for (int i = 0; i < sf->n_axes; i++)
        if (sf->axes[i].kind == AXIS_LIST) free_list(sf->axes[i].values, sf->axes[i].n_values);
    free(sf->axes);
    name_index_free(&sf->model_index);
    name_index_free(&sf->axis_index);
    memset(sf, 0, sizeof *sf);
}
