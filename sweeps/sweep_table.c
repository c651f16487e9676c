#include "sweep_table.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "pareto.h"
#include "util.h"

enum { MAX_COLS = 64, CELL = 160 };

typedef struct Table {
    int cols, rows;
    char head[MAX_COLS][CELL];
    char (*cells)[MAX_COLS][CELL];
    int width[MAX_COLS];
} Table;

static void set(Table *t, int row, int col, const char *text)
{
    char *cell = row < 0 ? t->head[col] : t->cells[row][col];
    snprintf(cell, CELL, "%.*s", CELL - 1, text);
    int w = (int)strlen(cell);
    if (w > t->width[col]) t->width[col] = w;
}

static void print_row(const Table *t, int row, FILE *f)
{
    for (int c = 0; c < t->cols; c++) {
        const char *cell = row < 0 ? t->head[c] : t->cells[row][c];
        if (c == t->cols - 1) fprintf(f, "%s\n", cell);
        else fprintf(f, "%-*s  ", t->width[c], cell);
    }
}

void sweep_print_table(const SweepFile *sf, const SweepTrials *tr, const TrialScan *scans, FILE *f)
{
    Table t = {0};
    t.rows = tr->count;
    t.cells = xcalloc((size_t)(t.rows ? t.rows : 1), sizeof *t.cells);
    char num[64];
    int col = 0;
    set(&t, -1, col++, "#");
    set(&t, -1, col++, "trial");
    set(&t, -1, col++, "model");
    set(&t, -1, col++, "seed");
    set(&t, -1, col++, "epochs");
    int first_axis = col;
    for (int a = 0; a < sf->n_axes && col < MAX_COLS - 2; a++)
        if (strcmp(sf->axes[a].key, "model")) set(&t, -1, col++, sf->axes[a].key);
    int state_col = scans ? col++ : -1;
    int file_col = col++;
    t.cols = col;
    if (state_col >= 0) set(&t, -1, state_col, "state");
    set(&t, -1, file_col, "run file");
    for (int r = 0; r < tr->count; r++) {
        const SweepTrial *x = &tr->items[r];
        snprintf(num, sizeof num, "%d", r + 1);
        set(&t, r, 0, num);
        set(&t, r, 1, x->id);
        set(&t, r, 2, x->model);
        snprintf(num, sizeof num, "%llu", (unsigned long long)x->seed);
        set(&t, r, 3, num);
        snprintf(num, sizeof num, "%d", x->epochs);
        set(&t, r, 4, num);
        int c = first_axis;
        for (int a = 0; a < sf->n_axes && c < MAX_COLS - 2; a++)
            if (strcmp(sf->axes[a].key, "model")) set(&t, r, c++, x->axis_values[a]);
        if (state_col >= 0) {
            const TrialScan *s = &scans[r];
            char state[64];
            if (s->state == TRIAL_UNFINISHED) snprintf(state, sizeof state, "unfinished (%d/%d epochs)", s->epochs, x->epochs);
            else snprintf(state, sizeof state, "%s", trial_state_name(s->state));
            set(&t, r, state_col, state);
        }
        const char *slash = strrchr(x->run_file, '/');
        set(&t, r, file_col, slash ? slash + 1 : x->run_file);
    }
    print_row(&t, -1, f);
    for (int r = 0; r < t.rows; r++) print_row(&t, r, f);
    free(t.cells);
}

/* ---- the Pareto front (objectives = ...) ---------------------------------------- */

/* A complete trial's metrics in pareto_run_metrics order (accuracy in %)
 * and its test accuracy at the best epoch; 0, or -1 when its final run
 * file is missing, unreadable or not complete. */
static int read_metrics(const SweepTrial *x, double *metric, double *test_acc)
{
    TrialResult r;
    if (trial_read_result(x->run_file, &r) || strcmp(r.status, "complete")) return -1;
    metric[0] = 100 * r.best_val_accuracy;
    metric[1] = r.best_val_loss;
    metric[2] = r.params;
    metric[3] = r.seconds_per_epoch;
    *test_acc = 100 * r.best_epoch_test_accuracy;
    return 0;
}

static int metric_index(const char *name)
{
    for (int m = 0; m < PARETO_RUN_METRICS; m++)
        if (!strcmp(pareto_run_metrics[m], name)) return m;
    return -1;   /* not reached: sweep_file_parse accepts these names only */
}

static void format_metric(const char *name, double v, char *buf, int size)
{
    if (isnan(v)) snprintf(buf, size, "-");
    else if (!strcmp(name, "val_acc")) snprintf(buf, size, "%.2f%%", v);
    else if (!strcmp(name, "params")) snprintf(buf, size, "%.0f", v);
    else snprintf(buf, size, "%.4g", v);
}

int sweep_print_front(const SweepFile *sf, const SweepTrials *tr, FILE *f)
{
    int k = sf->n_objectives, n = 0;
    double *points = xmalloc(((size_t)tr->count * k + 1) * sizeof *points);
    double *test_acc = xmalloc(((size_t)tr->count + 1) * sizeof *test_acc);
    int *trial = xmalloc(((size_t)tr->count + 1) * sizeof *trial), *order = xmalloc(((size_t)tr->count + 1) * sizeof *order);
    for (int i = 0; i < tr->count; i++) {
        double metric[PARETO_RUN_METRICS];
        if (read_metrics(&tr->items[i], metric, &test_acc[n])) continue;
        for (int j = 0; j < k; j++) points[(long)n * k + j] = metric[metric_index(sf->objectives[j].metric)];
        trial[n++] = i;
    }
    int front = pareto_front_sorted(points, n, sf->objectives, k, order);
    fprintf(f, "Pareto front (");
    for (int j = 0; j < k; j++)
        fprintf(f, "%s%s:%s", j ? ", " : "", sf->objectives[j].metric, sf->objectives[j].maximize ? "max" : "min");
    fprintf(f, "): %d of %d complete trials; validation metrics at each trial's best epoch, test accuracy shown "
               "only\n", front, n);
    Table t = {0};
    t.rows = front;
    t.cells = xcalloc((size_t)(front ? front : 1), sizeof *t.cells);
    int col = 0;
    set(&t, -1, col++, "trial");
    set(&t, -1, col++, "model");
    set(&t, -1, col++, "seed");
    int first_axis = col;
    for (int a = 0; a < sf->n_axes && col < MAX_COLS - k - 1; a++)
        if (strcmp(sf->axes[a].key, "model")) set(&t, -1, col++, sf->axes[a].key);
    int first_metric = col;
    for (int j = 0; j < k; j++) set(&t, -1, col++, sf->objectives[j].metric);
    set(&t, -1, col++, "test acc @ best");
    t.cols = col;
    char text[64];
    for (int r = 0; r < front; r++) {
        const SweepTrial *x = &tr->items[trial[order[r]]];
        set(&t, r, 0, x->id);
        set(&t, r, 1, x->model);
        snprintf(text, sizeof text, "%llu", (unsigned long long)x->seed);
        set(&t, r, 2, text);
        int c = first_axis;
        for (int a = 0; a < sf->n_axes && c < first_metric; a++)
            if (strcmp(sf->axes[a].key, "model")) set(&t, r, c++, x->axis_values[a]);
        for (int j = 0; j < k; j++) {
            format_metric(sf->objectives[j].metric, points[(long)order[r] * k + j], text, sizeof text);
            set(&t, r, first_metric + j, text);
        }
        format_metric("val_acc", test_acc[order[r]], text, sizeof text);
        set(&t, r, first_metric + k, text);
    }
    if (front) print_row(&t, -1, f);
    for (int r = 0; r < front; r++) print_row(&t, r, f);
    free(t.cells);
    free(points);
    free(test_acc);
    free(trial);
    free(order);
    return front;
}
