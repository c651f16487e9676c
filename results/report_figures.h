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

/* Every figure for runs, and index.html with table, into dir (created when
 * missing). A model whose figure cannot be drawn (no complete run, no
 * stored images) gets a warning on warn and the rest goes on. Returns the
 * number of PNG files written, or -1 (err) when dir cannot be used. */
int report_figures(const ReportRuns *runs, const ReportOptions *o, const Table *table,
                   const char *dir, FILE *warn, char *err, int err_size);

/* Text with <, >, &, " escaped. */
void report_html_text(FILE *f, const char *s);

#endif
