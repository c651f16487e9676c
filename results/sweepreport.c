/* sweepreport: the comparison table (and figures) of a folder of run files.
 * All the work is in the report library (report.h, report_figures.h). */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "report.h"
#include "report_figures.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_BAD_INPUT = 2 };

static void usage(FILE *f)
{
    fputs("usage: sweepreport DIR|FILE... [options]\n"
          "\n"
          "  --group-by KEY,...    one row per combination of the keys (model is always the first\n"
          "                        key); default: one row per model\n"
          "  --format F            markdown | csv | latex | json | html (default markdown)\n"
          "  --metric M            final: test accuracy after the last epoch (default)\n"
          "                        best: test accuracy at the epoch with the best VALIDATION\n"
          "                        result; refused when a run has no validation numbers\n"
          "  --select-on-test      let runs without validation (old files, val_split = 0) choose\n"
          "                        their best epoch and best trial on the TEST set; optimistic,\n"
          "                        and labelled so wherever it shows\n"
          "  --reference FILE.csv  numbers a paper reports, per model: reported mean, best and\n"
          "                        params, measured mean - reported mean, whether the reported\n"
          "                        mean lies in the measured 95 % CI; header\n"
          "                        model,source,mean_accuracy_pct,best_accuracy_pct,param_count,notes\n"
          "                        (e.g. sweeps/examples/table2_reported.csv)\n"
          "  --sort COL            mean, std, best, params, s_per_epoch, trials, complete or a\n"
          "                        group key; accuracies sort best first, the rest ascending;\n"
          "                        +COL / -COL force ascending / descending\n"
          "  --marginal KEY        mean accuracy per value of KEY, one row per model\n"
          "  --compare A,B | all   replace the table by tests of mean(A) - mean(B) of the --metric\n"
          "                        accuracy: Welch's t-test with its 95 % CI, and a paired t-test\n"
          "                        over shared seeds. A group is a model (gecco) or key values of\n"
          "                        --group-by joined by + (gecco+gate=none, or gate=none when it\n"
          "                        names one row); all: every pair of rows within a model\n"
          "  --importance          instead of the table: per model, the share of the variance of\n"
          "                        the test accuracy over its complete trials that each swept key\n"
          "                        explains on its own (main effects; the rest is interactions\n"
          "                        and seed noise)\n"
          "  --pareto OBJ,...      instead of the table: the complete trials on the Pareto front of\n"
          "                        the objectives, each METRIC:max or METRIC:min, METRIC one of\n"
          "                        val_acc, val_loss (at the best validation epoch), params,\n"
          "                        s_per_epoch; e.g. --pareto val_acc:max,params:min\n"
          "  --out FILE            write the table to FILE (default: standard output)\n"
          "  --figures DIR         also draw the PNG figures and DIR/index.html: per model the\n"
          "                        training curves, the best trial's confusion matrix and\n"
          "                        misclassified digits, accuracy by each swept key, parallel\n"
          "                        coordinates and importance; across groups accuracy against\n"
          "                        parameters and against seconds per epoch (95% CI, Pareto front)\n"
          "\n"
          "Reads every *.h5 (and *.h5.tmp of unfinished runs) under the folders. A file that is\n"
          "not a readable run file is skipped with a warning. The best epoch and the best trial\n"
          "are chosen on the validation split; the test set is only reported. Columns and\n"
          "statistics: "
"docs/sweepreport.md.\n"
          "exit codes: 0 ok, 1 an output could not be written, 2 bad input (flags, no run files)\n",
          f);
}

static void error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sweepreport: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

typedef struct Args {
    ReportOptions opt;
    ReportFormat format;
    const char *out, *figures, *reference;
    int n_paths;
    char **paths;
} Args;

static int copy_name(char *dst, const char *flag, const char *value)
{
    if (!*value || strlen(value) >= REPORT_NAME_MAX) {
        error("%s: expected a name of 1 to %d characters, got '%s'", flag, REPORT_NAME_MAX - 1, value);
        return -1;
    }
    snprintf(dst, REPORT_NAME_MAX, "%s", value);
    return 0;
}

/* 0 ok, 1 --help shown, -1 bad flags (message printed). */
static int parse_args(int argc, char **argv, Args *a)
{
    memset(a, 0, sizeof *a);
    report_options_default(&a->opt);
    a->paths = calloc((size_t)argc, sizeof *a->paths);
    char err[512];
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            usage(stdout);
            return 1;
        }
        if (strncmp(f, "--", 2) != 0) {
            a->paths[a->n_paths++] = argv[i];
            continue;
        }
        if (!strcmp(f, "--select-on-test")) {   /* the flags without a value */
            a->opt.select_on_test = 1;
            continue;
        }
        if (!strcmp(f, "--importance")) {
            a->opt.importance = 1;
            continue;
        }
        if (i + 1 >= argc) {
            error("%s: expected a value after it (see sweepreport --help)", f);
            return -1;
        }
        const char *v = argv[++i];
        if (!strcmp(f, "--group-by")) {
            if (report_parse_group_by(v, &a->opt, err, sizeof err) != 0) {
                error("%s", err);
                return -1;
            }
        } else if (!strcmp(f, "--format")) {
            if (report_parse_format(v, &a->format) != 0) {
                error("--format: expected markdown, csv, latex, json or html, got '%s'", v);
                return -1;
            }
        } else if (!strcmp(f, "--metric")) {
            if (strcmp(v, "final") && strcmp(v, "best")) {
                error("--metric: expected final or best, got '%s'", v);
                return -1;
            }
            a->opt.metric = !strcmp(v, "best") ? METRIC_BEST : METRIC_FINAL;
        } else if (!strcmp(f, "--sort")) {
            if (copy_name(a->opt.sort, f, v) != 0) return -1;
        } else if (!strcmp(f, "--marginal")) {
            if (copy_name(a->opt.marginal, f, v) != 0) return -1;
        } else if (!strcmp(f, "--compare")) {
            if (!*v || strlen(v) >= REPORT_COMPARE_MAX) {
                error("--compare: expected A,B or all (at most %d characters), got '%s'", REPORT_COMPARE_MAX - 1, v);
                return -1;
            }
            snprintf(a->opt.compare, sizeof a->opt.compare, "%s", v);
        } else if (!strcmp(f, "--pareto")) {
            Objective obj[PARETO_MAX_OBJECTIVES];
            if (strlen(v) >= REPORT_COMPARE_MAX || report_pareto_objectives(v, obj, err, sizeof err) < 0) {
                error("%s", strlen(v) >= REPORT_COMPARE_MAX ? "--pareto: expected a shorter list" : err);
                return -1;
            }
            snprintf(a->opt.pareto, sizeof a->opt.pareto, "%s", v);
        } else if (!strcmp(f, "--out")) {
            a->out = v;
        } else if (!strcmp(f, "--figures")) {
            a->figures = v;
        } else if (!strcmp(f, "--reference")) {
            a->reference = v;
        } else {
            error("unknown option '%s' (see sweepreport --help)", f);
            return -1;
        }
    }
    if (a->n_paths == 0) {
        error("no folder given (usage: sweepreport DIR... [options]; see --help)");
        return -1;
    }
    return 0;
}

/* A new file beside out, named out.XXXXXX: mkstemp creates it exclusively,
 * so a symbolic link planted at a name we would use is never written
 * through. Readable as a file fopen creates (mkstemp makes it 0600). */
static FILE *create_beside(const char *out, char *tmp, size_t size)
{
    int n = snprintf(tmp, size, "%s.XXXXXX", out);
    if (n < 0 || (size_t)n >= size) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) return NULL;
    mode_t mask = umask(0);
    umask(mask);
    FILE *f = fchmod(fd, 0666 & ~mask) == 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        close(fd);
        remove(tmp);
    }
    return f;
}

/* Write beside out and rename, so a failed write never leaves half a
 * table where a complete one was. rename replaces out itself, also when
 * out is a symbolic link, never the file that link points to. */
static int write_out(const char *out, const Table *t, ReportFormat fmt)
{
    if (!out) {
        report_write(stdout, t, fmt);
        return fflush(stdout) == 0 ? 0 : -1;
    }
    char tmp[REPORT_PATH_MAX];
    FILE *f = create_beside(out, tmp, sizeof tmp);
    if (!f) {
        error("--out %s: cannot create a file beside it: %s", out, strerror(errno));
        return -1;
    }
    report_write(f, t, fmt);
    if (fclose(f) != 0 || rename(tmp, out) != 0) {
        error("--out %s: cannot write: %s", out, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    /* A run still training holds its .tmp open for writing, and HDF5 locks
     * it; we only read, and the last flushed state is what we want. */
    setenv("HDF5_USE_FILE_LOCKING", "FALSE", 0);
    Args a;
    int p = parse_args(argc, argv, &a);
    if (p != 0) {
        free(a.paths);
        return p > 0 ? EXIT_OK : EXIT_BAD_INPUT;
    }
    ReportRuns runs = {0};
    ReportReference ref = {0};
    char err[1024];
    int rc = EXIT_OK;
    if (a.reference && report_reference_load(a.reference, &ref, err, sizeof err) != 0) {
        error("%s", err);
        free(a.paths);
        return EXIT_BAD_INPUT;
    }
    a.opt.reference = a.reference ? &ref : NULL;
    if (report_load(a.n_paths, a.paths, &runs, stderr, err, sizeof err) != 0) {
        error("%s", err);
        rc = EXIT_BAD_INPUT;
    } else if (runs.count == 0) {
        error("no readable run files (*.h5, *.h5.tmp) under %s%s", a.paths[0],
              a.n_paths > 1 ? " and the other paths" : "");
        rc = EXIT_BAD_INPUT;
    }
    Table t = {0};
    if (rc == EXIT_OK && report_build(&runs, &a.opt, &t, err, sizeof err) != 0) {
        error("%s", err);
        rc = EXIT_BAD_INPUT;
    }
    if (rc == EXIT_OK && write_out(a.out, &t, a.format) != 0) rc = EXIT_FAILED;
    if (rc == EXIT_OK && a.figures) {
        int n = report_figures(&runs, &a.opt, &t, a.figures, stderr, err, sizeof err);
        if (n < 0) {
            error("%s", err);
            rc = EXIT_FAILED;
        } else {
            fprintf(stderr, "sweepreport: %d figures and index.html in %s\n", n, a.figures);
        }
    }
    if (t.cols) table_free(&t);
    report_runs_free(&runs);
    report_reference_free(&ref);
    free(a.paths);
    return rc;
}
