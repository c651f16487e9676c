/* --reference FILE.csv: the numbers a paper or report gives, to compare
 * the measured ones with. One line per model and source:
 * model,source,mean_accuracy_pct,best_accuracy_pct,param_count,notes
 * (all but model and source may be empty); fields may be "quoted". Every
 * problem is one message "FILE:LINE: what was expected". */
#include "report.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

#define REF_HEADER "model,source,mean_accuracy_pct,best_accuracy_pct,param_count,notes"
#define REF_LINE_MAX 4096
#define REF_FIELDS 6

/* Split line into REF_FIELDS fields in place ("a","b,c" quoting, "" for a
 * quote inside); returns the number of fields, -1 for a bad quote. */
static int split_fields(char *line, char *fields[], int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == max) return max + 1;
        char *out = p;
        fields[n++] = p;
        if (*p == '"') {
            for (p++;; p++) {
                if (!*p) return -1;
                if (*p == '"' && p[1] == '"') *out++ = '"', p++;
                else if (*p == '"') break;
                else *out++ = *p;
            }
            p++;
            if (*p && *p != ',') return -1;
        } else {
            while (*p && *p != ',') *out++ = *p++;
        }
        int more = *p == ',';
        *out = 0;
        if (!more) return n;
        p++;
    }
}

static void strip_newline(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = 0;
}

/* An accuracy in % from 0 to 100, or NaN for an empty cell. */
static int parse_pct(const char *text, double *v)
{
    char *end;
    *v = NAN;
    if (!*text) return 0;
    errno = 0;
    *v = strtod(text, &end);
    return *end || errno || !(*v >= 0 && *v <= 100) ? -1 : 0;
}

static int parse_params(const char *text, long *v)
{
    char *end;
    *v = -1;
    if (!*text) return 0;
    errno = 0;
    long long x = strtoll(text, &end, 10);
    if (*end || errno || x < 0 || x > 1000000000000LL) return -1;
    *v = (long)x;
    return 0;
}

static int parse_claim(char *fields[], ReportClaim *c, const char **why)
{
    if (!*fields[0] || strlen(fields[0]) >= sizeof c->model) return *why = "a model name (1 to 63 characters)", -1;
    if (!*fields[1] || strlen(fields[1]) >= 128) return *why = "a source (1 to 127 characters)", -1;
    if (strlen(fields[5]) >= sizeof c->notes) return *why = "notes of at most 255 characters", -1;
    snprintf(c->model, sizeof c->model, "%s", fields[0]);
    snprintf(c->source, sizeof c->source, "%s", fields[1]);
    snprintf(c->notes, sizeof c->notes, "%s", fields[5]);
    if (parse_pct(fields[2], &c->mean_pct)) return *why = "mean_accuracy_pct as a number from 0 to 100, or empty", -1;
    if (parse_pct(fields[3], &c->best_pct)) return *why = "best_accuracy_pct as a number from 0 to 100, or empty", -1;
    if (parse_params(fields[4], &c->params)) return *why = "param_count as a whole number >= 0, or empty", -1;
    return 0;
}

static int add_claim(ReportReference *r, const ReportClaim *c, const char **why)
{
    for (int i = 0; i < r->count; i++)
        if (!strcmp(r->claims[i].model, c->model) && !strcmp(r->claims[i].source, c->source))
            return *why = "one line per model and source (this pair came before)", -1;
    r->claims = xrealloc(r->claims, (size_t)(r->count + 1) * sizeof *r->claims);
    r->claims[r->count++] = *c;
    for (int l = 0; l < r->n_sources; l++)
        if (!strcmp(r->sources[l], c->source)) return 0;
    r->sources = xrealloc(r->sources, (size_t)(r->n_sources + 1) * sizeof *r->sources);
    snprintf(r->sources[r->n_sources++], REPORT_VALUE_MAX, "%s", c->source);
    return 0;
}

/* One line after the header: 0, or -1 with *why set. */
static int take_line(ReportReference *r, char *line, const char **why)
{
    char *fields[REF_FIELDS];
    int n = split_fields(line, fields, REF_FIELDS);
    if (n != REF_FIELDS) return *why = "6 comma-separated fields: " REF_HEADER, -1;
    ReportClaim c;
    if (parse_claim(fields, &c, why) != 0) return -1;
    return add_claim(r, &c, why);
}

static int read_lines(FILE *f, const char *path, ReportReference *out, char *err, int err_size)
{
    char line[REF_LINE_MAX + 2];
    const char *why = NULL;
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) why = "a line of at most 4096 characters";
        strip_newline(line);
        if (!why && lineno == 1 && strcmp(line, REF_HEADER)) why = "the header " REF_HEADER;
        else if (!why && lineno > 1 && *line) take_line(out, line, &why);
        if (why) {
            snprintf(err, err_size, "%s:%d: expected %s", path, lineno, why);
            return -1;
        }
    }
    if (lineno == 0) {
        snprintf(err, err_size, "%s:1: expected the header " REF_HEADER ", got an empty file", path);
        return -1;
    }
    return 0;
}

int report_reference_load(const char *path, ReportReference *out, char *err, int err_size)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_size, "--reference %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = read_lines(f, path, out, err, err_size);
    fclose(f);
    if (rc != 0) report_reference_free(out);
    return rc;
}

void report_reference_free(ReportReference *r)
{
    free(r->claims);
    free(r->sources);
    memset(r, 0, sizeof *r);
}
