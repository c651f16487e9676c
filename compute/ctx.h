/* The execution context of one training or evaluation step: the activation
 * arena, the tape that records how to push gradients back, and the flags
 * that change op behaviour (training vs evaluation).
 *
 * Forward code calls ops (ops.h); each op allocates its output from the
 * arena and, when any input needs a gradient, appends a TapeEntry.
 * ctx_backward() walks the tape in reverse. Gradient buffers of activations
 * are zeroed when allocated and every backward ACCUMULATES (+=) into its
 * inputs' grads, so a tensor used twice gets the sum.
 *
 * Backends: a Ctx computes on the CPU (ctx_init) or on one CUDA device
 * (ctx_init_cuda). On CUDA every tensor's data and grad are device
 * pointers from a device arena; tensor headers and the tape stay in host
 * memory (the tape is walked by the host, which enqueues kernels on the
 * backend's stream). Every tape entry knows its Ctx, so a backward function
 * dispatches to the same backend as its forward (backend.h). */
#ifndef SWEEPRUN_CTX_H
#define SWEEPRUN_CTX_H
#include <stdint.h>
#include "arena.h"
#include "tape_args.h"
#include "tensor.h"

#define TAPE_MAX_INPUTS 9
#define TAPE_MAX_AUX 4

typedef struct TapeEntry TapeEntry;
typedef void (*BackwardFn)(TapeEntry *e);
struct Ctx;
struct CudaBackend;

typedef enum { DEVICE_CPU = 0, DEVICE_CUDA = 1 } DeviceKind;

struct TapeEntry {
    BackwardFn backward;
    struct Ctx *ctx;              /* the recording context: its backend, stream */
    Tensor *out;
    Tensor *in[TAPE_MAX_INPUTS];  /* inputs; NULL entries allowed */
    Tensor *aux[TAPE_MAX_AUX];    /* tensors forward saved for backward */
    TapeArgs args;                /* the op's own parameters (tape_args.h) */
    const char *name;             /* the backward function's name (ctx_record) */
    /* With c->profile: seconds from the previous entry's recording (or
     * ctx_begin) to this one's, i.e. this op's forward plus any unrecorded
     * work before it; and seconds in this entry's backward. CPU only (CUDA
     * ops return before their kernels finish). */
    double fwd_seconds, bwd_seconds;
};

typedef struct Ctx {
    Arena arena;           /* host: tensor headers (and, on the CPU, all data) */
    Arena dev_arena;       /* CUDA: tensor data, grads and op scratch */
    DeviceKind device;
    struct CudaBackend *cuda;    /* CUDA: stream, cuBLAS handle (not owned) */
    /* CUDA: a device word added to rng_offset by random ops (NULL: 0). The
     * trainer writes it from a kernel per micro-batch, so a replayed CUDA
     * graph draws new dropout masks without host involvement. */
    const uint64_t *rng_base;
    TapeEntry *tape;
    int tape_len, tape_cap;
    int training;          /* 1: dropout active, batch norm uses batch stats */
    int grad_enabled;      /* 0: never record (evaluation) */
    uint64_t seed;         /* the trial's seed */
    uint64_t rng_offset;   /* advanced by each random op, so masks differ */
    int threads;
    int profile;           /* 1: time every tape entry (fwd_seconds, bwd_seconds) */
    double profile_mark;   /* when the last entry was recorded */
} Ctx;

void ctx_init(Ctx *c, uint64_t seed, size_t arena_bytes);
/* A context on a CUDA device (CUDA builds only; aborts otherwise):
 * arena_bytes of device arena to start with. */
void ctx_init_cuda(Ctx *c, uint64_t seed, size_t arena_bytes, struct CudaBackend *cuda);
void ctx_free(Ctx *c);
/* Start a step: empties the arena and the tape (keeps rng_offset). */
void ctx_begin(Ctx *c, int training, int grad_enabled);

/* New tensor in the arena. With needs_grad a zeroed grad buffer is added. */
Tensor *ctx_tensor(Ctx *c, int ndim, const int *dims, int needs_grad);
Tensor *ctx_tensor_like(Ctx *c, const Tensor *t, int needs_grad);
/* A tensor filled with value (no grad), on the ctx's device: constants
 * such as a loss weight, written by a kernel on CUDA (so it also works
 * inside a captured graph). */
Tensor *ctx_constant(Ctx *c, int ndim, const int *dims, float value);
/* Wrap memory owned elsewhere (parameters, input batches). */
Tensor *ctx_wrap(Ctx *c, float *data, float *grad, int ndim, const int *dims);
/* Scratch memory from the arena (lives until the next ctx_begin), on the
 * ctx's device. */
float *ctx_scratch(Ctx *c, long count);
/* Raw bytes on the ctx's device (ints, indices), 64-byte aligned. */
void *ctx_data(Ctx *c, size_t bytes);
/* Copies between host memory and memory on the ctx's device (plain memcpy
 * on the CPU). ctx_to_host waits until the bytes are there. */
void ctx_to_device(Ctx *c, void *dst, const void *src, size_t bytes);
void ctx_to_host(Ctx *c, void *dst, const void *src, size_t bytes);

/* Does any of these tensors need a gradient (grad != NULL)? */
int ctx_any_grad(const Ctx *c, int n, Tensor *const *ts);
/* Append a tape entry (zeroed, backward and name set). Only call when
 * recording. The macro names the entry after its backward function, which
 * is what a profile (sweeprun-bench profile) prints. */
TapeEntry *ctx_record_named(Ctx *c, BackwardFn backward, Tensor *out, const char *name);
#define ctx_record(c, backward, out) ctx_record_named((c), (backward), (out), #backward)

/* Seed loss->grad with 1 and run the tape backwards. loss must be 1 element. */
void ctx_backward(Ctx *c, Tensor *loss);
/* Same with loss->grad = scale (gradient accumulation averages K
 * micro-batches by seeding each with 1/K). */
void ctx_backward_scaled(Ctx *c, Tensor *loss, float scale);

#endif
