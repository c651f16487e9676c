/* sweeprun: train and compare small image classifiers. */
#include <stdio.h>
#include <string.h>
#include "commands.h"

static void usage(FILE *f)
{
    fputs("usage: sweeprun COMMAND [options]\n"
          "\n"
          "commands:\n"
          "  train    train one model on one device (sweeprun train --help)\n"
          "  eval     reload a run file's weights and re-score the test set\n"
          "  models   list the registered models, options and parameter counts\n"
          "  predict  classify PGM/PNG images (or an IDX file) with a run file's model\n"
          "  sweep    run every trial of a sweep file, across MPI ranks (sweeprun sweep --help)\n"
          "  status   where a sweep stands, while it runs or after (sweeprun status --help)\n"
          "\n"
          "exit codes: 0 ok, 1 run failed, 2 bad input, 3 diverged, 4 eval mismatch;\n"
          "status: 5 sweep running, 6 sweep unfinished and not running\n",
          f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_BAD_INPUT;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "models")) return cmd_models(argc - 1, argv + 1);
    if (!strcmp(cmd, "predict")) return cmd_predict(argc - 1, argv + 1);
    if (!strcmp(cmd, "sweep")) return cmd_sweep(argc - 1, argv + 1);
    if (!strcmp(cmd, "status")) return cmd_status(argc - 1, argv + 1);
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) {
        puts("sweeprun 0.1.0");
        return EXIT_OK;
    }
    report_error("unknown command '%s' (expected train, eval, models, predict, sweep or status; see sweeprun --help)",
                 cmd);
    return EXIT_BAD_INPUT;
}
