#include "sweep_table.h"
#include <stdlib.h>
#include <string.h>
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
