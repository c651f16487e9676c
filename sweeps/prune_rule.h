/* The median pruner's rule, on its own so that both the sweep file
 * (sweep_file.h) and the scheduler specs (scheduler.h) can hold one
 * without including each other. */
#ifndef SWEEPRUN_PRUNE_RULE_H
#define SWEEPRUN_PRUNE_RULE_H

/* prune = median:warmup=E[:min_trials=N] (or scheduler = the same): after
 * epoch e >= E (1-based), a trial whose validation accuracy is below the
 * median of at least N other trials of the same model at epoch e stops
 * with status "pruned". */
typedef struct PruneRule {
    int enabled;
    int warmup;                   /* E >= 1 */
    int min_trials;               /* N >= 1 (default 1) */
} PruneRule;

/* Parse "median:warmup=E[:min_trials=N]"; 0 ok, -1 with the reason
 * (sweep_file.c). */
int prune_rule_parse(const char *text, PruneRule *rule, char *err, int err_size);

#endif
