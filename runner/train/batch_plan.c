/* Which images each step and each rank see (batch_plan.h), and the epoch
 * permutation they are drawn from (train.h). */
#include "batch_plan.h"
#include "rng.h"
#include "train.h"
#include "util.h"
#include <stdlib.h>

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Key in the high word, index in the low one: sorting these 64-bit values
 * sorts by (key, index), so equal keys keep index order, as the GPU's
 * stable radix sort of (key, index) pairs does. */
void epoch_permutation(uint64_t seed, int epoch, int n, int *order)
{
    uint64_t *keys = xmalloc((size_t)(n ? n : 1) * sizeof *keys);
    uint64_t hi = (uint64_t)(uint32_t)epoch << 32;
    for (int i = 0; i < n; i++)
        keys[i] = (uint64_t)rng_u32(seed, RNG_STREAM_SHUFFLE, hi | (uint64_t)i) << 32 | (uint64_t)i;
    qsort(keys, (size_t)n, sizeof *keys, compare_u64);
    for (int i = 0; i < n; i++) order[i] = (int)(uint32_t)keys[i];
    free(keys);
}

MicroBatchPlan micro_batch_plan(int n, int ranks, int rank, int grad_accum)
{
    MicroBatchPlan p;
    p.slots = ranks * grad_accum;
    p.parts = p.slots < n ? p.slots : n;
    p.base = n / p.parts;
    p.extra = n % p.parts;
    p.first = rank * grad_accum;
    p.last = p.first + grad_accum < p.parts ? p.first + grad_accum : p.parts;
    return p;
}

EvalShard eval_shard(int n, int batch, int rank, int ranks)
{
    EvalShard s = {.n = n, .batch = batch, .stride = ranks * batch, .next = (long)rank * batch};
    return s;
}

int eval_shard_next(EvalShard *s)
{
    if (s->next >= s->n) return 0;
    s->start = (int)s->next;
    s->images = s->n - s->start < s->batch ? s->n - s->start : s->batch;
    s->next += s->stride;
    return 1;
}
