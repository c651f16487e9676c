/* report_figures(): which runs each figure shows, and index.html. */
#define _XOPEN_SOURCE 700
#include "report_figures.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "util.h"

#define MAX_FIGS_PER_MODEL 3

typedef struct ModelFigures {
    char model[REPORT_NAME_MAX];
    int n;
    char file[MAX_FIGS_PER_MODEL][320];
    char caption[MAX_FIGS_PER_MODEL][512];
    char sidecar[320];
} ModelFigures;

/* Model names become file names: keep [A-Za-z0-9._-]. */
static void safe_name(const char *s, char *out, size_t size)
{
    size_t j = 0;
    for (; *s && j + 1 < size; s++)
        out[j++] = (strchr("._-", *s) || (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
                    (*s >= 'A' && *s <= 'Z')) ? *s : '_';
    out[j] = 0;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int make_dir(const char *dir, char *err, int n)
{
    char buf[REPORT_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        mkdir(buf, 0777);
        *p = '/';
    }
    struct stat st;
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
        snprintf(err, n, "--figures %s: cannot create the folder: %s", dir, strerror(errno));
        return -1;
    }
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, n, "--figures %s: exists and is not a folder", dir);
        return -1;
    }
    return 0;
}

/* The best trial of model, chosen on validation (report_best_run), -1 none. */
static int best_run(const ReportRuns *runs, const char *model, const ReportOptions *o)
{
    int *idx = xcalloc((size_t)runs->count + 1, sizeof(int)), n = 0;
    for (int i = 0; i < runs->count; i++)
        if (!strcmp(runs->runs[i].model, model)) idx[n++] = i;
    int best = report_best_run(runs, idx, n, o);
    free(idx);
    return best;
}

/* "best trial (chosen on validation): t3.h5, test accuracy 98.10 % at its
 * best-validation epoch 3" */
static void best_caption(const ReportRun *r, const ReportOptions *o, char *buf, size_t size)
{
    int on_test = report_run_chosen_on_test(r, o);
    char when[96];
    if (o->metric == METRIC_FINAL) snprintf(when, sizeof when, "after the last epoch");
    else if (on_test) snprintf(when, sizeof when, "at its highest-test epoch");
    else snprintf(when, sizeof when, "at its best-validation epoch %d", r->best_epoch);
    snprintf(buf, size, "best trial (chosen on %s): %.300s, test accuracy %.2f%% %s",
             on_test ? "the TEST set: optimistic" : "validation", base_name(r->path),
             100 * report_run_metric(r, o), when);
}

/* "dropout=0.1, lr=0.01": a run's values of the model's varying keys
 * except the seed, which the curves average over. */
static void config_label(const ReportRun *r, char names[][REPORT_NAME_MAX], int n, char *buf,
                         size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < n && used < size; i++) {
        if (!strcmp(names[i], "seed")) continue;
        const char *v = report_run_value(r, names[i]);
        used += (size_t)snprintf(buf + used, size - used, "%s%s=%s", used ? ", " : "", names[i],
                                 v ? v : "-");
    }
}

typedef struct SeriesSet {
    int n;
    CurveSeries *s;
    char (*config)[256];
} SeriesSet;

static int by_config(const void *a, const void *b)
{
    return report_compare_values(((const CurveSeries *)a)->label, ((const CurveSeries *)b)->label);
}

static void build_series(const ReportRuns *runs, const char *model, SeriesSet *set)
{
    char names[64][REPORT_NAME_MAX];
    int n_names = report_varying_keys(runs, model, names, 64);
    set->n = 0;
    set->s = xcalloc((size_t)runs->count + 1, sizeof *set->s);
    for (int i = 0; i < runs->count; i++) {
        const ReportRun *r = &runs->runs[i];
        if (r->status != STATUS_COMPLETE || strcmp(r->model, model) || r->epochs.count == 0) continue;
        char label[256];
        config_label(r, names, n_names, label, sizeof label);
        if (!*label) snprintf(label, sizeof label, "%s", model);
        int s = 0;
        while (s < set->n && strcmp(set->s[s].label, label)) s++;
        if (s == set->n) {
            snprintf(set->s[s].label, sizeof set->s[s].label, "%s", label);
            set->s[s].runs = xcalloc((size_t)runs->count, sizeof(RunEpochs *));
            set->n++;
        }
        set->s[s].runs[set->s[s].n_runs++] = &r->epochs;
    }
    qsort(set->s, (size_t)set->n, sizeof *set->s, by_config);
    for (int s = 0; s < set->n; s++) {
        size_t len = strlen(set->s[s].label);
        snprintf(set->s[s].label + len, sizeof set->s[s].label - len, " (%d run%s)",
                 set->s[s].n_runs, set->s[s].n_runs == 1 ? "" : "s");
    }
}

static void free_series(SeriesSet *set)
{
    for (int s = 0; s < set->n; s++) free(set->s[s].runs);
    free(set->s);
}

static void add_figure(ModelFigures *mf, const char *file, const char *caption)
{
    snprintf(mf->file[mf->n], sizeof mf->file[0], "%s", file);
    snprintf(mf->caption[mf->n], sizeof mf->caption[0], "%s", caption);
    mf->n++;
}

static void warn_line(FILE *warn, const char *model, const char *why)
{
    if (warn) fprintf(warn, "sweepreport: warning: figures of %s: %s\n", model, why);
}

static void curves_for(const ReportRuns *runs, const char *dir, ModelFigures *mf, FILE *warn)
{
    char file[320], path[REPORT_PATH_MAX], title[256], why[1024], safe[REPORT_NAME_MAX];
    safe_name(mf->model, safe, sizeof safe);
    SeriesSet set;
    build_series(runs, mf->model, &set);
    snprintf(file, sizeof file, "curves-%s.png", safe);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(title, sizeof title, "%s: training curves", mf->model);
    if (figure_curves(path, title, set.s, set.n, why, sizeof why) == 0)
        add_figure(mf, file, "Training, validation (accuracy, where the runs have it) and test loss "
                             "and accuracy per epoch: mean over the runs (seeds) of each configuration, "
                             "band from min to max.");
    else
        warn_line(warn, mf->model, why);
    free_series(&set);
}

static void best_trial_figures(const ReportRuns *runs, const ReportOptions *o, const char *dir,
                               ModelFigures *mf, FILE *warn)
{
    char file[320], path[REPORT_PATH_MAX], side[REPORT_PATH_MAX], title[512], why[1024];
    char safe[REPORT_NAME_MAX], caption[512];
    safe_name(mf->model, safe, sizeof safe);
    int best = best_run(runs, mf->model, o);
    if (best < 0) {
        warn_line(warn, mf->model, o->select_on_test ? "no complete run, so no best trial to draw"
                                                     : "no complete run with validation numbers, so no "
                                                       "best trial to draw (--select-on-test chooses on test)");
        return;
    }
    const ReportRun *r = &runs->runs[best];
    RunTestResults t;
    RunFile *rf = runfile_open(r->path, why, sizeof why);
    if (!rf || runfile_read_test_results(rf, &t, why, sizeof why) != 0) {
        runfile_close(rf);
        warn_line(warn, mf->model, why);
        return;
    }
    runfile_close(rf);
    best_caption(r, o, caption, sizeof caption);
    snprintf(file, sizeof file, "confusion-%s.png", safe);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(mf->sidecar, sizeof mf->sidecar, "confusion-%s.csv", safe);
    snprintf(side, sizeof side, "%s/%s", dir, mf->sidecar);
    /* The file name is in the caption: a long one would not fit the title. */
    snprintf(title, sizeof title, "%.64s: confusion matrix of the best trial", mf->model);
    if (figure_confusion(path, side, title, t.confusion, t.num_classes, why, sizeof why) == 0)
        add_figure(mf, file, caption);
    else
        warn_line(warn, mf->model, why), mf->sidecar[0] = 0;
    snprintf(file, sizeof file, "misclassified-%s.png", safe);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(title, sizeof title, "%.64s: misclassified test digits of the best trial", mf->model);
    if (figure_misclassified(path, title, &t, why, sizeof why) == 0) add_figure(mf, file, caption);
    else warn_line(warn, mf->model, why);
    run_test_results_free(&t);
}

static void write_index(FILE *f, const Table *table, const ModelFigures *mf, int n_models)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<title>sweepreport</title>\n<style>\n"
          "body { font-family: sans-serif; margin: 2em; }\n"
          "table { border-collapse: collapse; margin: 1em 0; }\n"
          "th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; }\n"
          "td.num { text-align: right; font-variant-numeric: tabular-nums; }\n"
          "caption { caption-side: top; text-align: left; padding-bottom: 0.5em; }\n"
          "img { max-width: 100%; border: 1px solid #eee; }\n"
          "figure { margin: 1em 0; }\n</style>\n</head>\n<body>\n<h1>sweepreport</h1>\n", f);
    report_write(f, table, FORMAT_HTML);
    for (int m = 0; m < n_models; m++) {
        fputs("<h2>", f);
        report_html_text(f, mf[m].model);
        fputs("</h2>\n", f);
        for (int i = 0; i < mf[m].n; i++) {
            fputs("<figure><img src=\"", f);
            report_html_text(f, mf[m].file[i]);
            fputs("\" alt=\"", f);
            report_html_text(f, mf[m].file[i]);
            fputs("\"><figcaption>", f);
            report_html_text(f, mf[m].caption[i]);
            fputs("</figcaption></figure>\n", f);
        }
        if (mf[m].sidecar[0]) {
            fputs("<p>Confusion counts as CSV: <a href=\"", f);
            report_html_text(f, mf[m].sidecar);
            fputs("\">", f);
            report_html_text(f, mf[m].sidecar);
            fputs("</a></p>\n", f);
        }
    }
    fputs("</body>\n</html>\n", f);
}

static int by_model(const void *a, const void *b)
{
    return strcmp(((const ModelFigures *)a)->model, ((const ModelFigures *)b)->model);
}

int report_figures(const ReportRuns *runs, const ReportOptions *o, const Table *table,
                   const char *dir, FILE *warn, char *err, int err_size)
{
    if (make_dir(dir, err, err_size) != 0) return -1;
    ModelFigures *mf = xcalloc((size_t)runs->count + 1, sizeof *mf);
    int n_models = 0, pngs = 0;
    for (int i = 0; i < runs->count; i++) {
        int seen = 0;
        for (int m = 0; m < n_models && !seen; m++) seen = !strcmp(mf[m].model, runs->runs[i].model);
        if (!seen) snprintf(mf[n_models++].model, REPORT_NAME_MAX, "%s", runs->runs[i].model);
    }
    qsort(mf, (size_t)n_models, sizeof *mf, by_model);
    for (int m = 0; m < n_models; m++) {
        curves_for(runs, dir, &mf[m], warn);
        best_trial_figures(runs, o, dir, &mf[m], warn);
        pngs += mf[m].n;
    }
    char path[REPORT_PATH_MAX];
    snprintf(path, sizeof path, "%s/index.html", dir);
    FILE *f = fopen(path, "w");
    int rc = pngs;
    if (!f) {
        snprintf(err, err_size, "%s: cannot write: %s", path, strerror(errno));
        rc = -1;
    } else {
        write_index(f, table, mf, n_models);
        if (fclose(f) != 0) {
            snprintf(err, err_size, "%s: cannot write: %s", path, strerror(errno));
            rc = -1;
        }
    }
    free(mf);
    return rc;
}
