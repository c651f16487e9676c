/* Rebuilding a trained model from its run file: the recorded configuration
 * (the `config` attribute's key=value lines, replayed through config_set)
 * and the weights. Shared by `sweeprun eval` and `sweeprun predict`. */
#ifndef SWEEPRUN_RUN_LOAD_H
#define SWEEPRUN_RUN_LOAD_H
#include "config.h"
#include "dataset.h"
#include "train.h"

/* The run's configuration and its recorded final test accuracy (NaN when
 * the file has none). 0 ok, -1 with "PATH: ..." in err. */
int run_load_config(const char *path, TrainConfig *cfg, double *final_accuracy, char *err,
                    int err_size);

/* Which weights of a run: /weights (after the last epoch) or /best/weights
 * (the best epoch by validation). */
typedef enum { WEIGHTS_LAST = 0, WEIGHTS_BEST = 1 } RunWeights;
/* "last" or "best" from a --weights flag; 0 ok, -1 otherwise. */
int run_weights_parse(const char *text, RunWeights *out);

/* The best epoch by validation (1-based) and the test accuracy recorded for
 * it. 0 ok; -1 with err naming the file when the run has none. */
int run_load_best_record(const char *path, int64_t *epoch, double *test_accuracy, char *err, int err_size);

/* trainer_init(t, cfg, data) and the chosen weights of path into its
 * model. 0 ok; -1 with the reason in err and t released. */
int run_load_trainer(const char *path, RunWeights which, Trainer *t, const TrainConfig *cfg, const Dataset *data,
                     char *err, int err_size);

#endif
