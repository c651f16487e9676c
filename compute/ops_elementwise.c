/* Element-wise ops and views: relu, sigmoid, add, mul, scale, dropout, reshape,
 * flatten. Loops go parallel only on large tensors: an OpenMP fork/join
 * costs a few microseconds, more than a small loop itself. */
#include "ops.h"
#include "backend.h"
#include "elementwise_math.h"
#include "util.h"
#include <stdint.h>

static int same_shape(const Tensor *a, const Tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

/* ---- relu --------------------------------------------------------------- */

static void relu_forward_cpu(const float *x, float *y, long n)
{
#pragma omp parallel for if (n >= PAR_MIN)
    for (long i = 0; i < n; i++) y[i] = relu_fwd(x[i]);
}

static void relu_backward_cpu(const float *x, const float *dy, float *dx, long n)
{
#pragma omp parallel for if (n >= PAR_MIN)
    for (long i = 0; i < n; i++) dx[i] += relu_bwd(x[i], dy[i]);
}

static void relu_backward(TapeEntry *e)
{
    const Tensor *x = e->in[0], *y = e->out;
    if (!x->grad) return;
    if (ON_CUDA(e->ctx)) CUDA_ONLY(cuda_relu_backward(e->ctx->cuda, x->data, y->grad, x->grad, y->numel));
    else relu_backward_cpu(x->data, y->grad, x->grad, y->numel);
}

Tensor *op_relu(Ctx *c, Tensor *x)
{
    int g = ctx_any_grad(c, 1, &x);
    Tensor *y = ctx_tensor_like(c, x, g);
    if (ON_CUDA(c)) CUDA_ONLY(cuda_relu_forward(c->cuda, x->data, y->data, x->numel));
    else relu_forward_cpu(x->data, y->data, x->numel);
    if (g) ctx_record(c, relu_backward, y)->in[0] = x;
    return y;
}

/* ---- sigmoid ------------------------------------------------------------ */

static void sigmoid_forward_cpu(const float *x, float *y, long n)
{
#pragma omp parallel for if (n >= PAR_MIN)
    for (long i = 0; i < n; i++) y[i] = sigmoid_fwd(x[i]);
}

static void sigmoid_backward_cpu(const float *y, const float *dy, float *dx, long n)
{
#pragma omp parallel for if (n >= PAR_MIN)
    for (long i = 0; i < n; i++) dx[i] += sigmoid_bwd(y[i], dy[i]);
}

/* Uses the saved output, not the input: y (1 - y) needs no second exp(). */
static void sigmoid_backward(TapeEntry *e)
{
    const Tensor *x = e->in[0], *y = e->out;
    if (!x->grad) return;
    if (ON_CUDA(e->ctx)) CUDA_ONLY(cuda_sigmoid_backward(e->ctx->cuda, y->data, y->grad, x->grad, y->numel));
    else sigmoid_backward_cpu(y->data, y->grad, x->grad, y->numel);
}

Tensor *op_sigmoid(Ctx *c, Tensor *x)
{
    int g = ctx_any_grad(c, 1, &x);
    Tensor *y = ctx_tensor_like(c, x, g);
    if (ON_CUDA(c)) CUDA_ONLY(cuda_sigmoid_forward(c->cuda, x->data, y->data, x->numel));
    else sigmoid_forward_cpu(x->data, y->data, x->numel);
    if (g) ctx_record(c, sigmoid_backward, y)->in[0] = x;
    return y;
}

/* ---- add ------------------------------------------------------------------ */

static void add_forward_cpu(const float *a, const float *b, float *y, long n)
{
#pragma omp parallel for if (n >= PAR_MIN)
    for (long i = 0; i < n; i++) y[i] = a[i] + b[i];
}

/* a and b may be the same tensor (x + x): each term then accumulates into
 * the same grad, which gives the correct total 2 dy. */
static void add_backward(TapeEntry *e)
{
    for (int k = 0; k < 2; k++)
        if (e->in[k]->grad) bk_add_into(e->ctx, e->in[k]->grad, e->out->grad, e->out->numel);
}

Tensor *op_add(Ctx *c, Tensor *a, Tensor *b)
{
    CHECK(same_shape(a, b), "op_add: operand shapes differ");
    Tensor *ins[2] = {a, b};
    int g = ctx_any_grad(c, 2, ins);
    Tensor *y = ctx_tensor_like(c, a, g);
    if (ON_CUDA(c)) CUDA_ONLY(cuda_add_forward(c->cuda, a->data, b->data, y->data, a->numel));
    else add_forward_cpu(a->data, b->data, y->data, a->numel);
    if (g) {
        TapeEntry *e = ctx_record(c, add_backward, y);
        e->in[0] = a;
        e->in[1] = b;
    }
    return y;
}

/* ---- add then relu -------------------------------------------------------- */

static void add_relu_forward_cpu(const float *a, const float *b, float *y, long n)
{
#pragma omp parallel for if (n >= PAR_MIN)
    for (long i = 0; i < n; i++) y[i] = relu_fwd(a[i] + b[i]);
}

/* The sum's gradient is relu_bwd(y, dy) (y > 0 exactly where a + b > 0),
 * added to each operand's gradient: the same bits as op_relu's backward
 * into a zeroed gradient followed by op_add's. da and db may alias (x + x). */
static void add_relu_backward_cpu(const float *y, const float *dy, float *da, float *db, long n)
{
#pragma omp parallel for if (n >= PAR_MIN)
    for (long i = 0; i < n; i++) {
        float g = relu_bwd(y[i], dy[i]);
        if (da) da[i] += g;
        if (db) db[i] += g;
    }
}

#ifdef SWEEPRUN_HAVE_CUDA
/* CUDA: the two ops' kernels, the masked gradient in the scratch aux[0]. */
static void add_relu_backward_cuda(TapeEntry *e)
{
    const Tensor *y = e->out;
    float *g = e->aux[0]->data;
    bk_fill(e->ctx, g, y->numel, 0);
    cuda_relu_backward(e->ctx->cuda, y->data, y->grad, g, y->numel);
    for (int k = 0; k < 2; k++)
        if (e->in[k]->grad) bk_add_into(e->ctx, e->in[k]->grad, g, y->numel);
}
#endif

static void add_relu_backward(TapeEntry *e)
{
    if (ON_CUDA(e->ctx)) {
        CUDA_ONLY(add_relu_backward_cuda(e));
        return;
    }
    add_relu_backward_cpu(e->out->data, e->out->grad, e->in[0]->grad, e->in[1]->grad, e->out->numel);
}

Tensor *op_add_relu(Ctx *c, Tensor *a, Tensor *b)
{
    CHECK(same_shape(a, b), "op_add_relu: operand shapes differ");
    Tensor *ins[2] = {a, b};
    int g = ctx_any_grad(c, 2, ins);
    Tensor *y = ctx_tensor_like(c, a, g);
    if (ON_CUDA(c)) {
        CUDA_ONLY(cuda_add_forward(c->cuda, a->data, b->data, y->data, a->numel));
        CUDA_ONLY(cuda_relu_forward(c->cuda, y->data, y->data, y->numel));
    } else {
        add_relu_forward_cpu(a->data, b->data, y->data, a->numel);
    }
    if (g) {
        TapeEntry *e = ctx_record(c, add_relu_backward, y);
        e->in[0] = a;
        e->in[1] = b;
        if (ON_CUDA(c)) e->aux[0] = ctx_tensor_like(c, a, 0);
    }
    return y;
}

/* ---- mul ------------------------------------------------------------------ */

static void mul_forward_cpu(const float *a, const float *b, float *y, long n)
{
#pragma omp parallel for if (n >= PAR_MIN)
    for (long i = 0; i < n; i++) y[i] = a[i] * b[i];
}

static void mul_backward_cpu(const float *dy, const float *other, float *dx, long n)
{
#pragma omp parallel for if (n >= PAR_MIN)
    for (long i = 0; i < n; i++) dx[i] += dy[i] * other[i];
}

static void mul_backward(TapeEntry *e)
{
    const float *dy = e->out->grad;
    long n = e->out->numel;
    for (int k = 0; k < 2; k++) {
        float *dx = e->in[k]->grad;
        const float *other = e->in[1 - k]->data;
        if (!dx) continue;
        if (ON_CUDA(e->ctx)) CUDA_ONLY(cuda_mul_backward(e->ctx->cuda, dy, other, dx, n));
        else mul_backward_cpu(dy, other, dx, n);
    }
}

Tensor *op_mul(Ctx *c, Tensor *a, Tensor *b)
{
    CHECK(same_shape(a, b), "op_mul: operand shapes differ");
    Tensor *ins[2] = {a, b};
    int g = ctx_any_grad(c, 2, ins);
    Tensor *y = ctx_tensor_like(c, a, g);
    if (ON_CUDA(c)) CUDA_ONLY(cuda_mul_forward(c->cuda, a->data, b->data, y->data, a->numel));
    else mul_forward_cpu(a->data, b->data, y->data, a->numel);
    if (g) {
        TapeEntry *e = ctx_record(c, mul_backward, y);
        e->in[0] = a;
        e->in[1] = b;
    }
    return y;
}

/* ---- scale -------------------------------------------------------------- */

/* dst[i] = s src[i], or dst[i] += s src[i] when accumulating (backward). */
static void scale_cpu(const float *src, float *dst, long n, float s, int accumulate)
{
#pragma omp parallel for if (n >= PAR_MIN)
    for (long i = 0; i < n; i++) {
        float v = scale_term(src[i], s);
        dst[i] = accumulate ? dst[i] + v : v;
    }
}

static void scale_dispatch(const Ctx *c, const float *src, float *dst, long n, float s, int accumulate)
{
    if (ON_CUDA(c)) CUDA_ONLY(cuda_scale(c->cuda, src, dst, n, s, accumulate));
    else scale_cpu(src, dst, n, s, accumulate);
}

static void scale_backward(TapeEntry *e)
{
    Tensor *x = e->in[0];
    if (x->grad) scale_dispatch(e->ctx, e->out->grad, x->grad, x->numel, e->args.scale.s, 1);
}

Tensor *op_scale(Ctx *c, Tensor *x, float s)
{
    CHECK(isfinite(s), "op_scale: factor %g is not finite", (double)s);
    int g = ctx_any_grad(c, 1, &x);
    Tensor *y = ctx_tensor_like(c, x, g);
    scale_dispatch(c, x->data, y->data, x->numel, s, 0);
    if (g) {
        TapeEntry *e = ctx_record(c, scale_backward, y);
        e->in[0] = x;
        e->args.scale = (TapeScale){.s = s};
    }
    return y;
}

/* ---- dropout ------------------------------------------------------------ */

/* The mask is not stored: backward redraws it from (seed, offset), as a GPU
 * kernel would, so dropout costs no memory beyond its output. */

#define DROPOUT_CHUNK 4096L

/* Philox blocks for draws [first*4, (first + nb)*4), in order. Written as
 * a plain loop over blocks so the compiler runs 16 blocks per AVX-512
 * register (32x32 -> 64-bit products as vpmuludq): drawn one block at a
 * time, the masks were 13% of a GECCO step on one core. */
#define DROPOUT_BLOCKS 64

static void dropout_words(uint64_t seed, uint64_t first, int nb, uint32_t *restrict words)
{
    for (int b = 0; b < nb; b++) {
        Philox4 r = rng_block(seed, RNG_STREAM_DROPOUT, first + (uint64_t)b);
        for (int j = 0; j < 4; j++) words[4 * b + j] = r.v[j];
    }
}

/* dst[i] (+)= keep(offset + i) ? src[i] * scale : 0 for i in [i0, i1):
 * element i takes word (offset + i) % 4 of block (offset + i) / 4. */
static void dropout_range(const float *src, float *dst, long i0, long i1, int accumulate,
                          uint64_t seed, uint64_t offset, float p, float scale)
{
    uint32_t words[4 * DROPOUT_BLOCKS];
    long i = i0;
    while (i < i1) {
        uint64_t idx = offset + (uint64_t)i, first = idx >> 2;
        /* Blocks covering [i, i1), at most DROPOUT_BLOCKS of them. */
        uint64_t last = (offset + (uint64_t)i1 - 1) >> 2;
        int nb = last - first + 1 < DROPOUT_BLOCKS ? (int)(last - first + 1) : DROPOUT_BLOCKS;
        dropout_words(seed, first, nb, words);
        long end = (long)((first + (uint64_t)nb) * 4 - offset);
        if (end > i1) end = i1;
        const uint32_t *w = words + (idx & 3);
        for (long t = 0; t < end - i; t++) {
            float v = dropout_keep_bits(w[t], p) ? src[i + t] * scale : 0.0f;
            dst[i + t] = accumulate ? dst[i + t] + v : v;
        }
        i = end;
    }
}

static void dropout_apply(const float *src, float *dst, long n, int accumulate,
                          uint64_t seed, uint64_t offset, float p)
{
    float scale = dropout_scale(p);
    long chunks = (n + DROPOUT_CHUNK - 1) / DROPOUT_CHUNK;
#pragma omp parallel for if (n >= PAR_MIN)
    for (long k = 0; k < chunks; k++) {
        long i0 = k * DROPOUT_CHUNK;
        long i1 = i0 + DROPOUT_CHUNK < n ? i0 + DROPOUT_CHUNK : n;
        dropout_range(src, dst, i0, i1, accumulate, seed, offset, p, scale);
    }
}

/* On CUDA the index also adds the device word c->rng_base (the trainer's
 * per-micro-batch offset), read when the kernel runs. */
static void dropout_dispatch(const Ctx *c, const float *src, float *dst, long n, int accumulate,
                             uint64_t seed, uint64_t offset, float p)
{
    if (ON_CUDA(c)) CUDA_ONLY(cuda_dropout(c->cuda, src, dst, n, accumulate, seed, c->rng_base, offset, p));
    else dropout_apply(src, dst, n, accumulate, seed, offset, p);
}

static void dropout_backward(TapeEntry *e)
{
    Tensor *x = e->in[0];
    if (!x->grad) return;
    const TapeDropout *a = &e->args.dropout;
    dropout_dispatch(e->ctx, e->out->grad, x->grad, x->numel, 1, a->seed, a->offset, a->p);
}

Tensor *op_dropout(Ctx *c, Tensor *x, float p)
{
    CHECK(p >= 0.0f && p <= 1.0f, "op_dropout: p = %g outside [0, 1]", (double)p);
    if (!c->training || p == 0.0f) return x;
    int g = ctx_any_grad(c, 1, &x);
    Tensor *y = ctx_tensor_like(c, x, g);
    uint64_t offset = c->rng_offset;
    dropout_dispatch(c, x->data, y->data, x->numel, 0, c->seed, offset, p);
    c->rng_offset += (uint64_t)x->numel;
    if (g) {
        TapeEntry *e = ctx_record(c, dropout_backward, y);
        e->in[0] = x;
        e->args.dropout = (TapeDropout){.seed = c->seed, .offset = offset, .p = p};
    }
    return y;
}

/* ---- views -------------------------------------------------------------- */

/* The view aliases x's data AND grad, so gradients written into the view
 * land in x directly: no tape entry is needed. One dimension may be -1 and
 * is then inferred, as in PyTorch. */
Tensor *op_reshape(Ctx *c, Tensor *x, int ndim, const int *dims)
{
    CHECK(ndim >= 1 && ndim <= TENSOR_MAX_DIMS, "op_reshape: rank %d", ndim);
    int d[TENSOR_MAX_DIMS], infer = -1;
    long known = 1;
    for (int i = 0; i < ndim; i++) {
        d[i] = dims[i];
        if (d[i] == -1) {
            CHECK(infer < 0, "op_reshape: more than one -1 dimension");
            infer = i;
        } else {
            CHECK(d[i] > 0, "op_reshape: dimension %d is %d", i, d[i]);
            known *= d[i];
        }
    }
    if (infer >= 0) {
        CHECK(x->numel % known == 0, "op_reshape: cannot infer a dimension");
        d[infer] = (int)(x->numel / known);
    }
    CHECK(tensor_numel_of(ndim, d) == x->numel,
          "op_reshape: %ld elements cannot take the new shape", x->numel);
    return ctx_wrap(c, x->data, x->grad, ndim, d);
}

Tensor *op_flatten(Ctx *c, Tensor *x)
{
    int dims[2] = {x->dims[0], (int)tensor_row_size(x)};
    return op_reshape(c, x, 2, dims);
}
