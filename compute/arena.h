/* Bump allocator for per-step activations. The first step may spill into
 * extra blocks; arena_reset() then replaces everything by one block of the
 * peak size, so later steps never allocate (a prerequisite for capturing
 * a step in a CUDA graph).
 *
 * An arena lives in host memory (arena_init) or, for the CUDA backend, in
 * device memory (arena_init_device: cudaMalloc'd blocks, arena_calloc
 * zeroes with cudaMemsetAsync on the backend's stream). `generation` counts
 * how often the base block was replaced: a CUDA graph captured against one
 * generation holds its addresses and must be recaptured after a change. */
#ifndef SWEEPRUN_ARENA_H
#define SWEEPRUN_ARENA_H
#include <stddef.h>

typedef struct ArenaBlock ArenaBlock;
struct CudaBackend;

typedef struct Arena {
    char *base;
    size_t capacity;
    size_t used;
    size_t peak;          /* highest total use since creation */
    ArenaBlock *spill;    /* extra blocks used when base was too small */
    size_t spill_bytes;
    unsigned generation;  /* bumped whenever base is reallocated */
    struct CudaBackend *cuda;   /* non-NULL: device memory of this backend */
} Arena;

void arena_init(Arena *a, size_t initial_bytes);
/* The same in device memory (CUDA builds only; aborts otherwise). */
void arena_init_device(Arena *a, size_t initial_bytes, struct CudaBackend *cuda);
void *arena_alloc(Arena *a, size_t bytes);        /* 64-byte aligned, uninitialised */
void *arena_calloc(Arena *a, size_t bytes);       /* zeroed */
void arena_reset(Arena *a);
void arena_free(Arena *a);

#endif
