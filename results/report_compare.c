/* --compare: which groups of the main table to compare, their samples
 * (the --metric accuracy of the complete runs, in %), and the tests
 * (report_stats.h). The table itself is built in report_table.c. */
#include "report.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

#define MAX_TERMS REPORT_MAX_KEYS

/* A group's name as --compare writes it: the model bare, then +KEY=VALUE
 * for every other group key. */
static void group_name(const ReportGroup *g, const ReportOptions *o, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "%s", g->values[0]);
    for (int k = 1; k < o->n_keys && used < size; k++)
        used += (size_t)snprintf(buf + used, size - used, "+%s=%s", o->keys[k], g->values[k]);
}

/* The key index a TERM names (a bare name is the model), and its value. */
static int parse_term(const char *term, const ReportOptions *o, const char **value, char *err, int err_size)
{
    const char *eq = strchr(term, '=');
    if (!eq) {
        *value = term;
        return 0;
    }
    *value = eq + 1;
    for (int k = 0; k < o->n_keys; k++)
        if (strlen(o->keys[k]) == (size_t)(eq - term) && !strncmp(o->keys[k], term, (size_t)(eq - term)))
            return k;
    snprintf(err, err_size, "--compare: '%.*s' is not a group key (the keys are model and those of "
                            "--group-by; --group-by %.*s adds it)",
             (int)(eq - term), term, (int)(eq - term), term);
    return -1;
}

/* 1 when group g has every KEY=VALUE of spec ("gecco+gate=none"). */
static int spec_matches(const char *spec, const ReportGroup *g, const ReportOptions *o, char *err,
                        int err_size, int *bad)
{
    char copy[REPORT_COMPARE_MAX];
    snprintf(copy, sizeof copy, "%s", spec);
    int match = 1;
    for (char *save = NULL, *term = strtok_r(copy, "+", &save); term; term = strtok_r(NULL, "+", &save)) {
        const char *value;
        int k = parse_term(term, o, &value, err, err_size);
        if (k < 0) return *bad = 1, 0;
        match &= !strcmp(g->values[k], value) || report_compare_values(g->values[k], value) == 0;
    }
    return match;
}

static void list_groups(const ReportGroups *groups, const ReportOptions *o, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < groups->count && used < size; i++) {
        char name[512];
        group_name(&groups->groups[i], o, name, sizeof name);
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", name);
    }
}

/* The one group spec names; -1 (err) when none or several. */
static int find_group(const char *spec, const ReportGroups *groups, const ReportOptions *o, char *err,
                      int err_size)
{
    int found = -1, n = 0, bad = 0;
    if (!*spec || spec[0] == '+' || spec[strlen(spec) - 1] == '+' || strstr(spec, "++")) {
        snprintf(err, err_size, "--compare: expected A,B with A and B each MODEL or KEY=VALUE joined by +, "
                                "or all; got an empty group in '%s'", o->compare);
        return -1;
    }
    for (int i = 0; i < groups->count && !bad; i++)
        if (spec_matches(spec, &groups->groups[i], o, err, err_size, &bad)) found = i, n++;
    if (bad) return -1;
    if (n == 1) return found;
    char list[2048];
    list_groups(groups, o, list, sizeof list);
    if (n == 0)
        snprintf(err, err_size, "--compare: no group '%s'; the groups are: %s", spec, list);
    else
        snprintf(err, err_size, "--compare: '%s' names %d groups; name one by adding the model or "
                                "another key (e.g. MODEL+%s); the groups are: %s", spec, n, spec, list);
    return -1;
}

/* ---- samples --------------------------------------------------------------------- */

typedef struct Sample {
    int n;
    double *acc;                 /* % */
    const char **seed;           /* NULL where a run has none */
} Sample;

static void sample_of(const ReportRuns *runs, const ReportGroup *g, const ReportOptions *o, Sample *s)
{
    s->n = 0;
    s->acc = xcalloc((size_t)g->n_members + 1, sizeof *s->acc);
    s->seed = xcalloc((size_t)g->n_members + 1, sizeof *s->seed);
    for (int i = 0; i < g->n_members; i++) {
        const ReportRun *r = &runs->runs[g->members[i]];
        double a = report_run_metric(r, o);
        if (r->status != STATUS_COMPLETE || isnan(a)) continue;
        s->acc[s->n] = 100 * a;
        s->seed[s->n++] = report_run_value(r, "seed");
    }
}

static void sample_free(Sample *s)
{
    free(s->acc);
    free(s->seed);
}

/* 1 when every run of s has a seed and no seed repeats. */
static int seeds_unique(const Sample *s)
{
    for (int i = 0; i < s->n; i++) {
        if (!s->seed[i]) return 0;
        for (int j = 0; j < i; j++)
            if (!strcmp(s->seed[i], s->seed[j])) return 0;
    }
    return 1;
}

/* The differences a - b over the seeds both have, into d; their count. */
static int pair_by_seed(const Sample *a, const Sample *b, double *d)
{
    if (!seeds_unique(a) || !seeds_unique(b)) return 0;
    int n = 0;
    for (int i = 0; i < a->n; i++)
        for (int j = 0; j < b->n; j++)
            if (!strcmp(a->seed[i], b->seed[j])) d[n++] = a->acc[i] - b->acc[j];
    return n;
}

static void compare_samples(const Sample *a, const Sample *b, ReportComparison *c)
{
    report_stats(a->acc, a->n, &c->sa);
    report_stats(b->acc, b->n, &c->sb);
    stats_welch(a->acc, a->n, b->acc, b->n, &c->welch);
    double *d = xcalloc((size_t)a->n + 1, sizeof *d);
    c->n_pairs = pair_by_seed(a, b, d);
    if (c->n_pairs >= 2) stats_paired(d, c->n_pairs, &c->paired);
    free(d);
}

/* ---- the comparisons ---------------------------------------------------------------- */

static void add_comparison(ReportComparisons *out, const ReportRuns *runs, const ReportGroups *groups,
                           const ReportOptions *o, int ia, int ib)
{
    Sample a, b;
    sample_of(runs, &groups->groups[ia], o, &a);
    sample_of(runs, &groups->groups[ib], o, &b);
    out->items = xrealloc(out->items, (size_t)(out->count + 1) * sizeof *out->items);
    ReportComparison *c = &out->items[out->count++];
    memset(c, 0, sizeof *c);
    group_name(&groups->groups[ia], o, c->a, sizeof c->a);
    group_name(&groups->groups[ib], o, c->b, sizeof c->b);
    compare_samples(&a, &b, c);
    sample_free(&a);
    sample_free(&b);
}

static int complete_count(const ReportRuns *runs, const ReportGroup *g, const ReportOptions *o)
{
    Sample s;
    sample_of(runs, g, o, &s);
    int n = s.n;
    sample_free(&s);
    return n;
}

static void add_note(ReportComparisons *out, const char *text)
{
    out->notes = xrealloc(out->notes, (size_t)(out->n_notes + 1) * sizeof *out->notes);
    out->notes[out->n_notes++] = strdup(text);
}

/* `all`: every pair within a model (every pair of rows when grouped by
 * model only); groups with fewer than 2 complete runs are left out. */
static void compare_all(const ReportRuns *runs, const ReportGroups *groups, const ReportOptions *o,
                        ReportComparisons *out)
{
    int *ok = xcalloc((size_t)groups->count + 1, sizeof *ok);
    for (int i = 0; i < groups->count; i++) {
        int n = complete_count(runs, &groups->groups[i], o);
        ok[i] = n >= 2;
        if (ok[i]) continue;
        char name[512], note[700];
        group_name(&groups->groups[i], o, name, sizeof name);
        snprintf(note, sizeof note, "not compared: %s (%d complete run%s; a t-test needs 2)", name, n,
                 n == 1 ? "" : "s");
        add_note(out, note);
    }
    for (int i = 0; i < groups->count; i++)
        for (int j = i + 1; j < groups->count; j++)
            if (ok[i] && ok[j] && (o->n_keys == 1 || !strcmp(groups->groups[i].values[0], groups->groups[j].values[0])))
                add_comparison(out, runs, groups, o, i, j);
    free(ok);
}

static int needs_two_runs(const ReportRuns *runs, const ReportGroups *groups, const ReportOptions *o, int g,
                          char *err, int err_size)
{
    int n = complete_count(runs, &groups->groups[g], o);
    if (n >= 2) return 0;
    char name[512];
    group_name(&groups->groups[g], o, name, sizeof name);
    snprintf(err, err_size, "--compare: group '%s' has %d complete run%s with a --metric %s accuracy; "
                            "a t-test needs at least 2", name, n, n == 1 ? "" : "s", report_metric_name(o->metric));
    return -1;
}

/* "A,B": the two groups, each with at least 2 complete runs. */
static int compare_pair(const ReportRuns *runs, const ReportGroups *groups, const ReportOptions *o,
                        ReportComparisons *out, char *err, int err_size)
{
    const char *comma = strchr(o->compare, ',');
    if (!comma || strchr(comma + 1, ',')) {
        snprintf(err, err_size, "--compare: expected A,B (two groups separated by one comma) or all, got '%s'",
                 o->compare);
        return -1;
    }
    char a[REPORT_COMPARE_MAX];
    snprintf(a, sizeof a, "%.*s", (int)(comma - o->compare), o->compare);
    int ia = find_group(a, groups, o, err, err_size);
    int ib = ia < 0 ? -1 : find_group(comma + 1, groups, o, err, err_size);
    if (ia < 0 || ib < 0) return -1;
    if (ia == ib) {
        snprintf(err, err_size, "--compare: '%s' and '%s' are the same group", a, comma + 1);
        return -1;
    }
    if (needs_two_runs(runs, groups, o, ia, err, err_size) || needs_two_runs(runs, groups, o, ib, err, err_size))
        return -1;
    add_comparison(out, runs, groups, o, ia, ib);
    return 0;
}

int report_compare(const ReportRuns *runs, const ReportGroups *groups, const ReportOptions *o,
                   ReportComparisons *out, char *err, int err_size)
{
    memset(out, 0, sizeof *out);
    if (!strcmp(o->compare, "all")) {
        compare_all(runs, groups, o, out);
        return 0;
    }
    int rc = compare_pair(runs, groups, o, out, err, err_size);
    if (rc != 0) report_comparisons_free(out);
    return rc;
}

void report_comparisons_free(ReportComparisons *c)
{
    for (int i = 0; i < c->n_notes; i++) free(c->notes[i]);
    free(c->notes);
    free(c->items);
    memset(c, 0, sizeof *c);
}
