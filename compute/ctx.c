#include "ctx.h"
#include "backend.h"
#include "util.h"
#include <stdlib.h>
#include <string.h>

void ctx_init(Ctx *c, uint64_t seed, size_t arena_bytes)
{
    memset(c, 0, sizeof *c);
    arena_init(&c->arena, arena_bytes);
    c->seed = seed;
    c->threads = 1;
    c->device = DEVICE_CPU;
}

void ctx_init_cuda(Ctx *c, uint64_t seed, size_t arena_bytes, struct CudaBackend *cuda)
{
#ifdef SWEEPRUN_HAVE_CUDA
    memset(c, 0, sizeof *c);
    /* Host side: headers and tape-side records only, a few hundred KB. */
    arena_init(&c->arena, (size_t)1 << 20);
    arena_init_device(&c->dev_arena, arena_bytes, cuda);
    c->seed = seed;
    c->threads = 1;
    c->device = DEVICE_CUDA;
    c->cuda = cuda;
#else
    (void)c, (void)seed, (void)arena_bytes, (void)cuda;
    fatal("ctx_init_cuda in a build without the CUDA backend");
#endif
}

void ctx_free(Ctx *c)
{
    arena_free(&c->arena);
    if (c->device == DEVICE_CUDA) arena_free(&c->dev_arena);
    free(c->tape);
    memset(c, 0, sizeof *c);
}

void ctx_begin(Ctx *c, int training, int grad_enabled)
{
    arena_reset(&c->arena);
    if (c->device == DEVICE_CUDA) arena_reset(&c->dev_arena);
    c->tape_len = 0;
    c->training = training;
    c->grad_enabled = grad_enabled;
    if (c->profile) c->profile_mark = now_seconds();
}

static Tensor *new_header(Ctx *c, int ndim, const int *dims)
{
    CHECK(ndim >= 1 && ndim <= TENSOR_MAX_DIMS, "tensor rank %d out of range", ndim);
    Tensor *t = arena_alloc(&c->arena, sizeof *t);
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        CHECK(dims[i] > 0, "tensor dimension %d is %d", i, dims[i]);
        t->dims[i] = dims[i];
    }
    t->numel = tensor_numel_of(ndim, dims);
    return t;
}

/* The arena tensor data comes from: the device arena on CUDA. */
static Arena *data_arena(Ctx *c) { return c->device == DEVICE_CUDA ? &c->dev_arena : &c->arena; }

Tensor *ctx_tensor(Ctx *c, int ndim, const int *dims, int needs_grad)
{
    Tensor *t = new_header(c, ndim, dims);
    t->data = arena_alloc(data_arena(c), (size_t)t->numel * sizeof(float));
    if (needs_grad && c->grad_enabled)
        t->grad = arena_calloc(data_arena(c), (size_t)t->numel * sizeof(float));
    return t;
}

Tensor *ctx_tensor_like(Ctx *c, const Tensor *t, int needs_grad)
{
    return ctx_tensor(c, t->ndim, t->dims, needs_grad);
}

Tensor *ctx_constant(Ctx *c, int ndim, const int *dims, float value)
{
    Tensor *t = ctx_tensor(c, ndim, dims, 0);
    bk_fill(c, t->data, t->numel, value);
    return t;
}

Tensor *ctx_wrap(Ctx *c, float *data, float *grad, int ndim, const int *dims)
{
    Tensor *t = new_header(c, ndim, dims);
    t->data = data;
    t->grad = c->grad_enabled ? grad : NULL;
    return t;
}

float *ctx_scratch(Ctx *c, long count)
{
    return arena_alloc(data_arena(c), (size_t)count * sizeof(float));
}

void *ctx_data(Ctx *c, size_t bytes) { return arena_alloc(data_arena(c), bytes); }

void ctx_to_device(Ctx *c, void *dst, const void *src, size_t bytes)
{
    if (ON_CUDA(c)) CUDA_ONLY(cuda_copy_to_device(c->cuda, dst, src, bytes));
    else memcpy(dst, src, bytes);
}

void ctx_to_host(Ctx *c, void *dst, const void *src, size_t bytes)
{
    if (ON_CUDA(c)) CUDA_ONLY(cuda_copy_to_host(c->cuda, dst, src, bytes));
    else memcpy(dst, src, bytes);
}

int ctx_any_grad(const Ctx *c, int n, Tensor *const *ts)
{
    if (!c->grad_enabled) return 0;
    for (int i = 0; i < n; i++)
        if (ts[i] && ts[i]->grad) return 1;
    return 0;
}

TapeEntry *ctx_record_named(Ctx *c, BackwardFn backward, Tensor *out, const char *name)
{
    if (c->tape_len == c->tape_cap) {
        c->tape_cap = c->tape_cap ? 2 * c->tape_cap : 64;
        c->tape = xrealloc(c->tape, (size_t)c->tape_cap * sizeof *c->tape);
    }
    TapeEntry *e = &c->tape[c->tape_len++];
    memset(e, 0, sizeof *e);
    e->backward = backward;
    e->ctx = c;
    e->out = out;
    e->name = name;
    if (c->profile) {
        double t = now_seconds();
        e->fwd_seconds = t - c->profile_mark;
        c->profile_mark = t;
    }
    return e;
}

void ctx_backward(Ctx *c, Tensor *loss) { ctx_backward_scaled(c, loss, 1.0f); }

void ctx_backward_scaled(Ctx *c, Tensor *loss, float scale)
{
    CHECK(loss->numel == 1, "backward from a tensor of %ld elements", loss->numel);
    CHECK(loss->grad, "backward from a tensor that needs no gradient");
    bk_fill(c, loss->grad, 1, scale);
    for (int i = c->tape_len - 1; i >= 0; i--) {
        double t = c->profile ? now_seconds() : 0;
        c->tape[i].backward(&c->tape[i]);
        if (c->profile) c->tape[i].bwd_seconds = now_seconds() - t;
    }
}
