#include "tpe.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "rng.h"
#include "sweep_expand.h"
#include "trial_id.h"
#include "util.h"

TpeOptions tpe_defaults(void) { return (TpeOptions){.n_startup = 10, .n_candidates = 24, .prior_weight = 1.0}; }

double tpe_encode(const SweepAxis *a, const char *text)
{
    if (a->kind == AXIS_LIST) {
        for (int k = 0; k < a->n_values; k++)
            if (!strcmp(a->values[k], text)) return k;
        return NAN;
    }
    char *end = NULL;
    double v = strtod(text, &end);
    if (!end || end == text || *end || !(v >= a->lo && v <= a->hi)) return NAN;
    return v;
}

/* ---- random numbers: a stream per axis, apart from random search's ---------- */

typedef struct Draws {
    uint64_t seed;
    uint32_t stream;
    uint64_t next;       /* counter within this proposal's block */
} Draws;

static Draws draws_keyed(const char *key, uint64_t seed, uint64_t draw)
{
    /* Random search uses 0x80000000 | hash(key); TPE flips the next bit. */
    Draws d = {.seed = seed, .stream = 0x40000000u | (uint32_t)(trial_hash(key) & 0x3fffffffu)};
    d.next = draw << 16;   /* 65,536 numbers per proposal and stream */
    return d;
}

static Draws draws_for(const SweepAxis *a, uint64_t seed, uint64_t draw) { return draws_keyed(a->key, seed, draw); }

static double uniform01(Draws *d)
{
    /* 48 bits: two 24-bit uniforms, so the open interval (0, 1) is safe for logs. */
    double hi = rng_uniform(d->seed, d->stream, d->next++), lo = rng_uniform(d->seed, d->stream, d->next++);
    return (hi + lo / 16777216.0) + 0.5 / 281474976710656.0;
}

static double normal(Draws *d)
{
    double u = uniform01(d), v = uniform01(d);
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* ---- numeric axes: mixtures of truncated Gaussians ------------------------------ */

typedef struct Mixture {
    int n;
    double *mu, *sigma, *weight;   /* weights sum to 1 */
    double lo, hi;                  /* the (transformed) range */
} Mixture;

static double phi_cdf(double z) { return 0.5 * erfc(-z / M_SQRT2); }

/* One observation and where it came from, for sorting. */
typedef struct Indexed { double v; int i; } Indexed;

static int by_value(const void *pa, const void *pb)
{
    const Indexed *a = pa, *b = pb;
    if (a->v != b->v) return a->v < b->v ? -1 : 1;
    return a->i - b->i;
}

/* Optuna's bandwidths (TPESampler's defaults): sort the points between the
 * range's ends; each point's sigma is the larger distance to its two
 * neighbours (an end counts as a neighbour only when the point is alone;
 * otherwise the first and last points take the distance to their inner
 * neighbour), clipped to [range / min(100, n + 2), range]. The prior
 * component sits at the middle of the range, as wide as the range. */
static void fit(Mixture *m, const double *points, int n, double lo, double hi, double prior_weight)
{
    m->n = n + 1;
    m->lo = lo;
    m->hi = hi;
    m->mu = xmalloc((size_t)m->n * sizeof *m->mu);
    m->sigma = xmalloc((size_t)m->n * sizeof *m->sigma);
    m->weight = xmalloc((size_t)m->n * sizeof *m->weight);
    double range = hi - lo;
    Indexed *s = xmalloc((size_t)(n ? n : 1) * sizeof *s);
    for (int i = 0; i < n; i++) s[i] = (Indexed){points[i], i};
    qsort(s, (size_t)n, sizeof *s, by_value);
    double floor_sigma = range / fmin(100.0, n + 2.0);
    for (int j = 0; j < n; j++) {
        double below = j > 0 ? s[j - 1].v : lo, above = j + 1 < n ? s[j + 1].v : hi;
        double sigma = fmax(s[j].v - below, above - s[j].v);
        if (n >= 2 && j == 0) sigma = above - s[j].v;
        if (n >= 2 && j == n - 1) sigma = s[j].v - below;
        int i = s[j].i;
        m->mu[i] = points[i];
        m->sigma[i] = fmin(fmax(sigma, floor_sigma), range);
        m->weight[i] = 1.0 / (n + prior_weight);
    }
    m->mu[n] = 0.5 * (lo + hi);
    m->sigma[n] = range;
    m->weight[n] = prior_weight / (n + prior_weight);
    free(s);
}

static void mixture_free(Mixture *m)
{
    free(m->mu);
    free(m->sigma);
    free(m->weight);
}

/* log of component i's (truncated) density at x. */
static double component_log_pdf(const Mixture *m, int i, double x)
{
    double sg = m->sigma[i], z = (x - m->mu[i]) / sg;
    double mass = phi_cdf((m->hi - m->mu[i]) / sg) - phi_cdf((m->lo - m->mu[i]) / sg);
    return -0.5 * z * z - log(sg * sqrt(2 * M_PI) * fmax(mass, 1e-300));
}

/* A draw from component k, truncated to the range by rejection. */
static double component_sample(const Mixture *m, int k, Draws *d)
{
    for (int tries = 0; tries < 64; tries++) {
        double x = m->mu[k] + m->sigma[k] * normal(d);
        if (x >= m->lo && x <= m->hi) return x;
    }
    return fmin(fmax(m->mu[k], m->lo), m->hi);
}

/* The axis's range in the space the estimator works in (log for
 * loguniform; whole numbers widened by half a step each side). */
static void transformed_range(const SweepAxis *a, double *lo, double *hi)
{
    *lo = a->kind == AXIS_LOGUNIFORM ? log(a->lo) : a->kind == AXIS_INT ? a->lo - 0.5 : a->lo;
    *hi = a->kind == AXIS_LOGUNIFORM ? log(a->hi) : a->kind == AXIS_INT ? a->hi + 0.5 : a->hi;
}

static double to_space(const SweepAxis *a, double v) { return a->kind == AXIS_LOGUNIFORM ? log(v) : v; }

static void format_numeric(const SweepAxis *a, double x, char *buf)
{
    if (a->kind == AXIS_INT) {
        double v = fmin(fmax(round(x), a->lo), a->hi);
        snprintf(buf, SWEEP_VALUE_MAX, "%.0f", v);
        return;
    }
    double v = a->kind == AXIS_LOGUNIFORM ? exp(x) : x;
    snprintf(buf, SWEEP_VALUE_MAX, "%.4g", fmin(fmax(v, a->lo), a->hi));   /* as random search writes them */
}

/* ---- choice axes: smoothed kernels ---------------------------------------------------------- */

/* Optuna's categorical kernels: observation i's kernel puts 1 on its
 * choice and prior_weight / (n + 1) on every choice, normalised; the prior
 * kernel is uniform. p gets (n + 1) rows of k probabilities. */
static void choice_kernels(const double *obs, int n, int k, double prior_weight, double *p)
{
    double smooth = prior_weight / (n + 1.0), row = 1.0 + smooth * k;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < k; c++) p[(long)i * k + c] = (smooth + (c == (int)obs[i])) / row;
    for (int c = 0; c < k; c++) p[(long)n * k + c] = 1.0 / k;
}

/* ---- the joint estimator ---------------------------------------------------------------------- */

/* A mixture of product kernels over the axes (Optuna's default TPE for one
 * objective, multivariate): component i is observation i on every axis at
 * once (a truncated Gaussian per numeric axis, a smoothed kernel per choice
 * axis), the last one the prior; weights 1 per observation and
 * prior_weight. Bandwidths per axis as fit() sets them. */
typedef struct Joint {
    int n, n_axes;                 /* components (observations + prior), axes */
    const SweepAxis *axes;
    Mixture *numeric;              /* per numeric axis */
    double **kernels;              /* per choice axis: n x n_values */
} Joint;

/* rows: n observations of n_axes values (numeric ones already in the
 * estimator's space, choice ones as positions). */
static void joint_fit(Joint *j, const SweepAxis *axes, int n_axes, const double *rows, int n, double prior_weight)
{
    j->n = n + 1;
    j->n_axes = n_axes;
    j->axes = axes;
    j->numeric = xcalloc((size_t)n_axes, sizeof *j->numeric);
    j->kernels = xcalloc((size_t)n_axes, sizeof *j->kernels);
    double *column = xmalloc((size_t)(n ? n : 1) * sizeof *column);
    for (int a = 0; a < n_axes; a++) {
        for (int i = 0; i < n; i++) column[i] = rows[(long)i * n_axes + a];
        if (axes[a].kind == AXIS_LIST) {
            j->kernels[a] = xmalloc((size_t)j->n * axes[a].n_values * sizeof **j->kernels);
            choice_kernels(column, n, axes[a].n_values, prior_weight, j->kernels[a]);
        } else {
            double lo, hi;
            transformed_range(&axes[a], &lo, &hi);
            fit(&j->numeric[a], column, n, lo, hi, prior_weight);
        }
    }
    free(column);
}

static void joint_free(Joint *j)
{
    for (int a = 0; a < j->n_axes; a++) {
        if (j->kernels[a]) free(j->kernels[a]);
        else mixture_free(&j->numeric[a]);
    }
    free(j->numeric);
    free(j->kernels);
}

/* Every component's weight is the same on every axis (fit, choice_kernels):
 * 1 / (n + prior_weight) per observation, the rest the prior's. */
static double component_weight(const Joint *j, int i, double prior_weight)
{
    int n = j->n - 1;
    return (i < n ? 1.0 : prior_weight) / (n + prior_weight);
}

static double joint_log_density(const Joint *j, const double *x, double prior_weight)
{
    double top = -INFINITY, *lp = xmalloc((size_t)j->n * sizeof *lp);
    for (int i = 0; i < j->n; i++) {
        double v = log(component_weight(j, i, prior_weight));
        for (int a = 0; a < j->n_axes; a++)
            v += j->kernels[a] ? log(j->kernels[a][(long)i * j->axes[a].n_values + (int)x[a]])
                               : component_log_pdf(&j->numeric[a], i, x[a]);
        lp[i] = v;
        if (v > top) top = v;
    }
    double sum = 0;
    for (int i = 0; i < j->n; i++) sum += exp(lp[i] - top);
    free(lp);
    return top + log(sum);
}

/* A candidate from j: a component by weight, then each axis from it. */
static void joint_sample(const Joint *j, Draws *pick, Draws *per_axis, double prior_weight, double *x)
{
    double u = uniform01(pick), acc = 0;
    int k = j->n - 1;
    for (int i = 0; i < j->n; i++)
        if ((acc += component_weight(j, i, prior_weight)) > u) {
            k = i;
            break;
        }
    for (int a = 0; a < j->n_axes; a++) {
        if (!j->kernels[a]) {
            x[a] = component_sample(&j->numeric[a], k, &per_axis[a]);
            continue;
        }
        int m = j->axes[a].n_values;
        double v = uniform01(&per_axis[a]), c = 0;
        x[a] = m - 1;
        for (int t = 0; t < m; t++)
            if ((c += j->kernels[a][(long)k * m + t]) > v) {
                x[a] = t;
                break;
            }
    }
}

/* ---- the proposal ---------------------------------------------------------------------------- */

typedef struct Ranked { double y; int row; } Ranked;

static int by_y_descending(const void *pa, const void *pb)
{
    const Ranked *a = pa, *b = pb;
    if (a->y != b->y) return a->y > b->y ? -1 : 1;
    return a->row - b->row;   /* ties: the earlier trial first, so the order is total */
}

void tpe_propose(const SweepAxis *axes, int n_axes, uint64_t random_seed, uint64_t draw, const double *obs,
                 const double *y, int n_obs, const TpeOptions *opt, char (*values)[SWEEP_VALUE_MAX])
{
    Ranked *ranked = xmalloc((size_t)(n_obs ? n_obs : 1) * sizeof *ranked);
    int n = 0;
    for (int r = 0; r < n_obs; r++)
        if (isfinite(y[r])) ranked[n++] = (Ranked){y[r], r};
    if ((int64_t)draw < opt->n_startup || n < 2) {
        for (int i = 0; i < n_axes; i++) sweep_draw(&axes[i], random_seed, draw, values[i], SWEEP_VALUE_MAX);
        free(ranked);
        return;
    }
    qsort(ranked, (size_t)n, sizeof *ranked, by_y_descending);
    int n_good = (int)ceil(0.1 * n);
    if (n_good > 25) n_good = 25;
    /* The best n_good rows and the rest, in the estimators' space. A row
     * with a value outside its axis (an edited file) is no evidence. */
    long width = n_axes ? n_axes : 1;
    double *good = xmalloc((size_t)(n * width) * sizeof *good), *rest = xmalloc((size_t)(n * width) * sizeof *rest);
    int ng = 0, nr = 0;
    for (int r = 0; r < n; r++) {
        const double *row = obs + (long)ranked[r].row * n_axes;
        int inside = 1;
        for (int a = 0; a < n_axes; a++) inside &= isfinite(row[a]) != 0;
        if (!inside) continue;
        double *to = r < n_good ? good + (long)ng++ * n_axes : rest + (long)nr++ * n_axes;
        for (int a = 0; a < n_axes; a++) to[a] = axes[a].kind == AXIS_LIST ? row[a] : to_space(&axes[a], row[a]);
    }
    Joint l, g;
    joint_fit(&l, axes, n_axes, good, ng, opt->prior_weight);
    joint_fit(&g, axes, n_axes, rest, nr, opt->prior_weight);
    Draws pick = draws_keyed("(component)", random_seed, draw);   /* no sweep key has parentheses */
    Draws *per_axis = xmalloc((size_t)width * sizeof *per_axis);
    for (int a = 0; a < n_axes; a++) per_axis[a] = draws_for(&axes[a], random_seed, draw);
    double *x = xmalloc((size_t)width * sizeof *x), *chosen = xcalloc((size_t)width, sizeof *chosen), best = -INFINITY;
    for (int c = 0; c < opt->n_candidates; c++) {
        joint_sample(&l, &pick, per_axis, opt->prior_weight, x);
        double score = joint_log_density(&l, x, opt->prior_weight) - joint_log_density(&g, x, opt->prior_weight);
        if (score > best) {
            best = score;
            memcpy(chosen, x, (size_t)width * sizeof *x);
        }
    }
    for (int a = 0; a < n_axes; a++) {
        if (axes[a].kind == AXIS_LIST) snprintf(values[a], SWEEP_VALUE_MAX, "%s", axes[a].values[(int)chosen[a]]);
        else format_numeric(&axes[a], chosen[a], values[a]);
    }
    joint_free(&l);
    joint_free(&g);
    free(per_axis);
    free(x);
    free(chosen);
    free(good);
    free(rest);
    free(ranked);
}
