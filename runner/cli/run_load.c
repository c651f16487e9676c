#include "run_load.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "runfile.h"

int run_load_config(const char *path, TrainConfig *cfg, double *final_accuracy, char *err, int n)
{
    RunFile *f = runfile_open(path, err, n);
    if (!f) return -1;
    static char text[16384];
    char inner[1024], device[512] = "";
    int rc = runfile_read_attr_string(f, "config", text, sizeof text, err, n);
    *final_accuracy = NAN;
    if (!rc && runfile_has_attr(f, "final_test_accuracy"))
        rc = runfile_read_attr_double(f, "final_test_accuracy", final_accuracy, err, n);
    if (!rc) rc = runfile_read_attr_string(f, "device", device, sizeof device, err, n);
    runfile_close(f);
    if (rc) return -1;
    if (config_from_text(cfg, text, inner, sizeof inner)) {
        snprintf(err, n, "%.400s: attribute config: %.500s", path, inner);
        return -1;
    }
    /* Re-score on the kind of device that trained it ("cuda:0: ..." or
     * "cpu: ..."): the two backends round differently, and eval checks that
     * the recorded accuracy comes back exactly. */
    snprintf(cfg->device, sizeof cfg->device, "%s", strncmp(device, "cuda", 4) ? "cpu" : "cuda");
    return 0;
}

int run_weights_parse(const char *text, RunWeights *out)
{
    if (!strcmp(text, "last")) *out = WEIGHTS_LAST;
    else if (!strcmp(text, "best")) *out = WEIGHTS_BEST;
    else return -1;
    return 0;
}

int run_load_best_record(const char *path, int64_t *epoch, double *test_accuracy, char *err, int n)
{
    RunFile *f = runfile_open(path, err, n);
    if (!f) return -1;
    int rc = 0;
    if (!runfile_has_attr(f, "best_epoch") || !runfile_has_attr(f, "best_epoch_test_accuracy")) {
        snprintf(err, n, "%.800s: no best epoch by validation (no attribute best_epoch: trained without a validation "
                 "split, or written before validation existed); use --weights last", path);
        rc = -1;
    }
    if (!rc) rc = runfile_read_attr_int64(f, "best_epoch", epoch, err, n);
    if (!rc) rc = runfile_read_attr_double(f, "best_epoch_test_accuracy", test_accuracy, err, n);
    runfile_close(f);
    return rc;
}

int run_load_trainer(const char *path, RunWeights which, Trainer *t, const TrainConfig *cfg, const Dataset *data,
                     char *err, int err_size)
{
    trainer_init(t, cfg, data);
    int64_t epoch;
    float *params = t->model.params, *buffers = t->model.buffers;
    if ((which == WEIGHTS_BEST
             ? runfile_read_best_weights(path, &t->model.table, params, buffers, &epoch, err, err_size)
             : runfile_read_weights(path, &t->model.table, params, buffers, err, err_size)) == 0) {
        trainer_weights_loaded(t);
        return 0;
    }
    trainer_free(t);
    return -1;
}
