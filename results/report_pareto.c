/* --pareto OBJECTIVES: the trials no other trial beats on every objective
 * (results/pareto.h), one row each, best first by the first objective.
 *
 * The objectives are what a choice may honestly be made on: validation
 * accuracy and loss at each trial's best (validation) epoch, the parameter
 * count and the seconds per epoch. The test accuracy at the best epoch is
 * shown beside them and never used to choose, as everywhere in the report. */
#include "report.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "pareto.h"
#include "util.h"


static const char *metric_title(const char *metric)
{
    if (!strcmp(metric, "val_acc")) return "val acc @ best epoch";
    if (!strcmp(metric, "val_loss")) return "val loss @ best epoch";
    if (!strcmp(metric, "params")) return "params";
    return "s / epoch";
}

/* A run's value of a metric (accuracies in %), NaN when it has none. */
static double metric_value(const ReportRun *r, const char *metric)
{
    if (!strcmp(metric, "val_acc")) return 100 * r->best_val_acc;
    if (!strcmp(metric, "val_loss")) return r->best_val_loss;
    if (!strcmp(metric, "params")) return r->param_count >= 0 ? (double)r->param_count : NAN;
    return r->sec_per_epoch;
}

int report_pareto_objectives(const char *text, Objective *out, char *err, int err_size)
{
    char why[512];
    int k = pareto_objectives_parse(text, pareto_run_metrics, PARETO_RUN_METRICS, out, why, sizeof why);
    if (k < 0) snprintf(err, err_size, "--pareto: %s", why);
    return k;
}

/* "lr=0.001, dropout=0.1" of r's keys that vary among its model's runs. */
static void describe_config(const ReportRuns *runs, const ReportRun *r, char *buf, size_t size)
{
    char names[64][REPORT_NAME_MAX];
    int n = report_varying_keys(runs, r->model, names, 64);
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < n && used < size; i++) {
        const char *v = report_run_value(r, names[i]);
        int w = snprintf(buf + used, size - used, "%s%s=%s", used ? ", " : "", names[i], v ? v : "-");
        if (w < 0) break;
        used += (size_t)w;
    }
}

static void pareto_caption(Table *t, int n_front, int n_trials, const Objective *obj, int k)
{
    int used = snprintf(t->caption, sizeof t->caption, "Pareto front: %d of %d complete trials, those no other "
                        "trial matches on all of", n_front, n_trials);
    for (int j = 0; j < k && used > 0 && (size_t)used < sizeof t->caption; j++)
        used += snprintf(t->caption + used, sizeof t->caption - (size_t)used, "%s %s (%s)", j ? "," : "",
                         obj[j].metric, obj[j].maximize ? "higher is better" : "lower is better");
    if (used > 0 && (size_t)used < sizeof t->caption)
        snprintf(t->caption + used, sizeof t->caption - (size_t)used,
                 " while beating it on one; best first by %s. Test accuracy (at the best validation epoch) is "
                 "shown, never used to choose.", obj[0].metric);
}

static void pareto_row(Table *t, const ReportRuns *runs, const ReportRun *r, const Objective *obj, int k)
{
    int row = table_new_row(t), c = 0;
    char text[1024];
    table_cell_text(t, row, c++, r->model);
    const char *id = report_run_value(r, "trial_id");
    table_cell_text(t, row, c++, id ? id : r->path);
    describe_config(runs, r, text, sizeof text);
    table_cell_text(t, row, c++, text);
    for (int j = 0; j < k; j++) {
        double v = metric_value(r, obj[j].metric);
        if (!strcmp(obj[j].metric, "val_acc")) snprintf(text, sizeof text, "%.2f", v);
        else if (!strcmp(obj[j].metric, "val_loss")) snprintf(text, sizeof text, "%.4f", v);
        else if (!strcmp(obj[j].metric, "params")) snprintf(text, sizeof text, "%.0f", v);
        else snprintf(text, sizeof text, "%.3f", v);
        table_cell_text(t, row, c, isfinite(v) ? text : "");
        table_cell_num(t, row, c++, v, !strcmp(obj[j].metric, "params"));
    }
    double test = 100 * r->best_epoch_test_acc;
    snprintf(text, sizeof text, "%.2f", test);
    table_cell_text(t, row, c, isfinite(test) ? text : "");
    table_cell_num(t, row, c, test, 0);
}

int report_pareto_table(const ReportRuns *runs, const ReportOptions *o, Table *t, char *err, int err_size)
{
    Objective obj[PARETO_MAX_OBJECTIVES];
    int k = report_pareto_objectives(o->pareto, obj, err, err_size);
    if (k < 0) return -1;
    int *run_of = xcalloc((size_t)runs->count + 1, sizeof(int)), n = 0;
    for (int i = 0; i < runs->count; i++)
        if (runs->runs[i].status == STATUS_COMPLETE) run_of[n++] = i;
    double *points = xcalloc((size_t)n * (size_t)k + 1, sizeof(double));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++) points[i * k + j] = metric_value(&runs->runs[run_of[i]], obj[j].metric);
    int *order = xcalloc((size_t)n + 1, sizeof(int));
    int n_front = pareto_front_sorted(points, n, obj, k, order);
    table_begin(t, o->metric);
    table_column(t, "model", "model", VIEW_BOTH, 0);
    table_column(t, "trial", "trial", VIEW_BOTH, 0);
    table_column(t, "config", "swept values", VIEW_BOTH, 0);
    for (int j = 0; j < k; j++)
        table_column(t, obj[j].metric, metric_title(obj[j].metric), VIEW_BOTH, 1);
    table_column(t, "test_at_best", "test acc @ best epoch", VIEW_BOTH, 1);
    for (int i = 0; i < n_front; i++) pareto_row(t, runs, &runs->runs[run_of[order[i]]], obj, k);
    pareto_caption(t, n_front, n, obj, k);
    free(order);
    free(points);
    free(run_of);
    return 0;
}
