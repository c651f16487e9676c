#include "pareto.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

const char *const pareto_run_metrics[PARETO_RUN_METRICS] = {"val_acc", "val_loss", "params", "s_per_epoch"};

/* ---- parsing ---------------------------------------------------------------- */

/* The text between start and end (exclusive), without surrounding spaces,
 * into out[size]; 0, or -1 when it does not fit. */
static int copy_trimmed(const char *start, const char *end, char *out, size_t size)
{
    while (start < end && (*start == ' ' || *start == '\t')) start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t')) end--;
    if ((size_t)(end - start) >= size) return -1;
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = 0;
    return 0;
}

static int is_known(const char *metric, const char *const *known, int n_known)
{
    for (int i = 0; i < n_known; i++)
        if (!strcmp(known[i], metric)) return 1;
    return 0;
}

static void unknown_metric(const char *metric, const char *const *known, int n_known, char *err, int size)
{
    char names[512] = "";
    for (int i = 0; i < n_known && strlen(names) < sizeof names - 1; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", known[i]);
    snprintf(err, (size_t)size, "objectives: unknown metric '%s' (known: %s)", metric, names);
}

/* One "METRIC:max|min" (already trimmed) into o. */
static int parse_objective(const char *item, const char *const *known, int n_known, Objective *o, char *err,
                           int size)
{
    const char *colon = strchr(item, ':');
    char direction[16];
    if (copy_trimmed(item, colon ? colon : item + strlen(item), o->metric, sizeof o->metric)) {
        snprintf(err, (size_t)size, "objectives: metric name too long in '%s'", item);
        return -1;
    }
    if (!is_known(o->metric, known, n_known)) {
        unknown_metric(o->metric, known, n_known, err, size);
        return -1;
    }
    if (!colon) {
        snprintf(err, (size_t)size, "objectives: %s needs a direction: %s:max or %s:min", o->metric, o->metric,
                 o->metric);
        return -1;
    }
    int fits = !copy_trimmed(colon + 1, colon + strlen(colon), direction, sizeof direction);
    if (!fits || (strcmp(direction, "max") && strcmp(direction, "min"))) {
        snprintf(err, (size_t)size, "objectives: the direction of %s must be max or min, got '%s'", o->metric,
                 colon + 1);
        return -1;
    }
    o->maximize = !strcmp(direction, "max");
    return 0;
}

static int listed_before(const Objective *out, int n, const char *metric)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(out[i].metric, metric)) return 1;
    return 0;
}

int pareto_objectives_parse(const char *text, const char *const *known, int n_known, Objective *out, char *err,
                            int err_size)
{
    const char *usage = "METRIC:max or METRIC:min, separated by commas";
    if (!text[strspn(text, " \t")]) {
        snprintf(err, (size_t)err_size, "objectives: expected %s, got nothing", usage);
        return -1;
    }
    int n = 0;
    for (const char *start = text, *end; start; start = *end ? end + 1 : NULL) {
        end = start + strcspn(start, ",");
        char item[PARETO_METRIC_MAX + 32];
        if (copy_trimmed(start, end, item, sizeof item)) {
            snprintf(err, (size_t)err_size, "objectives: item %d is too long", n + 1);
            return -1;
        }
        if (!item[0]) {
            snprintf(err, (size_t)err_size, "objectives: item %d is empty (expected %s)", n + 1, usage);
            return -1;
        }
        if (n == PARETO_MAX_OBJECTIVES) {
            snprintf(err, (size_t)err_size, "objectives: at most %d objectives", PARETO_MAX_OBJECTIVES);
            return -1;
        }
        if (parse_objective(item, known, n_known, &out[n], err, err_size)) return -1;
        if (listed_before(out, n, out[n].metric)) {
            snprintf(err, (size_t)err_size, "objectives: %s is listed twice", out[n].metric);
            return -1;
        }
        n++;
    }
    return n;
}

/* ---- the front -------------------------------------------------------------- */

static int has_nan(const double *p, int k)
{
    for (int j = 0; j < k; j++)
        if (isnan(p[j])) return 1;
    return 0;
}

/* > 0 when x is better than y under o, < 0 worse, 0 equal. */
static int better(double x, double y, const Objective *o)
{
    if (x == y) return 0;
    return (x > y) == (o->maximize != 0) ? 1 : -1;
}

int pareto_dominates(const double *a, const double *b, const Objective *obj, int k)
{
    if (has_nan(a, k) || has_nan(b, k)) return 0;
    int strictly = 0;
    for (int j = 0; j < k; j++) {
        int c = better(a[j], b[j], &obj[j]);
        if (c < 0) return 0;
        strictly |= c > 0;
    }
    return strictly;
}

static int dominated_by_any(const double *points, int n, const Objective *obj, int k, int i)
{
    for (int j = 0; j < n; j++)
        if (j != i && pareto_dominates(&points[(size_t)j * k], &points[(size_t)i * k], obj, k)) return 1;
    return 0;
}

int pareto_front(const double *points, int n, const Objective *obj, int k, int *out_is_front)
{
    int count = 0;
    for (int i = 0; i < n; i++) {
        const double *p = &points[(size_t)i * k];
        out_is_front[i] = !has_nan(p, k) && !dominated_by_any(points, n, obj, k, i);
        count += out_is_front[i];
    }
    return count;
}

/* A front point for sorting: its values turned larger-is-better (min
 * objectives negated), so the comparator needs no objectives. */
typedef struct Keyed {
    double key[PARETO_MAX_OBJECTIVES];
    int k, index;
} Keyed;

static int compare_keyed(const void *pa, const void *pb)
{
    const Keyed *a = pa, *b = pb;
    for (int j = 0; j < a->k; j++)
        if (a->key[j] != b->key[j]) return a->key[j] > b->key[j] ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

int pareto_front_sorted(const double *points, int n, const Objective *obj, int k, int *order)
{
    CHECK(k >= 1 && k <= PARETO_MAX_OBJECTIVES, "pareto: %d objectives", k);
    int *is_front = xmalloc((size_t)(n ? n : 1) * sizeof *is_front);
    int count = pareto_front(points, n, obj, k, is_front);
    Keyed *keyed = xmalloc((size_t)(count ? count : 1) * sizeof *keyed);
    for (int i = 0, m = 0; i < n; i++) {
        if (!is_front[i]) continue;
        keyed[m] = (Keyed){.k = k, .index = i};
        for (int j = 0; j < k; j++)
            keyed[m].key[j] = obj[j].maximize ? points[(size_t)i * k + j] : -points[(size_t)i * k + j];
        m++;
    }
    qsort(keyed, (size_t)count, sizeof *keyed, compare_keyed);
    for (int m = 0; m < count; m++) order[m] = keyed[m].index;
    free(keyed);
    free(is_front);
    return count;
}
