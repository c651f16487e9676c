/* The Tree-structured Parzen Estimator (Bergstra et al., "Algorithms for
 * Hyper-Parameter Optimization", NeurIPS 2011), multivariate as Optuna's
 * default TPESampler for one objective (Optuna 5.1): the [random] axes are
 * proposed together.
 *
 * Given the trials finished so far (their axis values and objective, larger
 * is better), split them into the best gamma(n) = min(ceil(n / 10), 25) and
 * the rest; fit a Parzen estimator to each: one product kernel per
 * observation over all axes (a truncated Gaussian per numeric axis, with
 * Optuna's bandwidth rule; a smoothed kernel per choice axis) plus a wide
 * prior component; draw candidates from the good one (a component, then
 * every axis from it) and keep the candidate with the largest ratio
 * good/rest. The first n_startup proposals are exactly
 * random search's draws (sweep_draw), so a TPE sweep starts as a random
 * one with the same seed.
 *
 * Deterministic: the same axes, seed, draw number and observations give the
 * same proposal (Philox streams of their own, apart from random search's). */
#ifndef SWEEPRUN_TPE_H
#define SWEEPRUN_TPE_H
#include <stdint.h>
#include "sweep_file.h"

typedef struct TpeOptions {
    int n_startup;          /* random-search proposals first (default 10) */
    int n_candidates;       /* draws from the good estimator per axis (default 24) */
    double prior_weight;    /* weight of the prior component (default 1) */
} TpeOptions;

TpeOptions tpe_defaults(void);

/* An axis value (as a sweep file writes it) in the sampler's numeric form:
 * the number for uniform/loguniform/int axes, the choice's position for a
 * list. NAN when it is not a value of the axis. */
double tpe_encode(const SweepAxis *a, const char *text);

/* Proposal number draw (0-based) over the [random] axes axes[0..n_axes).
 * obs is n_obs rows of n_axes encoded values (tpe_encode), y their
 * objective (larger is better; NaN rows are ignored). Writes each axis's
 * value as text into values[i] (size SWEEP_VALUE_MAX each). */
void tpe_propose(const SweepAxis *axes, int n_axes, uint64_t random_seed, uint64_t draw, const double *obs,
                 const double *y, int n_obs, const TpeOptions *opt, char (*values)[SWEEP_VALUE_MAX]);

#endif
