/* The process group: who am I among the ranks of this job, and the
 * collectives the training loop needs on ONE flat buffer (gradients,
 * parameters, batch-norm statistics).
 *
 * Launched plainly (`sweeprun train ...`) this is a group of one and no MPI
 * call is made. Launched by mpirun/srun (detected from the launcher's
 * environment: OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_SIZE) MPI is
 * initialised and the world is every rank of the job. comm_split() cuts the
 * world into groups of k ranks (a sweep trains several data-parallel trials
 * at once, one per group).
 *
 * Errors: every MPI call's return code is checked (the communicators use
 * MPI_ERRORS_RETURN). A failing collective is a broken job, not bad input:
 * comm_abort() prints "sweeprun: rank R: why" and MPI_Abort()s the whole
 * job, so no rank is left waiting. Bad input that ranks find before
 * training (a missing dataset on one node) goes through comm_agree(), which
 * makes every rank stop with the failing rank's message.
 *
 * On GPUs the gradient all-reduce goes over NCCL (comm_nccl_*: one GPU per
 * rank, communicator from a unique id made on the group's first rank and
 * broadcast with MPI). Those functions exist in every build; without the
 * CUDA backend they refuse with a message. */
#ifndef SWEEPRUN_COMM_H
#define SWEEPRUN_COMM_H
#ifdef SWEEPRUN_HAVE_MPI
#include <mpi.h>
#else
/* A build without MPI (comm_single.c): every group is this one process. */
typedef int MPI_Comm;
#define MPI_COMM_NULL 0
#endif

typedef struct CommNccl CommNccl;

typedef struct ProcessGroup {
    int world_rank, world_size;   /* in the whole job */
    int local_rank, local_size;   /* among the ranks on this node */
    int rank, size;               /* in this group */
    int group_index, n_groups;    /* which group of the world this is */
    int use_mpi;                  /* 0: a process of its own, no MPI calls */
    MPI_Comm comm;                /* the group's communicator (MPI_COMM_NULL without MPI) */
    CommNccl *nccl;               /* NULL until comm_nccl_init() */
} ProcessGroup;

/* Was this process started by an MPI launcher (mpirun, mpiexec, srun)? */
int comm_launched(void);
/* Set up the world group: MPI_Init (thread level MULTIPLE, for the
 * progress thread below; OpenMP threads never call MPI) when launched, a
 * group of one otherwise. argc/argv may
 * be NULL. Aborts the job if MPI fails. */
void comm_init(int *argc, char ***argv, ProcessGroup *world);
/* Where this process sits in the world comm_init() set up: its world rank
 * and its rank and count among the ranks on its node (0, 0, 1 for a
 * process of its own). For records written where no group is at hand
 * (the run file's placement attributes). */
void comm_placement(int *world_rank, int *local_rank, int *local_size);
/* Asynchronous progress on this rank: a thread that lets MPI serve other
 * ranks' one-sided operations on this rank's windows while this rank
 * computes and makes no MPI call. Open MPI needs it across nodes joined by
 * TCP (osc/pt2pt, or osc/ucx emulating atomics): there a passive-target
 * MPI_Fetch_and_op completes only while the target is inside MPI, so the
 * sweep's rank 0, training its own trial, starved every other rank of
 * trials (tests/cli_two_node.sh). 0 started (or nothing to do without
 * MPI); -1 with err when MPI grants no MPI_THREAD_MULTIPLE or the thread
 * cannot start. comm_progress_stop() ends it (comm_finalize does too). */
int comm_progress_start(const ProcessGroup *g, char *err, int err_size);
void comm_progress_stop(void);
/* Free the world group (and its NCCL communicator) and MPI_Finalize. */
void comm_finalize(ProcessGroup *world);

/* Split g into g->size / ranks_per_group groups of consecutive ranks
 * (ranks 0..k-1 form group 0, ...). 0 ok; -1 with a message when
 * ranks_per_group does not divide the size. Free with comm_group_free(). */
int comm_split(const ProcessGroup *g, int ranks_per_group, ProcessGroup *out, char *err, int err_size);
void comm_group_free(ProcessGroup *g);

/* In-place sum over the group's ranks (every rank gets the sum). */
void comm_allreduce_sum_float(const ProcessGroup *g, float *buf, long n);
void comm_allreduce_sum_double(const ProcessGroup *g, double *buf, long n);
void comm_allreduce_sum_int(const ProcessGroup *g, int *buf, long n);
/* The largest of each rank's value. */
int comm_allreduce_max_int(const ProcessGroup *g, int value);
/* Copy the group rank root's buffer to every rank. */
void comm_broadcast_float(const ProcessGroup *g, float *buf, long n, int root);
void comm_broadcast_bytes(const ProcessGroup *g, void *buf, long n, int root);
void comm_barrier(const ProcessGroup *g);
/* Every rank's n bytes, in rank order: out holds g->size * n bytes. */
void comm_allgather_bytes(const ProcessGroup *g, const void *mine, long n, void *out);

/* Collective check before work starts: each rank passes its error message
 * (NULL or "" when it is fine). Returns the number of ranks that failed,
 * the same on every rank. When some failed, the group's first rank prints
 * them: once as "sweeprun: MESSAGE" when every rank failed with the same
 * message (a bad flag), else "sweeprun: rank R: MESSAGE" for each failing
 * rank. */
int comm_agree(const ProcessGroup *g, const char *error);

/* Print "sweeprun: rank R: MESSAGE" (just "sweeprun: MESSAGE" without MPI)
 * and end the whole job with exit code `code` (MPI_Abort under MPI). */
void comm_abort(const ProcessGroup *g, int code, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

/* ---- NCCL (GPU ranks) ------------------------------------------------------ */

/* Was this build made with NCCL (the CUDA backend)? */
int comm_have_nccl(void);
/* Bind this rank to GPU local_rank % device_count (cudaSetDevice), create
 * the group's NCCL communicator (unique id from the group's first rank,
 * broadcast with MPI), and refuse when two ranks of the group would share
 * one GPU (same host and device UUID): NCCL cannot run two ranks of one
 * communicator on one device. Collective over the group; returns 0, or -1
 * with the same message on every rank. *device gets the CUDA device index. */
int comm_nccl_init(ProcessGroup *g, int *device, char *err, int err_size);
/* Sum a device buffer over the group with ncclAllReduce on `stream` (a
 * cudaStream_t; NULL = the default stream). Enqueued after whatever the
 * stream already holds (the backward pass); not synchronised. */
void comm_nccl_allreduce_sum_device(const ProcessGroup *g, float *device_buf, long n, void *stream);
/* The same for a host buffer, staged through a device buffer the group
 * keeps: copy in, all-reduce, copy out, synchronise. For the CPU training
 * loop, until the compute backend keeps gradients on the GPU. */
void comm_nccl_allreduce_sum_host(const ProcessGroup *g, float *host_buf, long n);
void comm_nccl_free(ProcessGroup *g);

#endif
