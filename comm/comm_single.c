/* The process group in a build without MPI (SWEEPRUN_WITH_MPI=OFF, e.g. a
 * GPU machine that has no MPI): every group is this one process, so the
 * collectives have nothing to do. A job started by an MPI launcher is
 * refused, since each rank would silently train alone. */
#include "comm.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int comm_launched(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return 1;
    }
    return 0;
}

void comm_abort(const ProcessGroup *g, int code, const char *fmt, ...)
{
    (void)g;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "sweeprun: %s\n", msg);
    exit(code ? code : 1);
}

void comm_init(int *argc, char ***argv, ProcessGroup *world)
{
    (void)argc, (void)argv;
    memset(world, 0, sizeof *world);
    world->world_size = world->local_size = world->size = world->n_groups = 1;
    world->comm = MPI_COMM_NULL;
    if (comm_launched())
        comm_abort(NULL, 2, "started by an MPI launcher, but this sweeprun was built without MPI "
                            "(SWEEPRUN_WITH_MPI=OFF); rebuild with MPI for multi-rank jobs");
}

void comm_placement(int *world_rank, int *local_rank, int *local_size)
{
    *world_rank = *local_rank = 0;
    *local_size = 1;
}

int comm_progress_start(const ProcessGroup *g, char *err, int err_size)
{
    (void)g, (void)err, (void)err_size;
    return 0;
}
void comm_progress_stop(void) {}

void comm_group_free(ProcessGroup *g) { comm_nccl_free(g); }
void comm_finalize(ProcessGroup *world) { comm_group_free(world); }

int comm_split(const ProcessGroup *g, int k, ProcessGroup *out, char *err, int n)
{
    if (k != 1) {
        snprintf(err, n, "ranks_per_trial: %d does not divide the 1 rank of this job (built without MPI)", k);
        return -1;
    }
    *out = *g;
    out->nccl = NULL;
    return 0;
}

void comm_allreduce_sum_float(const ProcessGroup *g, float *buf, long n) { (void)g, (void)buf, (void)n; }
void comm_allreduce_sum_double(const ProcessGroup *g, double *buf, long n) { (void)g, (void)buf, (void)n; }
void comm_allreduce_sum_int(const ProcessGroup *g, int *buf, long n) { (void)g, (void)buf, (void)n; }
int comm_allreduce_max_int(const ProcessGroup *g, int value) { (void)g; return value; }
void comm_broadcast_float(const ProcessGroup *g, float *buf, long n, int root) { (void)g, (void)buf, (void)n, (void)root; }
void comm_broadcast_bytes(const ProcessGroup *g, void *buf, long n, int root) { (void)g, (void)buf, (void)n, (void)root; }
void comm_barrier(const ProcessGroup *g) { (void)g; }
void comm_allgather_bytes(const ProcessGroup *g, const void *mine, long n, void *out)
{
    (void)g;
    memcpy(out, mine, (size_t)n);
}

int comm_agree(const ProcessGroup *g, const char *error)
{
    (void)g;
    int failed = error && *error;
    if (failed) fprintf(stderr, "sweeprun: %s\n", error);
    return failed;
}
