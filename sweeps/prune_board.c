#include "prune_board.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

static int shared(const PruneBoard *b) { return b->world->use_mpi && b->world->size > 1; }

static void check(const PruneBoard *b, int rc, const char *what)
{
    if (rc != MPI_SUCCESS) comm_abort(b->world, 1, "sweep: pruning board: %s failed (MPI error %d)", what, rc);
}

void prune_board_open(PruneBoard *b, const ProcessGroup *world, int n_trials, int n_epochs,
                      const double *initial)
{
    memset(b, 0, sizeof *b);
    b->world = world;
    b->n_trials = n_trials;
    b->n_epochs = n_epochs;
    b->win = MPI_WIN_NULL;
    long cells = (long)n_trials * n_epochs;
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
    if (trial < 0 || trial >= b->n_trials || epoch < 0 || epoch >= b->n_epochs) return;
    MPI_Aint at = (MPI_Aint)epoch * b->n_trials + trial;
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
    if (epoch < 0 || epoch >= b->n_epochs || !b->n_trials) return;
    MPI_Aint at = (MPI_Aint)epoch * b->n_trials;
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

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
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
        qsort(v, (size_t)m, sizeof *v, compare_double);
        *median = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
        prune = mine < *median;
    }
    free(v);
    return prune;
}
