/* --reference FILE.csv: published claims to show beside the measured
 * numbers. One claim per line: model,label,test_accuracy_pct,param_count
 * (param_count may be empty); fields may be "quoted". Every problem is
 * one message "FILE:LINE: what was expected". */
#include "report.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

#define REF_HEADER "model,label,test_accuracy_pct,param_count"
#define REF_LINE_MAX 4096
#define REF_FIELDS 4

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

static int parse_claim(char *fields[], ReportClaim *c, const char **why)
{
    char *end;
    if (!*fields[0] || strlen(fields[0]) >= sizeof c->model) return *why = "a model name (1 to 63 characters)", -1;
    if (!*fields[1] || strlen(fields[1]) >= 128) return *why = "a label (1 to 127 characters)", -1;
    snprintf(c->model, sizeof c->model, "%s", fields[0]);
    snprintf(c->label, sizeof c->label, "%s", fields[1]);
    errno = 0;
    c->acc_pct = strtod(fields[2], &end);
    if (!*fields[2] || *end || errno || !(c->acc_pct >= 0 && c->acc_pct <= 100))
        return *why = "test_accuracy_pct as a number from 0 to 100", -1;
    c->params = -1;
    if (*fields[3]) {
        errno = 0;
        long long v = strtoll(fields[3], &end, 10);
        if (*end || errno || v < 0 || v > 1000000000000LL)
            return *why = "param_count as a whole number >= 0, or empty", -1;
        c->params = (long)v;
    }
    return 0;
}

static int add_claim(ReportReference *r, const ReportClaim *c, const char **why)
{
    for (int i = 0; i < r->count; i++)
        if (!strcmp(r->claims[i].model, c->model) && !strcmp(r->claims[i].label, c->label))
            return *why = "one claim per model and label (this pair came before)", -1;
    r->claims = xrealloc(r->claims, (size_t)(r->count + 1) * sizeof *r->claims);
    r->claims[r->count++] = *c;
    for (int l = 0; l < r->n_labels; l++)
        if (!strcmp(r->labels[l], c->label)) return 0;
    r->labels = xrealloc(r->labels, (size_t)(r->n_labels + 1) * sizeof *r->labels);
    snprintf(r->labels[r->n_labels++], REPORT_VALUE_MAX, "%s", c->label);
    return 0;
}

/* One line after the header: 0, or -1 with *why set. */
static int take_line(ReportReference *r, char *line, const char **why)
{
    char *fields[REF_FIELDS];
    int n = split_fields(line, fields, REF_FIELDS);
    if (n != REF_FIELDS) return *why = "4 comma-separated fields: " REF_HEADER, -1;
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
    free(r->labels);
    memset(r, 0, sizeof *r);
}
