/* Hyperparameter importance: how much of the spread of a model's test
 * accuracy each swept key explains on its own.
 *
 * Over the model's N complete trials (accuracy a_i, mean m, variance
 * V = (1/N) Σ (a_i − m)²), a key with values v, n_v trials each and mean
 * m_v over them has the main-effect variance V_k = Σ_v (n_v/N)(m_v − m)²
 * and the share V_k / V: the first-order (Sobol-like) index of a
 * functional ANOVA on the grid of values that was run. Only main effects:
 * what two keys do together, and the seed's noise, is the rest,
 * 1 − Σ_k share_k. On a full, balanced grid the main effects are
 * orthogonal and the shares add up to at most 1; with trials missing
 * (failed, pruned, still running) they can overlap, and the rest is then
 * shown as 0. docs/sweepreport.md, "Hyperparameter importance". */
#include "report.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

static int by_value(const void *a, const void *b) { return report_compare_values(a, b); }

static int value_index(const SweptKey *k, const char *v)
{
    for (int i = 0; i < k->n_values; i++)
        if (!strcmp(k->values[i], v)) return i;
    return -1;
}

static const char *value_or_dash(const ReportRun *r, const char *key)
{
    const char *v = report_run_value(r, key);
    return v ? v : "-";
}

static int is_trial(const ReportRun *r, const ReportOptions *o, const char *model)
{
    return !strcmp(r->model, model) && r->status == STATUS_COMPLETE && isfinite(report_run_metric(r, o));
}

/* The distinct values of key among the trials, sorted. */
static void collect_values(const ReportRuns *runs, const ReportOptions *o, const char *model, SweptKey *k)
{
    k->values = xcalloc((size_t)runs->count + 1, sizeof *k->values);
    for (int i = 0; i < runs->count; i++) {
        const ReportRun *r = &runs->runs[i];
        if (!is_trial(r, o, model) || value_index(k, value_or_dash(r, k->name)) >= 0) continue;
        snprintf(k->values[k->n_values++], REPORT_VALUE_MAX, "%s", value_or_dash(r, k->name));
    }
    qsort(k->values, (size_t)k->n_values, sizeof *k->values, by_value);
}

void report_model_trials(const ReportRuns *runs, const ReportOptions *o, const char *model,
                         ModelTrials *mt)
{
    memset(mt, 0, sizeof *mt);
    snprintf(mt->model, sizeof mt->model, "%s", model);
    char names[64][REPORT_NAME_MAX];
    int n = report_varying_keys(runs, model, names, 64);
    for (int i = 0; i < n && mt->n_keys < REPORT_MAX_SWEPT; i++)
        if (strcmp(names[i], "seed")) snprintf(mt->keys[mt->n_keys++].name, REPORT_NAME_MAX, "%.63s", names[i]);
    for (int k = 0; k < mt->n_keys; k++) collect_values(runs, o, model, &mt->keys[k]);
    mt->value = xcalloc((size_t)runs->count * (size_t)(mt->n_keys + 1), sizeof(int));
    mt->acc = xcalloc((size_t)runs->count + 1, sizeof(double));
    for (int i = 0; i < runs->count; i++) {
        const ReportRun *r = &runs->runs[i];
        mt->n_runs += !strcmp(r->model, model);
        if (!is_trial(r, o, model)) continue;
        for (int k = 0; k < mt->n_keys; k++)
            mt->value[mt->n_trials * mt->n_keys + k] = value_index(&mt->keys[k], value_or_dash(r, mt->keys[k].name));
        mt->acc[mt->n_trials++] = report_run_metric(r, o);
    }
}

void report_model_trials_free(ModelTrials *mt)
{
    for (int k = 0; k < mt->n_keys; k++) free(mt->keys[k].values);
    free(mt->value);
    free(mt->acc);
    memset(mt, 0, sizeof *mt);
}

/* Σ_v (n_v/N)(m_v − m)² for key k. */
static double main_effect_variance(const ModelTrials *mt, int k, double mean)
{
    int nv = mt->keys[k].n_values;
    double *sum = xcalloc((size_t)nv + 1, sizeof(double));
    int *count = xcalloc((size_t)nv + 1, sizeof(int));
    for (int i = 0; i < mt->n_trials; i++) {
        int v = mt->value[i * mt->n_keys + k];
        sum[v] += mt->acc[i];
        count[v]++;
    }
    double var = 0;
    for (int v = 0; v < nv; v++)
        if (count[v]) var += (double)count[v] / mt->n_trials * pow(sum[v] / count[v] - mean, 2);
    free(sum);
    free(count);
    return var;
}

double report_importance(const ModelTrials *mt, double *share)
{
    double mean = 0, var = 0;
    for (int i = 0; i < mt->n_trials; i++) mean += mt->acc[i];
    mean /= mt->n_trials > 0 ? mt->n_trials : 1;
    for (int i = 0; i < mt->n_trials; i++) var += pow(mt->acc[i] - mean, 2);
    var = mt->n_trials > 0 ? var / mt->n_trials : NAN;
    for (int k = 0; k < mt->n_keys; k++)
        share[k] = var > 0 ? main_effect_variance(mt, k, mean) / var : NAN;
    return var;
}

/* ---- the --importance table ------------------------------------------------------ */

typedef struct ImpCols {
    int model, key, values, share_text, share, trials_text, complete, runs;
} ImpCols;

static ImpCols importance_cols(Table *t)
{
    ImpCols c;
    c.model = table_column(t, "model", "model", VIEW_BOTH, 0);
    c.key = table_column(t, "key", "key", VIEW_BOTH, 0);
    c.values = table_column(t, "values", "values", VIEW_BOTH, 1);
    c.share_text = table_column(t, "share", "share of variance", VIEW_TEXT, 1);
    c.share = table_column(t, "share_pct", "share", VIEW_DATA, 1);
    c.trials_text = table_column(t, "trials", "trials", VIEW_TEXT, 1);
    c.complete = table_column(t, "complete", "complete", VIEW_DATA, 1);
    c.runs = table_column(t, "trials", "trials", VIEW_DATA, 1);
    return c;
}

static void importance_row(Table *t, const ImpCols *c, const ModelTrials *mt, const char *key,
                           int n_values, double share)
{
    char buf[64];
    int r = table_new_row(t);
    table_cell_text(t, r, c->model, mt->model);
    table_cell_text(t, r, c->key, key);
    if (n_values > 0) {
        snprintf(buf, sizeof buf, "%d", n_values);
        table_cell_text(t, r, c->values, buf);
        table_cell_num(t, r, c->values, n_values, 1);
    }
    snprintf(buf, sizeof buf, isnan(share) ? "-" : "%.1f %%", 100 * share);
    table_cell_text(t, r, c->share_text, buf);
    table_cell_num(t, r, c->share, 100 * share, 0);
    snprintf(buf, sizeof buf, "%d / %d", mt->n_trials, mt->n_runs);
    table_cell_text(t, r, c->trials_text, buf);
    table_cell_num(t, r, c->complete, mt->n_trials, 1);
    table_cell_num(t, r, c->runs, mt->n_runs, 1);
}

static void model_rows(Table *t, const ImpCols *c, const ModelTrials *mt)
{
    double share[REPORT_MAX_SWEPT], sum = 0;
    double var = report_importance(mt, share);
    for (int k = 0; k < mt->n_keys; k++) {
        importance_row(t, c, mt, mt->keys[k].name, mt->keys[k].n_values, share[k]);
        if (!isnan(share[k])) sum += share[k];
    }
    importance_row(t, c, mt, "(interactions, seeds)", 0, var > 0 ? fmax(0, 1 - sum) : NAN);
}

static int by_name(const void *a, const void *b) { return strcmp(a, b); }

void report_importance_table(const ReportRuns *runs, const ReportOptions *o, Table *t)
{
    table_begin(t, o->metric);
    snprintf(t->caption, sizeof t->caption,
             "Hyperparameter importance (--metric %s): the share of the variance of each model's "
             "test accuracy over its complete trials that each swept key explains on its own "
             "(first-order, main effects only: the variance of the per-value means, weighted by "
             "their counts, over the total variance); the last row of a model is what is left: "
             "interactions between keys and the seeds' noise. trials: complete / all runs.",
             report_metric_name(o->metric));
    ImpCols c = importance_cols(t);
    char (*models)[REPORT_NAME_MAX] = xcalloc((size_t)runs->count + 1, sizeof *models);
    int n = 0;
    for (int i = 0; i < runs->count; i++) {
        int seen = 0;
        for (int m = 0; m < n && !seen; m++) seen = !strcmp(models[m], runs->runs[i].model);
        if (!seen) snprintf(models[n++], REPORT_NAME_MAX, "%s", runs->runs[i].model);
    }
    qsort(models, (size_t)n, sizeof *models, by_name);
    for (int m = 0; m < n; m++) {
        ModelTrials mt;
        report_model_trials(runs, o, models[m], &mt);
        model_rows(t, &c, &mt);
        report_model_trials_free(&mt);
    }
    free(models);
}
