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

static Draws draws_for(const SweepAxis *a, uint64_t seed, uint64_t draw)
{
    /* Random search uses 0x80000000 | hash(key); TPE flips the next bit. */
    Draws d = {.seed = seed, .stream = 0x40000000u | (uint32_t)(trial_hash(a->key) & 0x3fffffffu)};
    d.next = draw << 16;   /* 65,536 numbers per proposal and axis */
    return d;
}

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

static double log_density(const Mixture *m, double x)
{
    double p = 0;
    for (int i = 0; i < m->n; i++) {
        double s = m->sigma[i], z = (x - m->mu[i]) / s;
        double mass = phi_cdf((m->hi - m->mu[i]) / s) - phi_cdf((m->lo - m->mu[i]) / s);
        p += m->weight[i] * exp(-0.5 * z * z) / (s * sqrt(2 * M_PI) * fmax(mass, 1e-300));
    }
    return log(fmax(p, 1e-300));
}

static double sample(const Mixture *m, Draws *d)
{
    double u = uniform01(d), acc = 0;
    int k = m->n - 1;
    for (int i = 0; i < m->n; i++)
        if ((acc += m->weight[i]) > u) {
            k = i;
            break;
        }
    for (int tries = 0; tries < 64; tries++) {   /* truncate by rejection */
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

static void propose_numeric(const SweepAxis *a, Draws *d, const double *good, int n_good, const double *rest,
                            int n_rest, const TpeOptions *opt, char *buf)
{
    double lo, hi;
    transformed_range(a, &lo, &hi);
    Mixture l, g;
    fit(&l, good, n_good, lo, hi, opt->prior_weight);
    fit(&g, rest, n_rest, lo, hi, opt->prior_weight);
    double best = -INFINITY, pick = 0.5 * (lo + hi);
    for (int c = 0; c < opt->n_candidates; c++) {
        double x = sample(&l, d), score = log_density(&l, x) - log_density(&g, x);
        if (score > best) best = score, pick = x;
    }
    mixture_free(&l);
    mixture_free(&g);
    format_numeric(a, pick, buf);
}

/* ---- choice axes: smoothed counts ---------------------------------------------------------- */

/* Optuna's categorical estimator: one kernel per observation (its choice
 * plus prior_weight / (n + 1) on every choice, normalised) and a uniform
 * prior kernel, mixed with weights 1 per observation and prior_weight.
 * p[0..k): the probability of each choice given n observations. */
static void choice_probabilities(const double *obs, int n, int k, double prior_weight, double *p)
{
    double smooth = prior_weight / (n + 1.0), row = 1.0 + smooth * k;
    for (int c = 0; c < k; c++) p[c] = n * smooth / row + prior_weight / k;
    for (int i = 0; i < n; i++) p[(int)obs[i]] += 1.0 / row;
    for (int c = 0; c < k; c++) p[c] /= n + prior_weight;
}

static void propose_choice(const SweepAxis *a, Draws *d, const double *good, int n_good, const double *rest,
                           int n_rest, const TpeOptions *opt, char *buf)
{
    int k = a->n_values;
    double *pl = xcalloc((size_t)k, sizeof *pl), *pg = xcalloc((size_t)k, sizeof *pg);
    choice_probabilities(good, n_good, k, opt->prior_weight, pl);
    choice_probabilities(rest, n_rest, k, opt->prior_weight, pg);
    double best = -INFINITY;
    int pick = 0;
    for (int c = 0; c < opt->n_candidates; c++) {
        double u = uniform01(d), acc = 0;
        int x = k - 1;
        for (int i = 0; i < k; i++)
            if ((acc += pl[i]) > u) {
                x = i;
                break;
            }
        double score = log(pl[x]) - log(pg[x]);
        if (score > best) best = score, pick = x;
    }
    snprintf(buf, SWEEP_VALUE_MAX, "%s", a->values[pick]);
    free(pl);
    free(pg);
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
    double *good = xmalloc((size_t)n * sizeof *good), *rest = xmalloc((size_t)n * sizeof *rest);
    for (int i = 0; i < n_axes; i++) {
        const SweepAxis *a = &axes[i];
        int ng = 0, nr = 0;
        for (int j = 0; j < n; j++) {
            double v = obs[(long)ranked[j].row * n_axes + i];
            if (!isfinite(v)) continue;   /* a value outside the axis (an edited file): not evidence */
            if (a->kind != AXIS_LIST) v = to_space(a, v);
            if (j < n_good) good[ng++] = v;
            else rest[nr++] = v;
        }
        Draws d = draws_for(a, random_seed, draw);
        if (a->kind == AXIS_LIST) propose_choice(a, &d, good, ng, rest, nr, opt, values[i]);
        else propose_numeric(a, &d, good, ng, rest, nr, opt, values[i]);
    }
    free(good);
    free(rest);
    free(ranked);
}
