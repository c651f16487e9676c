/* `sweeprun eval --run FILE.h5`: rebuild the model from the run file's
 * recorded configuration, load its weights and re-score the test set. The
 * result must equal the recorded final test accuracy exactly (same code,
 * same batches, same order). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli_args.h"
#include "commands.h"
#include "config.h"
#include "runfile.h"
#include "train.h"

/* Replay the "key=value" lines of the config attribute. */
static int config_from_text(TrainConfig *cfg, char *text, char *err, int n)
{
    const char *keys[CLI_MAX_PAIRS], *values[CLI_MAX_PAIRS];
    int count = 0;
    for (char *line = strtok(text, "\n"); line && count < CLI_MAX_PAIRS; line = strtok(NULL, "\n")) {
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq = 0;
        keys[count] = line;
        values[count++] = eq + 1;
    }
    memset(cfg, 0, sizeof *cfg);
    return config_apply_pairs(cfg, count, keys, values, err, n);
}

static int load_run(const char *path, TrainConfig *cfg, double *recorded, char *err, int n)
{
    RunFile *f = runfile_open(path, err, n);
    if (!f) return -1;
    static char text[16384];
    char inner[1024], device[512] = "";
    int rc = runfile_read_attr_string(f, "config", text, sizeof text, err, n);
    if (!rc) rc = runfile_read_attr_double(f, "final_test_accuracy", recorded, err, n);
    if (!rc) rc = runfile_read_attr_string(f, "device", device, sizeof device, err, n);
    runfile_close(f);
    if (rc) return -1;
    if (config_from_text(cfg, text, inner, sizeof inner)) {
        snprintf(err, n, "%.400s: attribute config: %.500s", path, inner);
        return -1;
    }
    /* Re-score on the kind of device that trained it ("cuda:0: ..." or
     * "cpu: ..."): the two backends round differently, and the check is
     * that the recorded accuracy comes back exactly. */
    snprintf(cfg->device, sizeof cfg->device, "%s", strncmp(device, "cuda", 4) ? "cpu" : "cuda");
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    const char *run = NULL, *dataset = NULL;
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            puts("usage: sweeprun eval --run FILE.h5 [--dataset D] [--threads N]");
            return EXIT_OK;
        }
        int has_value = i + 1 < argc;
        if (!strcmp(argv[i], "--run") && has_value) run = argv[++i];
        else if (!strcmp(argv[i], "--dataset") && has_value) dataset = argv[++i];
        else if (!strcmp(argv[i], "--threads") && has_value) threads = atoi(argv[++i]);
        else {
            report_error("eval: unexpected argument '%s' (usage: sweeprun eval --run FILE.h5 "
                         "[--dataset D] [--threads N])", argv[i]);
            return EXIT_BAD_INPUT;
        }
    }
    if (!run) {
        report_error("eval: --run FILE.h5 is required");
        return EXIT_BAD_INPUT;
    }
    TrainConfig cfg;
    double recorded;
    char err[1024];
    if (load_run(run, &cfg, &recorded, err, sizeof err)) {
        report_error("eval: %s", err);
        return EXIT_BAD_INPUT;
    }
    if (dataset) snprintf(cfg.dataset, sizeof cfg.dataset, "%s", dataset);
    Dataset data;
    if (dataset_load(cfg.dataset, 1, cfg.test_subset, &data, err, sizeof err)) {
        report_error("eval: %s", err);
        return EXIT_BAD_INPUT;
    }
    set_compute_threads(threads);
    int cuda_index;
    if (train_resolve_device(&cfg, &cuda_index, NULL, 0, err, sizeof err) < 0) {
        report_error("eval: %s was trained on a GPU: %s", run, err);
        dataset_free(&data);
        return EXIT_BAD_INPUT;
    }
    Trainer t;
    trainer_init(&t, &cfg, &data);
    int rc = EXIT_OK;
    if (runfile_read_weights(run, &t.model.table, t.model.params, t.model.buffers, err, sizeof err)) {
        report_error("eval: %s", err);
        rc = EXIT_BAD_INPUT;
    } else {
        trainer_weights_loaded(&t);
        Evaluation ev;
        trainer_evaluate(&t, &ev);
        int same = ev.accuracy == recorded;
        printf("%s: %s on %ld test images: accuracy %.4f%% (loss %.5f); recorded %.4f%%: %s\n", run,
               cfg.model->name, ev.count, 100 * ev.accuracy, ev.loss, 100 * recorded,
               same ? "reproduced exactly" : "MISMATCH");
        if (!same) rc = EXIT_MISMATCH;
        evaluation_free(&ev);
    }
    trainer_free(&t);
    dataset_free(&data);
    return rc;
}
