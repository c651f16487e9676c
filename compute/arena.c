#include "arena.h"
#include "util.h"
#include <stdlib.h>
#include <string.h>
#ifdef SWEEPRUN_HAVE_CUDA
#include "cuda/cuda_ops.h"
#endif

struct ArenaBlock {
    ArenaBlock *next;
    char *mem;
};

#define ARENA_ALIGN 64

static size_t round_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

/* Raw blocks in the arena's memory space. cudaMalloc aligns to 256 bytes. */
static char *block_alloc(const Arena *a, size_t bytes)
{
#ifdef SWEEPRUN_HAVE_CUDA
    if (a->cuda) return cuda_malloc(bytes);
#endif
    return xaligned_alloc(ARENA_ALIGN, bytes);
}

static void block_free(const Arena *a, void *p)
{
#ifdef SWEEPRUN_HAVE_CUDA
    if (a->cuda) {
        cuda_free(p);
        return;
    }
#endif
    free(p);
}

static void init(Arena *a, size_t initial_bytes, struct CudaBackend *cuda)
{
    memset(a, 0, sizeof *a);
    a->cuda = cuda;
    a->capacity = round_up(initial_bytes ? initial_bytes : ARENA_ALIGN);
    a->base = block_alloc(a, a->capacity);
}

void arena_init(Arena *a, size_t initial_bytes) { init(a, initial_bytes, NULL); }

void arena_init_device(Arena *a, size_t initial_bytes, struct CudaBackend *cuda)
{
    CHECK(cuda, "arena_init_device without a CUDA backend");
#ifndef SWEEPRUN_HAVE_CUDA
    fatal("device arena in a build without the CUDA backend");
#endif
    init(a, initial_bytes, cuda);
}

void *arena_alloc(Arena *a, size_t bytes)
{
    bytes = round_up(bytes ? bytes : 1);
    if (a->used + bytes <= a->capacity) {
        void *p = a->base + a->used;
        a->used += bytes;
        if (a->used + a->spill_bytes > a->peak) a->peak = a->used + a->spill_bytes;
        return p;
    }
    ArenaBlock *b = xmalloc(sizeof *b);
    b->mem = block_alloc(a, bytes);
    b->next = a->spill;
    a->spill = b;
    a->spill_bytes += bytes;
    if (a->used + a->spill_bytes > a->peak) a->peak = a->used + a->spill_bytes;
    return b->mem;
}

/* Host zeroing: big blocks in 256 KB pieces across the OpenMP team. A
 * step of baseline_cnn zeroes about 25 MB of activation gradients; one
 * thread's memset spent 3.4 % of the step's samples there (perf). */
#define ZERO_PIECE ((size_t)256 << 10)

static void zero_host(char *p, size_t bytes)
{
    long pieces = (long)((bytes + ZERO_PIECE - 1) / ZERO_PIECE);
#pragma omp parallel for if (pieces >= 4) schedule(static)
    for (long i = 0; i < pieces; i++) {
        size_t at = (size_t)i * ZERO_PIECE;
        memset(p + at, 0, bytes - at < ZERO_PIECE ? bytes - at : ZERO_PIECE);
    }
}

void *arena_calloc(Arena *a, size_t bytes)
{
    void *p = arena_alloc(a, bytes);
#ifdef SWEEPRUN_HAVE_CUDA
    if (a->cuda) {
        cuda_memset_async(a->cuda, p, bytes);
        return p;
    }
#endif
    zero_host(p, bytes);
    return p;
}

static void free_spill(Arena *a)
{
    for (ArenaBlock *b = a->spill, *next; b; b = next) {
        next = b->next;
        block_free(a, b->mem);
        free(b);
    }
    a->spill = NULL;
    a->spill_bytes = 0;
}

void arena_reset(Arena *a)
{
    if (a->spill) {
        /* Device blocks may still be read by queued kernels; cudaFree waits
         * for the device, so freeing here is safe (and happens only after a
         * step that spilled, never in the steady state). */
        free_spill(a);
        block_free(a, a->base);
        a->capacity = round_up(a->peak);
        a->base = block_alloc(a, a->capacity);
        a->generation++;
    }
    a->used = 0;
}

void arena_free(Arena *a)
{
    free_spill(a);
    block_free(a, a->base);
    memset(a, 0, sizeof *a);
}
