/* Finding and reading the run files of a report. Every file is read through
 * runfile.h; one that fails is reported and skipped, never fatal. */
#define _XOPEN_SOURCE 700
#include "report.h"
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "model.h"
#include "util.h"

static const char *const STATUS_NAMES[STATUS_COUNT] = {
    "complete", "running", "diverged", "failed", "pruned", "other",
};

const char *report_status_name(ReportStatus s) { return STATUS_NAMES[s]; }

const char *report_metric_name(ReportMetric m) { return m == METRIC_BEST ? "best" : "final"; }

const char *report_metric_key(ReportMetric m) { return m == METRIC_BEST ? "test_at_best" : "test_last"; }

/* ---- attributes as text ------------------------------------------------------ */

typedef struct AttrWalk {
    RunFile *rf;
    ReportRun *run;
    int cap;
} AttrWalk;

static ReportAttr *add_attr(ReportRun *run, int *cap, const char *name)
{
    for (int i = 0; i < run->n_attrs; i++)
        if (!strcmp(run->attrs[i].name, name)) return &run->attrs[i];
    if (run->n_attrs == *cap) {
        *cap = *cap ? 2 * *cap : 32;
        run->attrs = xrealloc(run->attrs, (size_t)*cap * sizeof *run->attrs);
    }
    ReportAttr *a = &run->attrs[run->n_attrs++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    return a;
}

static int take_attr(const char *name, RunAttrKind kind, void *user)
{
    AttrWalk *w = user;
    char value[REPORT_VALUE_MAX] = "";
    int ok = 0;
    if (strlen(name) >= REPORT_NAME_MAX || !strcmp(name, "config")) return 0;
    if (kind == RUN_ATTR_STRING) {
        ok = runfile_read_attr_string(w->rf, name, value, sizeof value, NULL, 0) == 0;
    } else if (kind == RUN_ATTR_INT) {
        int64_t v;
        ok = runfile_read_attr_int64(w->rf, name, &v, NULL, 0) == 0;
        if (ok) snprintf(value, sizeof value, "%lld", (long long)v);
    } else if (kind == RUN_ATTR_FLOAT) {
        double v;
        ok = runfile_read_attr_double(w->rf, name, &v, NULL, 0) == 0;
        if (ok) double_shortest_text(v, value, sizeof value);
    }
    /* long strings (the command line) and arrays are not table material */
    if (ok) snprintf(add_attr(w->run, &w->cap, name)->value, REPORT_VALUE_MAX, "%s", value);
    return 0;
}

/* The `config` attribute names the hyperparameters ("key=value" lines, as
 * `sweeprun eval` replays them); its text is the value the user set. */
static void mark_hparams(RunFile *rf, ReportRun *run, int *cap)
{
    static char text[16384];
    if (!runfile_has_attr(rf, "config") ||
        runfile_read_attr_string(rf, "config", text, sizeof text, NULL, 0) != 0)
        return;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq || eq == line || eq - line >= REPORT_NAME_MAX) continue;
        *eq = 0;
        if (!strcmp(line, "model")) continue;
        ReportAttr *a = add_attr(run, cap, line);
        snprintf(a->value, sizeof a->value, "%s", eq + 1);
        a->hparam = 1;
    }
}

/* A quiet_default model option a run file does not name held its default:
 * the configuration text leaves such options out at their default (and
 * files written before the option existed ran with what is now its
 * default). Other options missing stay unknown ("-"). */
static void add_default_options(ReportRun *run, int *cap)
{
    const ModelDesc *d = model_find(run->model);
    if (!d) return;
    for (int i = 0; i < d->n_options; i++) {
        const char *name = d->options[i].name;
        if (!d->options[i].quiet_default || report_run_value(run, name)) continue;
        ReportAttr *a = add_attr(run, cap, name);
        model_option_format(d, i, d->options[i].default_value, a->value, sizeof a->value);
        a->hparam = 1;
    }
}

const char *report_run_value(const ReportRun *r, const char *key)
{
    if (!strcmp(key, "model")) return r->model;
    if (!strcmp(key, "status")) return r->status_text;
    for (int i = 0; i < r->n_attrs; i++)
        if (!strcmp(r->attrs[i].name, key)) return r->attrs[i].value;
    return NULL;
}

/* ---- one file ---------------------------------------------------------------- */

static ReportStatus parse_status(const char *s)
{
    /* A .tmp stopped by a signal (sweeprun's stop signals) is unfinished
     * like a running one: it continues when the command is run again. */
    if (!strcmp(s, "interrupted")) return STATUS_RUNNING;
    for (int i = 0; i < STATUS_OTHER; i++)
        if (!strcmp(s, STATUS_NAMES[i])) return (ReportStatus)i;
    return STATUS_OTHER;
}

/* Accuracies from the epoch rows (a .tmp may lack the attributes); the
 * best epoch by the one rule, run_epochs_best_row. */
static void take_accuracies(RunFile *rf, ReportRun *run)
{
    const RunEpochs *e = &run->epochs;
    long last = e->count - 1, best = run_epochs_best_row(e, e->count), top = -1;
    for (long i = 0; i < e->count; i++)
        if (!isnan(e->test_accuracy[i]) && (top < 0 || e->test_accuracy[i] > e->test_accuracy[top])) top = i;
    run->final_acc = last >= 0 ? e->test_accuracy[last] : NAN;
    run->final_test_loss = last >= 0 ? e->test_loss[last] : NAN;
    run->final_val_acc = last >= 0 ? e->val_accuracy[last] : NAN;
    run->final_val_loss = last >= 0 ? e->val_loss[last] : NAN;
    run->best_epoch = best >= 0 ? e->epoch[best] : -1;
    run->best_val_acc = best >= 0 ? e->val_accuracy[best] : NAN;
    run->best_val_loss = best >= 0 ? e->val_loss[best] : NAN;
    run->best_epoch_test_acc = best >= 0 ? e->test_accuracy[best] : NAN;
    run->max_test_acc = top >= 0 ? e->test_accuracy[top] : NAN;
    run->max_test_loss = top >= 0 ? e->test_loss[top] : NAN;
    /* a split whose numbers are not there yet (no epoch finished, or NaN) */
    int64_t held_out = 0;
    run->has_validation = e->has_validation ||
                          (runfile_has_attr(rf, "val_images") &&
                           runfile_read_attr_int64(rf, "val_images", &held_out, NULL, 0) == 0 && held_out > 0);
    run->sec_per_epoch = run_epochs_mean_seconds(e);
}

static int read_run(RunFile *rf, ReportRun *run, char *err, int n)
{
    if (runfile_read_attr_string(rf, "status", run->status_text, sizeof run->status_text, err, n) ||
        runfile_read_attr_string(rf, "model", run->model, sizeof run->model, err, n) ||
        runfile_read_epochs(rf, &run->epochs, err, n))
        return -1;
    run->status = parse_status(run->status_text);
    int64_t params;
    run->param_count = runfile_has_attr(rf, "param_count") &&
                               runfile_read_attr_int64(rf, "param_count", &params, NULL, 0) == 0
                           ? (long)params : -1;
    if (!runfile_has_attr(rf, "device") ||
        runfile_read_attr_string(rf, "device", run->device, sizeof run->device, NULL, 0) != 0)
        run->device[0] = 0;
    take_accuracies(rf, run);
    AttrWalk w = {rf, run, 0};
    if (runfile_visit_attrs(rf, take_attr, &w, err, n) != 0) return -1;
    mark_hparams(rf, run, &w.cap);
    add_default_options(run, &w.cap);
    return 0;
}

int report_load_file(const char *path, ReportRun *run, char *err, int err_size)
{
    memset(run, 0, sizeof *run);
    snprintf(run->path, sizeof run->path, "%s", path);
    RunFile *rf = runfile_open(path, err, err_size);
    if (!rf) return -1;
    int rc = read_run(rf, run, err, err_size);
    runfile_close(rf);
    if (rc != 0) report_run_free(run);
    return rc;
}

void report_run_free(ReportRun *r)
{
    run_epochs_free(&r->epochs);
    free(r->attrs);
    r->attrs = NULL;
    r->n_attrs = 0;
}

void report_runs_free(ReportRuns *r)
{
    for (int i = 0; i < r->count; i++) report_run_free(&r->runs[i]);
    for (int i = 0; i < r->n_skipped; i++) free(r->skipped[i]);
    free(r->runs);
    free(r->skipped);
    memset(r, 0, sizeof *r);
}

/* ---- finding files ------------------------------------------------------------ */

typedef struct PathList {
    int count, cap;
    char **paths;
} PathList;

static void push_path(PathList *l, const char *p)
{
    if (l->count == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->paths = xrealloc(l->paths, (size_t)l->cap * sizeof *l->paths);
    }
    l->paths[l->count++] = strdup(p);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static PathList *walk_list;   /* nftw has no user pointer */

static int visit_path(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_F && (ends_with(path, ".h5") || ends_with(path, ".h5" RUNFILE_TMP_SUFFIX)))
        push_path(walk_list, path);
    return 0;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int listed(const PathList *l, const char *p)
{
    return bsearch(&p, l->paths, (size_t)l->count, sizeof *l->paths, by_path) != NULL;
}

/* An interrupted run's .tmp is its own trial, unless the final file is
 * there too (it would count the trial twice). */
static int shadowed_tmp(const PathList *l, const char *p)
{
    if (!ends_with(p, RUNFILE_TMP_SUFFIX)) return 0;
    char final[REPORT_PATH_MAX];
    snprintf(final, sizeof final, "%.*s", (int)(strlen(p) - strlen(RUNFILE_TMP_SUFFIX)), p);
    return listed(l, final);
}

static void note_skipped(ReportRuns *out, FILE *warn, const char *msg)
{
    if (warn) fprintf(warn, "sweepreport: warning: %s; skipped\n", msg);
    out->skipped = xrealloc(out->skipped, (size_t)(out->n_skipped + 1) * sizeof *out->skipped);
    out->skipped[out->n_skipped++] = strdup(msg);
}

static int collect(int n_paths, char *const *paths, PathList *l, char *err, int err_size)
{
    for (int i = 0; i < n_paths; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            snprintf(err, err_size, "%s: %s", paths[i], strerror(errno));
            return -1;
        }
        if (S_ISDIR(st.st_mode)) {
            walk_list = l;
            nftw(paths[i], visit_path, 16, FTW_PHYS);
        } else {
            push_path(l, paths[i]);
        }
    }
    if (l->count > 1) qsort(l->paths, (size_t)l->count, sizeof *l->paths, by_path);   /* paths is NULL when empty */
    return 0;
}

int report_load(int n_paths, char *const *paths, ReportRuns *out, FILE *warn, char *err,
                int err_size)
{
    memset(out, 0, sizeof *out);
    PathList l = {0};
    int rc = collect(n_paths, paths, &l, err, err_size);
    out->runs = xcalloc((size_t)(l.count ? l.count : 1), sizeof *out->runs);
    for (int i = 0; i < l.count && rc == 0; i++) {
        if ((i > 0 && !strcmp(l.paths[i], l.paths[i - 1])) || shadowed_tmp(&l, l.paths[i]))
            continue;
        char why[1024];
        if (report_load_file(l.paths[i], &out->runs[out->count], why, sizeof why) == 0)
            out->count++;
        else
            note_skipped(out, warn, why);
    }
    for (int i = 0; i < l.count; i++) free(l.paths[i]);
    free(l.paths);
    return rc;
}
