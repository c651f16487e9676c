#include "comm.h"
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What comm_abort needs when it has no group at hand. */
static int g_mpi_on = 0;
static int g_world_rank = 0;
/* What comm_placement reports (set by comm_init). */
static int g_local_rank = 0, g_local_size = 1;
/* The thread level MPI granted; comm_progress_start needs MULTIPLE. */
static int g_thread_level = 0;

int comm_launched(void)
{
    static const char *const vars[] = {
        "OMPI_COMM_WORLD_SIZE",   /* Open MPI's mpirun */
        "PMIX_RANK",              /* PMIx launchers (Open MPI 5, srun --mpi=pmix) */
        "PMI_SIZE", "PMI_RANK",   /* MPICH/Hydra, Intel MPI, srun --mpi=pmi2 */
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return 1;
    }
    return 0;
}

void comm_abort(const ProcessGroup *g, int code, const char *fmt, ...)
{
    int mpi = g ? g->use_mpi : g_mpi_on;
    int rank = g ? g->world_rank : g_world_rank;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(stdout);
    if (mpi) fprintf(stderr, "sweeprun: rank %d: %s\n", rank, msg);
    else fprintf(stderr, "sweeprun: %s\n", msg);
    fflush(stderr);
    if (mpi) MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
    exit(code ? code : 1);
}

/* Every MPI call goes through here: a failure ends the job, with the
 * call and MPI's own explanation. */
static void check(const ProcessGroup *g, int rc, const char *what)
{
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "error code %d", rc);
    comm_abort(g, 1, "MPI %s failed: %s", what, text);
}

void comm_init(int *argc, char ***argv, ProcessGroup *world)
{
    memset(world, 0, sizeof *world);
    world->world_size = world->local_size = world->size = world->n_groups = 1;
    world->comm = MPI_COMM_NULL;
    if (!comm_launched()) return;

    int initialized = 0;
    check(NULL, MPI_Initialized(&initialized), "MPI_Initialized");
    if (!initialized) {
        /* Open MPI 4.1 picks its osc/rdma component for every window, and
         * across nodes joined only by TCP (no BTL that does RDMA) it then
         * fails MPI_Win_allocate with MPI_ERR_WIN instead of leaving the
         * window to another component: the sweep's hand-out and pruning
         * board could not start on two nodes (tests/cli_two_node.sh).
         * Without it Open MPI takes osc/sm on one node, osc/ucx over UCX
         * and osc/pt2pt over any network. A user's own choice
         * (OMPI_MCA_osc, or --mca osc on mpirun's line, which also
         * arrives as OMPI_MCA_osc) is kept; other MPIs ignore the name. */
        setenv("OMPI_MCA_osc", "^rdma", 0);
        /* MULTIPLE, not FUNNELED, for one thread: comm_progress_start's,
         * which calls MPI while the main thread trains (OpenMP threads
         * still never call MPI). */
        int provided = 0;
        int rc = MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
        if (rc != MPI_SUCCESS) {
            fprintf(stderr, "sweeprun: MPI_Init_thread failed (error %d): launched by an MPI launcher "
                            "but MPI could not start\n", rc);
            exit(1);
        }
        g_thread_level = provided;
    } else {
        check(NULL, MPI_Query_thread(&g_thread_level), "MPI_Query_thread");
    }
    g_mpi_on = 1;
    world->use_mpi = 1;
    check(world, MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check(world, MPI_Comm_rank(MPI_COMM_WORLD, &world->world_rank), "MPI_Comm_rank");
    g_world_rank = world->world_rank;
    check(world, MPI_Comm_size(MPI_COMM_WORLD, &world->world_size), "MPI_Comm_size");

    MPI_Comm node;
    check(world, MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world->world_rank,
                                     MPI_INFO_NULL, &node), "MPI_Comm_split_type(SHARED)");
    check(world, MPI_Comm_rank(node, &world->local_rank), "MPI_Comm_rank(node)");
    check(world, MPI_Comm_size(node, &world->local_size), "MPI_Comm_size(node)");
    check(world, MPI_Comm_free(&node), "MPI_Comm_free(node)");
    g_local_rank = world->local_rank;
    g_local_size = world->local_size;

    check(world, MPI_Comm_dup(MPI_COMM_WORLD, &world->comm), "MPI_Comm_dup");
    check(world, MPI_Comm_set_errhandler(world->comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    world->rank = world->world_rank;
    world->size = world->world_size;
}

void comm_placement(int *world_rank, int *local_rank, int *local_size)
{
    *world_rank = g_world_rank;
    *local_rank = g_local_rank;
    *local_size = g_local_size;
}

/* The progress thread: it only asks MPI, every millisecond, whether a
 * message came (MPI_Iprobe on MPI_COMM_SELF, where none ever comes), which
 * makes Open MPI progress everything it has in flight, the one-sided
 * requests of other ranks included. */
static pthread_t g_progress;
static int g_progress_on = 0;
static volatile int g_progress_stop = 0;

static void *progress_loop(void *unused)
{
    (void)unused;
    const struct timespec pause = {0, 1000000};
    while (!__atomic_load_n(&g_progress_stop, __ATOMIC_ACQUIRE)) {
        int flag = 0;
        if (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_SELF, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) break;
        nanosleep(&pause, NULL);
    }
    return NULL;
}

int comm_progress_start(const ProcessGroup *g, char *err, int err_size)
{
    if (!g->use_mpi || g_progress_on) return 0;
    if (g_thread_level < MPI_THREAD_MULTIPLE) {
        snprintf(err, err_size, "this MPI grants no MPI_THREAD_MULTIPLE, so nothing progresses rank %d's "
                 "one-sided requests while it trains", g->world_rank);
        return -1;
    }
    g_progress_stop = 0;
    int rc = pthread_create(&g_progress, NULL, progress_loop, NULL);
    if (rc) {
        snprintf(err, err_size, "cannot start the MPI progress thread: %s", strerror(rc));
        return -1;
    }
    g_progress_on = 1;
    return 0;
}

void comm_progress_stop(void)
{
    if (!g_progress_on) return;
    __atomic_store_n(&g_progress_stop, 1, __ATOMIC_RELEASE);
    pthread_join(g_progress, NULL);
    g_progress_on = 0;
}

void comm_group_free(ProcessGroup *g)
{
    comm_nccl_free(g);
    if (g->use_mpi && g->comm != MPI_COMM_NULL) check(g, MPI_Comm_free(&g->comm), "MPI_Comm_free");
    g->comm = MPI_COMM_NULL;
}

void comm_finalize(ProcessGroup *world)
{
    comm_progress_stop();
    comm_group_free(world);
    if (!world->use_mpi) return;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) check(world, MPI_Finalize(), "MPI_Finalize");
    world->use_mpi = 0;
}

int comm_split(const ProcessGroup *g, int k, ProcessGroup *out, char *err, int n)
{
    if (k < 1 || g->size % k) {
        snprintf(err, n, "ranks_per_trial: %d does not divide the %d ranks of this job", k, g->size);
        return -1;
    }
    *out = *g;
    out->nccl = NULL;
    out->group_index = g->rank / k;
    out->n_groups = g->size / k;
    if (!g->use_mpi) {
        out->comm = MPI_COMM_NULL;
        return 0;
    }
    check(g, MPI_Comm_split(g->comm, out->group_index, g->rank, &out->comm), "MPI_Comm_split");
    check(g, MPI_Comm_set_errhandler(out->comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check(g, MPI_Comm_rank(out->comm, &out->rank), "MPI_Comm_rank");
    check(g, MPI_Comm_size(out->comm, &out->size), "MPI_Comm_size");
    return 0;
}

static int active(const ProcessGroup *g) { return g && g->use_mpi && g->size > 1; }

/* MPI counts are int: large buffers go in chunks. */
#define CHUNK (1L << 28)

static void allreduce(const ProcessGroup *g, void *buf, long n, MPI_Datatype type, size_t elem,
                      MPI_Op op, const char *what)
{
    if (!active(g)) return;
    for (long at = 0; at < n; at += CHUNK) {
        long m = n - at < CHUNK ? n - at : CHUNK;
        check(g, MPI_Allreduce(MPI_IN_PLACE, (char *)buf + at * elem, (int)m, type, op, g->comm), what);
    }
}

void comm_allreduce_sum_float(const ProcessGroup *g, float *buf, long n)
{
    allreduce(g, buf, n, MPI_FLOAT, sizeof *buf, MPI_SUM, "MPI_Allreduce(float)");
}

void comm_allreduce_sum_double(const ProcessGroup *g, double *buf, long n)
{
    allreduce(g, buf, n, MPI_DOUBLE, sizeof *buf, MPI_SUM, "MPI_Allreduce(double)");
}

void comm_allreduce_sum_int(const ProcessGroup *g, int *buf, long n)
{
    allreduce(g, buf, n, MPI_INT, sizeof *buf, MPI_SUM, "MPI_Allreduce(int)");
}

int comm_allreduce_max_int(const ProcessGroup *g, int value)
{
    allreduce(g, &value, 1, MPI_INT, sizeof value, MPI_MAX, "MPI_Allreduce(max)");
    return value;
}

void comm_broadcast_bytes(const ProcessGroup *g, void *buf, long n, int root)
{
    if (!active(g)) return;
    for (long at = 0; at < n; at += CHUNK) {
        long m = n - at < CHUNK ? n - at : CHUNK;
        check(g, MPI_Bcast((char *)buf + at, (int)m, MPI_BYTE, root, g->comm), "MPI_Bcast");
    }
}

void comm_broadcast_float(const ProcessGroup *g, float *buf, long n, int root)
{
    comm_broadcast_bytes(g, buf, n * (long)sizeof *buf, root);
}

void comm_allgather_bytes(const ProcessGroup *g, const void *mine, long n, void *out)
{
    if (!active(g)) {
        memcpy(out, mine, (size_t)n);
        return;
    }
    if (n > CHUNK) comm_abort(g, 1, "comm_allgather_bytes: %ld bytes per rank (at most %ld)", n, CHUNK);
    check(g, MPI_Allgather(mine, (int)n, MPI_BYTE, out, (int)n, MPI_BYTE, g->comm), "MPI_Allgather");
}

void comm_barrier(const ProcessGroup *g)
{
    if (active(g)) check(g, MPI_Barrier(g->comm), "MPI_Barrier");
}

enum { AGREE_TEXT = 1024 };
typedef struct { int32_t world_rank, failed; char text[AGREE_TEXT]; } AgreeSlot;

int comm_agree(const ProcessGroup *g, const char *error)
{
    int failed = error && *error;
    if (!active(g)) {
        if (failed) fprintf(stderr, "sweeprun: %s\n", error);
        return failed;
    }
    AgreeSlot mine = {.world_rank = g->world_rank, .failed = failed};
    if (failed) snprintf(mine.text, sizeof mine.text, "%s", error);
    AgreeSlot *all = NULL;
    if (g->rank == 0) {
        all = calloc((size_t)g->size, sizeof *all);
        if (!all) comm_abort(g, 1, "out of memory gathering %d error slots", g->size);
    }
    check(g, MPI_Gather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, 0, g->comm),
          "MPI_Gather(errors)");
    int count = failed;
    allreduce(g, &count, 1, MPI_INT, sizeof count, MPI_SUM, "MPI_Allreduce(errors)");
    if (g->rank == 0 && count) {
        int same = count == g->size;
        for (int r = 1; same && r < g->size; r++) same = !strcmp(all[r].text, all[0].text);
        fflush(stdout);
        if (same) fprintf(stderr, "sweeprun: %s\n", all[0].text);
        else
            for (int r = 0; r < g->size; r++)
                if (all[r].failed) fprintf(stderr, "sweeprun: rank %d: %s\n", all[r].world_rank, all[r].text);
        fflush(stderr);
    }
    free(all);
    return count;
}
