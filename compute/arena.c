#include "arena.h"
#include "util.h"
#include <stdlib.h>
#include <string.h>

struct ArenaBlock {
    ArenaBlock *next;
    char *mem;
};

#define ARENA_ALIGN 64

static size_t round_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

void arena_init(Arena *a, size_t initial_bytes)
{
    memset(a, 0, sizeof *a);
    a->capacity = round_up(initial_bytes ? initial_bytes : ARENA_ALIGN);
    a->base = xaligned_alloc(ARENA_ALIGN, a->capacity);
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
    b->mem = xaligned_alloc(ARENA_ALIGN, bytes);
    b->next = a->spill;
    a->spill = b;
    a->spill_bytes += bytes;
    if (a->used + a->spill_bytes > a->peak) a->peak = a->used + a->spill_bytes;
    return b->mem;
}

void *arena_calloc(Arena *a, size_t bytes)
{
    void *p = arena_alloc(a, bytes);
    memset(p, 0, bytes);
    return p;
}

static void free_spill(Arena *a)
{
    for (ArenaBlock *b = a->spill, *next; b; b = next) {
        next = b->next;
        free(b->mem);
        free(b);
    }
    a->spill = NULL;
    a->spill_bytes = 0;
}

void arena_reset(Arena *a)
{
    if (a->spill) {
        free_spill(a);
        free(a->base);
        a->capacity = round_up(a->peak);
        a->base = xaligned_alloc(ARENA_ALIGN, a->capacity);
    }
    a->used = 0;
}

void arena_free(Arena *a)
{
    free_spill(a);
    free(a->base);
    memset(a, 0, sizeof *a);
}
