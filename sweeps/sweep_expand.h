/* From a sweep file to its trial list: the Cartesian product of the [grid]
 * lists (first key outermost), times `samples` draws of the [random] keys
 * (random search), times the seeds (innermost). Each trial's settings are
 * the sweep's dataset, [defaults], [model.NAME] for its model, its axis
 * values and its seed, in that order (later ones win).
 *
 * The sweeps library does not know what a training key means: a resolver
 * from the runner applies each trial's settings to a real configuration
 * (the same config_set() the CLI uses), reports each setting it rejects at
 * that setting's line, and returns the fully resolved configuration as
 * text. The trial id hashes that text (trial_id.h), so two spellings of one
 * configuration are one trial, and any change that matters is a new trial.
 * The list is a pure function of the file (and the registry): the same on
 * every rank and every run. */
#ifndef SWEEPRUN_SWEEP_EXPAND_H
#define SWEEPRUN_SWEEP_EXPAND_H
#include "sweep_file.h"
#include "trial_id.h"

#define SWEEP_MAX_TRIALS 100000
/* Expansion stops after this many trials the resolver rejected: their
 * problems are what to fix first, and each trial costs a pass over all
 * its settings (samples = 100000 of a bad range resolved 100,000 trials). */
#define SWEEP_MAX_FAILED_TRIALS 100

typedef struct SweepResolved {
    char canonical[8192];      /* the resolved configuration, "key=value" lines */
    int epochs;
} SweepResolved;

typedef struct SweepResolver {
    void *user;
    /* Is name a registered model? 0 yes; -1 with the reason in err. */
    int (*check_model)(void *user, const char *name, char *err, int err_size);
    /* Apply settings ("model" first, then in order). For each setting it
     * rejects: sweep_problems_add(problems, setting.line, ...); return -1.
     * Otherwise fill out and return 0. */
    int (*resolve)(void *user, const SweepSetting *settings, int n, SweepResolved *out,
                   SweepProblems *problems);
} SweepResolver;

typedef struct SweepTrial {
    int index;                     /* position in the list */
    int config;                    /* which grid point / draw (trials of one config differ by seed) */
    char id[TRIAL_ID_LEN + 1];
    char model[SWEEP_KEY_MAX];
    uint64_t seed;
    int epochs;
    SweepSetting *settings;        /* what the runner applies, in order */
    int n_settings;
    char **axis_values;            /* the value of each sweep axis (sf->axes order) */
    int n_axes;
    char run_file[SWEEP_PATH_MAX + 128];   /* OUT/MODEL-sSEED-ID.h5 */
} SweepTrial;

typedef struct SweepTrials {
    SweepTrial *items;
    int count, capacity;
    int duplicates_dropped;        /* random draws that repeated an earlier configuration */
    int max_epochs;
} SweepTrials;

/* Expand sf into out. Problems go to problems (each with its line); returns
 * the number added. out is valid (possibly with fewer trials) either way;
 * free with sweep_trials_free. */
int sweep_expand(const SweepFile *sf, const SweepResolver *r, SweepTrials *out, SweepProblems *problems);
void sweep_trials_free(SweepTrials *t);

/* Trial x of an expanded list with other values of the axes (sf->axes
 * order; TPE's proposals): settings, id, run file and epochs as expansion
 * builds them for those values; its index, config and seed stay. 0, or -1
 * (x unchanged) with the settings the resolver rejected in pr. */
int sweep_trial_rebuild(const SweepFile *sf, const SweepResolver *r, SweepTrial *x, char **values,
                        SweepProblems *pr);

/* The draw of a [random] axis for configuration number draw (text form). */
void sweep_draw(const SweepAxis *a, uint64_t random_seed, uint64_t draw, char *buf, int size);

#endif
