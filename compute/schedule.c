/* Learning-rate schedules: parsing of spec strings, evaluation per epoch and
 * the canonical spec string written into run files. */
#include "schedule.h"
#include "util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPEC_MAX 128
#define SPEC_FIELDS 3   /* the longest valid spec: kind and two parameters */


static void set_err(char *err, int err_size, const char *msg)
{
    if (err && err_size > 0) snprintf(err, (size_t)err_size, "%s", msg);
}

/* A positive int, digits only (no sign, blanks or exponent). */
static int parse_pos_int(const char *s, int *out)
{
    if (!*s) return -1;
    long v = 0;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9') return -1;
        v = v * 10 + (*c - '0');
        if (v > 1000000000L) return -1;
    }
    if (v < 1) return -1;
    *out = (int)v;
    return 0;
}

/* A finite number that fits a float, the whole field consumed. strtod would
 * skip leading blanks; refuse them so "step: 7:0.1" is not half-accepted. */
static int parse_float(const char *s, float *out)
{
    if (!*s || *s == ' ' || *s == '\t') return -1;
    char *end;
    double v = strtod(s, &end);
    if (*end || !isfinite(v) || fabs(v) > 3.4e38) return -1;
    *out = (float)v;
    return 0;
}

/* Split a copy of spec on ':'; returns the number of fields (all of them,
 * so a spec with extras is reported against its kind) and stores the first
 * SPEC_FIELDS, or -1 when the spec is too long to be any valid one. */
static int split_fields(const char *spec, char *copy, char **fields)
{
    if (strlen(spec) >= SPEC_MAX) return -1;
    strcpy(copy, spec);
    int n = 0;
    char *p = copy;
    for (;;) {
        if (n < SPEC_FIELDS) fields[n] = p;
        n++;
        char *colon = strchr(p, ':');
        if (!colon) return n;
        *colon = '\0';
        p = colon + 1;
    }
}

static int parse_step(char **f, int n, Schedule *out)
{
    if (n != 3 || parse_pos_int(f[1], &out->step) || parse_float(f[2], &out->gamma) ||
        !(out->gamma > 0.0f))
        return -1;
    return 0;
}

static int parse_exp(char **f, int n, Schedule *out)
{
    if (n < 2 || n > 3 || parse_float(f[1], &out->gamma) || !(out->gamma > 0.0f)) return -1;
    if (n == 3 && (parse_float(f[2], &out->floor) || out->floor < 0.0f)) return -1;
    return 0;
}

static int parse_cosine(char **f, int n, Schedule *out)
{
    if (n < 2 || n > 3 || parse_pos_int(f[1], &out->t_max)) return -1;
    if (n == 3 && (parse_float(f[2], &out->eta_min) || out->eta_min < 0.0f)) return -1;
    return 0;
}

int schedule_parse(const char *spec, Schedule *out, char *err, int err_size)
{
    static const char *const usage =
        "expected constant, step:STEP:GAMMA, exp:GAMMA[:FLOOR] or cosine:T_MAX[:ETA_MIN]";
    char copy[SPEC_MAX], *f[SPEC_FIELDS];
    memset(out, 0, sizeof *out);
    int n = spec ? split_fields(spec, copy, f) : -1;
    if (n < 1) {
        set_err(err, err_size, usage);
        return -1;
    }
    if (strcmp(f[0], "constant") == 0) {
        out->kind = SCHED_CONSTANT;
        if (n == 1) return 0;
        set_err(err, err_size, "expected constant with no parameters");
    } else if (strcmp(f[0], "step") == 0) {
        out->kind = SCHED_STEP;
        if (parse_step(f, n, out) == 0) return 0;
        set_err(err, err_size,
                "expected step:STEP:GAMMA with STEP a positive integer and GAMMA a number > 0");
    } else if (strcmp(f[0], "exp") == 0) {
        out->kind = SCHED_EXP;
        if (parse_exp(f, n, out) == 0) return 0;
        set_err(err, err_size,
                "expected exp:GAMMA or exp:GAMMA:FLOOR with GAMMA a number > 0 and FLOOR a number >= 0");
    } else if (strcmp(f[0], "cosine") == 0) {
        out->kind = SCHED_COSINE;
        if (parse_cosine(f, n, out) == 0) return 0;
        set_err(err, err_size,
                "expected cosine:T_MAX or cosine:T_MAX:ETA_MIN with T_MAX a positive integer and "
                "ETA_MIN a number >= 0");
    } else {
        set_err(err, err_size, usage);
    }
    memset(out, 0, sizeof *out);
    return -1;
}

static double cosine_lr(const Schedule *s, double lr0, int epoch)
{
    const double pi = 3.14159265358979323846;
    double eta = float_intended_double(s->eta_min);
    int e = epoch < s->t_max ? epoch : s->t_max;
    return eta + (lr0 - eta) * (1.0 + cos(pi * (double)e / (double)s->t_max)) / 2.0;
}

float schedule_lr(const Schedule *s, float lr0_f, int epoch)
{
    CHECK(epoch >= 0, "schedule_lr: negative epoch %d", epoch);
    double lr0 = float_intended_double(lr0_f);
    switch (s->kind) {
    case SCHED_CONSTANT:
        return lr0_f;
    case SCHED_STEP:
        return (float)(lr0 * pow(float_intended_double(s->gamma), (double)(epoch / s->step)));
    case SCHED_EXP: {
        double lr = lr0 * pow(float_intended_double(s->gamma), (double)epoch);
        double lo = float_intended_double(s->floor);
        return (float)(lr > lo ? lr : lo);
    }
    case SCHED_COSINE:
        return (float)cosine_lr(s, lr0, epoch);
    }
    fatal("unknown schedule kind %d", (int)s->kind);
}

void schedule_format(const Schedule *s, char *buf, int size)
{
    char a[32], b[32];
    size_t n = (size_t)size;
    if (!buf || size <= 0) return;
    switch (s->kind) {
    case SCHED_CONSTANT:
        snprintf(buf, n, "constant");
        return;
    case SCHED_STEP:
        float_shortest_text(s->gamma, a, sizeof a);
        snprintf(buf, n, "step:%d:%s", s->step, a);
        return;
    case SCHED_EXP:
        float_shortest_text(s->gamma, a, sizeof a);
        float_shortest_text(s->floor, b, sizeof b);
        /* A zero floor never binds (lr stays positive), so it is omitted. */
        if (s->floor == 0.0f) snprintf(buf, n, "exp:%s", a);
        else snprintf(buf, n, "exp:%s:%s", a, b);
        return;
    case SCHED_COSINE:
        float_shortest_text(s->eta_min, b, sizeof b);
        if (s->eta_min == 0.0f) snprintf(buf, n, "cosine:%d", s->t_max);
        else snprintf(buf, n, "cosine:%d:%s", s->t_max, b);
        return;
    }
    fatal("unknown schedule kind %d", (int)s->kind);
}
