#include "trial_queue.h"
#include <stdio.h>
#include <string.h>

static int shared(const TrialQueue *q) { return q->world->use_mpi && q->world->size > 1; }

static void check(const TrialQueue *q, int rc, const char *what)
{
    if (rc != MPI_SUCCESS) comm_abort(q->world, 1, "sweep: %s failed (MPI error %d)", what, rc);
}

void trial_queue_open(TrialQueue *q, const ProcessGroup *world)
{
    memset(q, 0, sizeof *q);
    q->world = world;
    q->win = MPI_WIN_NULL;
    if (!shared(q)) return;
    MPI_Aint bytes = world->rank == 0 ? (MPI_Aint)(QUEUE_COUNTERS * sizeof(long long)) : 0;
    check(q, MPI_Win_allocate(bytes, sizeof(long long), MPI_INFO_NULL, world->comm, &q->counters, &q->win),
          "MPI_Win_allocate");
    check(q, MPI_Win_set_errhandler(q->win, MPI_ERRORS_RETURN), "MPI_Win_set_errhandler");
    if (world->rank == 0) {
        /* Local stores into the window before anyone reads it remotely. */
        check(q, MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, q->win), "MPI_Win_lock");
        for (int i = 0; i < QUEUE_COUNTERS; i++) q->counters[i] = 0;
        check(q, MPI_Win_unlock(0, q->win), "MPI_Win_unlock");
        /* Ranks on other nodes reach this window over the network, and
         * rank 0 trains between its own MPI calls: let a thread serve them
         * (comm_progress_start says why). One node needs none (osc/sm). */
        char why[256];
        if (world->local_size < world->size && comm_progress_start(world, why, sizeof why))
            fprintf(stderr, "sweeprun: rank 0: %s; ranks on other nodes get trials only when rank 0 is "
                            "between epochs or trials\n", why);
    }
    comm_barrier(world);
}

/* Atomically add `add` to counter `which` on rank 0; returns the old value. */
static long long fetch_add(TrialQueue *q, int which, long long add)
{
    if (!shared(q)) {
        long long old = q->local[which];
        q->local[which] += add;
        return old;
    }
    long long old = 0;
    check(q, MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, q->win), "MPI_Win_lock");
    check(q, MPI_Fetch_and_op(&add, &old, MPI_LONG_LONG, 0, which, add ? MPI_SUM : MPI_NO_OP, q->win),
          "MPI_Fetch_and_op");
    check(q, MPI_Win_unlock(0, q->win), "MPI_Win_unlock");
    return old;
}

long long trial_queue_next(TrialQueue *q) { return fetch_add(q, 0, 1); }
long long trial_queue_add_failure(TrialQueue *q) { return fetch_add(q, 1, 1) + 1; }
long long trial_queue_failures(TrialQueue *q) { return fetch_add(q, 1, 0); }
void trial_queue_stop(TrialQueue *q) { fetch_add(q, 2, 1); }
int trial_queue_stopped(TrialQueue *q) { return fetch_add(q, 2, 0) > 0; }

void trial_queue_close(TrialQueue *q)
{
    if (q->win != MPI_WIN_NULL) {
        comm_barrier(q->world);
        comm_progress_stop();
        MPI_Win_free(&q->win);
    }
    q->win = MPI_WIN_NULL;
}
