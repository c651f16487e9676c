/* Bump allocator for per-step activations. The first step may spill into
 * extra blocks; arena_reset() then replaces everything by one block of the
 * peak size, so later steps never call malloc (a prerequisite for capturing
 * a step in a CUDA graph). */
#ifndef SWEEPRUN_ARENA_H
#define SWEEPRUN_ARENA_H
#include <stddef.h>

typedef struct ArenaBlock ArenaBlock;

typedef struct Arena {
    char *base;
    size_t capacity;
    size_t used;
    size_t peak;          /* highest total use since creation */
    ArenaBlock *spill;    /* extra blocks used when base was too small */
    size_t spill_bytes;
} Arena;

void arena_init(Arena *a, size_t initial_bytes);
void *arena_alloc(Arena *a, size_t bytes);        /* 64-byte aligned, uninitialised */
void *arena_calloc(Arena *a, size_t bytes);       /* zeroed */
void arena_reset(Arena *a);
void arena_free(Arena *a);

#endif
