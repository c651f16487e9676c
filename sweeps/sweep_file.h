/* A sweep file (INI, read with inih), as written: the [sweep] settings,
 * the training keys of [defaults] and [model.NAME], and the axes of [grid]
 * and [random], every value with the line it came from. Format:
 * docs/sweep-files.md.
 *
 * This layer checks what it can without knowing how a model trains: the
 * sections, the [sweep] keys and their values, list and distribution
 * syntax, keys a sweep reserves for itself (seed, out, ...), duplicates.
 * Training keys (lr, dropout, feature_length ...) are checked per trial by
 * the runner's resolver during expansion (sweep_expand.h), so a sweep file
 * accepts exactly the keys `sweeprun train --set` accepts. */
#ifndef SWEEPRUN_SWEEP_FILE_H
#define SWEEPRUN_SWEEP_FILE_H
#include <stdint.h>
#include "name_index.h"
#include "prune_rule.h"
#include "pareto.h"
#include "scheduler.h"
#include "sweep_problems.h"

#define SWEEP_KEY_MAX 64
#define SWEEP_VALUE_MAX 512
#define SWEEP_NAME_MAX 128
#define SWEEP_PATH_MAX 1024
/* Real sweep files are a few KiB (the largest example: 4.5 KiB). Each
 * "key = value" costs about 600 bytes of SweepSetting, twice (the file and
 * the trial being built), so a file of 4-byte lines costs ~300x its size:
 * 1 MiB keeps that near 300 MB. */
#define SWEEP_FILE_MAX (1 << 20)   /* bytes */
#define SWEEP_LINE_MAX 4096        /* characters of one line */

/* One "key = value" of a training section. */
typedef struct SweepSetting {
    char key[SWEEP_KEY_MAX];
    char value[SWEEP_VALUE_MAX];
    int line;
} SweepSetting;

typedef struct SweepSettings {
    SweepSetting *items;
    int count, capacity;
} SweepSettings;

/* [model.NAME]: settings that apply when a trial's model is NAME. */
typedef struct SweepModelSection {
    char model[SWEEP_KEY_MAX];
    int line;                     /* of the [model.NAME] header */
    SweepSettings settings;
} SweepModelSection;

typedef enum {
    AXIS_LIST,        /* [grid] a, b, c  (or [random] choice(a, b, c)) */
    AXIS_UNIFORM,     /* uniform(lo, hi) */
    AXIS_LOGUNIFORM,  /* loguniform(lo, hi): uniform in log space, lo > 0 */
    AXIS_INT,         /* int(lo, hi): a whole number in [lo, hi] */
} AxisKind;

/* One swept key: a [grid] list or a [random] distribution. */
typedef struct SweepAxis {
    char key[SWEEP_KEY_MAX];
    int line;
    int random;                   /* from [random] (sampled) rather than [grid] */
    AxisKind kind;
    int n_values;                 /* AXIS_LIST */
    char **values;
    double lo, hi;                /* the other kinds */
} SweepAxis;

/* grid: every grid point; random: [random] draws; tpe: trials = N, the
 * first ones random draws, the rest proposed by the TPE sampler (tpe.h)
 * from the results so far, when a rank asks for work. */
typedef enum { SEARCH_GRID = 0, SEARCH_RANDOM = 1, SEARCH_TPE = 2 } SearchKind;

/* The sweep draws its [random] keys (random search or TPE). */
static inline int sweep_draws(const SearchKind search) { return search != SEARCH_GRID; }
const char *sweep_search_name(SearchKind search);

typedef struct SweepFile {
    char path[SWEEP_PATH_MAX];
    char name[SWEEP_NAME_MAX];
    char dataset[SWEEP_PATH_MAX];   /* default "mnist" */
    char out[SWEEP_PATH_MAX];       /* folder of run files; default runs/NAME */
    uint64_t *seeds;                /* default {0} */
    int n_seeds;
    SearchKind search;
    int samples;                    /* random search: draws per grid point */
    int trials;                     /* random search: draws in all (instead of samples; 0 = not given) */
    uint64_t random_seed;           /* the sweep's seed for [random] draws */
    int ranks_per_trial;            /* default 1 */
    PruneRule prune;                /* the median rule (prune = ..., or scheduler = median:...) */
    SchedulerSpec scheduler;        /* scheduler = ... (or prune = median:..., as kind median) */
    int max_failures;               /* -1 = no limit */
    /* objectives = val_acc:max, params:min: the Pareto front printed at the
     * end of the sweep (0 objectives: none). */
    Objective objectives[PARETO_MAX_OBJECTIVES];
    int n_objectives, line_objectives;
    int tpe_startup, line_tpe_startup;   /* search = tpe: random draws before proposals (0: not given, 10) */
    /* Lines of the [sweep] keys that feed trials (0 = not given). */
    int line_name, line_dataset, line_seeds, line_search, line_samples, line_ranks, line_prune;
    int line_scheduler, line_trials;
    SweepSettings defaults;
    SweepModelSection *models;
    int n_models, models_capacity;
    NameIndex model_index;          /* model name -> position in models */
    SweepAxis *axes;                /* [grid] then [random], each in file order */
    int n_axes, axes_capacity;
    NameIndex axis_index;           /* key -> position in axes */
    char broken_axes[512];          /* " key " for each axis that could not be read */
    int unreadable;                 /* the file could not be opened: nothing else is worth checking */
} SweepFile;

/* Read and check path. Every problem goes into problems (which the caller
 * initialised with the path to show); returns the number of problems added.
 * sf is filled as far as possible either way; free with sweep_file_free. */
int sweep_file_parse(const char *path, SweepFile *sf, SweepProblems *problems);
void sweep_file_free(SweepFile *sf);

/* The axis for key, or NULL. */
const SweepAxis *sweep_find_axis(const SweepFile *sf, const char *key);
/* The [model.NAME] section of model, or NULL. */
const SweepModelSection *sweep_find_model(const SweepFile *sf, const char *model);

#endif
