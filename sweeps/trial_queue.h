/* Handing trials out to ranks as they become free: a shared counter in an
 * MPI window on world rank 0. A group's first rank takes the next ticket
 * with MPI_Fetch_and_op (an atomic fetch-and-add, passive target: rank 0
 * does not have to take part), so a rank that drew short trials simply
 * takes more. Tickets 0, 1, 2 ... index the list of trials still to do;
 * every ticket is handed out once per run of the sweep.
 *
 * The same window counts failed trials (failed or diverged), so every rank
 * can stop taking tickets once max_failures is exceeded, and holds the
 * stop mark: a rank that caught a stop signal sets it, and every group's
 * first rank reads it between steps (trial_queue_stopped), so the whole
 * sweep stops even when a signal reached only some ranks.
 *
 * Without MPI (a single process) the counters are plain integers.
 *
 * Progress note: Open MPI on one node keeps the window in shared memory
 * (osc/sm), so a fetch never waits for rank 0. Across nodes, a transport
 * without remote atomics (TCP) serves a fetch only while rank 0 is inside
 * MPI, and rank 0 trains trials of its own: it took every trial of a
 * two-node sweep. So when the job spans nodes, rank 0 runs a progress
 * thread (comm_progress_start) from open to close. */
#ifndef SWEEPRUN_TRIAL_QUEUE_H
#define SWEEPRUN_TRIAL_QUEUE_H
#include "comm.h"

enum { QUEUE_COUNTERS = 3 };

typedef struct TrialQueue {
    const ProcessGroup *world;
    MPI_Win win;
    long long *counters;          /* [0] next ticket, [1] failures, [2] stop marks (rank 0's memory) */
    long long local[QUEUE_COUNTERS];   /* the counters without MPI */
} TrialQueue;

/* Collective over world. */
void trial_queue_open(TrialQueue *q, const ProcessGroup *world);
/* The next ticket (0, 1, 2, ...), atomically across all ranks. */
long long trial_queue_next(TrialQueue *q);
/* Count one failed trial; returns the count including this one. */
long long trial_queue_add_failure(TrialQueue *q);
/* Failed trials so far. */
long long trial_queue_failures(TrialQueue *q);
/* Set the stop mark (atomically; any rank, any time). */
void trial_queue_stop(TrialQueue *q);
/* Whether some rank has set the stop mark. One MPI_Fetch_and_op on rank
 * 0's window: on one node (osc/sm) a few microseconds. */
int trial_queue_stopped(TrialQueue *q);
/* Collective over world. */
void trial_queue_close(TrialQueue *q);

#endif
