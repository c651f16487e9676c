/* The runner's side of sweep files: a trial's settings (sweeps/) become a
 * TrainConfig through config_set(), the one place text becomes
 * configuration, so a sweep file accepts exactly what `sweeprun train
 * --set` accepts and says so with the same words, at the line the setting
 * came from. */
#ifndef SWEEPRUN_SWEEP_CONFIG_H
#define SWEEPRUN_SWEEP_CONFIG_H
#include "config.h"
#include "sweep_expand.h"

typedef struct SweepConfigContext {
    int ranks_per_trial;       /* ranks that train each trial together */
    long n_train, n_test;      /* the sweep dataset's sizes (0 = unknown: no batch check) */
    int prune;                 /* the sweep prunes: every trial needs a validation split */
    const char *scheduler;     /* "asha", "hyperband": it decides on validation too (NULL: none) */
    const char *objective;     /* an objectives = metric on the validation split (NULL: none) */
} SweepConfigContext;

/* The context of sf's trials, the sweep dataset having n_train and n_test
 * images (0: unknown). Points into sf. */
SweepConfigContext sweep_config_context(const SweepFile *sf, long n_train, long n_test);

/* Apply settings to cfg ("model" first, then in order) and check them as
 * `train` does: each key, the keys together, the device, the batch split
 * over ranks_per_trial ranks. Every problem goes to problems at its
 * setting's line (problems may be NULL: then the first one is in err).
 * 0 ok, -1 if anything was rejected. */
int sweep_trial_config(const SweepConfigContext *ctx, const SweepSetting *settings, int n, TrainConfig *cfg,
                       SweepProblems *problems, char *err, int err_size);

/* The resolver sweep_expand() needs, backed by sweep_trial_config();
 * ctx must outlive the expansion. */
SweepResolver sweep_config_resolver(SweepConfigContext *ctx);

#endif
