/* NCCL for GPU ranks: one GPU per rank, a communicator per group, the
 * gradient all-reduce. Built only with the CUDA backend
 * (SWEEPRUN_HAVE_NCCL); otherwise the functions refuse with a message. */
#include "comm.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef SWEEPRUN_HAVE_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#include <unistd.h>

struct CommNccl {
    ncclComm_t comm;
    int device;
    cudaStream_t stream;     /* for host-staged reductions */
    float *staging;          /* device buffer for comm_nccl_allreduce_sum_host */
    long staging_n;
};

#define CUDA_OK(g, call)                                                                         \
    do {                                                                                         \
        cudaError_t e_ = (call);                                                                 \
        if (e_ != cudaSuccess) comm_abort(g, 1, "CUDA %s failed: %s", #call, cudaGetErrorString(e_)); \
    } while (0)

#define NCCL_OK(g, call)                                                                         \
    do {                                                                                         \
        ncclResult_t r_ = (call);                                                                \
        if (r_ != ncclSuccess)                                                                   \
            comm_abort(g, 1, "NCCL %s failed: %s (%s)", #call, ncclGetErrorString(r_),          \
                       ncclGetLastError(NULL));                                                  \
    } while (0)

int comm_have_nccl(void) { return 1; }

/* What each rank tells the others before the communicator is made. */
typedef struct {
    int32_t world_rank, ok, device;
    char host[128];
    unsigned char uuid[16];
    char why[256];
} GpuSlot;

int comm_nccl_init(ProcessGroup *g, int *device, char *err, int n)
{
    GpuSlot mine;
    memset(&mine, 0, sizeof mine);
    mine.world_rank = g->world_rank;
    mine.device = -1;
    if (gethostname(mine.host, sizeof mine.host - 1)) snprintf(mine.host, sizeof mine.host, "unknown");
    int count = 0;
    cudaError_t rc = cudaGetDeviceCount(&count);
    if (rc != cudaSuccess || count == 0) {
        snprintf(mine.why, sizeof mine.why, "no usable CUDA device for NCCL (%s)",
                 rc != cudaSuccess ? cudaGetErrorString(rc) : "none found");
    } else {
        mine.device = g->local_rank % count;
        struct cudaDeviceProp prop;
        rc = cudaSetDevice(mine.device);
        if (rc == cudaSuccess) rc = cudaGetDeviceProperties(&prop, mine.device);
        if (rc != cudaSuccess)
            snprintf(mine.why, sizeof mine.why, "CUDA device %d: %s", mine.device, cudaGetErrorString(rc));
        else {
            memcpy(mine.uuid, prop.uuid.bytes, sizeof mine.uuid);
            mine.ok = 1;
        }
    }

    /* Everyone sees everyone's slot, so every rank reaches the same verdict. */
    GpuSlot *all = calloc((size_t)g->size, sizeof *all);
    if (!all) comm_abort(g, 1, "out of memory");
    if (g->use_mpi && g->size > 1) {
        int mrc = MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, g->comm);
        if (mrc != MPI_SUCCESS) comm_abort(g, 1, "MPI_Allgather(GPU slots) failed (error %d)", mrc);
    } else {
        all[0] = mine;
    }
    int verdict = 0;
    for (int r = 0; r < g->size && !verdict; r++)
        if (!all[r].ok) {
            snprintf(err, n, "rank %d on %s: %s", all[r].world_rank, all[r].host, all[r].why);
            verdict = -1;
        }
    for (int a = 0; a < g->size && !verdict; a++)
        for (int b = a + 1; b < g->size && !verdict; b++)
            if (!strcmp(all[a].host, all[b].host) && !memcmp(all[a].uuid, all[b].uuid, sizeof all[a].uuid)) {
                snprintf(err, n,
                         "ranks %d and %d would share GPU %d on %s: NCCL needs one GPU per rank "
                         "(start at most one rank per GPU on each node, e.g. mpirun --map-by "
                         "ppr:<GPUs per node>:node)",
                         all[a].world_rank, all[b].world_rank, all[a].device, all[a].host);
                verdict = -1;
            }
    free(all);
    if (verdict) return -1;

    ncclUniqueId id;
    if (g->rank == 0) NCCL_OK(g, ncclGetUniqueId(&id));
    comm_broadcast_bytes(g, &id, (long)sizeof id, 0);
    CommNccl *c = calloc(1, sizeof *c);
    if (!c) comm_abort(g, 1, "out of memory");
    c->device = mine.device;
    NCCL_OK(g, ncclCommInitRank(&c->comm, g->size, id, g->rank));
    CUDA_OK(g, cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    g->nccl = c;
    *device = mine.device;
    return 0;
}

void comm_nccl_allreduce_sum_device(const ProcessGroup *g, float *buf, long n, void *stream)
{
    if (!g->nccl) comm_abort(g, 1, "internal: NCCL all-reduce before comm_nccl_init");
    NCCL_OK(g, ncclAllReduce(buf, buf, (size_t)n, ncclFloat, ncclSum, g->nccl->comm, (cudaStream_t)stream));
}

void comm_nccl_allreduce_sum_host(const ProcessGroup *g, float *host, long n)
{
    CommNccl *c = g->nccl;
    if (!c) comm_abort(g, 1, "internal: NCCL all-reduce before comm_nccl_init");
    if (c->staging_n < n) {
        if (c->staging) CUDA_OK(g, cudaFree(c->staging));
        c->staging = NULL;
        CUDA_OK(g, cudaMalloc((void **)&c->staging, (size_t)n * sizeof(float)));
        c->staging_n = n;
    }
    size_t bytes = (size_t)n * sizeof(float);
    CUDA_OK(g, cudaMemcpyAsync(c->staging, host, bytes, cudaMemcpyHostToDevice, c->stream));
    comm_nccl_allreduce_sum_device(g, c->staging, n, c->stream);
    CUDA_OK(g, cudaMemcpyAsync(host, c->staging, bytes, cudaMemcpyDeviceToHost, c->stream));
    CUDA_OK(g, cudaStreamSynchronize(c->stream));
    ncclResult_t async = ncclSuccess;
    NCCL_OK(g, ncclCommGetAsyncError(c->comm, &async));
    if (async != ncclSuccess) comm_abort(g, 1, "NCCL all-reduce failed: %s", ncclGetErrorString(async));
}

void comm_nccl_free(ProcessGroup *g)
{
    CommNccl *c = g->nccl;
    if (!c) return;
    g->nccl = NULL;
    if (c->staging) cudaFree(c->staging);
    if (c->stream) cudaStreamDestroy(c->stream);
    ncclCommDestroy(c->comm);
    free(c);
}

#else /* built without CUDA: no NCCL */

int comm_have_nccl(void) { return 0; }

int comm_nccl_init(ProcessGroup *g, int *device, char *err, int n)
{
    (void)g;
    *device = -1;
    snprintf(err, n, "this sweeprun was built without the CUDA backend, so without NCCL "
                     "(use allreduce=mpi)");
    return -1;
}

void comm_nccl_allreduce_sum_device(const ProcessGroup *g, float *buf, long n, void *stream)
{
    (void)buf, (void)n, (void)stream;
    comm_abort(g, 1, "internal: NCCL all-reduce in a build without NCCL");
}

void comm_nccl_allreduce_sum_host(const ProcessGroup *g, float *buf, long n)
{
    (void)buf, (void)n;
    comm_abort(g, 1, "internal: NCCL all-reduce in a build without NCCL");
}

void comm_nccl_free(ProcessGroup *g) { (void)g; }

#endif
