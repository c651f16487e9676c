/* Which images each step and each rank see, for both backends: the
 * epoch's global batches, the cut of one global batch into micro-batches
 * (grad_accum and data-parallel ranks) and the evaluation batches a rank
 * scores. The bit-exact "2 ranks == --grad-accum 2" guarantee rests on
 * the CPU and the CUDA loop cutting alike, so both take the cut from here.
 * Runner-internal. */
#ifndef SWEEPRUN_BATCH_PLAN_H
#define SWEEPRUN_BATCH_PLAN_H
#include <stdint.h>

/* An epoch of n training images in global batches of b; the last one
 * holds the rest. */
static inline int epoch_batch_count(int n, int b) { return (n + b - 1) / b; }
static inline int epoch_batch_images(int n, int b, int k) { return n - k * b < b ? n - k * b : b; }

/* One optimizer step's global batch of n images, cut into
 * min(ranks x grad_accum, n) micro-batches whose sizes differ by at most
 * one, larger first. Group rank r takes micro-batches
 * [r*grad_accum, (r+1)*grad_accum), clipped to the parts there are. */
typedef struct MicroBatchPlan {
    int slots;          /* ranks x grad_accum: dropout offsets are numbered by slot */
    int parts;          /* micro-batches: min(slots, n); each backward is seeded with 1/parts */
    int base, extra;    /* each has base images, the first extra one more */
    int first, last;    /* this rank's micro-batches [first, last) */
} MicroBatchPlan;

MicroBatchPlan micro_batch_plan(int n, int ranks, int rank, int grad_accum);
/* Micro-batch k: its first image within the global batch, its images. */
static inline int micro_batch_start(const MicroBatchPlan *p, int k)
{
    return k * p->base + (k < p->extra ? k : p->extra);
}
static inline int micro_batch_images(const MicroBatchPlan *p, int k) { return p->base + (k < p->extra); }
/* The dropout offset of micro-batch k of optimizer step `step`:
 * (step x slots + k) << 32, so dropout masks are a function of step and
 * micro-batch and data-parallel and --grad-accum runs draw the same ones.
 * (The GPU computes the same value from its device step counter,
 * cuda_set_rng_base(slots, k).) */
static inline uint64_t micro_batch_rng_offset(const MicroBatchPlan *p, long step, int k)
{
    return ((uint64_t)step * (uint64_t)p->slots + (uint64_t)k) << 32;
}

/* The evaluation batches of rank `rank` of `ranks`: n images in batches of
 * b, in order, batch i going to rank i % ranks (whole batches, so GECCO's
 * batch graph sees the same images as in one process). Use as
 *   for (EvalShard s = eval_shard(n, b, rank, ranks); eval_shard_next(&s);)
 *       ... images [s.start, s.start + s.images) ... */
typedef struct EvalShard {
    int n, batch, stride;   /* images, batch size, ranks x batch size */
    int start, images;      /* the current batch (after eval_shard_next) */
    long next;              /* the next batch's first image */
} EvalShard;

EvalShard eval_shard(int n, int batch, int rank, int ranks);
/* Move to this rank's next batch: 1, or 0 when there is none. */
int eval_shard_next(EvalShard *s);

#endif
