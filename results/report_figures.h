/* sweepreport --figures DIR: PNG figures drawn with PLplot's cairo driver
 * (pngcairo), and DIR/index.html showing the table and the figures. Why
 * PLplot: it is a C library, so the figures are drawn in-process from the
 * arrays already in memory (no script files, no child process, no text
 * round trip of the data), its cairo driver gives anti-aliased PNGs with
 * real fonts, and Debian packages it (libplplot-dev, plplot-driver-cairo).
 *
 * Per model (the best trial is chosen on validation: report_best_run):
 *   curves-MODEL.png          train/test loss and train/validation/test
 *                             accuracy per epoch, one
 *                             line per configuration (mean over its seeds)
 *                             with a min-max band
 *   confusion-MODEL.png       the best trial's confusion matrix as a heat
 *                             map with the counts written in the cells
 *   confusion-MODEL.csv       the counts drawn, row = true label
 *   misclassified-MODEL.png   the best trial's first misclassified test
 *                             digits, "true -> predicted" above each */
#ifndef SWEEPRUN_REPORT_FIGURES_H
#define SWEEPRUN_REPORT_FIGURES_H
#include <stdint.h>
#include <stdio.h>
#include "report.h"

/* Sizes in pixels (fixed, so pages lay out and tests can check them). */
#define FIG_CURVES_W 1200
#define FIG_CURVES_H 500
#define FIG_CONFUSION_W 720
#define FIG_CONFUSION_H 680
#define FIG_MIS_W 960
#define FIG_MIS_H 760
#define FIG_MIS_COLS 8           /* digits per row of the grid */
#define FIG_MIS_ROWS 5

/* One line of a training-curve figure: the runs of one configuration. */
typedef struct CurveSeries {
    char label[256];
    int n_runs;
    const RunEpochs **runs;
} CurveSeries;

/* Each returns 0, or -1 with the reason in err (nothing half-written is
 * left behind under path). */
int figure_curves(const char *path, const char *title, const CurveSeries *series, int n_series,
                  char *err, int err_size);
/* The heat map of confusion[true * k + predicted]; when sidecar is given,
 * the cell texts drawn are also written there as CSV (k rows of k). */
int figure_confusion(const char *path, const char *sidecar, const char *title,
                     const int64_t *confusion, int k, char *err, int err_size);
/* The first FIG_MIS_COLS x FIG_MIS_ROWS misclassified images of t. */
int figure_misclassified(const char *path, const char *title, const RunTestResults *t,
                         char *err, int err_size);

/* ---- shared by the drawing files (report_figures.c, report_figures_compare.c) ---- */

/* cmap0: 0 background, 1 ink, 2.. the series colours (Tableau 10), then
 * the same colours translucent for the min-max bands. */
#define INK 1
#define SERIES0 2
#define N_SERIES_COLORS 8
#define BAND0 (SERIES0 + N_SERIES_COLORS)
#define GRID (BAND0 + N_SERIES_COLORS)

/* Open a w x h pngcairo stream on path with the colours above; -1 (err)
 * when path cannot be written (PLplot itself would exit). End with plend1. */
int fig_begin_png(const char *path, int w, int h, char *err, int n);
/* A title line (and an optional smaller second one) centred on the page. */
void fig_page_title(const char *title, const char *subtitle);

/* ---- comparisons (report_figures_compare.c) ------------------------------------------ */

#define FIG_SCATTER_W 1200
#define FIG_SCATTER_H 640
#define FIG_EFFECTS_W 900
#define FIG_EFFECTS_H 560
#define FIG_PARALLEL_W 1200
#define FIG_PARALLEL_H 620
#define FIG_IMPORTANCE_W 900
#define FIG_IMPORTANCE_H 520

/* One marker of accuracy-vs-params / -cost: a group's mean --metric test
 * accuracy over its n complete runs with its 95 % t interval (NaN when
 * n < 2). Accuracies in %. */
typedef struct ScatterPoint {
    char label[200];             /* the CSV's: "gecco gate=none, weight_decay=0" */
    char short_label[120];       /* the figure's key: "gecco none, 0" (names in its title) */
    int series;                  /* colour: the model's index */
    int n;
    double params;               /* NaN unknown */
    double s_per_epoch;          /* NaN unknown */
    double mean, ci_lo, ci_hi;
} ScatterPoint;

/* x: parameters (by_cost 0) or seconds per epoch (1), on a log axis; the
 * Pareto front (no other point has a higher accuracy at a smaller or
 * equal x) is drawn. The points with a known x are written to sidecar as
 * CSV: label,params,s_per_epoch,mean,ci_lo,ci_hi,on_front. */
int figure_accuracy_scatter(const char *path, const char *sidecar, const char *title,
                            const char *subtitle, const char *key_title, const ScatterPoint *pts,
                            int n, int by_cost, char *err, int err_size);
/* Accuracy against the values of key mt->keys[k]: the trials as points,
 * the mean per value as a line, its 95 % interval as a band. */
int figure_effects(const char *path, const char *title, const char *subtitle, const ModelTrials *mt,
                   int k, char *err, int err_size);
/* One vertical axis per swept key plus accuracy; one polyline per trial,
 * coloured by its accuracy (colour bar on the right). */
int figure_parallel(const char *path, const char *title, const char *subtitle, const ModelTrials *mt,
                    char *err, int err_size);
/* Horizontal bars: share[k] per key and the rest (interactions, seeds). */
int figure_importance(const char *path, const char *title, const char *subtitle,
                      const ModelTrials *mt, const double *share, char *err, int err_size);

/* Every figure for runs, and index.html with table, into dir (created when
 * missing). A model whose figure cannot be drawn (no complete run, no
 * stored images) gets a warning on warn and the rest goes on. Returns the
 * number of PNG files written, or -1 (err) when dir cannot be used. */
int report_figures(const ReportRuns *runs, const ReportOptions *o, const Table *table,
                   const char *dir, FILE *warn, char *err, int err_size);

/* Text with <, >, &, " escaped. */
void report_html_text(FILE *f, const char *s);

#endif
