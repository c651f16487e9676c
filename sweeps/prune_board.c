#include "prune_board.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

static int shared(const PruneBoard *b) { return b->world->use_mpi && b->world->size > 1; }

static void check(const PruneBoard *b, int rc, const char *what)
{
    if (rc != MPI_SUCCESS) comm_abort(b->world, 1, "sweep: pruning board: %s failed (MPI error %d)", what, rc);
}

PruneSpan prune_board_span(const PruneRule *rule, int max_epochs)
{
    PruneSpan s = {0, 0};
    if (!rule->enabled) return s;
    s.first = rule->warmup > 1 ? rule->warmup - 1 : 0;
    s.count = max_epochs - 1 - s.first;   /* the last epoch never prunes */
    if (s.count < 0) s.count = 0;
    return s;
}

int prune_board_check(int n_trials, PruneSpan span, char *err, int err_size)
{
    double bytes = (double)n_trials * span.count * sizeof(double);
    if (bytes <= PRUNE_BOARD_MAX_BYTES) return 0;
    snprintf(err, err_size, "prune: the pruning board would keep %d trials x %d epochs of accuracies (%.0f MB) on "
             "rank 0, more than %ld MB; split the sweep, or use fewer epochs or a later warmup", n_trials, span.count,
             bytes / (1 << 20), PRUNE_BOARD_MAX_BYTES >> 20);
    return -1;
}

/* Index of (trial, epoch) in the table; -1 outside it. */
static long cell(const PruneBoard *b, int trial, int epoch)
{
    int row = epoch - b->span.first;
    if (trial < 0 || trial >= b->n_trials || row < 0 || row >= b->span.count) return -1;
    return (long)row * b->n_trials + trial;
}

void prune_board_open(PruneBoard *b, const ProcessGroup *world, int n_trials, PruneSpan span,
                      const double *initial)
{
    memset(b, 0, sizeof *b);
    b->world = world;
    b->n_trials = n_trials;
    b->span = span;
    b->win = MPI_WIN_NULL;
    long cells = (long)n_trials * span.count;
    int owner = !shared(b) || world->rank == 0;
    if (!shared(b)) {
        b->table = xmalloc((size_t)(cells ? cells : 1) * sizeof(double));
    } else {
        MPI_Aint bytes = owner ? (MPI_Aint)((cells ? cells : 1) * (long)sizeof(double)) : 0;
        check(b, MPI_Win_allocate(bytes, sizeof(double), MPI_INFO_NULL, world->comm, &b->table, &b->win),
              "MPI_Win_allocate");
        check(b, MPI_Win_set_errhandler(b->win, MPI_ERRORS_RETURN), "MPI_Win_set_errhandler");
    }
    if (owner) {
        if (b->win != MPI_WIN_NULL) check(b, MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, b->win), "MPI_Win_lock");
        for (long i = 0; i < cells; i++) b->table[i] = initial ? initial[i] : NAN;
        if (b->win != MPI_WIN_NULL) check(b, MPI_Win_unlock(0, b->win), "MPI_Win_unlock");
    }
    if (shared(b)) comm_barrier(world);
}

void prune_board_post(PruneBoard *b, int trial, int epoch, double acc)
{
    long at = cell(b, trial, epoch);
    if (at < 0) return;
    if (!shared(b)) {
        b->table[at] = acc;
        return;
    }
    check(b, MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, b->win), "MPI_Win_lock");
    check(b, MPI_Accumulate(&acc, 1, MPI_DOUBLE, 0, at, 1, MPI_DOUBLE, MPI_REPLACE, b->win), "MPI_Accumulate");
    check(b, MPI_Win_unlock(0, b->win), "MPI_Win_unlock");
}

void prune_board_read(PruneBoard *b, int epoch, double *out)
{
    for (int i = 0; i < b->n_trials; i++) out[i] = NAN;
    long at = cell(b, 0, epoch);
    if (at < 0) return;
    if (!shared(b)) {
        memcpy(out, b->table + at, (size_t)b->n_trials * sizeof(double));
        return;
    }
    check(b, MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, b->win), "MPI_Win_lock");
    check(b, MPI_Get_accumulate(NULL, 0, MPI_DOUBLE, out, b->n_trials, MPI_DOUBLE, 0, at, b->n_trials,
                                MPI_DOUBLE, MPI_NO_OP, b->win), "MPI_Get_accumulate");
    check(b, MPI_Win_unlock(0, b->win), "MPI_Win_unlock");
}

void prune_board_close(PruneBoard *b)
{
    if (b->win != MPI_WIN_NULL) {
        comm_barrier(b->world);
        MPI_Win_free(&b->win);
    } else {
        free(b->table);
    }
    b->table = NULL;
    b->win = MPI_WIN_NULL;
}

int prune_decide(const PruneRule *rule, int epoch, double mine, const double *others, int n, double *median)
{
    *median = NAN;
    if (!rule->enabled || epoch < rule->warmup || !isfinite(mine)) return 0;
    double *v = xmalloc((size_t)(n ? n : 1) * sizeof *v);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(others[i])) v[m++] = others[i];
    int prune = 0;
    if (m >= rule->min_trials && m > 0) {
        qsort(v, (size_t)m, sizeof *v, compare_doubles);
        *median = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
        prune = mine < *median;
    }
    free(v);
    return prune;
}
