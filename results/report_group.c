/* Grouping runs into table rows and the statistics of each row. */
#include "report.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

void report_stats(const double *x, int n, ReportStats *s)
{
    s->n = n;
    s->mean = s->std = s->min = s->max = NAN;
    if (n == 0) return;
    double sum = 0;
    s->min = s->max = x[0];
    for (int i = 0; i < n; i++) {
        sum += x[i];
        if (x[i] < s->min) s->min = x[i];
        if (x[i] > s->max) s->max = x[i];
    }
    s->mean = sum / n;
    if (n < 2) return;
    /* two passes: the deviations are small next to the accuracies */
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (x[i] - s->mean) * (x[i] - s->mean);
    s->std = sqrt(ss / (n - 1));
}

/* Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom. */
static const double T975[30] = {
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
};

double report_t975(int df)
{
    if (df < 1) return NAN;
    if (df <= 30) return T975[df - 1];
    /* Cornish-Fisher around the normal quantile; 4 decimals for df > 30 */
    double z = 1.959963985, v = df, z3 = z * z * z, z5 = z3 * z * z;
    return z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v * v);
}

void report_ci95(const ReportStats *s, double *lo, double *hi)
{
    *lo = *hi = NAN;
    if (s->n < 2 || isnan(s->std)) return;
    double half = report_t975(s->n - 1) * s->std / sqrt((double)s->n);
    *lo = s->mean - half;
    *hi = s->mean + half;
}

void report_options_default(ReportOptions *o)
{
    memset(o, 0, sizeof *o);
    o->metric = METRIC_FINAL;
    o->n_keys = 1;
    snprintf(o->keys[0], sizeof o->keys[0], "model");
}

int report_parse_group_by(const char *text, ReportOptions *o, char *err, int err_size)
{
    o->n_keys = 1;
    snprintf(o->keys[0], sizeof o->keys[0], "model");
    const char *p = text;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || len >= REPORT_NAME_MAX) {
            snprintf(err, err_size, "--group-by: expected KEY[,KEY...] with non-empty keys of at "
                                    "most %d characters, got '%s'", REPORT_NAME_MAX - 1, text);
            return -1;
        }
        char key[REPORT_NAME_MAX];
        snprintf(key, sizeof key, "%.*s", (int)len, p);
        int dup = 0;
        for (int i = 0; i < o->n_keys; i++) dup |= !strcmp(o->keys[i], key);
        if (!dup) {
            if (o->n_keys == REPORT_MAX_KEYS) {
                snprintf(err, err_size, "--group-by: at most %d keys besides model, got '%s'",
                         REPORT_MAX_KEYS - 1, text);
                return -1;
            }
            snprintf(o->keys[o->n_keys++], REPORT_NAME_MAX, "%s", key);
        }
        p += len + (comma != NULL);
    }
    return 0;
}

int report_compare_values(const char *a, const char *b)
{
    char *ea, *eb;
    double x = strtod(a, &ea), y = strtod(b, &eb);
    int na = *a && !*ea, nb = *b && !*eb;
    if (na && nb && x != y) return x < y ? -1 : 1;
    if (na != nb) return na ? -1 : 1;   /* numbers before text */
    return strcmp(a, b);
}

/* ---- varying keys ------------------------------------------------------------ */

static int has_name(char names[][REPORT_NAME_MAX], int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], name)) return 1;
    return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(a, b); }

int report_varying_keys(const ReportRuns *runs, const char *model, char names[][REPORT_NAME_MAX],
                        int max)
{
    int n = 0;
    const ReportRun *first = NULL;
    for (int i = 0; i < runs->count; i++) {
        const ReportRun *r = &runs->runs[i];
        if (strcmp(r->model, model)) continue;
        if (!first) {
            first = r;
            continue;
        }
        /* a key differs when its value (or its presence) differs from the
         * first run's, in either direction */
        for (int pass = 0; pass < 2; pass++) {
            const ReportRun *a = pass ? first : r, *b = pass ? r : first;
            for (int k = 0; k < a->n_attrs && n < max; k++) {
                const ReportAttr *at = &a->attrs[k];
                if (!at->hparam || has_name(names, n, at->name)) continue;
                const char *other = report_run_value(b, at->name);
                if (!other || strcmp(other, at->value))
                    snprintf(names[n++], REPORT_NAME_MAX, "%s", at->name);
            }
        }
    }
    qsort(names, (size_t)n, REPORT_NAME_MAX, by_name);
    return n;
}

/* ---- groups ------------------------------------------------------------------ */

static const char *value_or_dash(const ReportRun *r, const char *key)
{
    const char *v = report_run_value(r, key);
    return v && *v ? v : "-";
}

static int find_group(const ReportGroups *g, const ReportOptions *o, const ReportRun *r)
{
    for (int i = 0; i < g->count; i++) {
        int same = 1;
        for (int k = 0; k < o->n_keys && same; k++)
            same = !strcmp(g->groups[i].values[k], value_or_dash(r, o->keys[k]));
        if (same) return i;
    }
    return -1;
}

static void append_distinct(char *list, size_t size, const char *item)
{
    if (!*item) return;
    /* exact item match in ", "-separated list */
    size_t n = strlen(item);
    for (const char *p = list; (p = strstr(p, item)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == 0 || p[n] == ',')) return;
    size_t used = strlen(list);
    snprintf(list + used, size - used, "%s%s", used ? ", " : "", item);
}

/* "key=value, ..." of the best run, for the varying keys not grouped by. */
static void describe_best(const ReportRuns *runs, const ReportOptions *o, ReportGroup *g)
{
    char names[64][REPORT_NAME_MAX];
    g->best_hparams[0] = 0;
    if (g->best_run < 0) return;
    const ReportRun *best = &runs->runs[g->best_run];
    int n = report_varying_keys(runs, best->model, names, 64);
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        int grouped = 0;
        for (int k = 0; k < o->n_keys; k++) grouped |= !strcmp(o->keys[k], names[i]);
        if (grouped) continue;
        int w = snprintf(g->best_hparams + used, sizeof g->best_hparams - used, "%s%s=%s",
                         used ? ", " : "", names[i], value_or_dash(best, names[i]));
        if (w < 0 || used + (size_t)w >= sizeof g->best_hparams) break;
        used += (size_t)w;
    }
}

/* The accuracies of a group's complete runs, one array per statistic. */
typedef struct Samples {
    int n[5];
    double *x[5];
} Samples;
enum { S_METRIC, S_LAST, S_AT_BEST, S_VAL_AT_BEST, S_BEST_EPOCH };

static void add_sample(Samples *s, int which, double v)
{
    if (!isnan(v)) s->x[which][s->n[which]++] = v;
}

static void sample_run(const ReportRun *r, const ReportOptions *o, Samples *s)
{
    ReportOptions at_best = *o;
    at_best.metric = METRIC_BEST;
    add_sample(s, S_METRIC, report_run_metric(r, o));
    add_sample(s, S_LAST, r->final_acc);
    add_sample(s, S_AT_BEST, report_run_metric(r, &at_best));
    add_sample(s, S_VAL_AT_BEST, r->best_val_acc);
    add_sample(s, S_BEST_EPOCH, r->best_epoch > 0 ? r->best_epoch : NAN);
}

static void summarise(const ReportRuns *runs, const ReportOptions *o, ReportGroup *g)
{
    Samples smp = {{0}, {0}};
    for (int k = 0; k < 5; k++) smp.x[k] = xcalloc((size_t)g->n_members + 1, sizeof(double));
    double sec_sum = 0;
    int n_sec = 0;
    g->params_min = g->params_max = -1;
    for (int m = 0; m < g->n_members; m++) {
        const ReportRun *r = &runs->runs[g->members[m]];
        g->count[r->status]++;
        g->total++;
        if (r->status != STATUS_COMPLETE) continue;
        sample_run(r, o, &smp);
        g->n_without_validation += !r->has_validation;
        if (!isnan(r->sec_per_epoch)) sec_sum += r->sec_per_epoch, n_sec++;
        if (r->param_count >= 0) {
            if (g->params_min < 0 || r->param_count < g->params_min) g->params_min = r->param_count;
            if (r->param_count > g->params_max) g->params_max = r->param_count;
        }
        append_distinct(g->devices, sizeof g->devices, r->device);
    }
    ReportStats *stats[5] = {&g->acc, &g->last, &g->at_best, &g->val_at_best, &g->best_epoch};
    for (int k = 0; k < 5; k++) {
        report_stats(smp.x[k], smp.n[k], stats[k]);
        free(smp.x[k]);
    }
    g->sec_per_epoch = n_sec ? sec_sum / n_sec : NAN;
    g->best_run = report_best_run(runs, g->members, g->n_members, o);
    g->best_on_test = g->best_run >= 0 && report_run_chosen_on_test(&runs->runs[g->best_run], o);
    g->best_trial_acc = g->best_run >= 0 ? report_run_metric(&runs->runs[g->best_run], o) : NAN;
    describe_best(runs, o, g);
}

/* ---- sorting ------------------------------------------------------------------ */

typedef struct SortSpec {
    int key;          /* index into the group keys, or -1 */
    int column;       /* a numeric column when key < 0 */
    int descending;
} SortSpec;

enum { COL_MEAN, COL_STD, COL_BEST, COL_PARAMS, COL_SECONDS, COL_TRIALS, COL_COMPLETE };
static const char *const SORT_COLUMNS[] = {"mean", "std", "best", "params", "s_per_epoch", "trials",
                                           "complete"};
#define N_SORT_COLUMNS 7

static const ReportOptions *sort_opts;
static SortSpec sort_spec;

static double column_value(const ReportGroup *g, int column)
{
    switch (column) {
    case COL_MEAN: return g->acc.mean;
    case COL_STD: return g->acc.std;
    case COL_BEST: return g->best_trial_acc;
    case COL_PARAMS: return g->params_max < 0 ? NAN : (double)g->params_max;
    case COL_SECONDS: return g->sec_per_epoch;
    case COL_TRIALS: return g->total;
    default: return g->count[STATUS_COMPLETE];
    }
}

static int by_keys(const ReportGroup *a, const ReportGroup *b)
{
    for (int k = 0; k < sort_opts->n_keys; k++) {
        int c = report_compare_values(a->values[k], b->values[k]);
        if (c) return c;
    }
    return 0;
}

static int compare_groups(const void *pa, const void *pb)
{
    const ReportGroup *a = pa, *b = pb;
    int c = 0, sign = sort_spec.descending ? -1 : 1;
    if (sort_spec.key >= 0) {
        c = sign * report_compare_values(a->values[sort_spec.key], b->values[sort_spec.key]);
    } else if (sort_spec.column >= 0) {
        double x = column_value(a, sort_spec.column), y = column_value(b, sort_spec.column);
        if (isnan(x) != isnan(y)) return isnan(x) ? 1 : -1;   /* unknown last either way */
        if (!isnan(x) && x != y) c = sign * (x < y ? -1 : 1);
    }
    return c ? c : by_keys(a, b);
}

/* "mean", "-params", "+best", "lr" (a group key), or the data column
 * names of the table (final_mean_pct, ...). Accuracies sort best first
 * unless "+" says otherwise; everything else ascending unless "-". */
static int parse_sort(const ReportOptions *o, SortSpec *s, char *err, int err_size)
{
    const char *name = o->sort;
    s->key = -1;
    s->column = -1;
    s->descending = 0;
    if (!*name) return 0;
    int forced = *name == '+' || *name == '-';
    int forced_desc = *name == '-';
    if (forced) name++;
    for (int k = 0; k < o->n_keys; k++)
        if (!strcmp(o->keys[k], name)) s->key = k;
    for (int c = 0; c < N_SORT_COLUMNS && s->key < 0; c++) {
        char data_name[96];
        if (c == COL_BEST) snprintf(data_name, sizeof data_name, "best_trial_test_pct");
        else snprintf(data_name, sizeof data_name, "%s_%s_pct", report_metric_key(o->metric), SORT_COLUMNS[c]);
        if (!strcmp(SORT_COLUMNS[c], name) || (c <= COL_BEST && !strcmp(data_name, name)))
            s->column = c;
    }
    if (s->key < 0 && s->column < 0) {
        snprintf(err, err_size, "--sort: unknown column '%s' (expected mean, std, best, params, "
                                "s_per_epoch, trials, complete or a --group-by key, optionally "
                                "prefixed with + or -)", o->sort);
        return -1;
    }
    s->descending = forced ? forced_desc : (s->column == COL_MEAN || s->column == COL_BEST);
    return 0;
}

int report_group(const ReportRuns *runs, const ReportOptions *o, ReportGroups *out, char *err,
                 int err_size)
{
    memset(out, 0, sizeof *out);
    SortSpec spec;
    if (parse_sort(o, &spec, err, err_size) != 0) return -1;
    out->groups = xcalloc((size_t)(runs->count ? runs->count : 1), sizeof *out->groups);
    for (int i = 0; i < runs->count; i++) {
        const ReportRun *r = &runs->runs[i];
        int g = find_group(out, o, r);
        if (g < 0) {
            g = out->count++;
            for (int k = 0; k < o->n_keys; k++)
                snprintf(out->groups[g].values[k], REPORT_VALUE_MAX, "%s", value_or_dash(r, o->keys[k]));
            out->groups[g].members = xcalloc((size_t)runs->count, sizeof(int));
        }
        out->groups[g].members[out->groups[g].n_members++] = i;
    }
    for (int g = 0; g < out->count; g++) summarise(runs, o, &out->groups[g]);
    sort_opts = o;
    sort_spec = spec;
    qsort(out->groups, (size_t)out->count, sizeof *out->groups, compare_groups);
    return 0;
}

void report_groups_free(ReportGroups *g)
{
    for (int i = 0; i < g->count; i++) free(g->groups[i].members);
    free(g->groups);
    memset(g, 0, sizeof *g);
}
