/* Multi-objective results: the `[sweep]` key `objectives = val_acc:max,
 * params:min` and the Pareto front of a sweep's trials under it. Pure
 * logic: no files, no HDF5.
 *
 * Objectives: a comma-separated list of METRIC:max or METRIC:min (spaces
 * around items ignored), 1 to PARETO_MAX_OBJECTIVES of them, each metric
 * one of the names the caller knows (what the run files record: accuracy,
 * loss, parameter count, seconds per epoch ...) and listed once. Errors are
 * one line without FILE:LINE (the caller adds it and exits 2): nothing
 * given, an empty item, an unknown metric (the message lists the known
 * ones), a missing or bad direction, a metric listed twice, too many.
 *
 * The front: a point dominates another when it is at least as good on every
 * objective and strictly better on at least one ("good" by each
 * objective's direction). The front is the points no other point
 * dominates. Two equal points do not dominate each other, so duplicates are
 * both on the front (or both off it). A point with a NaN value on any
 * objective is never on the front and dominates nothing (a trial that
 * diverged or never recorded the metric); +-inf compare as numbers. With
 * one objective the front is every point that equals the best value.
 *
 * Cost: O(n^2 k) comparisons for n points and k objectives at worst; a
 * dominated point stops at its first dominator. 10,000 random points with 2
 * objectives: 6 ms (11 on the front); 10,000 all on the front (the worst
 * case): 0.88 s (measured on this machine, -O3). */
#ifndef SWEEPRUN_PARETO_H
#define SWEEPRUN_PARETO_H

#define PARETO_MAX_OBJECTIVES 8
#define PARETO_METRIC_MAX 64

typedef struct Objective {
    char metric[PARETO_METRIC_MAX];
    int maximize;              /* 1: METRIC:max, 0: METRIC:min */
} Objective;

/* The metrics of one run that objectives may name (sweepreport --pareto
 * and the sweep-file key objectives): what a choice may honestly be made
 * on. val_acc and val_loss are taken at the run's best epoch by validation
 * (run_epochs_best_row), params is the parameter count, s_per_epoch the
 * mean wall time of its epochs. The test accuracy is never one. */
#define PARETO_RUN_METRICS 4
extern const char *const pareto_run_metrics[PARETO_RUN_METRICS];

/* Parse an `objectives` value into out[PARETO_MAX_OBJECTIVES]; known[0..
 * n_known) are the metric names allowed. The count, or -1 with err (out may
 * be partly written). */
int pareto_objectives_parse(const char *text, const char *const *known, int n_known, Objective *out, char *err,
                            int err_size);

/* Does point a dominate point b (k values each, in the objectives' order)?
 * 0 when either has a NaN. */
int pareto_dominates(const double *a, const double *b, const Objective *obj, int k);

/* points: n rows of k values, row i = trial i's metrics in the objectives'
 * order. out_is_front[i] = 1 when point i is on the front, else 0. Returns
 * the front's size. */
int pareto_front(const double *points, int n, const Objective *obj, int k, int *out_is_front);

/* The front's point indices into order[] (room for n), best first by the
 * first objective, equal ones by the next objectives, then by index.
 * Returns the front's size (as pareto_front). */
int pareto_front_sorted(const double *points, int n, const Objective *obj, int k, int *order);

#endif
