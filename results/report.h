/* sweepreport as a library: load a folder of run files, group them, build
 * the comparison table, write it as Markdown, CSV, LaTeX, JSON or HTML, and
 * draw the figures (report_figures.h). The `sweepreport` executable
 * (sweepreport.c) only parses flags and calls these, so the tests call the
 * same code. Statistics and columns: docs/sweepreport.md. */
#ifndef SWEEPRUN_REPORT_H
#define SWEEPRUN_REPORT_H
#include <stdio.h>
#include "pareto.h"
#include "runfile.h"
#include "report_stats.h"

#define REPORT_MAX_KEYS 8        /* group-by keys, "model" included */
#define REPORT_NAME_MAX 64       /* attribute / key names */
#define REPORT_VALUE_MAX 256     /* attribute values as text */
#define REPORT_PATH_MAX 4200
#define REPORT_COMPARE_MAX 1024  /* the --compare text */

/* ---- runs ----------------------------------------------------------------- */

/* Only complete trials are averaged; the others are counted per status. */
typedef enum {
    STATUS_COMPLETE, STATUS_RUNNING, STATUS_DIVERGED, STATUS_FAILED, STATUS_PRUNED,
    STATUS_OTHER,                /* a status this build does not know */
    STATUS_COUNT
} ReportStatus;
const char *report_status_name(ReportStatus s);

/* One root attribute as text; hparam: it is a key of the run's `config`
 * attribute (a hyperparameter), not bookkeeping such as start_time. */
typedef struct ReportAttr {
    char name[REPORT_NAME_MAX];
    char value[REPORT_VALUE_MAX];
    int hparam;
} ReportAttr;

typedef struct ReportRun {
    char path[REPORT_PATH_MAX];
    ReportStatus status;
    char status_text[32];
    char model[REPORT_NAME_MAX];
    char device[REPORT_VALUE_MAX];
    long param_count;            /* -1 unknown */
    /* Accuracies are fractions, NaN when unknown. Derived from the epoch
     * rows (run_epochs_best_row), so a .tmp without the attributes works. */
    double final_acc;            /* test accuracy after the last epoch */
    int has_validation;          /* the run has a validation split (numbers, or val_images > 0) */
    int best_epoch;              /* 1-based best-validation epoch, -1 none */
    double best_val_acc, best_val_loss;  /* validation accuracy and loss at best_epoch */
    double best_epoch_test_acc;  /* test accuracy at best_epoch: chosen on validation */
    double final_val_acc, final_val_loss, final_test_loss;
    double max_test_acc, max_test_loss;  /* highest test accuracy over the epochs (and its
                                          * loss): a choice on the test set, used only with
                                          * --select-on-test */
    double sec_per_epoch;        /* mean of /epochs/seconds; NaN without epochs */
    RunEpochs epochs;
    int n_attrs;
    ReportAttr *attrs;
} ReportRun;

typedef struct ReportRuns {
    int count;
    ReportRun *runs;             /* in path order */
    int n_skipped;
    char **skipped;              /* one message per skipped file */
} ReportRuns;

/* Load every run file (*.h5, and *.h5.tmp of interrupted runs whose final
 * file does not exist) under the given folders, recursively, or named
 * directly. A file that is not a readable run file gets one warning line on
 * warn (naming it and why) and is skipped; the others still load. Returns
 * 0, or -1 when a path does not exist (message in err). */
int report_load(int n_paths, char *const *paths, ReportRuns *out, FILE *warn, char *err,
                int err_size);
/* Load one file; -1 with the reason in err (the file is not added). */
int report_load_file(const char *path, ReportRun *run, char *err, int err_size);
void report_run_free(ReportRun *r);
void report_runs_free(ReportRuns *r);

/* A run's value for key: "model", "status", or any root attribute, as
 * text; NULL when the run has none. */
const char *report_run_value(const ReportRun *r, const char *key);

typedef enum { METRIC_FINAL = 0, METRIC_BEST = 1 } ReportMetric;
const char *report_metric_name(ReportMetric m);
/* Prefix of the metric's data columns: "test_last" or "test_at_best". */
const char *report_metric_key(ReportMetric m);

/* ---- statistics ----------------------------------------------------------- */

/* Mean, sample standard deviation (n - 1 in the denominator; NaN for
 * n < 2), min and max of n values (mean NaN for n = 0). */
typedef struct ReportStats {
    int n;
    double mean, std, min, max;
} ReportStats;
void report_stats(const double *x, int n, ReportStats *s);
/* t_{0.975, df}: the two-sided 95 % quantile of Student's t (table for
 * df <= 30, a Cornish-Fisher expansion above; NaN for df < 1). */
double report_t975(int df);
/* The 95 % confidence interval of s's mean, mean ± t_{0.975,n-1}·std/√n;
 * NaN bounds when n < 2 (no interval). */
void report_ci95(const ReportStats *s, double *lo, double *hi);

/* ---- grouping ------------------------------------------------------------- */

/* ---- published claims (--reference) ----------------------------------------- */

typedef struct ReportClaim {
    char model[REPORT_NAME_MAX];
    char source[REPORT_VALUE_MAX];
    double mean_pct, best_pct;   /* reported mean and best test accuracy in %; NaN not stated */
    long params;                 /* -1 not stated */
    char notes[REPORT_VALUE_MAX];/* why a number is doubtful; "" none */
} ReportClaim;

typedef struct ReportReference {
    int count;
    ReportClaim *claims;
    int n_sources;               /* distinct sources, in file order */
    char (*sources)[REPORT_VALUE_MAX];
} ReportReference;

/* Read a CSV with the header
 * model,source,mean_accuracy_pct,best_accuracy_pct,param_count,notes
 * (every cell but model and source may be empty). -1 with
 * "FILE:LINE: expected ...". */
int report_reference_load(const char *path, ReportReference *out, char *err, int err_size);
void report_reference_free(ReportReference *r);

typedef struct ReportOptions {
    ReportMetric metric;
    int select_on_test;          /* --select-on-test: runs without validation choose on test */
    const ReportReference *reference;   /* --reference, or NULL */
    int n_keys;                  /* group-by keys; keys[0] is always "model" */
    char keys[REPORT_MAX_KEYS][REPORT_NAME_MAX];
    char sort[REPORT_NAME_MAX];  /* column to sort by ("" = the keys); +COL / -COL force the order */
    char marginal[REPORT_NAME_MAX];  /* "" = the main table */
    char compare[REPORT_COMPARE_MAX];  /* --compare A,B or "all"; "" = the main table */
    int importance;              /* --importance: the variance-share table instead */
    char pareto[REPORT_COMPARE_MAX];   /* --pareto OBJECTIVES; "" = the main table */
} ReportOptions;

/* ---- choosing on validation (report_select.c) ------------------------------------ */

/* The test accuracy the report uses for r: after the last epoch (metric
 * final) or at the best-validation epoch (metric best; with
 * --select-on-test a run without validation uses its highest test
 * accuracy). NaN when there is none. */
double report_run_metric(const ReportRun *r, const ReportOptions *o);
/* 1 when r has no validation and --select-on-test lets the test set choose. */
int report_run_chosen_on_test(const ReportRun *r, const ReportOptions *o);
/* The best complete run among runs->runs[idx[0..n-1]]: highest validation
 * accuracy (at the best epoch for metric best, after the last epoch for
 * final), ties by run_val_better's loss rule. Runs without validation are
 * candidates only with --select-on-test, and only when no candidate has
 * validation. -1 when none qualifies. */
int report_best_run(const ReportRuns *runs, const int *idx, int n, const ReportOptions *o);
/* --metric best needs every run's best epoch chosen on validation: -1 with
 * a message naming a run without validation, unless --select-on-test. */
int report_check_validation(const ReportRuns *runs, const ReportOptions *o, char *err, int err_size);
/* Runs (any status) without validation numbers. */
int report_count_without_validation(const ReportRuns *runs);

/* Defaults: metric final, grouped by model, sorted by the keys. */
void report_options_default(ReportOptions *o);
/* "lr,dropout" or "model,lr": model is put first when not named. */
int report_parse_group_by(const char *text, ReportOptions *o, char *err, int err_size);

typedef struct ReportGroup {
    char values[REPORT_MAX_KEYS][REPORT_VALUE_MAX];  /* one per key; "-" when a run has none */
    int count[STATUS_COUNT];     /* runs per status */
    int total;
    ReportStats acc;             /* the --metric test accuracy over the complete runs, fractions */
    ReportStats last;            /* test accuracy after the last epoch */
    ReportStats at_best;         /* test accuracy at the best (validation) epoch */
    ReportStats val_at_best;     /* validation accuracy at the best epoch */
    ReportStats best_epoch;      /* the best epoch (1-based) */
    int n_without_validation;    /* complete runs without validation numbers */
    int best_run;                /* index into runs of the best trial (chosen on validation), -1 none */
    int best_on_test;            /* the best trial was chosen on test (--select-on-test) */
    double best_trial_acc;       /* the best trial's --metric test accuracy */
    long params_min, params_max; /* -1 unknown */
    double sec_per_epoch;        /* mean over the complete runs; NaN unknown */
    char devices[REPORT_VALUE_MAX];   /* distinct devices of the complete runs */
    char best_hparams[1024];     /* "dropout=0.1, seed=2": the best run's varying keys */
    int n_members;
    int *members;                /* indices into runs */
} ReportGroup;

typedef struct ReportGroups {
    int count;
    ReportGroup *groups;
} ReportGroups;

/* One group per distinct combination of o->keys, sorted as o->sort says.
 * -1 (err) for a sort column that does not exist. */
int report_group(const ReportRuns *runs, const ReportOptions *o, ReportGroups *out, char *err,
                 int err_size);
void report_groups_free(ReportGroups *g);

/* Names of the hyperparameters that take more than one value among the
 * runs of model (seed included, model excluded), alphabetically, into
 * names (up to max); returns the count. */
int report_varying_keys(const ReportRuns *runs, const char *model, char names[][REPORT_NAME_MAX],
                        int max);

/* Numbers compare as numbers ("0.05" < "0.1"), the rest as text. */
int report_compare_values(const char *a, const char *b);

/* ---- comparing groups (--compare, report_compare.c) ----------------------------- */

/* One comparison of two groups of the main table on the --metric
 * accuracy of their complete runs, in percent. A group is named as
 * --compare writes it: "gecco", or "gecco+gate=none" with --group-by. */
typedef struct ReportComparison {
    char a[512], b[512];
    ReportStats sa, sb;          /* the accuracies of each group, in % */
    StatsTest welch;             /* mean(a) - mean(b), Welch's t-test */
    int n_pairs;                 /* seeds present in both groups (0: no pairing) */
    StatsTest paired;            /* over those pairs when n_pairs >= 2 */
} ReportComparison;

typedef struct ReportComparisons {
    int count;
    ReportComparison *items;
    int n_notes;
    char **notes;                /* groups `all` left out, and why */
} ReportComparisons;

/* The comparisons o->compare asks for among groups (report_group):
 * "A,B" (each A and B: TERM[+TERM...], a TERM is KEY=VALUE for a group key
 * or a bare model name) or "all" (every pair of groups of one model;
 * every pair of rows when grouped by model only). -1 (err) for an unknown
 * or ambiguous group, or a named group with fewer than 2 complete runs. */
int report_compare(const ReportRuns *runs, const ReportGroups *groups, const ReportOptions *o,
                   ReportComparisons *out, char *err, int err_size);
void report_comparisons_free(ReportComparisons *c);

/* ---- tables --------------------------------------------------------------- */

/* A column is shown in the text formats (Markdown, LaTeX, HTML), the data
 * formats (CSV, JSON), or both: "97.50 ± 0.71" is one text column and two
 * numeric data columns. */
enum { VIEW_TEXT = 1, VIEW_DATA = 2, VIEW_BOTH = 3 };

typedef struct TableCol {
    char key[160];               /* CSV header, JSON field, --sort name */
    char title[160];             /* text-format header */
    int view;
    int right;                   /* right-aligned (numbers) */
} TableCol;

typedef struct TableCell {
    char *text;                  /* display text ("" = empty) */
    int has_num, is_int;         /* data formats print num instead of text */
    double num;
} TableCell;

typedef struct Table {
    char caption[1024];          /* one sentence: what the numbers are */
    ReportMetric metric;
    int ncols, nrows, cap_rows;
    TableCol *cols;
    TableCell *cells;            /* nrows * ncols */
    int n_notes;
    char **notes;                /* lines shown under the table (skipped files) */
} Table;

typedef enum { FORMAT_MARKDOWN, FORMAT_CSV, FORMAT_LATEX, FORMAT_JSON, FORMAT_HTML } ReportFormat;
int report_parse_format(const char *text, ReportFormat *f);

/* The main table: one row per group. */
void report_table(const ReportRuns *runs, const ReportGroups *groups, const ReportOptions *o,
                  Table *t);
/* The marginal view of o->marginal: one row per model, one column per
 * value of the key with the mean over the complete runs having it.
 * -1 (err) when no run has the key. */
int report_marginal_table(const ReportRuns *runs, const ReportOptions *o, Table *t, char *err,
                          int err_size);
/* The --compare table: one row per comparison. */
void report_compare_table(const ReportComparisons *c, const ReportOptions *o, Table *t);
void report_write(FILE *f, const Table *t, ReportFormat fmt);
void table_free(Table *t);
/* Building another table elsewhere (report_importance.c): columns first,
 * then rows; text cells, and numbers for the data formats (NaN: empty). */
void table_begin(Table *t, ReportMetric metric);
int table_column(Table *t, const char *key, const char *title, int view, int right);
int table_new_row(Table *t);
void table_cell_text(Table *t, int row, int col, const char *text);
void table_cell_num(Table *t, int row, int col, double v, int is_int);

/* ---- hyperparameter importance (report_importance.c) ---------------------------------- */

#define REPORT_MAX_SWEPT 16      /* swept keys per model drawn and decomposed */

/* A key that varies among a model's runs (seed excluded) and its distinct
 * values among the complete trials, sorted (report_compare_values). */
typedef struct SweptKey {
    char name[REPORT_NAME_MAX];
    int n_values;
    char (*values)[REPORT_VALUE_MAX];
} SweptKey;

/* A model's complete trials with a --metric accuracy, as a design matrix. */
typedef struct ModelTrials {
    char model[REPORT_NAME_MAX];
    int n_keys;
    SweptKey keys[REPORT_MAX_SWEPT];
    int n_trials;                /* complete runs with a finite metric */
    int *value;                  /* [trial * n_keys + key]: index into keys[key].values */
    double *acc;                 /* the --metric test accuracy of each trial, fraction */
    int n_runs;                  /* the model's runs of every status */
} ModelTrials;
void report_model_trials(const ReportRuns *runs, const ReportOptions *o, const char *model,
                         ModelTrials *mt);
void report_model_trials_free(ModelTrials *mt);
/* First-order variance shares: share[k] = Σ_v (n_v/N)(mean_v − mean)² / var,
 * var = (1/N) Σ (acc_i − mean)² over the trials. Returns var (0 or NaN:
 * shares NaN). docs/sweepreport.md, "Hyperparameter importance". */
double report_importance(const ModelTrials *mt, double *share);
/* --importance: one row per model and swept key, and one for the rest
 * (interactions and seed noise). */
void report_importance_table(const ReportRuns *runs, const ReportOptions *o, Table *t);

/* ---- the Pareto front (report_pareto.c) ----------------------------------------------- */

/* Parse a --pareto value (results/pareto.h) over the metrics a choice may
 * be made on: val_acc, val_loss (at each trial's best epoch), params,
 * s_per_epoch. The count, or -1 with "--pareto: ..." in err. */
int report_pareto_objectives(const char *text, Objective *out, char *err, int err_size);
/* --pareto: one row per complete trial on the front of o->pareto, best
 * first by the first objective. -1 (err) for bad objectives. */
int report_pareto_table(const ReportRuns *runs, const ReportOptions *o, Table *t, char *err, int err_size);

/* Everything sweepreport does without figures: load, group, build the
 * table (main or marginal) and write it. 0 ok, -1 (err) bad options. */
int report_build(const ReportRuns *runs, const ReportOptions *o, Table *t, char *err, int err_size);

#endif
