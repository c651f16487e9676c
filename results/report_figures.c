/* Drawing the figures with PLplot (pngcairo). Each figure is one PLplot
 * stream: begin_png() ... plend1(). Data arrive as the arrays the run files
 * hold; nothing here reads files. */
#include "report_figures.h"
#include <errno.h>
#include <math.h>
#include <plplot.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

static const int PALETTE[N_SERIES_COLORS][3] = {
    {31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},
    {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127},
};

static int fail(char *err, int n, const char *fmt, const char *a, const char *b)
{
    snprintf(err, n, fmt, a, b);
    return -1;
}

/* PLplot exits the process when it cannot open its output, so check that
 * the file can be written first and say which one it is. */
int fig_begin_png(const char *path, int w, int h, char *err, int n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return fail(err, n, "%s: cannot write: %s", path, strerror(errno));
    fclose(f);
    plsdev("pngcairo");
    plsfnam(path);
    plspage(0, 0, w, h, 0, 0);
    plscmap0n(GRID + 1);
    plscol0(0, 255, 255, 255);
    plscol0(INK, 0, 0, 0);
    for (int i = 0; i < N_SERIES_COLORS; i++) {
        plscol0(SERIES0 + i, PALETTE[i][0], PALETTE[i][1], PALETTE[i][2]);
        plscol0a(BAND0 + i, PALETTE[i][0], PALETTE[i][1], PALETTE[i][2], 0.18);
    }
    plscol0(GRID, 220, 220, 220);
    plinit();
    plcol0(INK);
    return 0;
}

/* A title line (and an optional second, smaller one) centred on the page. */
void fig_page_title(const char *title, const char *subtitle)
{
    plvpor(0, 1, 0, 1);
    plwind(0, 1, 0, 1);
    plcol0(INK);
    plschr(0, 1.15);
    plptex(0.5, subtitle ? 0.96 : 0.94, 1, 0, 0.5, title);
    if (subtitle) {
        plschr(0, 0.85);
        plptex(0.5, 0.905, 1, 0, 0.5, subtitle);
    }
    plschr(0, 1.0);
}

/* ---- training curves ----------------------------------------------------------- */

enum { M_TRAIN_LOSS, M_TEST_LOSS, M_TRAIN_ACC, M_TEST_ACC, M_VAL_ACC, N_METRICS };

/* Line styles (pllsty): test solid, train short dashes, validation long dashes. */
enum { STYLE_TEST = 1, STYLE_TRAIN = 2, STYLE_VAL = 3 };

/* One series' per-epoch mean, min and max of one metric over its runs. */
typedef struct Agg {
    int n;                 /* epochs with at least one finite value */
    double *x, *mean, *lo, *hi;
} Agg;

static double metric_at(const RunEpochs *e, int m, long i)
{
    switch (m) {
    case M_TRAIN_LOSS: return e->train_loss[i];
    case M_TEST_LOSS: return e->test_loss[i];
    case M_TRAIN_ACC: return 100 * e->train_accuracy[i];
    case M_VAL_ACC: return 100 * e->val_accuracy[i];   /* NaN without validation: not drawn */
    default: return 100 * e->test_accuracy[i];
    }
}

static void aggregate(const CurveSeries *s, int m, Agg *a)
{
    long longest = 0;
    for (int r = 0; r < s->n_runs; r++)
        if (s->runs[r]->count > longest) longest = s->runs[r]->count;
    a->n = 0;
    a->x = xcalloc((size_t)longest + 1, sizeof(double));
    a->mean = xcalloc((size_t)longest + 1, sizeof(double));
    a->lo = xcalloc((size_t)longest + 1, sizeof(double));
    a->hi = xcalloc((size_t)longest + 1, sizeof(double));
    for (long i = 0; i < longest; i++) {
        double sum = 0, lo = INFINITY, hi = -INFINITY, epoch = (double)(i + 1);
        int k = 0;
        for (int r = 0; r < s->n_runs; r++) {
            const RunEpochs *e = s->runs[r];
            if (i >= e->count || !isfinite(metric_at(e, m, i))) continue;
            double v = metric_at(e, m, i);
            sum += v;
            lo = fmin(lo, v);
            hi = fmax(hi, v);
            epoch = e->epoch[i];
            k++;
        }
        if (!k) continue;
        a->x[a->n] = epoch;
        a->mean[a->n] = sum / k;
        a->lo[a->n] = lo;
        a->hi[a->n] = hi;
        a->n++;
    }
}

static void agg_free(Agg *a)
{
    free(a->x);
    free(a->mean);
    free(a->lo);
    free(a->hi);
}

static void band(const Agg *a, int color)
{
    if (a->n < 2) return;
    double *px = xmalloc(2 * (size_t)a->n * sizeof(double));
    double *py = xmalloc(2 * (size_t)a->n * sizeof(double));
    for (int i = 0; i < a->n; i++) {
        px[i] = a->x[i];
        py[i] = a->hi[i];
        px[2 * a->n - 1 - i] = a->x[i];
        py[2 * a->n - 1 - i] = a->lo[i];
    }
    plcol0(color);
    plfill(2 * a->n, px, py);
    free(px);
    free(py);
}

static void series_line(const Agg *a, int color, int style)
{
    if (a->n == 0) return;
    plcol0(color);
    plwidth(2.0);
    pllsty(style);
    if (a->n > 1) plline(a->n, a->x, a->mean);
    plstring(a->n, a->x, a->mean, "•");
    for (int i = 0; i < a->n && a->n == 1; i++) {   /* one epoch: min-max as a bar */
        double x[2] = {a->x[i], a->x[i]}, y[2] = {a->lo[i], a->hi[i]};
        plline(2, x, y);
    }
    pllsty(1);
    plwidth(1.0);
}

/* A panel's metrics: train, test, and validation (-1 when not drawn). */
typedef struct PanelMetrics {
    int m[3], style[3];
} PanelMetrics;

/* Axis range of a panel over every series' bands, padded by 5%. */
static void panel_range(Agg (*aggs)[N_METRICS], int n, const PanelMetrics *pm, double *x1, double *y0,
                        double *y1)
{
    double lo = INFINITY, hi = -INFINITY, last = 1;
    for (int s = 0; s < n; s++)
        for (int j = 0; j < 3; j++)
            for (int i = 0, m = pm->m[j]; m >= 0 && i < aggs[s][m].n; i++) {
                lo = fmin(lo, aggs[s][m].lo[i]);
                hi = fmax(hi, aggs[s][m].hi[i]);
                last = fmax(last, aggs[s][m].x[i]);
            }
    if (!isfinite(lo)) lo = 0, hi = 1;
    double pad = hi > lo ? 0.05 * (hi - lo) : 0.5;
    *y0 = lo - pad;
    *y1 = hi + pad;
    *x1 = last;
}

static void panel(Agg (*aggs)[N_METRICS], int n, const PanelMetrics *pm, double vx0, double vx1,
                  const char *ylabel, const char *heading)
{
    double x1, y0, y1;
    panel_range(aggs, n, pm, &x1, &y0, &y1);
    /* whole epochs: one tick each up to 20 (no minor ticks), and room
     * around the first and last so their points are not cut in half */
    double xpad = x1 > 1 ? fmax(0.08, 0.03 * (x1 - 1)) : 0.5;
    double xtick = x1 > 1 && x1 <= 20 ? 1 : 0;
    int xsub = xtick > 0 ? 1 : 0;
    plvpor(vx0, vx1, 0.14, 0.80);
    plwind(1 - xpad, x1 + xpad, y0, y1);
    plcol0(GRID);
    plbox("g", xtick, xsub, "g", 0, 0);
    for (int s = 0; s < n; s++)
        for (int j = 0; j < 3; j++)
            if (pm->m[j] >= 0) band(&aggs[s][pm->m[j]], BAND0 + s % N_SERIES_COLORS);
    for (int s = 0; s < n; s++)
        for (int j = 0; j < 3; j++)
            if (pm->m[j] >= 0) series_line(&aggs[s][pm->m[j]], SERIES0 + s % N_SERIES_COLORS, pm->style[j]);
    plcol0(INK);
    plbox("bcnst", xtick, xsub, "bcnstv", 0, 0);
    plmtex("b", 3.0, 0.5, 0.5, "epoch");
    plmtex("l", 4.0, 0.5, 0.5, ylabel);
    plmtex("t", 1.0, 0.5, 0.5, heading);
}

static void curves_legend(const CurveSeries *series, int n, int with_val)
{
    int total = n + 2 + with_val;
    PLINT *opt = xcalloc((size_t)total, sizeof(PLINT)), *colors = xcalloc((size_t)total, sizeof(PLINT));
    PLINT *styles = xcalloc((size_t)total, sizeof(PLINT));
    PLFLT *widths = xcalloc((size_t)total, sizeof(PLFLT));
    const char **text = xcalloc((size_t)total, sizeof(char *));
    for (int i = 0; i < total; i++) {
        opt[i] = PL_LEGEND_LINE;
        widths[i] = 2.0;
        styles[i] = 1;
        colors[i] = i < n ? SERIES0 + i % N_SERIES_COLORS : INK;
        text[i] = i < n ? series[i].label : i == n ? "test (solid)" : i == n + 1 ? "train (dashed)"
                                                                             : "validation (long dashes)";
    }
    styles[n] = STYLE_TEST;
    styles[n + 1] = STYLE_TRAIN;
    if (with_val) styles[n + 2] = STYLE_VAL;
    PLFLT w, h;
    plschr(0, 0.8);
    pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             PL_POSITION_RIGHT | PL_POSITION_BOTTOM | PL_POSITION_INSIDE, 0.02, 0.03, 0.08, 0, INK,
             1, 0, 0, total, opt, 0.8, 0.9, 2.0, 0.0, colors, (const char *const *)text, NULL, NULL,
             NULL, NULL, colors, styles, widths, NULL, NULL, NULL, NULL);
    plschr(0, 1.0);
    free(opt);
    free(colors);
    free(styles);
    free(widths);
    free(text);
}

int figure_curves(const char *path, const char *title, const CurveSeries *series, int n_series,
                  char *err, int err_size)
{
    if (n_series < 1) return fail(err, err_size, "%s: no complete run to draw%s", path, "");
    Agg (*aggs)[N_METRICS] = xcalloc((size_t)n_series, sizeof *aggs);
    for (int s = 0; s < n_series; s++)
        for (int m = 0; m < N_METRICS; m++) aggregate(&series[s], m, &aggs[s][m]);
    if (fig_begin_png(path, FIG_CURVES_W, FIG_CURVES_H, err, err_size) != 0) {
        for (int s = 0; s < n_series; s++)
            for (int m = 0; m < N_METRICS; m++) agg_free(&aggs[s][m]);
        free(aggs);
        return -1;
    }
    pladv(0);
    fig_page_title(title, "mean over the runs of each configuration; band: min-max");
    int with_val = 0;
    for (int s = 0; s < n_series; s++) with_val |= aggs[s][M_VAL_ACC].n > 0;
    PanelMetrics loss = {{M_TRAIN_LOSS, M_TEST_LOSS, -1}, {STYLE_TRAIN, STYLE_TEST, 0}};
    PanelMetrics acc = {{M_TRAIN_ACC, M_TEST_ACC, with_val ? M_VAL_ACC : -1}, {STYLE_TRAIN, STYLE_TEST, STYLE_VAL}};
    panel(aggs, n_series, &loss, 0.07, 0.47, "cross-entropy loss", "loss");
    panel(aggs, n_series, &acc, 0.57, 0.97, "accuracy (%)", "accuracy");
    curves_legend(series, n_series, with_val);
    plend1();
    for (int s = 0; s < n_series; s++)
        for (int m = 0; m < N_METRICS; m++) agg_free(&aggs[s][m]);
    free(aggs);
    return 0;
}

/* ---- confusion heat map ---------------------------------------------------------- */

static int write_sidecar(const char *path, char (*cells)[24], int k, char *err, int n)
{
    FILE *f = fopen(path, "w");
    if (!f) return fail(err, n, "%s: cannot write: %s", path, strerror(errno));
    fputs("true\\predicted", f);
    for (int p = 0; p < k; p++) fprintf(f, ",%d", p);
    fputc('\n', f);
    for (int t = 0; t < k; t++) {
        fprintf(f, "%d", t);
        for (int p = 0; p < k; p++) fprintf(f, ",%s", cells[t * k + p]);
        fputc('\n', f);
    }
    return fclose(f) == 0 ? 0 : fail(err, n, "%s: cannot write: %s", path, strerror(errno));
}

/* Colour by log(1 + count): the diagonal holds ~1000 per class, the
 * mistakes a handful, and on a linear scale every mistake would be white. */
int figure_confusion(const char *path, const char *sidecar, const char *title,
                     const int64_t *confusion, int k, char *err, int err_size)
{
    if (k < 1 || k > 100) return fail(err, err_size, "%s: cannot draw a confusion matrix of %s classes", path, "0 or > 100");
    char (*cells)[24] = xcalloc((size_t)k * k, sizeof *cells);
    int64_t most = 1, total = 0, right = 0;
    for (int i = 0; i < k * k; i++) {
        snprintf(cells[i], sizeof cells[i], "%lld", (long long)confusion[i]);
        if (confusion[i] > most) most = confusion[i];
        total += confusion[i];
    }
    for (int i = 0; i < k; i++) right += confusion[i * k + i];
    if ((sidecar && write_sidecar(sidecar, cells, k, err, err_size) != 0) ||
        fig_begin_png(path, FIG_CONFUSION_W, FIG_CONFUSION_H, err, err_size) != 0) {
        free(cells);
        return -1;
    }
    PLFLT pos[3] = {0, 0.35, 1}, r[3] = {1, 0.55, 0.03}, g[3] = {1, 0.75, 0.19},
          b[3] = {1, 0.90, 0.42};
    plscmap1l(1, 3, pos, r, g, b, NULL);
    pladv(0);
    char sub[128];
    snprintf(sub, sizeof sub, "%lld test images, %lld correct (%.2f%%); colour: log(1 + count)",
             (long long)total, (long long)right, total ? 100.0 * right / total : 0.0);
    fig_page_title(title, sub);
    plvpas(0.10, 0.96, 0.09, 0.86, 1.0);
    plwind(0, k, 0, k);
    plschr(0, k > 12 ? 0.55 : 0.85);
    for (int t = 0; t < k; t++)
        for (int p = 0; p < k; p++) {
            double frac = log1p((double)confusion[t * k + p]) / log1p((double)most);
            double y = k - 1 - t;   /* true label 0 on top */
            PLFLT cx[4] = {p, p + 1, p + 1, p}, cy[4] = {y, y, y + 1, y + 1};
            plcol1(frac);
            plfill(4, cx, cy);
            plcol0(frac > 0.6 ? 0 : INK);
            plptex(p + 0.5, y + 0.5, 1, 0, 0.5, cells[t * k + p]);
        }
    plcol0(INK);
    plschr(0, 1.0);
    plbox("bc", 0, 0, "bc", 0, 0);
    for (int i = 0; i < k; i++) {
        char label[16];
        snprintf(label, sizeof label, "%d", i);
        plmtex("b", 1.3, (i + 0.5) / k, 0.5, label);
        plmtex("lv", 0.8, (k - i - 0.5) / k, 1.0, label);
    }
    plmtex("b", 3.0, 0.5, 0.5, "predicted label");
    plmtex("l", 2.8, 0.5, 0.5, "true label");
    plend1();
    free(cells);
    return 0;
}

/* ---- misclassified digits ----------------------------------------------------------- */

static void draw_digit(const uint8_t *px, int rows, int cols, double x0, double y0, double w,
                       double h)
{
    PLFLT **z = xcalloc((size_t)cols, sizeof *z);
    for (int c = 0; c < cols; c++) {
        z[c] = xcalloc((size_t)rows, sizeof **z);
        for (int r = 0; r < rows; r++) z[c][rows - 1 - r] = px[r * cols + c];   /* row 0 on top */
    }
    plimage((PLFLT_MATRIX)z, cols, rows, x0, x0 + w, y0, y0 + h, 0, 255, x0, x0 + w, y0, y0 + h);
    for (int c = 0; c < cols; c++) free(z[c]);
    free(z);
}

int figure_misclassified(const char *path, const char *title, const RunTestResults *t,
                         char *err, int err_size)
{
    if (t->n_mis_images < 1 || !t->mis_images) {
        snprintf(err, err_size, "%s: the run file stores no misclassified images (%ld misclassified; "
                                "written before /test/misclassified_images existed?)", path, t->n_mis);
        return -1;
    }
    if (fig_begin_png(path, FIG_MIS_W, FIG_MIS_H, err, err_size) != 0) return -1;
    PLFLT pos[2] = {0, 1}, gray[2] = {0, 1};
    plscmap1l(1, 2, pos, gray, gray, gray, NULL);
    pladv(0);
    long shown = t->n_mis_images < FIG_MIS_COLS * FIG_MIS_ROWS ? t->n_mis_images
                                                               : FIG_MIS_COLS * FIG_MIS_ROWS;
    char sub[160];
    snprintf(sub, sizeof sub, "the first %ld of %ld misclassified test images, in test order; "
                              "label: true → predicted", shown, t->n_mis);
    fig_page_title(title, sub);
    /* One slot per digit in world units; the image is square in pixels. */
    double vx0 = 0.02, vx1 = 0.98, vy0 = 0.01, vy1 = 0.88;
    plvpor(vx0, vx1, vy0, vy1);
    plwind(0, FIG_MIS_COLS, 0, FIG_MIS_ROWS);
    double slot_w_px = (vx1 - vx0) * FIG_MIS_W / FIG_MIS_COLS;
    double slot_h_px = (vy1 - vy0) * FIG_MIS_H / FIG_MIS_ROWS;
    double side_px = fmin(slot_w_px * 0.8, slot_h_px * 0.72);
    double w = side_px / slot_w_px, h = side_px / slot_h_px;
    long image = (long)t->image_rows * t->image_cols;
    plschr(0, 1.0);
    for (long i = 0; i < shown; i++) {
        int col = (int)(i % FIG_MIS_COLS), row = (int)(i / FIG_MIS_COLS);
        double top = FIG_MIS_ROWS - row, x0 = col + (1 - w) / 2, y0 = top - 0.22 - h;
        draw_digit(t->mis_images + i * image, t->image_rows, t->image_cols, x0, y0, w, h);
        char label[64];
        snprintf(label, sizeof label, "%d → %d", t->mis_label[i], t->mis_pred[i]);
        plcol0(INK);
        plptex(col + 0.5, top - 0.09, 1, 0, 0.5, label);
    }
    plend1();
    return 0;
}
