#include "cli_args.h"
#include <stdio.h>
#include <string.h>

static int add(CliPairs *p, const char *key, size_t key_len, const char *value, char *err, int n)
{
    if (p->n == CLI_MAX_PAIRS) {
        snprintf(err, n, "too many options (at most %d)", CLI_MAX_PAIRS);
        return -1;
    }
    if (key_len == 0 || key_len >= sizeof p->storage[0]) {
        snprintf(err, n, "option name '%.*s' is empty or too long", (int)key_len, key);
        return -1;
    }
    char *k = p->storage[p->n];
    for (size_t j = 0; j < key_len; j++) k[j] = key[j] == '-' ? '_' : key[j];
    k[key_len] = 0;
    p->key[p->n] = k;
    p->value[p->n] = value;
    p->n++;
    return 0;
}

int cli_take_pair(CliPairs *p, int argc, char **argv, int *i, char *err, int n)
{
    const char *arg = argv[*i];
    if (strncmp(arg, "--", 2) != 0) {
        snprintf(err, n, "unexpected argument '%s' (options start with --)", arg);
        return -1;
    }
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    if (!strcmp(name, "set") || !strncmp(name, "set=", 4)) {
        const char *kv = eq ? eq + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
        const char *sep = kv ? strchr(kv, '=') : NULL;
        if (!sep) {
            snprintf(err, n, "--set: expected KEY=VALUE, got '%s'", kv ? kv : "");
            return -1;
        }
        return add(p, kv, (size_t)(sep - kv), sep + 1, err, n);
    }
    if (eq) return add(p, name, (size_t)(eq - name), eq + 1, err, n);
    if (*i + 1 >= argc || !strncmp(argv[*i + 1], "--", 2)) {
        snprintf(err, n, "--%s: expected a value after it", name);
        return -1;
    }
    return add(p, name, strlen(name), argv[++*i], err, n);
}

void cli_command_line(int argc, char **argv, char *buf, size_t size)
{
    snprintf(buf, size, "sweeprun");
    for (int i = 0; i < argc; i++) {
        strncat(buf, " ", size - strlen(buf) - 1);
        strncat(buf, argv[i], size - strlen(buf) - 1);
    }
}
