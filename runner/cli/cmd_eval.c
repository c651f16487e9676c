/* `sweeprun eval --run FILE.h5 [--weights last|best]`: rebuild the model
 * from the run file's recorded configuration, load its weights (after the
 * last epoch, or of the best epoch by validation) and re-score the test
 * set. The result must equal the accuracy recorded for those weights
 * exactly (same code, same batches, same order). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli_args.h"
#include "commands.h"
#include "config.h"
#include "run_load.h"
#include "runfile.h"
#include "train.h"

int cmd_eval(int argc, char **argv)
{
    const char *run = NULL, *dataset = NULL;
    int threads = 0;
    RunWeights which = WEIGHTS_LAST;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            puts("usage: sweeprun eval --run FILE.h5 [--weights last|best] [--dataset D] [--threads N]\n"
                 "  --weights last   the weights after the last epoch (default)\n"
                 "  --weights best   the best epoch's by validation accuracy (/best/weights)");
            return EXIT_OK;
        }
        int has_value = i + 1 < argc;
        if (!strcmp(argv[i], "--run") && has_value) run = argv[++i];
        else if (!strcmp(argv[i], "--dataset") && has_value) dataset = argv[++i];
        else if (!strcmp(argv[i], "--weights") && has_value) {
            if (run_weights_parse(argv[++i], &which)) {
                report_error("eval: --weights: expected last or best, got '%s'", argv[i]);
                return EXIT_BAD_INPUT;
            }
        }
        else if (!strcmp(argv[i], "--threads") && has_value) {
            char err[256];
            if (config_parse_int("threads", argv[++i], &threads, err, sizeof err)) {
                report_error("eval: %s", err);
                return EXIT_BAD_INPUT;
            }
        } else {
            report_error("eval: unexpected argument '%s' (usage: sweeprun eval --run FILE.h5 "
                         "[--weights last|best] [--dataset D] [--threads N])", argv[i]);
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
    if (run_load_config(run, &cfg, &recorded, err, sizeof err)) {
        report_error("eval: %s", err);
        return EXIT_BAD_INPUT;
    }
    int64_t best_epoch = 0;
    if (which == WEIGHTS_BEST && run_load_best_record(run, &best_epoch, &recorded, err, sizeof err)) {
        report_error("eval: %s", err);
        return EXIT_BAD_INPUT;
    }
    if (isnan(recorded)) {
        report_error("eval: %s: no root attribute 'final_test_accuracy' (no epoch finished)", run);
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
    if (run_load_trainer(run, which, &t, &cfg, &data, err, sizeof err)) {
        report_error("eval: %s", err);
        dataset_free(&data);
        return EXIT_BAD_INPUT;
    }
    Evaluation ev;
    trainer_evaluate(&t, SPLIT_TEST, &ev);
    int same = ev.accuracy == recorded;
    char whose[64] = "";
    if (which == WEIGHTS_BEST) snprintf(whose, sizeof whose, " (best epoch %lld by validation)", (long long)best_epoch);
    printf("%s: %s%s on %ld test images: accuracy %.4f%% (loss %.5f); recorded %.4f%%: %s\n", run,
           cfg.model->name, whose, ev.count, 100 * ev.accuracy, ev.loss, 100 * recorded,
           same ? "reproduced exactly" : "MISMATCH");
    evaluation_free(&ev);
    trainer_free(&t);
    dataset_free(&data);
    return same ? EXIT_OK : EXIT_MISMATCH;
}
