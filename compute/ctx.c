#include "ctx.h"
#include "util.h"
#include <stdlib.h>
#include <string.h>

void ctx_init(Ctx *c, uint64_t seed, size_t arena_bytes)
{
    memset(c, 0, sizeof *c);
    arena_init(&c->arena, arena_bytes);
    c->seed = seed;
    c->threads = 1;
}

void ctx_free(Ctx *c)
{
    arena_free(&c->arena);
    free(c->tape);
    memset(c, 0, sizeof *c);
}

void ctx_begin(Ctx *c, int training, int grad_enabled)
{
    arena_reset(&c->arena);
    c->tape_len = 0;
    c->training = training;
    c->grad_enabled = grad_enabled;
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

Tensor *ctx_tensor(Ctx *c, int ndim, const int *dims, int needs_grad)
{
    Tensor *t = new_header(c, ndim, dims);
    t->data = arena_alloc(&c->arena, (size_t)t->numel * sizeof(float));
    if (needs_grad && c->grad_enabled)
        t->grad = arena_calloc(&c->arena, (size_t)t->numel * sizeof(float));
    return t;
}

Tensor *ctx_tensor_like(Ctx *c, const Tensor *t, int needs_grad)
{
    return ctx_tensor(c, t->ndim, t->dims, needs_grad);
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
    return arena_alloc(&c->arena, (size_t)count * sizeof(float));
}

int ctx_any_grad(const Ctx *c, int n, Tensor *const *ts)
{
    if (!c->grad_enabled) return 0;
    for (int i = 0; i < n; i++)
        if (ts[i] && ts[i]->grad) return 1;
    return 0;
}

TapeEntry *ctx_record(Ctx *c, BackwardFn backward, Tensor *out)
{
    if (c->tape_len == c->tape_cap) {
        c->tape_cap = c->tape_cap ? 2 * c->tape_cap : 64;
        c->tape = xrealloc(c->tape, (size_t)c->tape_cap * sizeof *c->tape);
    }
    TapeEntry *e = &c->tape[c->tape_len++];
    memset(e, 0, sizeof *e);
    e->backward = backward;
    e->out = out;
    return e;
}

void ctx_backward(Ctx *c, Tensor *loss) { ctx_backward_scaled(c, loss, 1.0f); }

void ctx_backward_scaled(Ctx *c, Tensor *loss, float scale)
{
    CHECK(loss->numel == 1, "backward from a tensor of %ld elements", loss->numel);
    CHECK(loss->grad, "backward from a tensor that needs no gradient");
    loss->grad[0] = scale;
    for (int i = c->tape_len - 1; i >= 0; i--)
        c->tape[i].backward(&c->tape[i]);
}
