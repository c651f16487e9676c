/* report_figures(): which runs each figure shows, and index.html. */
#define _XOPEN_SOURCE 700
#include "report_figures.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "util.h"

/* curves, confusion, misclassified, parallel, importance, one effects
 * figure per swept key */
#define MAX_FIGS_PER_MODEL (5 + REPORT_MAX_SWEPT)

typedef struct ModelFigures {
    char model[REPORT_NAME_MAX];
    int n;
    char file[MAX_FIGS_PER_MODEL][320];
    char caption[MAX_FIGS_PER_MODEL][768];
    char data[MAX_FIGS_PER_MODEL][320];   /* the figure's numbers as CSV, "" none */
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
    if (mf->n == MAX_FIGS_PER_MODEL) return;
    snprintf(mf->file[mf->n], sizeof mf->file[0], "%s", file);
    snprintf(mf->caption[mf->n], sizeof mf->caption[0], "%s", caption);
    mf->data[mf->n][0] = 0;
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

/* ---- comparisons across groups, and the sweep of each model ------------------------ */

/* "gecco gate=softmax, weight_decay=0": the model and the group's other
 * keys; with names 0 the values alone ("gecco softmax, 0"), and the model
 * only when there are several. */
static void group_label(const ReportOptions *o, const ReportGroup *g, int names, int n_models, char *buf,
                        size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "%s", names || n_models > 1 ? g->values[0] : "");
    for (int k = 1; k < o->n_keys && used < size; k++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s%s%s", used == 0 ? "" : k == 1 ? " " : ", ",
                                 names ? o->keys[k] : "", names ? "=" : "", g->values[k]);
}

static int model_index(const ModelFigures *mf, int n_models, const char *model)
{
    for (int m = 0; m < n_models; m++)
        if (!strcmp(mf[m].model, model)) return m;
    return 0;
}

/* One point per group with complete runs; *others: the runs of other statuses. */
static int scatter_points(const ReportRuns *runs, const ReportOptions *o, const ModelFigures *mf,
                          int n_models, ScatterPoint **out, int *others, int *complete)
{
    ReportGroups g;
    ReportOptions plain = *o;
    plain.sort[0] = 0;   /* any --sort column would have failed the table already */
    char why[256];
    *others = *complete = 0;
    *out = NULL;
    if (report_group(runs, &plain, &g, why, sizeof why) != 0) return 0;
    ScatterPoint *p = xcalloc((size_t)g.count + 1, sizeof *p);
    int n = 0;
    for (int i = 0; i < g.count; i++) {
        const ReportGroup *gr = &g.groups[i];
        *others += gr->total - gr->acc.n;
        *complete += gr->acc.n;
        if (gr->acc.n < 1) continue;
        group_label(o, gr, 1, n_models, p[n].label, sizeof p[n].label);
        group_label(o, gr, 0, n_models, p[n].short_label, sizeof p[n].short_label);
        p[n].series = model_index(mf, n_models, gr->values[0]);
        p[n].n = gr->acc.n;
        p[n].params = gr->params_min < 0 ? NAN
                                          : sqrt((double)gr->params_min * (double)gr->params_max);
        p[n].s_per_epoch = gr->sec_per_epoch;
        p[n].mean = 100 * gr->acc.mean;
        report_ci95(&gr->acc, &p[n].ci_lo, &p[n].ci_hi);
        p[n].ci_lo *= 100;
        p[n].ci_hi *= 100;
        n++;
    }
    report_groups_free(&g);
    *out = p;
    return n;
}

static void scatter_one(const char *dir, int by_cost, const ScatterPoint *p, int n, const char *rows,
                        const char *key_title, int complete, int others, ModelFigures *all, FILE *warn)
{
    const char *stem = by_cost ? "accuracy-vs-cost" : "accuracy-vs-params";
    char file[64], data[64], path[REPORT_PATH_MAX], side[REPORT_PATH_MAX], sub[256], caption[768], why[1024];
    snprintf(file, sizeof file, "%s.png", stem);
    snprintf(data, sizeof data, "%s.csv", stem);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(side, sizeof side, "%s/%s", dir, data);
    snprintf(sub, sizeof sub, "mean over the complete runs of each %s; bar: 95%% CI; ◆ and dashed "
                              "line: Pareto front", rows);
    if (figure_accuracy_scatter(path, side, by_cost ? "Test accuracy against training time"
                                                    : "Test accuracy against model size",
                                sub, key_title, p, n, by_cost, why, sizeof why) != 0) {
        warn_line(warn, "all models", why);
        return;
    }
    snprintf(caption, sizeof caption,
             "Mean test accuracy of each %s (%d with complete runs; %d complete runs) with its 95 %% "
             "confidence interval, mean ± t(0.975, n-1)·s/√n (no bar for a single run), against %s "
             "(log scale). Diamonds and the dashed line: the Pareto front, where no other point is "
             "more accurate at %s. %d runs of other statuses are counted, not drawn.",
             rows, n, complete, by_cost ? "the mean seconds per epoch" : "the trainable parameters",
             by_cost ? "a lower or equal cost" : "as few or fewer parameters", others);
    add_figure(all, file, caption);
    snprintf(all->data[all->n - 1], sizeof all->data[0], "%s", data);
}

static void scatter_figures(const ReportRuns *runs, const ReportOptions *o, const char *dir,
                            const ModelFigures *mf, int n_models, ModelFigures *all, FILE *warn)
{
    ScatterPoint *p;
    int others, complete, n = scatter_points(runs, o, mf, n_models, &p, &others, &complete);
    char key_title[256] = "model";   /* what the figure's key lists per point */
    if (o->n_keys > 1) {
        size_t used = (size_t)snprintf(key_title, sizeof key_title, "%s", n_models > 1 ? "model " : "");
        for (int k = 1; k < o->n_keys && used < sizeof key_title; k++)
            used += (size_t)snprintf(key_title + used, sizeof key_title - used, "%s%s", k > 1 ? ", " : "",
                                     o->keys[k]);
    }
    for (int by_cost = 0; by_cost < 2; by_cost++)
        scatter_one(dir, by_cost, p, n, o->n_keys > 1 ? "group" : "model", key_title, complete, others, all, warn);
    free(p);
}

/* "12 complete trials of 15 runs; 3 others (failed, pruned, running, ...) counted, not drawn" */
static void trials_text(const ModelTrials *mt, char *buf, size_t size)
{
    int others = mt->n_runs - mt->n_trials;
    snprintf(buf, size, "%d complete trial%s of %d run%s; %d other%s (failed, pruned, running, ...) counted, not drawn",
             mt->n_trials, mt->n_trials == 1 ? "" : "s", mt->n_runs, mt->n_runs == 1 ? "" : "s", others,
             others == 1 ? "" : "s");
}

static void effects_for(const ModelTrials *mt, const ReportOptions *o, const char *dir, const char *safe,
                        ModelFigures *mf, FILE *warn)
{
    char file[320], path[REPORT_PATH_MAX], title[256], sub[256], caption[768], why[1024], safe_key[REPORT_NAME_MAX];
    trials_text(mt, sub, sizeof sub);
    for (int k = 0; k < mt->n_keys; k++) {
        safe_name(mt->keys[k].name, safe_key, sizeof safe_key);
        snprintf(file, sizeof file, "effects-%s-%s.png", safe, safe_key);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        snprintf(title, sizeof title, "%.64s: test accuracy by %.64s", mt->model, mt->keys[k].name);
        if (figure_effects(path, title, sub, mt, k, why, sizeof why) != 0) {
            warn_line(warn, mt->model, why);
            continue;
        }
        snprintf(caption, sizeof caption,
                 "Test accuracy (--metric %s) against %s: each point one complete trial (%d of %d runs; "
                 "the other statuses are counted, not drawn), the line the mean per value over every "
                 "other key and seed, the band its 95 %% t-interval.",
                 report_metric_name(o->metric), mt->keys[k].name, mt->n_trials, mt->n_runs);
        add_figure(mf, file, caption);
    }
}

static void parallel_and_importance(const ModelTrials *mt, const char *dir, const char *safe,
                                    ModelFigures *mf, FILE *warn)
{
    char file[320], path[REPORT_PATH_MAX], title[256], sub[256], caption[768], why[1024];
    trials_text(mt, sub, sizeof sub);
    snprintf(file, sizeof file, "parallel-%s.png", safe);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(title, sizeof title, "%.64s: every complete trial across the swept keys", mt->model);
    snprintf(caption, sizeof caption,
             "Parallel coordinates: one line per complete trial (%d of %d runs) through its value of "
             "each swept key (values evenly spaced, in order) to its test accuracy; colour: test accuracy.",
             mt->n_trials, mt->n_runs);
    if (figure_parallel(path, title, sub, mt, why, sizeof why) == 0) add_figure(mf, file, caption);
    else warn_line(warn, mt->model, why);
    double share[REPORT_MAX_SWEPT];
    report_importance(mt, share);
    snprintf(file, sizeof file, "importance-%s.png", safe);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(title, sizeof title, "%.64s: share of the accuracy's variance per key", mt->model);
    snprintf(caption, sizeof caption,
             "Hyperparameter importance over %d complete trials: the variance of the per-value mean "
             "accuracies of each key (weighted by their counts) as a share of the total variance "
             "(main effects only). The last bar is the rest: interactions between keys and the "
             "seeds' noise. The table above gives the numbers.", mt->n_trials);
    if (figure_importance(path, title, sub, mt, share, why, sizeof why) == 0) add_figure(mf, file, caption);
    else warn_line(warn, mt->model, why);
}

static void sweep_figures(const ReportRuns *runs, const ReportOptions *o, const char *dir, ModelFigures *mf,
                          FILE *warn)
{
    ModelTrials mt;
    report_model_trials(runs, o, mf->model, &mt);
    if (mt.n_keys > 0) {
        char safe[REPORT_NAME_MAX];
        safe_name(mf->model, safe, sizeof safe);
        effects_for(&mt, o, dir, safe, mf, warn);
        parallel_and_importance(&mt, dir, safe, mf, warn);
    }
    report_model_trials_free(&mt);
}

static void write_figures(FILE *f, const ModelFigures *mf)
{
    for (int i = 0; i < mf->n; i++) {
        fputs("<figure><img src=\"", f);
        report_html_text(f, mf->file[i]);
        fputs("\" alt=\"", f);
        report_html_text(f, mf->file[i]);
        fputs("\"><figcaption>", f);
        report_html_text(f, mf->caption[i]);
        if (mf->data[i][0]) {
            fputs(" Data: <a href=\"", f);
            report_html_text(f, mf->data[i]);
            fputs("\">", f);
            report_html_text(f, mf->data[i]);
            fputs("</a>", f);
        }
        fputs("</figcaption></figure>\n", f);
    }
}

static void write_index(FILE *f, const Table *table, const ModelFigures *all, const Table *importance,
                        const ModelFigures *mf, int n_models)
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
    fputs("<h2>Comparisons</h2>\n", f);
    write_figures(f, all);
    fputs("<h2>Hyperparameter importance</h2>\n", f);
    report_write(f, importance, FORMAT_HTML);
    for (int m = 0; m < n_models; m++) {
        fputs("<h2>", f);
        report_html_text(f, mf[m].model);
        fputs("</h2>\n", f);
        write_figures(f, &mf[m]);
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
    ModelFigures *all = xcalloc(1, sizeof *all);
    snprintf(all->model, sizeof all->model, "all models");
    scatter_figures(runs, o, dir, mf, n_models, all, warn);
    pngs += all->n;
    for (int m = 0; m < n_models; m++) {
        curves_for(runs, dir, &mf[m], warn);
        best_trial_figures(runs, o, dir, &mf[m], warn);
        sweep_figures(runs, o, dir, &mf[m], warn);
        pngs += mf[m].n;
    }
    Table importance;
    report_importance_table(runs, o, &importance);
    char path[REPORT_PATH_MAX];
    snprintf(path, sizeof path, "%s/index.html", dir);
    FILE *f = fopen(path, "w");
    int rc = pngs;
    if (!f) {
        snprintf(err, err_size, "%s: cannot write: %s", path, strerror(errno));
        rc = -1;
    } else {
        write_index(f, table, all, &importance, mf, n_models);
        if (fclose(f) != 0) {
            snprintf(err, err_size, "%s: cannot write: %s", path, strerror(errno));
            rc = -1;
        }
    }
    table_free(&importance);
    free(all);
    free(mf);
    return rc;
}
