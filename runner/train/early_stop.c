#include "early_stop.h"
#include "util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_part(const char *part, EarlyStopSpec *s, char *why, int n)
{
    char *end;
    if (!strncmp(part, "patience:", 9)) {
        long p = strtol(part + 9, &end, 10);
        if (end == part + 9 || *end || p < 1 || p > 100000) {
            snprintf(why, n, "patience: expected a whole number in [1, 100000], got '%s'", part + 9);
            return -1;
        }
        s->patience = (int)p;
    } else if (!strncmp(part, "min_delta:", 10)) {
        double d = strtod(part + 10, &end);
        if (end == part + 10 || *end || !isfinite(d) || d < 0) {
            snprintf(why, n, "min_delta: expected a number >= 0, got '%s'", part + 10);
            return -1;
        }
        s->min_delta = d;
    } else if (!strcmp(part, "on:val_loss") || !strcmp(part, "on:val_accuracy")) {
        s->on_accuracy = !strcmp(part, "on:val_accuracy");
    } else {
        snprintf(why, n, "expected patience:P, min_delta:D or on:val_loss|val_accuracy, got '%s'", part);
        return -1;
    }
    return 0;
}

int early_stop_parse(const char *text, EarlyStopSpec *out, char *why, int why_size)
{
    EarlyStopSpec s = {0};
    if (!strcmp(text, "off") || !strcmp(text, "none")) {
        *out = s;
        return 0;
    }
    char buf[128];
    if (strlen(text) >= sizeof buf) {
        snprintf(why, why_size, "expected off or patience:P[,min_delta:D][,on:val_loss|val_accuracy], got a "
                 "value of %zu characters", strlen(text));
        return -1;
    }
    strcpy(buf, text);
    char *save = NULL;
    for (char *part = strtok_r(buf, ",", &save); part; part = strtok_r(NULL, ",", &save))
        if (parse_part(part, &s, why, why_size)) return -1;
    if (s.patience == 0) {
        snprintf(why, why_size, "expected off or patience:P[,min_delta:D][,on:val_loss|val_accuracy] "
                 "(patience is required), got '%s'", text);
        return -1;
    }
    *out = s;
    return 0;
}

void early_stop_format(const EarlyStopSpec *s, char *buf, int size)
{
    if (s->patience == 0) {
        snprintf(buf, size, "off");
        return;
    }
    int used = snprintf(buf, size, "patience:%d", s->patience);
    if (s->min_delta > 0 && used < size) {
        char d[32];
        double_shortest_text(s->min_delta, d, sizeof d);
        used += snprintf(buf + used, size - used, ",min_delta:%s", d);
    }
    if (s->on_accuracy && used < size) snprintf(buf + used, size - used, ",on:val_accuracy");
}

void early_stop_reset(EarlyStopState *st)
{
    st->best = NAN;
    st->waited = 0;
}

int early_stop_update(const EarlyStopSpec *s, EarlyStopState *st, double val_loss, double val_accuracy)
{
    if (s->patience == 0) return 0;
    /* Watch a number where larger is better either way. */
    double value = s->on_accuracy ? val_accuracy : -val_loss;
    if (isnan(value)) return 0;
    if (isnan(st->best) || value > st->best + s->min_delta) {
        st->best = value;
        st->waited = 0;
        return 0;
    }
    return ++st->waited >= s->patience;
}
