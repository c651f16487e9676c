/* Choosing on validation: the test accuracy reported for a run, and the
 * best trial of a set of runs. Every choice (best epoch, best trial) is
 * made on the validation split; the test set is only reported, unless
 * --select-on-test lets runs without validation choose on it (labelled
 * wherever it shows). The best epoch itself comes from runfile.h's
 * run_epochs_best_row, the one rule the trainer uses too. */
#include "report.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

int report_run_chosen_on_test(const ReportRun *r, const ReportOptions *o)
{
    return !r->has_validation && o->select_on_test;
}

double report_run_metric(const ReportRun *r, const ReportOptions *o)
{
    if (o->metric == METRIC_FINAL) return r->final_acc;
    if (r->has_validation) return r->best_epoch_test_acc;
    return o->select_on_test ? r->max_test_acc : NAN;
}

/* What a run is ranked by among its peers: validation accuracy and loss
 * (at the best epoch, or after the last), or with --select-on-test and no
 * validation the test numbers. Tier 2: validation, 1: test, 0: none. */
typedef struct Rank {
    int tier;
    double acc, loss;
} Rank;

static Rank rank_of(const ReportRun *r, const ReportOptions *o)
{
    int best = o->metric == METRIC_BEST;
    if (r->has_validation)
        return (Rank){2, best ? r->best_val_acc : r->final_val_acc, best ? r->best_val_loss : r->final_val_loss};
    if (o->select_on_test)
        return (Rank){1, best ? r->max_test_acc : r->final_acc, best ? r->max_test_loss : r->final_test_loss};
    return (Rank){0, NAN, NAN};
}

int report_best_run(const ReportRuns *runs, const int *idx, int n, const ReportOptions *o)
{
    int best = -1;
    Rank top = {0, NAN, NAN};
    for (int i = 0; i < n; i++) {
        const ReportRun *r = &runs->runs[idx[i]];
        Rank k = rank_of(r, o);
        if (r->status != STATUS_COMPLETE || k.tier == 0 || isnan(k.acc) || k.tier < top.tier) continue;
        if (k.tier > top.tier || run_val_better(k.acc, k.loss, top.acc, top.loss)) {
            best = idx[i];
            top = k;
        }
    }
    return best;
}

int report_count_without_validation(const ReportRuns *runs)
{
    int n = 0;
    for (int i = 0; i < runs->count; i++) n += !runs->runs[i].has_validation;
    return n;
}

int report_check_validation(const ReportRuns *runs, const ReportOptions *o, char *err, int err_size)
{
    if (o->metric != METRIC_BEST || o->select_on_test) return 0;
    int n = report_count_without_validation(runs);
    for (int i = 0; i < runs->count; i++) {
        if (runs->runs[i].has_validation) continue;
        char others[64] = "";
        if (n > 1) snprintf(others, sizeof others, " (and %d other run%s)", n - 1, n > 2 ? "s" : "");
        snprintf(err, err_size,
                 "%s%s: no validation numbers (written before validation existed, or val_split = 0), "
                 "so --metric best cannot choose its epoch on validation; rerun with a validation "
                 "split (--val-split), use --metric final, or pass --select-on-test to choose the "
                 "best epoch on the test set (optimistic)",
                 runs->runs[i].path, others);
        return -1;
    }
    return 0;
}
