/* The fully resolved configuration of one training run, and the ONE place
 * that turns "key = value" text into it. CLI flags (--lr 0.01 is
 * --set lr=0.01) and sweep files all go through config_set(), so a key
 * means the same thing everywhere and is validated the same way.
 *
 * Each key is one row of the key table in config.c (its field here, how it
 * parses and prints, its range, whether the trial id includes it, whether
 * it survives a model change, its initial value, its --help line): adding
 * a key is a field in TrainConfig and a row there (and a Recipe field when
 * each model chooses its value). */
#ifndef SWEEPRUN_CONFIG_H
#define SWEEPRUN_CONFIG_H
#include <stdint.h>
#include "augment.h"
#include "early_stop.h"
#include "model.h"
#include "optim.h"
#include "schedule.h"

#define CONFIG_PATH_MAX 4096
#define VAL_SPLIT_AUTO (-1L)

/* How gradients are summed over data-parallel ranks: MPI on CPU buffers,
 * NCCL on GPU buffers (auto picks by where the gradients live). */
typedef enum { ALLREDUCE_AUTO = 0, ALLREDUCE_MPI = 1, ALLREDUCE_NCCL = 2 } AllreduceKind;

typedef struct TrainConfig {
    const ModelDesc *model;
    double model_options[MODEL_MAX_OPTIONS];
    char dataset[CONFIG_PATH_MAX];   /* mnist | fashion-mnist | a directory */
    int epochs;
    int batch_size;
    int eval_batch_size;
    int grad_accum;                  /* micro-batches per optimizer step */
    float lr;
    OptimConfig optim;
    char schedule_spec[128];
    Schedule schedule;
    uint64_t seed;
    char device[32];                 /* auto | cpu | cuda | cuda:I */
    int tf32;                        /* CUDA: allow TF32 tensor-core GEMMs (default off) */
    int cuda_graph;                  /* CUDA: replay each step as a graph (default on) */
    int threads;                     /* 0 = all cores */
    char out[CONFIG_PATH_MAX];       /* run file; "" = a name under runs/ */
    long train_subset;               /* 0 = all; else the first N images */
    long test_subset;                /* 0 = all; else the first N images */
    int data_parallel;               /* train one model on every rank of the group */
    AllreduceKind allreduce;         /* auto | mpi | nccl */
    char sweep[128];                 /* sweep name ("" for a plain train) */
    char trial_id[64];
    AugmentSpec augment;             /* training images only; all zero = none */
    /* The validation split (validation.h): images held out of training,
     * VAL_SPLIT_AUTO (n_train / 12, at most 5000) or 0 = none; val_seed
     * draws them (never the trial's seed). */
    long val_split;
    uint64_t val_seed;
    EarlyStopSpec early_stop;        /* on the validation split; patience 0 = off */
    /* Set by the launcher side, not keys (0 reads as 1): MPI ranks in the
     * job, and ranks training this run together. */
    int world_size;
    int ranks_per_trial;
} TrainConfig;

/* Defaults of the model's recipe (docs/models.md). */
void config_defaults(TrainConfig *c, const ModelDesc *model);
/* Set one key from text. 0 ok; -1 with "key: expected ..., got ..." in err.
 * Setting "model" resets everything to that model's recipe, so apply it
 * first (config_apply_pairs does). */
int config_set(TrainConfig *c, const char *key, const char *value, char *err, int err_size);
/* A whole-number key's value checked by its row alone (range and message
 * as config_set), for commands that take one key without a config
 * (eval/predict --threads). 0 ok; -1 with the message in err. */
int config_parse_int(const char *key, const char *value, int *out, char *err, int err_size);
/* Apply key=value pairs: "model" first, then the rest in order. Fails if no
 * model is named. */
int config_apply_pairs(TrainConfig *c, int n, const char *const *keys,
                       const char *const *values, char *err, int err_size);
/* A configuration text (config_each's "key=value" lines, as run files
 * record it) back into c. Keys added later and missing from an older
 * text take their "off" value, not their default (a text without
 * val_split is a run without a validation split), so every text replays
 * to itself. 0 ok; -1 with the message in err. */
int config_from_text(TrainConfig *c, const char *text, char *err, int err_size);
/* Checks across keys (e.g. grad_accum must divide batch_size). */
int config_validate(const TrainConfig *c, char *err, int err_size);

/* The configuration text: every key that enters the trial id, then the
 * model's options (but a quiet_default option at its default, model.h), in
 * a fixed order, each with its value as text: calls
 * fn(key, value, user) for each. Run files record it (as one attribute and
 * as an attribute per key) and the trial id hashes it, so the order and the
 * value text never change (tests/test_config.c pins them). */
void config_each(const TrainConfig *c, void (*fn)(const char *key, const char *value, void *user),
                 void *user);
/* Every key (not the model options), in order, with its argument name and
 * help text (lines split at '\n'): for --help. */
void config_each_key(void (*fn)(const char *name, const char *arg, const char *help, void *user), void *user);

#endif
