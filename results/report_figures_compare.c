/* The comparison figures: accuracy against size and cost across groups,
 * and per model the effect of each swept key, a parallel-coordinates view
 * of the trials and the importance bars. Drawing only: the numbers arrive
 * as ScatterPoint arrays and ModelTrials (report_importance.c). */
#include "report_figures.h"
#include <errno.h>
#include <math.h>
#include <plplot.h>
#include <stdlib.h>
#include <string.h>
#include "pareto.h"
#include "util.h"

static int fail(char *err, int n, const char *what, const char *path)
{
    snprintf(err, n, "%s: %s", path, what);
    return -1;
}

/* A range [lo, hi] padded by frac of its width (or ±pad0 when empty). */
static void pad_range(double *lo, double *hi, double frac, double pad0)
{
    if (!(*hi > *lo)) {
        *lo -= pad0;
        *hi += pad0;
        return;
    }
    double d = (*hi - *lo) * frac;
    *lo -= d;
    *hi += d;
}

/* ---- accuracy against size or cost --------------------------------------------------- */

static double scatter_x(const ScatterPoint *p, int by_cost) { return by_cost ? p->s_per_epoch : p->params; }

/* On the front (results/pareto.h): no other point is at least as good on
 * both axes and better on one (fewer parameters or seconds, higher mean
 * accuracy). */
static void pareto(const ScatterPoint *pts, const int *idx, int n, int by_cost, int *front)
{
    const Objective obj[2] = {{"cost", 0}, {"mean", 1}};
    double *xy = xcalloc(2 * (size_t)n + 1, sizeof(double));
    for (int i = 0; i < n; i++) {
        xy[2 * i] = scatter_x(&pts[idx[i]], by_cost);
        xy[2 * i + 1] = pts[idx[i]].mean;
    }
    pareto_front(xy, n, obj, 2, front);
    free(xy);
}

static void csv_text(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_num(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, ",%.10g", v);
    else fputc(',', f);
}

static int scatter_sidecar(const char *path, const ScatterPoint *pts, const int *idx, const int *front,
                           int n, char *err, int err_size)
{
    FILE *f = fopen(path, "w");
    if (!f) return fail(err, err_size, strerror(errno), path);
    fputs("label,params,s_per_epoch,mean,ci_lo,ci_hi,on_front\n", f);
    for (int i = 0; i < n; i++) {
        const ScatterPoint *p = &pts[idx[i]];
        csv_text(f, p->label);
        csv_num(f, p->params);
        csv_num(f, p->s_per_epoch);
        csv_num(f, p->mean);
        csv_num(f, p->ci_lo);
        csv_num(f, p->ci_hi);
        fprintf(f, ",%d\n", front[i]);
    }
    return fclose(f) == 0 ? 0 : fail(err, err_size, strerror(errno), path);
}

static int by_x_cost;
static const ScatterPoint *by_x_pts;
static int by_x(const void *a, const void *b)
{
    double xa = scatter_x(&by_x_pts[*(const int *)a], by_x_cost), xb = scatter_x(&by_x_pts[*(const int *)b], by_x_cost);
    return (xa > xb) - (xa < xb);
}

static void scatter_window(const ScatterPoint *pts, const int *idx, int n, int by_cost)
{
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < n; i++) {
        const ScatterPoint *p = &pts[idx[i]];
        x0 = fmin(x0, log10(scatter_x(p, by_cost)));
        x1 = fmax(x1, log10(scatter_x(p, by_cost)));
        y0 = fmin(y0, isfinite(p->ci_lo) ? p->ci_lo : p->mean);
        y1 = fmax(y1, isfinite(p->ci_hi) ? p->ci_hi : p->mean);
    }
    pad_range(&x0, &x1, 0.08, 0.3);
    pad_range(&y0, &y1, 0.08, 0.5);
    plwind(x0, x1, y0, y1);
}

static void draw_front(const ScatterPoint *pts, const int *idx, const int *front, int n, int by_cost)
{
    double *x = xcalloc((size_t)n + 1, sizeof(double)), *y = xcalloc((size_t)n + 1, sizeof(double));
    int k = 0;
    for (int i = 0; i < n; i++)   /* idx is sorted by x */
        if (front[i]) {
            x[k] = log10(scatter_x(&pts[idx[i]], by_cost));
            y[k++] = pts[idx[i]].mean;
        }
    plcol0(INK);
    pllsty(2);
    plwidth(1.5);
    if (k > 1) plline(k, x, y);
    pllsty(1);
    plwidth(1.0);
    free(x);
    free(y);
}

/* How many earlier points sit (almost) where point i is: its number goes below theirs. */
static int crowd(const ScatterPoint *pts, const int *idx, int i, int by_cost)
{
    PLFLT x0, x1, y0, y1;
    plgvpw(&x0, &x1, &y0, &y1);
    int k = 0;
    for (int j = 0; j < i; j++)
        k += fabs(log10(scatter_x(&pts[idx[j]], by_cost)) - log10(scatter_x(&pts[idx[i]], by_cost))) < 0.04 * (x1 - x0) &&
             fabs(pts[idx[j]].mean - pts[idx[i]].mean) < 0.03 * (y1 - y0);
    return k;
}

static void draw_markers(const ScatterPoint *pts, const int *idx, const int *front, int n, int by_cost)
{
    PLFLT wx0, wx1, wy0, wy1;
    plgvpw(&wx0, &wx1, &wy0, &wy1);
    for (int i = 0; i < n; i++) {
        const ScatterPoint *p = &pts[idx[i]];
        double x = log10(scatter_x(p, by_cost)), y = p->mean;
        plcol0(SERIES0 + p->series % N_SERIES_COLORS);
        plwidth(1.5);
        if (isfinite(p->ci_lo)) plerry(1, &x, &p->ci_lo, &p->ci_hi);
        plwidth(1.0);
        plschr(0, front[i] ? 1.5 : 1.1);
        plstring(1, &x, &y, front[i] ? "◆" : "●");
        char num[16];
        snprintf(num, sizeof num, "%d", i + 1);
        plschr(0, 0.75);
        plcol0(INK);
        double ty = y - crowd(pts, idx, i, by_cost) * 0.03 * (wy1 - wy0);
        plptex(x, ty, 1, 0, -0.6, num);
    }
    plschr(0, 1.0);
}

/* A log axis spanning less than 1.5 decades has no decade to number: then
 * the distinct x values (up to 8) are written under their points, each at
 * least 1/7 of the axis from the last one written (closer ones would
 * print over each other; their points are told apart by the key). */
static void scatter_x_axis(const ScatterPoint *pts, const int *idx, int n, int by_cost)
{
    PLFLT x0, x1, y0, y1;
    plgvpw(&x0, &x1, &y0, &y1);
    int distinct = 0;
    for (int i = 0; i < n; i++)
        distinct += i == 0 || scatter_x(&pts[idx[i]], by_cost) != scatter_x(&pts[idx[i - 1]], by_cost);
    if (x1 - x0 >= 1.5 || distinct > 8) {
        plbox("bcnstl", 0, 0, "", 0, 0);
        return;
    }
    plbox("bc", 0, 0, "", 0, 0);
    double last = -1;
    for (int i = 0; i < n; i++) {
        double x = scatter_x(&pts[idx[i]], by_cost), at = (log10(x) - x0) / (x1 - x0);
        if (last >= 0 && at - last < 1.0 / 7) continue;
        char text[32];
        if (by_cost) snprintf(text, sizeof text, "%.3g", x);
        else snprintf(text, sizeof text, "%.0f", x);
        plmtex("b", 1.5, at, 0.5, text);
        last = at;
    }
}

static void key_line(char *line, size_t size, int i, const ScatterPoint *p, int on_front)
{
    snprintf(line, size, "%2d%s %.60s (%d run%s)", i + 1, on_front ? " ◆" : "", p->short_label, p->n,
             p->n == 1 ? "" : "s");
}

/* The numbered labels beside the plot, as many as fit, in a font small
 * enough for the longest line (measured: about 38 characters fit the key's
 * width at scale 0.85). */
static void scatter_key(const char *key_title, const ScatterPoint *pts, const int *idx, const int *front,
                        int n)
{
    plvpor(0.62, 0.99, 0.12, 0.84);
    plwind(0, 1, 0, 1);
    int rows = n < 28 ? n : 27;
    double step = fmin(0.05, 1.0 / (rows + 2));
    size_t longest = strlen(key_title);
    char line[300];
    for (int i = 0; i < rows; i++) {
        key_line(line, sizeof line, i, &pts[idx[i]], front[i]);
        if (strlen(line) > longest) longest = strlen(line);
    }
    double scale = rows > 16 ? 0.72 : 0.85;
    if (longest > 38) scale = fmax(0.5, fmin(scale, 0.85 * 38.0 / (double)longest));
    plschr(0, scale);
    plcol0(INK);
    plptex(0, 1 - step * 0.5, 1, 0, 0, key_title);
    for (int i = 0; i < rows; i++) {
        const ScatterPoint *p = &pts[idx[i]];
        key_line(line, sizeof line, i, p, front[i]);
        plcol0(SERIES0 + p->series % N_SERIES_COLORS);
        plptex(0, 1 - step * (i + 1.5), 1, 0, 0, line);
    }
    if (rows < n) {
        char more[96];
        snprintf(more, sizeof more, "... and %d more (see the CSV)", n - rows);
        plcol0(INK);
        plptex(0, 1 - step * (rows + 1.5), 1, 0, 0, more);
    }
    plschr(0, 1.0);
}

int figure_accuracy_scatter(const char *path, const char *sidecar, const char *title,
                            const char *subtitle, const char *key_title, const ScatterPoint *pts,
                            int n, int by_cost, char *err, int err_size)
{
    int *idx = xcalloc((size_t)n + 1, sizeof(int)), *front = xcalloc((size_t)n + 1, sizeof(int)), k = 0;
    for (int i = 0; i < n; i++)
        if (scatter_x(&pts[i], by_cost) > 0 && isfinite(pts[i].mean)) idx[k++] = i;
    by_x_cost = by_cost;
    by_x_pts = pts;
    qsort(idx, (size_t)k, sizeof *idx, by_x);
    pareto(pts, idx, k, by_cost, front);
    int rc = k == 0 ? fail(err, err_size, by_cost ? "no complete group with seconds per epoch to draw"
                                                  : "no complete group with a parameter count to draw", path)
                    : scatter_sidecar(sidecar, pts, idx, front, k, err, err_size);
    if (rc == 0) rc = fig_begin_png(path, FIG_SCATTER_W, FIG_SCATTER_H, err, err_size);
    if (rc == 0) {
        pladv(0);
        fig_page_title(title, subtitle);
        plvpor(0.08, 0.58, 0.12, 0.84);
        scatter_window(pts, idx, k, by_cost);
        plcol0(GRID);
        plbox("gl", 0, 0, "g", 0, 0);
        draw_front(pts, idx, front, k, by_cost);
        draw_markers(pts, idx, front, k, by_cost);
        plcol0(INK);
        scatter_x_axis(pts, idx, k, by_cost);
        plbox("", 0, 0, "bcnstv", 0, 0);
        plmtex("b", 3.0, 0.5, 0.5, by_cost ? "seconds per epoch (log scale)" : "trainable parameters (log scale)");
        plmtex("l", 4.5, 0.5, 0.5, "test accuracy (%), mean and 95% CI");
        scatter_key(key_title, pts, idx, front, k);
        plend1();
    }
    free(idx);
    free(front);
    return rc;
}

/* ---- effect of one key ------------------------------------------------------------- */

/* Where a key's values go on the x axis. Text values, and numbers that
 * include 0 while the rest span a factor of 10 or more (weight decay
 * 0, 1e-4, 1e-3), are evenly spaced; positive numbers spanning 10× or
 * more are on a log axis; other numbers on a linear one. */
typedef enum { AXIS_CATEGORY, AXIS_LINEAR, AXIS_LOG } AxisKind;

static AxisKind axis_kind(const SweptKey *k)
{
    double lo = INFINITY, hi = -INFINITY, pos_lo = INFINITY;
    for (int v = 0; v < k->n_values; v++) {
        char *end;
        double x = strtod(k->values[v], &end);
        if (end == k->values[v] || *end || !isfinite(x)) return AXIS_CATEGORY;
        lo = fmin(lo, x);
        hi = fmax(hi, x);
        if (x > 0) pos_lo = fmin(pos_lo, x);
    }
    if (k->n_values < 2) return AXIS_CATEGORY;
    if (lo > 0 && hi / lo >= 10) return AXIS_LOG;
    if (lo <= 0 && isfinite(pos_lo) && hi / pos_lo >= 10) return AXIS_CATEGORY;
    return AXIS_LINEAR;
}

static double value_pos(const SweptKey *k, AxisKind kind, int v)
{
    if (kind == AXIS_CATEGORY) return v;
    double x = strtod(k->values[v], NULL);
    return kind == AXIS_LOG ? log10(x) : x;
}

/* Per value: mean and 95 % interval of the trials having it, in %. */
static void value_stats(const ModelTrials *mt, int k, int v, double *mean, double *lo, double *hi)
{
    double *x = xcalloc((size_t)mt->n_trials + 1, sizeof(double));
    int n = 0;
    for (int i = 0; i < mt->n_trials; i++)
        if (mt->value[i * mt->n_keys + k] == v) x[n++] = 100 * mt->acc[i];
    ReportStats s;
    report_stats(x, n, &s);
    report_ci95(&s, lo, hi);
    *mean = s.mean;
    if (isnan(*lo)) *lo = *hi = s.mean;
    free(x);
}

static void effects_window(const ModelTrials *mt, const double *pos, const double *lo, const double *hi,
                           int nv)
{
    double x0 = pos[0], x1 = pos[nv - 1], y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < mt->n_trials; i++) {
        y0 = fmin(y0, 100 * mt->acc[i]);
        y1 = fmax(y1, 100 * mt->acc[i]);
    }
    for (int v = 0; v < nv; v++)
        if (isfinite(lo[v])) y0 = fmin(y0, lo[v]), y1 = fmax(y1, hi[v]);
    pad_range(&x0, &x1, nv > 1 ? 0.1 : 0, 0.5);
    pad_range(&y0, &y1, 0.08, 0.5);
    plwind(x0, x1, y0, y1);
}

static void effects_x_labels(const SweptKey *k, const double *pos, AxisKind kind, double x0, double x1)
{
    if (k->n_values > 12 && kind != AXIS_CATEGORY) {
        plbox(kind == AXIS_LOG ? "bcnstl" : "bcnst", 0, 0, "", 0, 0);
        return;
    }
    plbox("bc", 0, 0, "", 0, 0);
    plschr(0, k->n_values > 8 ? 0.75 : 0.95);
    for (int v = 0; v < k->n_values; v++)
        plmtex("b", 1.5, (pos[v] - x0) / (x1 - x0), 0.5, k->values[v]);
    plschr(0, 1.0);
}

static void effects_band(const double *pos, const double *mean, const double *lo, const double *hi, int nv)
{
    double *px = xcalloc(2 * (size_t)nv, sizeof(double)), *py = xcalloc(2 * (size_t)nv, sizeof(double));
    int n = 0;
    for (int v = 0; v < nv; v++) px[n] = pos[v], py[n++] = hi[v];
    for (int v = nv - 1; v >= 0; v--) px[n] = pos[v], py[n++] = lo[v];
    plcol0(BAND0);
    if (nv > 1) plfill(n, px, py);
    plcol0(SERIES0);
    plwidth(2.5);
    if (nv > 1) plline(nv, pos, mean);
    plwidth(1.5);
    for (int v = 0; v < nv; v++)
        if (hi[v] > lo[v]) plerry(1, &pos[v], &lo[v], &hi[v]);
    plwidth(1.0);
    free(px);
    free(py);
}

/* A random search gives nearly every trial a value of its own, so a mean
 * per value is one point and a band says nothing: such numeric keys get
 * the trials and a smoothed trend instead: at each x a line fitted by
 * least squares with Gaussian weights over the axis coordinate
 * (bandwidth 1/8 of the range; local-linear, so the ends are not pulled
 * toward the middle as a weighted mean would be). */
enum { TREND_STEPS = 120 };

static int is_continuous(const SweptKey *k, AxisKind kind, int n_trials)
{
    return kind != AXIS_CATEGORY && k->n_values > 8 && 2 * k->n_values > n_trials;
}

static void effects_trend(const ModelTrials *mt, int k, const double *pos, double x0, double x1)
{
    double bw = (x1 - x0) / 8, tx[TREND_STEPS], ty[TREND_STEPS];
    for (int j = 0; j < TREND_STEPS; j++) {
        tx[j] = x0 + (x1 - x0) * j / (TREND_STEPS - 1);
        double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (int i = 0; i < mt->n_trials; i++) {
            double x = pos[mt->value[i * mt->n_keys + k]] - tx[j], y = 100 * mt->acc[i];
            double w = exp(-0.5 * (x / bw) * (x / bw));
            sw += w, sx += w * x, sy += w * y, sxx += w * x * x, sxy += w * x * y;
        }
        double det = sw * sxx - sx * sx;
        /* the fitted line at x = tx[j] (x measured from tx[j]): its intercept */
        ty[j] = sw <= 0 ? NAN : det > 1e-12 * sw * sw * bw * bw ? (sxx * sy - sx * sxy) / det : sy / sw;
    }
    plcol0(SERIES0);
    plwidth(2.5);
    plline(TREND_STEPS, tx, ty);
    plwidth(1.0);
}

/* The trials, spread a little sideways so that seeds of one value show. */
static void effects_points(const ModelTrials *mt, int k, const double *pos, double spacing)
{
    plcol0(SERIES0 + 1);
    plschr(0, 1.1);
    for (int i = 0; i < mt->n_trials; i++) {
        double x = pos[mt->value[i * mt->n_keys + k]] + spacing * 0.06 * ((i * 7) % 9 - 4) / 4.0;
        double y = 100 * mt->acc[i];
        plstring(1, &x, &y, "●");
    }
    plschr(0, 1.0);
}

static int draw_effects(const char *path, const char *title, const char *subtitle, const ModelTrials *mt, int k,
                        AxisKind kind, int continuous, const double *pos, const double *mean, const double *lo,
                        const double *hi, char *err, int err_size);

int figure_effects(const char *path, const char *title, const char *subtitle, const ModelTrials *mt,
                   int k, char *err, int err_size)
{
    const SweptKey *key = &mt->keys[k];
    int nv = key->n_values;
    if (mt->n_trials < 1 || nv < 1) return fail(err, err_size, "no complete trial to draw", path);
    AxisKind kind = axis_kind(key);
    int continuous = is_continuous(key, kind, mt->n_trials);
    if (nv > 64 && !continuous) return fail(err, err_size, "more than 64 values: not drawn", path);
    double *pos = xcalloc((size_t)nv, sizeof(double)), *mean = xcalloc((size_t)nv, sizeof(double));
    double *lo = xcalloc((size_t)nv, sizeof(double)), *hi = xcalloc((size_t)nv, sizeof(double));
    for (int v = 0; v < nv; v++) {
        pos[v] = value_pos(key, kind, v);
        value_stats(mt, k, v, &mean[v], &lo[v], &hi[v]);
    }
    int rc = draw_effects(path, title, subtitle, mt, k, kind, continuous, pos, mean, lo, hi, err, err_size);
    free(pos);
    free(mean);
    free(lo);
    free(hi);
    return rc;
}

static int draw_effects(const char *path, const char *title, const char *subtitle, const ModelTrials *mt, int k,
                        AxisKind kind, int continuous, const double *pos, const double *mean, const double *lo,
                        const double *hi, char *err, int err_size)
{
    const SweptKey *key = &mt->keys[k];
    int nv = key->n_values;
    if (fig_begin_png(path, FIG_EFFECTS_W, FIG_EFFECTS_H, err, err_size) != 0) return -1;
    pladv(0);
    fig_page_title(title, subtitle);
    plvpor(0.11, 0.96, 0.14, 0.82);
    effects_window(mt, pos, lo, hi, nv);
    PLFLT x0, x1, y0, y1;
    plgvpw(&x0, &x1, &y0, &y1);
    plcol0(GRID);
    plbox("", 0, 0, "g", 0, 0);
    if (continuous) {
        effects_points(mt, k, pos, 0);
        effects_trend(mt, k, pos, pos[0], pos[nv - 1]);
    } else {
        effects_band(pos, mean, lo, hi, nv);
        effects_points(mt, k, pos, nv > 1 ? (pos[nv - 1] - pos[0]) / (nv - 1) : 1);
    }
    plcol0(INK);
    effects_x_labels(key, pos, kind, x0, x1);
    plbox("", 0, 0, "bcnstv", 0, 0);
    char xl[160];
    snprintf(xl, sizeof xl, "%s%s", key->name,
             kind == AXIS_LOG ? " (log scale)" : kind == AXIS_CATEGORY && nv > 1 ? " (evenly spaced)" : "");
    plmtex("b", 3.2, 0.5, 0.5, xl);
    plmtex("l", 4.0, 0.5, 0.5, "test accuracy (%)");
    plend1();
    return 0;
}

/* ---- parallel coordinates ----------------------------------------------------------------- */

static void viridis(void)
{
    PLFLT pos[4] = {0, 0.35, 0.7, 1}, r[4] = {0.27, 0.19, 0.36, 0.99}, g[4] = {0.00, 0.41, 0.79, 0.91},
          b[4] = {0.33, 0.56, 0.38, 0.14};
    plscmap1l(1, 4, pos, r, g, b, NULL);
}

/* Height (0..1) of trial i on axis a: values evenly spaced, accuracy linear. */
static double parallel_y(const ModelTrials *mt, int i, int a, double lo, double hi)
{
    if (a == mt->n_keys) return hi > lo ? (mt->acc[i] - lo) / (hi - lo) : 0.5;
    int nv = mt->keys[a].n_values;
    return nv > 1 ? (double)mt->value[i * mt->n_keys + a] / (nv - 1) : 0.5;
}

static void parallel_axes(const ModelTrials *mt, double lo, double hi)
{
    plschr(0, mt->n_keys > 5 ? 0.75 : 0.9);
    for (int a = 0; a <= mt->n_keys; a++) {
        double x[2] = {a, a}, y[2] = {0, 1};
        plcol0(INK);
        plwidth(1.5);
        plline(2, x, y);
        plwidth(1.0);
        plmtex("b", 1.5, (a + 0.75) / (mt->n_keys + 0.85), 0.5,
               a == mt->n_keys ? "test accuracy (%)" : mt->keys[a].name);
        int nv = a == mt->n_keys ? 5 : mt->keys[a].n_values;
        for (int v = 0; v < nv && nv <= 16; v++) {
            char text[64];
            double yv = nv > 1 ? (double)v / (nv - 1) : 0.5;
            if (a == mt->n_keys) snprintf(text, sizeof text, "%.2f", 100 * (lo + (hi - lo) * yv));
            else snprintf(text, sizeof text, "%.20s", mt->keys[a].values[v]);
            plptex(a - 0.03, yv, 1, 0, 1.0, text);
        }
    }
    plschr(0, 1.0);
}

static void colour_bar(double lo, double hi)
{
    plvpor(0.93, 0.95, 0.16, 0.80);
    plwind(0, 1, 0, 1);
    for (int i = 0; i < 64; i++) {
        PLFLT x[4] = {0, 1, 1, 0}, y[4] = {i / 64.0, i / 64.0, (i + 1) / 64.0, (i + 1) / 64.0};
        plcol1((i + 0.5) / 64);
        plfill(4, x, y);
    }
    plcol0(INK);
    plwind(0, 1, 100 * lo, 100 * (hi > lo ? hi : lo + 0.01));
    plschr(0, 0.8);
    plbox("bc", 0, 0, "bcmstv", 0, 0);
    plschr(0, 1.0);
}

static double *by_acc_values;
static int by_acc(const void *a, const void *b)
{
    double x = by_acc_values[*(const int *)a], y = by_acc_values[*(const int *)b];
    return (x > y) - (x < y);
}

int figure_parallel(const char *path, const char *title, const char *subtitle, const ModelTrials *mt,
                    char *err, int err_size)
{
    if (mt->n_trials < 1 || mt->n_keys < 1) return fail(err, err_size, "no complete trial of a sweep to draw", path);
    double lo = INFINITY, hi = -INFINITY;
    int *order = xcalloc((size_t)mt->n_trials, sizeof(int));
    for (int i = 0; i < mt->n_trials; i++) {
        lo = fmin(lo, mt->acc[i]);
        hi = fmax(hi, mt->acc[i]);
        order[i] = i;
    }
    by_acc_values = mt->acc;
    qsort(order, (size_t)mt->n_trials, sizeof *order, by_acc);   /* the best drawn last, on top */
    if (fig_begin_png(path, FIG_PARALLEL_W, FIG_PARALLEL_H, err, err_size) != 0) {
        free(order);
        return -1;
    }
    viridis();
    pladv(0);
    fig_page_title(title, subtitle);
    plvpor(0.10, 0.88, 0.16, 0.80);
    plwind(-0.75, mt->n_keys + 0.1, -0.06, 1.06);
    double x[REPORT_MAX_SWEPT + 1], y[REPORT_MAX_SWEPT + 1];
    plwidth(2.0);
    for (int j = 0; j < mt->n_trials; j++) {
        int i = order[j];
        for (int a = 0; a <= mt->n_keys; a++) x[a] = a, y[a] = parallel_y(mt, i, a, lo, hi);
        plcol1(hi > lo ? (mt->acc[i] - lo) / (hi - lo) : 0.5);
        plline(mt->n_keys + 1, x, y);
    }
    plwidth(1.0);
    parallel_axes(mt, lo, hi);
    colour_bar(lo, hi);
    plend1();
    free(order);
    return 0;
}

/* ---- importance bars ------------------------------------------------------------------------- */

int figure_importance(const char *path, const char *title, const char *subtitle,
                      const ModelTrials *mt, const double *share, char *err, int err_size)
{
    double sum = 0;
    for (int k = 0; k < mt->n_keys; k++) sum += isnan(share[k]) ? 0 : share[k];
    if (mt->n_keys < 1 || sum <= 0) return fail(err, err_size, "no variance among the complete trials to share out", path);
    int n = mt->n_keys + 1;
    if (fig_begin_png(path, FIG_IMPORTANCE_W, FIG_IMPORTANCE_H, err, err_size) != 0) return -1;
    pladv(0);
    fig_page_title(title, subtitle);
    plvpor(0.26, 0.92, 0.14, 0.82);
    plwind(0, 100, 0, n);
    plcol0(GRID);
    plbox("g", 0, 0, "", 0, 0);
    for (int k = 0; k < n; k++) {
        double s = k < mt->n_keys ? share[k] : fmax(0, 1 - sum), y = n - 1 - k;
        PLFLT bx[4] = {0, 100 * s, 100 * s, 0}, by[4] = {y + 0.2, y + 0.2, y + 0.8, y + 0.8};
        plcol0(k < mt->n_keys ? SERIES0 : SERIES0 + 7);
        plfill(4, bx, by);
        char text[32];
        snprintf(text, sizeof text, "%.1f %%", 100 * s);
        plcol0(INK);
        plptex(fmin(100 * s + 1, 88), y + 0.5, 1, 0, 0, text);
        plmtex("lv", 1.0, (y + 0.5) / n, 1.0, k < mt->n_keys ? mt->keys[k].name : "interactions, seeds");
    }
    plcol0(INK);
    plbox("bcnst", 0, 0, "bc", 0, 0);
    plmtex("b", 3.0, 0.5, 0.5, "share of the variance of the test accuracy (%)");
    plend1();
    return 0;
}
