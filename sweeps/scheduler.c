#include "scheduler.h"
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sweep_file.h"   /* SWEEP_VALUE_MAX: the longest value a sweep file holds */
#include "util.h"

/* ---- the keys and the forms that take them ---------------------------------- */

typedef struct KeyRule {
    const char *key;
    size_t field;            /* offset of its int in SchedulerSpec */
    int lo, hi;
    const char *meaning;
} KeyRule;

enum { KEY_MIN_EPOCHS, KEY_ETA, KEY_MAX_EPOCHS, KEY_BRACKETS, N_KEYS };

static const KeyRule KEYS[N_KEYS] = {
    {"min_epochs", offsetof(SchedulerSpec, min_epochs), 1, SCHEDULER_EPOCHS_MAX, "the first rung, in epochs"},
    {"eta", offsetof(SchedulerSpec, eta), 2, SCHEDULER_EPOCHS_MAX,
     "a trial goes on past a rung only if in the top 1/eta of it"},
    {"max_epochs", offsetof(SchedulerSpec, max_epochs), 1, SCHEDULER_EPOCHS_MAX, "the most epochs a trial trains"},
    {"brackets", offsetof(SchedulerSpec, brackets), 1, ASHA_MAX_BRACKETS, "how many brackets of ASHA"},
};

#define BIT(k) (1u << (k))

typedef struct SchedulerForm {
    const char *name;
    SchedulerKind kind;
    const char *usage;
    unsigned allowed, required;
    int min_epochs, eta;     /* defaults where not required */
} SchedulerForm;

static const SchedulerForm FORMS[] = {
    {"asha", SCHEDULER_ASHA, "asha:min_epochs=R,eta=H[,max_epochs=M]",
     BIT(KEY_MIN_EPOCHS) | BIT(KEY_ETA) | BIT(KEY_MAX_EPOCHS), BIT(KEY_MIN_EPOCHS) | BIT(KEY_ETA), 0, 0},
    {"hyperband", SCHEDULER_HYPERBAND, "hyperband[:min_epochs=R,eta=H[,max_epochs=M][,brackets=B]]",
     BIT(KEY_MIN_EPOCHS) | BIT(KEY_ETA) | BIT(KEY_MAX_EPOCHS) | BIT(KEY_BRACKETS), 0, 1, 3},
};

static const SchedulerForm *find_form(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof FORMS / sizeof *FORMS; i++)
        if (strlen(FORMS[i].name) == len && !strncmp(FORMS[i].name, name, len)) return &FORMS[i];
    return NULL;
}

static int *spec_field(SchedulerSpec *s, int key) { return (int *)((char *)s + KEYS[key].field); }

/* ---- reading "key=value, key=value" ----------------------------------------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    char *end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t')) *--end = 0;
    return s;
}

static int whole_number_in(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static int key_index(const char *key)
{
    for (int k = 0; k < N_KEYS; k++)
        if (!strcmp(KEYS[k].key, key)) return k;
    return -1;
}

static void list_allowed_keys(const SchedulerForm *f, char *buf, size_t size)
{
    buf[0] = 0;
    for (int k = 0; k < N_KEYS; k++)
        if (f->allowed & BIT(k))
            snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", buf[0] ? ", " : "", KEYS[k].key);
}

/* One "key=value" into s; *seen gets its bit. */
static int parse_item(const SchedulerForm *f, char *item, SchedulerSpec *s, unsigned *seen, char *err, int size)
{
    char *eq = strchr(item, '=');
    if (!eq) {
        snprintf(err, (size_t)size, "%s: expected KEY=VALUE, got '%s' (%s)", f->name, trim(item), f->usage);
        return -1;
    }
    *eq = 0;
    char *key = trim(item), *value = trim(eq + 1), allowed[96];
    int k = key_index(key);
    if (k < 0 || !(f->allowed & BIT(k))) {
        list_allowed_keys(f, allowed, sizeof allowed);
        snprintf(err, (size_t)size, "%s: unknown key '%s' (expected %s)", f->name, key, allowed);
        return -1;
    }
    if (*seen & BIT(k)) {
        snprintf(err, (size_t)size, "%s: %s is given twice", f->name, key);
        return -1;
    }
    *seen |= BIT(k);
    if (whole_number_in(value, KEYS[k].lo, KEYS[k].hi, spec_field(s, k))) {
        snprintf(err, (size_t)size, "%s: %s must be a whole number from %d to %d (%s), got '%s'", f->name, key,
                 KEYS[k].lo, KEYS[k].hi, KEYS[k].meaning, value);
        return -1;
    }
    return 0;
}

/* The items after "name:" (NULL: there is no ':'), split at ','; an empty
 * item is an error. Then the required keys. */
static int parse_items(const SchedulerForm *f, const char *text, SchedulerSpec *s, char *err, int size)
{
    char copy[SWEEP_VALUE_MAX];
    if (text && strlen(text) >= sizeof copy) {
        snprintf(err, (size_t)size, "%s: the value is too long", f->name);
        return -1;
    }
    snprintf(copy, sizeof copy, "%s", text ? text : "");
    unsigned seen = 0;
    for (char *item = text ? copy : NULL, *next; item; item = next) {
        next = strchr(item, ',');
        if (next) *next++ = 0;
        if (parse_item(f, item, s, &seen, err, size)) return -1;
    }
    for (int k = 0; k < N_KEYS; k++)
        if ((f->required & BIT(k)) && !(seen & BIT(k))) {
            snprintf(err, (size_t)size, "%s: %s is missing (expected %s)", f->name, KEYS[k].key, f->usage);
            return -1;
        }
    return 0;
}

int scheduler_parse(const char *text, SchedulerSpec *spec, char *err, int err_size)
{
    size_t name_len = strcspn(text, ":");
    if (name_len == 6 && !strncmp(text, "median", 6)) {
        SchedulerSpec s = {.kind = SCHEDULER_MEDIAN};
        if (prune_rule_parse(text, &s.median, err, err_size)) return -1;
        *spec = s;
        return 0;
    }
    const SchedulerForm *f = find_form(text, name_len);
    if (!f) {
        snprintf(err, (size_t)err_size,
                 "unknown scheduler '%.*s' (expected median:warmup=E[:min_trials=N], "
                 "asha:min_epochs=R,eta=H[,max_epochs=M] or "
                 "hyperband[:min_epochs=R,eta=H[,max_epochs=M][,brackets=B]])",
                 (int)name_len, text);
        return -1;
    }
    SchedulerSpec s = {.kind = f->kind, .min_epochs = f->min_epochs, .eta = f->eta};
    if (parse_items(f, text[name_len] ? text + name_len + 1 : NULL, &s, err, err_size)) return -1;
    if (s.max_epochs && s.min_epochs > s.max_epochs) {
        snprintf(err, (size_t)err_size, "%s: min_epochs (%d) is above max_epochs (%d)", f->name, s.min_epochs,
                 s.max_epochs);
        return -1;
    }
    *spec = s;
    return 0;
}

/* ---- rungs and brackets ----------------------------------------------------- */

static const char *spec_name(const SchedulerSpec *s) { return s->kind == SCHEDULER_ASHA ? "asha" : "hyperband"; }

int scheduler_max_epochs(const SchedulerSpec *spec, int epochs)
{
    return spec->max_epochs ? spec->max_epochs : epochs;
}

/* Rungs first, first * eta, ... strictly below max_epochs; their count. */
static int rungs_from(long first, int eta, int max_epochs, int *out)
{
    int n = 0;
    for (long e = first; e < max_epochs; e *= eta) {
        if (out) out[n] = (int)e;
        n++;
    }
    return n;
}

static long power(long base, int exponent)
{
    long p = 1;
    while (exponent-- > 0) p *= base;
    return p;
}

/* Brackets that fit: one per rung of bracket 0, and one without rungs. */
static int brackets_that_fit(const SchedulerSpec *s, int max_epochs)
{
    return rungs_from(s->min_epochs, s->eta, max_epochs, NULL) + 1;
}

int scheduler_check_epochs(const SchedulerSpec *spec, int epochs, char *err, int err_size)
{
    if (spec->kind != SCHEDULER_ASHA && spec->kind != SCHEDULER_HYPERBAND) return 0;
    const char *name = spec_name(spec);
    if (spec->max_epochs > epochs) {
        snprintf(err, (size_t)err_size,
                 "%s: max_epochs (%d) is above epochs (%d): a trial cannot train past its epochs", name,
                 spec->max_epochs, epochs);
        return -1;
    }
    int max_epochs = scheduler_max_epochs(spec, epochs);
    if (spec->min_epochs > max_epochs) {
        snprintf(err, (size_t)err_size, "%s: min_epochs (%d) is above epochs (%d)", name, spec->min_epochs, epochs);
        return -1;
    }
    int fit = brackets_that_fit(spec, max_epochs);
    if (spec->kind == SCHEDULER_HYPERBAND && spec->brackets > fit) {
        snprintf(err, (size_t)err_size,
                 "hyperband: brackets=%d, but only %d fit with min_epochs %d, eta %d and max_epochs %d (one per rung "
                 "below %d epochs, and one without rungs)",
                 spec->brackets, fit, spec->min_epochs, spec->eta, max_epochs, max_epochs);
        return -1;
    }
    return 0;
}

/* Hyperband's trial count for a bracket of s halvings when the most
 * aggressive one has s_max: ceil((s_max + 1) * eta^s / (s + 1)). */
static long hyperband_weight(int s, int s_max, int eta)
{
    long num = (long)(s_max + 1) * power(eta, s);
    return (num + s) / (s + 1);
}

void scheduler_layout(const SchedulerSpec *spec, int epochs, AshaLayout *layout)
{
    char err[256];
    CHECK(!scheduler_check_epochs(spec, epochs, err, sizeof err), "scheduler_layout: %s", err);
    AshaLayout l = {.eta = spec->eta, .max_epochs = scheduler_max_epochs(spec, epochs), .n_brackets = 1};
    if (spec->kind == SCHEDULER_HYPERBAND)
        l.n_brackets = spec->brackets ? spec->brackets : brackets_that_fit(spec, l.max_epochs);
    long first = spec->min_epochs;
    for (int b = 0; b < l.n_brackets; b++, first *= spec->eta) {
        AshaBracket *br = &l.brackets[b];
        br->n_rungs = rungs_from(first, spec->eta, l.max_epochs, br->rung_epochs);
        br->weight = 1;
    }
    if (spec->kind == SCHEDULER_HYPERBAND)
        for (int b = 0; b < l.n_brackets; b++)
            l.brackets[b].weight = hyperband_weight(l.brackets[b].n_rungs, l.brackets[0].n_rungs, spec->eta);
    *layout = l;
}

/* ---- describe --------------------------------------------------------------- */

typedef struct Text {
    char *buf;
    int size, len;
} Text;

static void add(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(Text *t, const char *fmt, ...)
{
    if (t->len >= t->size - 1) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, (size_t)(t->size - t->len), fmt, ap);
    va_end(ap);
    if (n > 0) t->len = t->len + n < t->size - 1 ? t->len + n : t->size - 1;
}

static void add_rungs(Text *t, const AshaBracket *br, int max_epochs)
{
    if (!br->n_rungs) {
        add(t, "no rung: every trial trains %d epochs", max_epochs);
        return;
    }
    add(t, "%s at ", br->n_rungs > 1 ? "rungs" : "rung");
    for (int k = 0; k < br->n_rungs; k++) add(t, "%s%d", k ? ", " : "", br->rung_epochs[k]);
    add(t, " epochs, then %d (max_epochs)", max_epochs);
}

static void add_rule(Text *t, int eta)
{
    add(t, "\n  at each rung a trial goes on only if it is in the top 1/%d of the trials that reached it, else it "
           "stops there", eta);
    add(t, "\n  a free rank promotes a waiting trial before it starts a new one");
}

static void add_budget(Text *t, const AshaLayout *l)
{
    double per_trial = asha_expected_epochs(l);
    add(t, "\n  budget: about %.2f epochs per trial started (%.0f%% of %d) if each rung keeps exactly its top 1/%d",
        per_trial, 100 * per_trial / l->max_epochs, l->max_epochs, l->eta);
}

static void describe_asha(Text *t, const AshaLayout *l)
{
    add(t, "asha: ");
    add_rungs(t, &l->brackets[0], l->max_epochs);
    if (l->brackets[0].n_rungs) {
        add_rule(t, l->eta);
        add_budget(t, l);
    }
}

static void describe_hyperband(Text *t, const AshaLayout *l)
{
    long total = 0;
    for (int b = 0; b < l->n_brackets; b++) total += l->brackets[b].weight;
    add(t, "hyperband: %d bracket%s of ASHA with eta %d, at most %d epochs per trial", l->n_brackets,
        l->n_brackets > 1 ? "s" : "", l->eta, l->max_epochs);
    for (int b = 0; b < l->n_brackets; b++) {
        add(t, "\n  bracket %d (%ld of every %ld trials, interleaved): ", b, l->brackets[b].weight, total);
        add_rungs(t, &l->brackets[b], l->max_epochs);
    }
    add_rule(t, l->eta);
    add_budget(t, l);
}

static void describe_median(Text *t, const PruneRule *r, int epochs)
{
    add(t, "median: after each epoch from %d to %d, a trial whose validation accuracy is below the median of the "
           "other trials of its model at that epoch (at least %d of them) stops, status pruned",
        r->warmup, epochs - 1, r->min_trials);
    if (r->warmup >= epochs)
        add(t, "\n  warmup %d leaves no epoch before the last (%d): nothing is pruned", r->warmup, epochs);
    add(t, "\n  at most %d epochs per trial", epochs);
}

void scheduler_describe(const SchedulerSpec *spec, int epochs, char *buf, int size)
{
    Text t = {buf, size, 0};
    buf[0] = 0;
    AshaLayout l;
    switch (spec->kind) {
    case SCHEDULER_NONE: add(&t, "no scheduler: every trial trains %d epochs", epochs); break;
    case SCHEDULER_MEDIAN: describe_median(&t, &spec->median, epochs); break;
    case SCHEDULER_ASHA:
        scheduler_layout(spec, epochs, &l);
        describe_asha(&t, &l);
        break;
    case SCHEDULER_HYPERBAND:
        scheduler_layout(spec, epochs, &l);
        describe_hyperband(&t, &l);
        break;
    }
}
