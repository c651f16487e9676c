/* Building the tables (what is in each cell); report_format.c writes them. */
#include "report.h"
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

#define MAX_COLS 256

/* ---- the Table container --------------------------------------------------- */

static void table_init(Table *t, ReportMetric metric)
{
    memset(t, 0, sizeof *t);
    t->metric = metric;
    t->cols = xcalloc(MAX_COLS, sizeof *t->cols);
}

static int add_col(Table *t, const char *key, const char *title, int view, int right)
{
    CHECK(t->ncols < MAX_COLS && t->nrows == 0, "table: too many columns or columns after rows");
    TableCol *c = &t->cols[t->ncols];
    snprintf(c->key, sizeof c->key, "%s", key);
    snprintf(c->title, sizeof c->title, "%s", title);
    c->view = view;
    c->right = right;
    return t->ncols++;
}

static int add_row(Table *t)
{
    if (t->nrows == t->cap_rows) {
        t->cap_rows = t->cap_rows ? 2 * t->cap_rows : 16;
        t->cells = xrealloc(t->cells, (size_t)t->cap_rows * (size_t)t->ncols * sizeof *t->cells);
    }
    TableCell *row = &t->cells[(size_t)t->nrows * (size_t)t->ncols];
    memset(row, 0, (size_t)t->ncols * sizeof *row);
    return t->nrows++;
}

static TableCell *cell(Table *t, int row, int col) { return &t->cells[(size_t)row * t->ncols + col]; }

static void set_text(Table *t, int row, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_text(Table *t, int row, int col, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    TableCell *c = cell(t, row, col);
    free(c->text);
    c->text = strdup(buf);
}

/* A number for the data formats; text for the text formats. NaN: empty. */
static void set_num(Table *t, int row, int col, double v, int is_int, const char *text)
{
    TableCell *c = cell(t, row, col);
    if (isnan(v)) return;
    c->has_num = 1;
    c->is_int = is_int;
    c->num = v;
    free(c->text);
    c->text = strdup(text);
}

/* A group key's value: a number in the data formats when it reads as one. */
static void set_value(Table *t, int row, int col, const char *v)
{
    char *end;
    double x = strtod(v, &end);
    if (*v && !*end && isfinite(x)) set_num(t, row, col, x, 0, v);
    else set_text(t, row, col, "%s", v);
}

static void add_note(Table *t, const char *fmt, const char *arg)
{
    char buf[2048];
    snprintf(buf, sizeof buf, fmt, arg);
    t->notes = xrealloc(t->notes, (size_t)(t->n_notes + 1) * sizeof *t->notes);
    t->notes[t->n_notes++] = strdup(buf);
}

void table_free(Table *t)
{
    for (long i = 0; i < (long)t->nrows * t->ncols; i++) free(t->cells[i].text);
    for (int i = 0; i < t->n_notes; i++) free(t->notes[i]);
    free(t->cells);
    free(t->cols);
    free(t->notes);
    memset(t, 0, sizeof *t);
}

/* The container for tables built in other files (report_importance.c). */
void table_begin(Table *t, ReportMetric metric) { table_init(t, metric); }
int table_column(Table *t, const char *key, const char *title, int view, int right)
{
    return add_col(t, key, title, view, right);
}
int table_new_row(Table *t) { return add_row(t); }
void table_cell_text(Table *t, int row, int col, const char *text) { set_text(t, row, col, "%s", text); }
void table_cell_num(Table *t, int row, int col, double v, int is_int)
{
    TableCell *c = cell(t, row, col);
    char *keep = c->text ? strdup(c->text) : strdup("");
    set_num(t, row, col, v, is_int, keep);   /* the number beside the text already set */
    free(keep);
}

/* ---- formatting helpers ------------------------------------------------------ */

static void thousands(long v, char *buf, size_t size)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%ld", v);
    size_t n = strlen(digits), j = 0;
    for (size_t i = 0; i < n && j + 2 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0) buf[j++] = ',';
        buf[j++] = digits[i];
    }
    buf[j] = 0;
}

static void seconds_text(double s, char *buf, size_t size)
{
    snprintf(buf, size, s >= 10 ? "%.1f" : "%.2f", s);
}

/* "97.50 ± 0.71", or "97.50" when one trial gives no deviation. */
static void mean_std_text(const ReportStats *s, char *buf, size_t size)
{
    if (s->n == 0) snprintf(buf, size, "-");
    else if (isnan(s->std)) snprintf(buf, size, "%.2f", 100 * s->mean);
    else snprintf(buf, size, "%.2f ± %.2f", 100 * s->mean, 100 * s->std);
}

static void caption(Table *t, const ReportOptions *o, const char *what)
{
    const char *metric = o->metric == METRIC_BEST ? "the test accuracy at the best-validation epoch"
                                                  : "the test accuracy after the last epoch";
    int used = snprintf(t->caption, sizeof t->caption,
                        "%s Accuracies in %%; mean ± sample standard deviation (n - 1) over the complete "
                        "trials; runs with another status are counted, not averaged. --metric %s: "
                        "%s. Every choice (best epoch, best trial) is made on the validation split, "
                        "never on the test set.",
                        what, report_metric_name(o->metric), metric);
    if (o->select_on_test && used > 0 && (size_t)used < sizeof t->caption)
        snprintf(t->caption + used, sizeof t->caption - (size_t)used,
                 " Except with --select-on-test: runs without validation take their best epoch "
                 "and best trial on the TEST set (optimistic), marked where they show.");
}

static void skipped_notes(Table *t, const ReportRuns *runs)
{
    for (int i = 0; i < runs->n_skipped; i++) add_note(t, "skipped %s", runs->skipped[i]);
}

/* ---- the main table ------------------------------------------------------------ */

static void not_averaged_text(const ReportGroup *g, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (int s = STATUS_RUNNING; s < STATUS_COUNT && used < size; s++)
        if (g->count[s])
            used += (size_t)snprintf(buf + used, size - used, "%s%d %s", used ? ", " : "",
                                     g->count[s], report_status_name((ReportStatus)s));
}

/* Which numbers the main table shows: the best-epoch columns when any run
 * has validation (or --select-on-test stands in for it under --metric
 * best). */
typedef struct Shown {
    int at_best, validation, mixed;   /* mixed: test-chosen runs in the best column */
} Shown;

static Shown shown_columns(const ReportRuns *runs, const ReportOptions *o)
{
    int with = 0, without = 0;
    for (int i = 0; i < runs->count; i++) {
        with += runs->runs[i].has_validation;
        without += !runs->runs[i].has_validation;
    }
    Shown s = {with > 0, with > 0, o->select_on_test && without > 0};
    if (s.mixed && o->metric == METRIC_BEST) s.at_best = 1;
    return s;
}

/* A "mean ± std" text column and its two data columns; returns the first. */
static int add_stat_cols(Table *t, const char *key, const char *title)
{
    char k[160];
    int c = add_col(t, key, title, VIEW_TEXT, 1);
    snprintf(k, sizeof k, "%s_mean_pct", key);
    add_col(t, k, "mean", VIEW_DATA, 1);
    snprintf(k, sizeof k, "%s_std_pct", key);
    add_col(t, k, "std", VIEW_DATA, 1);
    return c;
}

static void set_stat_cols(Table *t, int r, int c, const ReportStats *s)
{
    char buf[128];
    mean_std_text(s, buf, sizeof buf);
    set_text(t, r, c, "%s", buf);
    set_num(t, r, c + 1, 100 * s->mean, 0, "");
    set_num(t, r, c + 2, 100 * s->std, 0, "");
}

/* --reference, per source: what it reports, the measured --metric mean
 * minus its mean, whether its mean lies in the measured 95 % CI, and
 * whether its parameter count is the measured one. Columns per source
 * (REF_COLS of them); returns the first (or the count when none). */
#define REF_COLS 8
static int reference_cols(Table *t, const ReportReference *ref)
{
    int first = t->ncols;
    static const char *const keys[REF_COLS] = {"reported", "reported_mean_pct", "reported_best_pct",
                                               "reported_params", "diff_pct", "mean_in_ci95",
                                               "params_match", NULL};
    static const char *const titles[REF_COLS] = {"reported", "", "", "", "measured - reported (points)",
                                                 "reported mean in measured 95 % CI", "params match", NULL};
    static const int views[REF_COLS] = {VIEW_TEXT, VIEW_DATA, VIEW_DATA, VIEW_DATA, VIEW_BOTH, VIEW_BOTH,
                                        VIEW_BOTH, 0};
    for (int l = 0; ref && l < ref->n_sources; l++)
        for (int k = 0; k < REF_COLS - 1; k++) {
            char key[160], title[160];
            snprintf(key, sizeof key, "%s:%.120s", keys[k], ref->sources[l]);
            snprintf(title, sizeof title, "%.100s: %s", ref->sources[l], titles[k]);
            add_col(t, key, title, views[k], 1);
        }
    if (ref) {
        add_col(t, "measured_ci95_low_pct", "measured 95 % CI low", VIEW_DATA, 1);
        add_col(t, "measured_ci95_high_pct", "measured 95 % CI high", VIEW_DATA, 1);
    }
    return first;
}

/* "99.32 mean, 99.10 best, 50,800 params"; "-" when nothing is stated. */
static void reported_text(const ReportClaim *cl, char *buf, size_t size)
{
    size_t used = 0;
    char n[32];
    buf[0] = 0;
    if (!isnan(cl->mean_pct)) used += (size_t)snprintf(buf + used, size - used, "%.2f mean", cl->mean_pct);
    if (!isnan(cl->best_pct) && used < size)
        used += (size_t)snprintf(buf + used, size - used, "%s%.2f best", used ? ", " : "", cl->best_pct);
    if (cl->params >= 0 && used < size) {
        thousands(cl->params, n, sizeof n);
        used += (size_t)snprintf(buf + used, size - used, "%s%s params", used ? ", " : "", n);
    }
    if (!used) snprintf(buf, size, "-");
}

/* The t-based 95 % CI of the mean of s (fractions), in %; 0 when n < 2. */
static int mean_ci95(const ReportStats *s, double *lo, double *hi)
{
    if (s->n < 2) return 0;
    double h = stats_t_quantile(0.975, s->n - 1) * s->std / sqrt(s->n);
    *lo = 100 * (s->mean - h);
    *hi = 100 * (s->mean + h);
    return 1;
}

static void fill_claim(Table *t, int r, int c, const ReportClaim *cl, const ReportGroup *g)
{
    char buf[256];
    double lo = NAN, hi = NAN;
    int has_ci = mean_ci95(&g->acc, &lo, &hi);
    reported_text(cl, buf, sizeof buf);
    set_text(t, r, c, "%s", buf);
    set_num(t, r, c + 1, cl->mean_pct, 0, "");
    set_num(t, r, c + 2, cl->best_pct, 0, "");
    if (cl->params >= 0) set_num(t, r, c + 3, (double)cl->params, 1, "");
    double diff = 100 * g->acc.mean - cl->mean_pct;
    snprintf(buf, sizeof buf, "%+.2f", diff);
    if (isnan(diff)) set_text(t, r, c + 4, "-");
    else set_num(t, r, c + 4, diff, 0, buf);
    if (isnan(cl->mean_pct) || g->acc.n == 0) set_text(t, r, c + 5, "-");
    else set_text(t, r, c + 5, "%s", !has_ci ? "n<2" : cl->mean_pct >= lo && cl->mean_pct <= hi ? "yes" : "no");
    if (cl->params < 0 || g->params_min < 0) set_text(t, r, c + 6, "-");
    else set_text(t, r, c + 6, "%s", g->params_min == cl->params && g->params_max == cl->params ? "yes" : "no");
}

/* The row's reference columns (on the rows of a model the file names). */
static void fill_reference(Table *t, int r, int first, const ReportReference *ref, const ReportGroup *g)
{
    double lo, hi;
    if (!ref) return;
    for (int i = 0; i < ref->count; i++) {
        const ReportClaim *cl = &ref->claims[i];
        if (strcmp(cl->model, g->values[0])) continue;
        int l = 0;
        while (strcmp(ref->sources[l], cl->source)) l++;
        fill_claim(t, r, first + (REF_COLS - 1) * l, cl, g);
    }
    int c = first + (REF_COLS - 1) * ref->n_sources;
    if (mean_ci95(&g->acc, &lo, &hi)) {
        set_num(t, r, c, lo, 0, "");
        set_num(t, r, c + 1, hi, 0, "");
    }
}

/* The reference's notes on the models of the table. */
static void reference_notes(Table *t, const ReportReference *ref, const ReportGroups *groups)
{
    char buf[1024];
    for (int i = 0; ref && i < ref->count; i++) {
        int shown = 0;
        for (int g = 0; g < groups->count && !shown; g++) shown = !strcmp(groups->groups[g].values[0], ref->claims[i].model);
        if (!shown || !*ref->claims[i].notes) continue;
        snprintf(buf, sizeof buf, "%s, %s: %s", ref->claims[i].source, ref->claims[i].model, ref->claims[i].notes);
        add_note(t, "%s", buf);
    }
}

typedef struct MainCols {
    int trials, complete, total, other, status, last, at_best, val_best, epoch, no_val;
    int best, params, sec, device, hp, file, chosen_on, claims;
} MainCols;

static void add_main_cols(Table *t, const ReportOptions *o, Shown sh, MainCols *c)
{
    for (int k = 0; k < o->n_keys; k++) add_col(t, o->keys[k], o->keys[k], VIEW_BOTH, k > 0);
    c->trials = add_col(t, "trials_text", "trials", VIEW_TEXT, 1);
    c->complete = add_col(t, "complete", "complete", VIEW_DATA, 1);
    c->total = add_col(t, "trials", "trials", VIEW_DATA, 1);
    c->other = add_col(t, "not_averaged", "not averaged", VIEW_TEXT, 0);
    c->status = t->ncols;
    for (int s = STATUS_RUNNING; s < STATUS_COUNT; s++)
        add_col(t, report_status_name((ReportStatus)s), report_status_name((ReportStatus)s), VIEW_DATA, 1);
    c->last = add_stat_cols(t, "test_last", "test acc, last epoch");
    c->at_best = c->val_best = c->epoch = -1;
    if (sh.at_best)
        c->at_best = add_stat_cols(t, "test_at_best", sh.mixed ? "test acc @ best epoch (best-val; best-TEST "
                                                                 "where no val: optimistic)"
                                                               : "test acc @ best-val epoch");
    if (sh.validation) {
        c->val_best = add_stat_cols(t, "val_at_best", "val acc @ best epoch");
        c->epoch = add_col(t, "best_epoch_mean", "best epoch", VIEW_BOTH, 1);
    }
    c->no_val = add_col(t, "runs_without_validation", "runs without validation", VIEW_DATA, 1);
    c->best = add_col(t, "best_trial_test_pct", o->metric == METRIC_BEST ? "best trial: test acc @ best epoch"
                                                                         : "best trial: test acc, last epoch",
                      VIEW_BOTH, 1);
    c->params = add_col(t, "params", "params", VIEW_BOTH, 1);
    c->sec = add_col(t, "s_per_epoch", "s/epoch", VIEW_BOTH, 1);
    c->device = add_col(t, "device", "device", VIEW_BOTH, 0);
    c->hp = add_col(t, "best_hparams", "best trial's hyperparameters", VIEW_BOTH, 0);
    c->file = add_col(t, "best_file", "best trial's file", VIEW_DATA, 0);
    c->chosen_on = add_col(t, "best_chosen_on", "best trial chosen on", VIEW_DATA, 0);
    c->claims = reference_cols(t, o->reference);
}

static void set_params(Table *t, int r, int c, const ReportGroup *g)
{
    char a[64], b[64];
    if (g->params_min >= 0 && g->params_min == g->params_max) {
        thousands(g->params_max, a, sizeof a);
        set_num(t, r, c, (double)g->params_max, 1, a);
    } else if (g->params_min >= 0) {
        thousands(g->params_min, a, sizeof a);
        thousands(g->params_max, b, sizeof b);
        set_text(t, r, c, "%s-%s", a, b);
    }
}

static void set_best_trial(Table *t, int r, const MainCols *c, const ReportRuns *runs, const ReportGroup *g)
{
    char buf[64];
    if (g->best_run < 0) {
        set_text(t, r, c->hp, "-");
        return;
    }
    snprintf(buf, sizeof buf, "%.2f%s", 100 * g->best_trial_acc, g->best_on_test ? " (chosen on test)" : "");
    set_num(t, r, c->best, 100 * g->best_trial_acc, 0, buf);
    set_text(t, r, c->hp, "%s%s", g->best_hparams, g->best_on_test ? " (chosen on test: optimistic)" : "");
    set_text(t, r, c->file, "%s", runs->runs[g->best_run].path);
    set_text(t, r, c->chosen_on, "%s", g->best_on_test ? "test" : "validation");
}

static void fill_main_row(Table *t, const MainCols *c, const ReportRuns *runs, const ReportOptions *o,
                          const ReportGroup *g)
{
    char buf[1024];
    int r = add_row(t);
    for (int k = 0; k < o->n_keys; k++) set_value(t, r, k, g->values[k]);
    set_text(t, r, c->trials, "%d/%d", g->count[STATUS_COMPLETE], g->total);
    set_num(t, r, c->complete, g->count[STATUS_COMPLETE], 1, "");
    set_num(t, r, c->total, g->total, 1, "");
    not_averaged_text(g, buf, sizeof buf);
    set_text(t, r, c->other, "%s", buf);
    for (int s = STATUS_RUNNING; s < STATUS_COUNT; s++)
        set_num(t, r, c->status + s - STATUS_RUNNING, g->count[s], 1, "");
    set_stat_cols(t, r, c->last, &g->last);
    if (c->at_best >= 0) set_stat_cols(t, r, c->at_best, &g->at_best);
    if (c->val_best >= 0) set_stat_cols(t, r, c->val_best, &g->val_at_best);
    if (c->epoch >= 0) {
        snprintf(buf, sizeof buf, "%.1f", g->best_epoch.mean);
        set_num(t, r, c->epoch, g->best_epoch.mean, 0, buf);
    }
    set_num(t, r, c->no_val, g->n_without_validation, 1, "");
    set_best_trial(t, r, c, runs, g);
    set_params(t, r, c->params, g);
    seconds_text(g->sec_per_epoch, buf, sizeof buf);
    set_num(t, r, c->sec, g->sec_per_epoch, 0, buf);
    set_text(t, r, c->device, "%s", g->devices);
    fill_reference(t, r, c->claims, o->reference, g);
}

static void validation_note(Table *t, const ReportRuns *runs, const ReportOptions *o)
{
    int n = report_count_without_validation(runs);
    if (n == 0) return;
    char buf[512];
    snprintf(buf, sizeof buf, "%d of %d runs have no validation numbers (written before validation existed "
                              "or val_split = 0): %s",
             n, runs->count,
             o->select_on_test ? "with --select-on-test their best epoch and best trial are chosen on the "
                                 "TEST set (optimistic)"
                               : "they have no best-validation epoch and are never chosen as best trial");
    add_note(t, "%s", buf);
}

void report_table(const ReportRuns *runs, const ReportGroups *groups, const ReportOptions *o,
                  Table *t)
{
    table_init(t, o->metric);
    char what[600] = "One row per model.";
    if (o->n_keys > 1) {
        size_t used = (size_t)snprintf(what, sizeof what, "One row per combination of");
        for (int k = 0; k < o->n_keys && used < sizeof what; k++)
            used += (size_t)snprintf(what + used, sizeof what - used, "%s %s", k ? "," : "", o->keys[k]);
        if (used < sizeof what) snprintf(what + used, sizeof what - used, ".");
    }
    caption(t, o, what);
    MainCols c;
    add_main_cols(t, o, shown_columns(runs, o), &c);
    for (int i = 0; i < groups->count; i++) fill_main_row(t, &c, runs, o, &groups->groups[i]);
    validation_note(t, runs, o);
    reference_notes(t, o->reference, groups);
    skipped_notes(t, runs);
}

/* ---- the marginal view ------------------------------------------------------------ */

typedef struct Values {
    int count;
    char (*v)[REPORT_VALUE_MAX];
} Values;

static int by_value(const void *a, const void *b) { return report_compare_values(a, b); }

/* Distinct values of key among the runs (sorted); models likewise. */
static void distinct(const ReportRuns *runs, const char *key, Values *out)
{
    out->count = 0;
    out->v = xcalloc((size_t)runs->count + 1, REPORT_VALUE_MAX);
    for (int i = 0; i < runs->count; i++) {
        const char *v = report_run_value(&runs->runs[i], key);
        if (!v) continue;
        int seen = 0;
        for (int j = 0; j < out->count && !seen; j++) seen = !strcmp(out->v[j], v);
        if (!seen) snprintf(out->v[out->count++], REPORT_VALUE_MAX, "%s", v);
    }
    qsort(out->v, (size_t)out->count, REPORT_VALUE_MAX, by_value);
}

/* Stats of the metric over the complete runs of model with key = value. */
static void cell_stats(const ReportRuns *runs, const ReportOptions *o, const char *model,
                       const char *value, ReportStats *s)
{
    double *acc = xcalloc((size_t)runs->count + 1, sizeof(double));
    int n = 0;
    for (int i = 0; i < runs->count; i++) {
        const ReportRun *r = &runs->runs[i];
        const char *v = report_run_value(r, o->marginal);
        double a = report_run_metric(r, o);
        if (r->status == STATUS_COMPLETE && !strcmp(r->model, model) && v && !strcmp(v, value) &&
            !isnan(a))
            acc[n++] = a;
    }
    report_stats(acc, n, s);
    free(acc);
}

int report_marginal_table(const ReportRuns *runs, const ReportOptions *o, Table *t, char *err,
                          int err_size)
{
    Values values, models;
    distinct(runs, o->marginal, &values);
    if (values.count == 0) {
        free(values.v);
        snprintf(err, err_size, "--marginal: no run has the key '%s' (a hyperparameter such as "
                                "lr, dropout or seed)", o->marginal);
        return -1;
    }
    distinct(runs, "model", &models);
    table_init(t, o->metric);
    char what[256];
    snprintf(what, sizeof what, "Marginal view of %.64s: one column per value, averaged over "
                                "every other hyperparameter; (n) = complete trials.", o->marginal);
    caption(t, o, what);
    add_col(t, "model", "model", VIEW_BOTH, 0);
    for (int v = 0; v < values.count; v++) {
        char key[160], title[160];
        snprintf(title, sizeof title, "%.64s=%.64s", o->marginal, values.v[v]);
        add_col(t, title, title, VIEW_TEXT, 1);
        snprintf(key, sizeof key, "%.130s_%s_mean_pct", title, report_metric_key(o->metric));
        add_col(t, key, key, VIEW_DATA, 1);
        snprintf(key, sizeof key, "%.130s_%s_std_pct", title, report_metric_key(o->metric));
        add_col(t, key, key, VIEW_DATA, 1);
        snprintf(key, sizeof key, "%.130s_n", title);
        add_col(t, key, key, VIEW_DATA, 1);
    }
    for (int m = 0; m < models.count; m++) {
        int r = add_row(t);
        set_text(t, r, 0, "%s", models.v[m]);
        for (int v = 0; v < values.count; v++) {
            ReportStats s;
            char buf[128];
            cell_stats(runs, o, models.v[m], values.v[v], &s);
            int c = 1 + 4 * v;
            mean_std_text(&s, buf, sizeof buf);
            if (s.n) set_text(t, r, c, "%s (%d)", buf, s.n);
            else set_text(t, r, c, "-");
            set_num(t, r, c + 1, 100 * s.mean, 0, "");
            set_num(t, r, c + 2, 100 * s.std, 0, "");
            set_num(t, r, c + 3, s.n, 1, "");
        }
    }
    skipped_notes(t, runs);
    free(values.v);
    free(models.v);
    return 0;
}

/* ---- the comparison view (--compare) ------------------------------------------------ */

/* "0.0123", "<0.0001"; "-" when unknown. */
static void p_text(double p, char *buf, size_t size)
{
    if (isnan(p)) snprintf(buf, size, "-");
    else if (p < 1e-4) snprintf(buf, size, "<0.0001");
    else snprintf(buf, size, "%.4f", p);
}

/* A test's columns: difference, CI (text; low and high as data), t, df, p. */
static int add_test_cols(Table *t, const char *prefix, const char *title, int with_df)
{
    char k[160], h[160];
    snprintf(k, sizeof k, "%sdiff_pct", prefix);
    snprintf(h, sizeof h, "%sA - B (points)", title);
    int first = add_col(t, k, h, VIEW_BOTH, 1);
    snprintf(k, sizeof k, "%sci", prefix);
    snprintf(h, sizeof h, "%s95 %% CI", title);
    add_col(t, k, h, VIEW_TEXT, 1);
    snprintf(k, sizeof k, "%sci_low_pct", prefix);
    add_col(t, k, k, VIEW_DATA, 1);
    snprintf(k, sizeof k, "%sci_high_pct", prefix);
    add_col(t, k, k, VIEW_DATA, 1);
    snprintf(k, sizeof k, "%st", prefix);
    snprintf(h, sizeof h, "%st", title);
    add_col(t, k, h, VIEW_BOTH, 1);
    if (with_df) add_col(t, "df", "df", VIEW_BOTH, 1);
    snprintf(k, sizeof k, "%sp", prefix);
    snprintf(h, sizeof h, "%sp", title);
    add_col(t, k, h, VIEW_BOTH, 1);
    return first;
}

static void set_test_cols(Table *t, int r, int c, const StatsTest *s, int with_df)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%+.2f", s->diff);
    set_num(t, r, c, s->diff, 0, buf);
    if (isnan(s->lo)) set_text(t, r, c + 1, "-");
    else set_text(t, r, c + 1, "[%+.2f, %+.2f]", s->lo, s->hi);
    set_num(t, r, c + 2, s->lo, 0, "");
    set_num(t, r, c + 3, s->hi, 0, "");
    snprintf(buf, sizeof buf, "%.2f", s->t);
    set_num(t, r, c + 4, s->t, 0, buf);
    if (with_df) {
        snprintf(buf, sizeof buf, "%.1f", s->df);
        set_num(t, r, c + 5, s->df, 0, buf);
    }
    p_text(s->p, buf, sizeof buf);
    set_num(t, r, c + 5 + with_df, s->p, 0, buf);
}

static void compare_caption(Table *t, const ReportOptions *o)
{
    char what[600];
    snprintf(what, sizeof what,
             "Comparisons A - B in percentage points of the --metric %s accuracy over the complete "
             "trials: Welch's t-test (unequal variances, Welch-Satterthwaite df), two-sided, with the "
             "95 %% confidence interval of the difference%s.",
             report_metric_name(o->metric),
             "; paired: a t-test over the seeds both groups share (only where they share at least 2)");
    caption(t, o, what);
}

static int any_paired(const ReportComparisons *c)
{
    for (int i = 0; i < c->count; i++)
        if (c->items[i].n_pairs >= 2) return 1;
    return 0;
}

static void fill_compare_row(Table *t, const ReportComparison *c, int welch, int paired)
{
    char buf[64];
    int r = add_row(t);
    set_text(t, r, 0, "%s", c->a);
    set_text(t, r, 1, "%s", c->b);
    snprintf(buf, sizeof buf, "%d", c->sa.n);
    set_num(t, r, 2, c->sa.n, 1, buf);
    snprintf(buf, sizeof buf, "%d", c->sb.n);
    set_num(t, r, 3, c->sb.n, 1, buf);
    snprintf(buf, sizeof buf, "%.2f", c->sa.mean);
    set_num(t, r, 4, c->sa.mean, 0, buf);
    snprintf(buf, sizeof buf, "%.2f", c->sb.mean);
    set_num(t, r, 5, c->sb.mean, 0, buf);
    set_test_cols(t, r, welch, &c->welch, 1);
    if (paired < 0) return;
    snprintf(buf, sizeof buf, "%d", c->n_pairs);
    set_num(t, r, paired, c->n_pairs, 1, buf);
    if (c->n_pairs >= 2) {
        set_test_cols(t, r, paired + 1, &c->paired, 0);
        return;
    }
    for (int k = paired + 1; k < t->ncols; k++)
        if (t->cols[k].view & VIEW_TEXT) set_text(t, r, k, "-");
}

void report_compare_table(const ReportComparisons *c, const ReportOptions *o, Table *t)
{
    table_init(t, o->metric);
    compare_caption(t, o);
    add_col(t, "a", "A", VIEW_BOTH, 0);
    add_col(t, "b", "B", VIEW_BOTH, 0);
    add_col(t, "n_a", "n A", VIEW_BOTH, 1);
    add_col(t, "n_b", "n B", VIEW_BOTH, 1);
    add_col(t, "mean_a_pct", "mean A", VIEW_BOTH, 1);
    add_col(t, "mean_b_pct", "mean B", VIEW_BOTH, 1);
    int welch = add_test_cols(t, "", "", 1), paired = -1;
    if (any_paired(c)) {
        paired = add_col(t, "pairs", "pairs", VIEW_BOTH, 1);
        add_test_cols(t, "paired_", "paired ", 0);
    }
    for (int i = 0; i < c->count; i++) fill_compare_row(t, &c->items[i], welch, paired);
    for (int i = 0; i < c->n_notes; i++) add_note(t, "%s", c->notes[i]);
}

static int build_compare(const ReportRuns *runs, const ReportGroups *g, const ReportOptions *o, Table *t,
                         char *err, int err_size)
{
    ReportComparisons c;
    if (report_compare(runs, g, o, &c, err, err_size) != 0) return -1;
    report_compare_table(&c, o, t);
    report_comparisons_free(&c);
    skipped_notes(t, runs);
    return 0;
}

int report_build(const ReportRuns *runs, const ReportOptions *o, Table *t, char *err, int err_size)
{
    if (report_check_validation(runs, o, err, err_size) != 0) return -1;
    int replacements = !!*o->marginal + !!*o->compare + !!o->importance + !!*o->pareto;
    if (replacements > 1) {
        snprintf(err, err_size, "--marginal, --compare, --importance and --pareto: expected one of them (each "
                 "replaces the table)");
        return -1;
    }
    if (*o->pareto) {
        if (report_pareto_table(runs, o, t, err, err_size) != 0) return -1;
        skipped_notes(t, runs);
        return 0;
    }
    if (o->importance) {
        report_importance_table(runs, o, t);
        skipped_notes(t, runs);
        return 0;
    }
    if (*o->marginal) return report_marginal_table(runs, o, t, err, err_size);
    ReportGroups g;
    if (report_group(runs, o, &g, err, err_size) != 0) return -1;
    int rc = 0;
    if (*o->compare) rc = build_compare(runs, &g, o, t, err, err_size);
    else report_table(runs, &g, o, t);
    report_groups_free(&g);
    return rc;
}
