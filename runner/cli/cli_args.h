/* Turning `--flag value` lists into key=value pairs for config_set(). Every
 * training flag is its config key with '-' for '_' (--batch-size is
 * batch_size), so flags, --set and sweep files share one vocabulary. */
#ifndef SWEEPRUN_CLI_ARGS_H
#define SWEEPRUN_CLI_ARGS_H
#include <stddef.h>

#define CLI_MAX_PAIRS 128

typedef struct CliPairs {
    int n;
    const char *key[CLI_MAX_PAIRS];
    const char *value[CLI_MAX_PAIRS];
    char storage[CLI_MAX_PAIRS][128];   /* keys rewritten from flags */
} CliPairs;

/* Add "--flag value" / "--flag=value" / "--set key=value" at argv[*i]
 * (advancing *i past what it used). 0 ok, -1 with message in err. */
int cli_take_pair(CliPairs *p, int argc, char **argv, int *i, char *err, int err_size);

/* "sweeprun ARG ARG ..." (the command as typed, cut to size), recorded in
 * run files so a run can be repeated. */
void cli_command_line(int argc, char **argv, char *buf, size_t size);

#endif
