/* Optimizers over the flat parameter buffer, reproducing PyTorch's
 * single-tensor torch.optim.SGD / Adam / AdamW (1.13, 2.x) operation by
 * operation: scalars (bias corrections, step size, 1 - lr*wd) in double,
 * element-wise updates in float with each hyperparameter rounded to float,
 * exactly where PyTorch's tensor ops round them. */
#include "optim.h"
#include "optim_math.h"
#include "util.h"
#ifdef SWEEPRUN_HAVE_CUDA
#include "cuda/cuda_ops.h"
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Entries at least this large are split across OpenMP threads; below it the
 * fork/join costs more than the update. Every element is updated
 * independently, so threading never changes the result. */
#define OPTIM_PAR_MIN 65536

OptimConfig optim_config_default(OptimKind kind)
{
    OptimConfig c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.weight_decay = 0.0f;
    c.l2_scope = L2_SCOPE_ALL;
    c.momentum = 0.0f;
    c.nesterov = 0;
    c.beta1 = 0.9f;
    c.beta2 = 0.999f;
    c.eps = 1e-8f;
    return c;
}

/* The same constraints torch.optim checks in its constructors. */
static void check_config(const OptimConfig *c)
{
    CHECK(c->kind == OPTIM_SGD || c->kind == OPTIM_ADAM || c->kind == OPTIM_ADAMW,
          "unknown optimizer kind %d", (int)c->kind);
    CHECK(c->weight_decay >= 0.0f, "weight_decay must be >= 0, got %g", (double)c->weight_decay);
    CHECK(c->momentum >= 0.0f, "momentum must be >= 0, got %g", (double)c->momentum);
    CHECK(!c->nesterov || c->momentum > 0.0f, "nesterov momentum requires momentum > 0");
    CHECK(c->beta1 >= 0.0f && c->beta1 < 1.0f, "beta1 must be in [0, 1), got %g", (double)c->beta1);
    CHECK(c->beta2 >= 0.0f && c->beta2 < 1.0f, "beta2 must be in [0, 1), got %g", (double)c->beta2);
    CHECK(c->eps >= 0.0f, "eps must be >= 0, got %g", (double)c->eps);
}

void optim_init(Optimizer *o, const OptimConfig *cfg, const ParamTable *table)
{
    check_config(cfg);
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    o->table = table;
    o->n = table->n_params;
    /* Zeroed state is what PyTorch starts from for Adam's moments; the SGD
     * momentum buffer is overwritten by the first gradient instead. */
    o->state1 = xcalloc((size_t)o->n, sizeof *o->state1);
    if (cfg->kind != OPTIM_SGD) o->state2 = xcalloc((size_t)o->n, sizeof *o->state2);
    o->step = 0;
}

static void optim_cuda_free(Optimizer *o);

void optim_free(Optimizer *o)
{
    optim_cuda_free(o);
    free(o->state1);
    free(o->state2);
    memset(o, 0, sizeof *o);
}

static OptimHyper hyper_of(const OptimConfig *c)
{
    OptimHyper h;
    h.beta1_d = float_intended_double(c->beta1);
    h.beta2_d = float_intended_double(c->beta2);
    h.wd_d = float_intended_double(c->weight_decay);
    h.momentum = c->momentum;
    h.beta1 = c->beta1;
    h.beta2 = c->beta2;
    h.eps = c->eps;
    return h;
}

/* Decay for this entry under the configured scope; 0 means "no L2 term",
 * which PyTorch skips entirely (so inf/NaN params are not multiplied by 0). */
static float entry_decay(const OptimConfig *c, const ParamEntry *e)
{
    if (c->l2_scope == L2_SCOPE_FC && !e->is_fc) return 0.0f;
    return c->weight_decay;
}

/* Each update runs over blocks of OPTIM_BLOCK elements, the scalars
 * passed by value: read through a pointer (or a shared local, which an
 * OpenMP region also reads through a pointer) GCC cannot prove that the
 * stores to p, m, v leave them alone and does not vectorise the loop.
 * Adam over baseline_cnn's 3.4 M parameters was scalar (vsqrtss). Every
 * element is updated on its own, so blocks change no bits. */
#define OPTIM_BLOCK 4096L

static void sgd_block(float *restrict p, const float *restrict g, float *restrict buf, long n, float wd,
                      OptimScalars s, int nesterov)
{
    for (long i = 0; i < n; i++) sgd_element(&p[i], g[i], &buf[i], wd, nesterov, &s);
}

/* One loop per case, the case known inside it: with the tests on wd and
 * decoupled inside one loop GCC vectorised only some of its unswitched
 * copies, and GECCO's (no decay) ran scalar: 28% of its step. */
static void adam_block(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, long n,
                       float wd, int decoupled, OptimScalars s)
{
    if (wd == 0.0f)
        for (long i = 0; i < n; i++) adam_element(&p[i], g[i], &m[i], &v[i], 0.0f, 0, &s);
    else if (decoupled)
        for (long i = 0; i < n; i++) adam_element(&p[i], g[i], &m[i], &v[i], wd, 1, &s);
    else
        for (long i = 0; i < n; i++) adam_element(&p[i], g[i], &m[i], &v[i], wd, 0, &s);
}

static long block_len(long n, long b) { return n - b * OPTIM_BLOCK < OPTIM_BLOCK ? n - b * OPTIM_BLOCK : OPTIM_BLOCK; }

static void sgd_entry(float *restrict p, const float *restrict g, float *restrict buf,
                      long n, float wd, const OptimScalars *s, int nesterov)
{
    long blocks = (n + OPTIM_BLOCK - 1) / OPTIM_BLOCK;
#pragma omp parallel for if (n >= OPTIM_PAR_MIN) schedule(static)
    for (long b = 0; b < blocks; b++) {
        long o = b * OPTIM_BLOCK;
        sgd_block(p + o, g + o, buf + o, block_len(n, b), wd, *s, nesterov);
    }
}

static void adam_entry(float *restrict p, const float *restrict g, float *restrict m,
                       float *restrict v, long n, float wd, int decoupled, const OptimScalars *s)
{
    long blocks = (n + OPTIM_BLOCK - 1) / OPTIM_BLOCK;
#pragma omp parallel for if (n >= OPTIM_PAR_MIN) schedule(static)
    for (long b = 0; b < blocks; b++) {
        long o = b * OPTIM_BLOCK;
        adam_block(p + o, g + o, m + o, v + o, block_len(n, b), wd, decoupled, *s);
    }
}

/* Calls fn for each maximal run of consecutive trainable, used entries
 * with the same decay: the optimizer's work list (one CUDA launch each). */
static void for_each_range(const Optimizer *o, void (*fn)(void *user, long off, long n, float wd),
                           void *user)
{
    const ParamTable *t = o->table;
    long start = -1, end = -1;
    float wd = 0.0f;
    for (int k = 0; k < t->count; k++) {
        const ParamEntry *e = &t->entries[k];
        /* Buffers are not trained; unused entries have no gradient and
         * PyTorch leaves them (and their state) completely alone. */
        if (e->kind != ENTRY_PARAM || e->unused) continue;
        float d = entry_decay(&o->cfg, e);
        if (start >= 0 && e->offset == end && d == wd) {
            end += e->numel;
            continue;
        }
        if (start >= 0) fn(user, start, end - start, wd);
        start = e->offset;
        end = e->offset + e->numel;
        wd = d;
    }
    if (start >= 0) fn(user, start, end - start, wd);
}

typedef struct CpuStep {
    const Optimizer *o;
    float *params;
    const float *grads;
    OptimScalars s;
} CpuStep;

static void cpu_range(void *user, long off, long n, float wd)
{
    CpuStep *st = user;
    const Optimizer *o = st->o;
    if (o->cfg.kind == OPTIM_SGD)
        sgd_entry(st->params + off, st->grads + off, o->state1 + off, n, wd, &st->s, o->cfg.nesterov);
    else
        adam_entry(st->params + off, st->grads + off, o->state1 + off, o->state2 + off, n, wd,
                   o->cfg.kind == OPTIM_ADAMW, &st->s);
}

void optim_step(Optimizer *o, float *params, const float *grads, float lr)
{
    const ParamTable *t = o->table;
    CHECK(t->n_params == o->n, "parameter table changed size after optim_init (%ld -> %ld)",
          o->n, t->n_params);
    o->step++;
    OptimHyper h = hyper_of(&o->cfg);
    CpuStep st = {o, params, grads, optim_scalars(&h, float_intended_double(lr), o->step)};
    for_each_range(o, cpu_range, &st);
}

/* ---- CUDA ------------------------------------------------------------------ */

#ifdef SWEEPRUN_HAVE_CUDA
struct OptimCuda {
    struct CudaBackend *cu;
    float *state1, *state2;      /* device */
    CudaOptimDevice *dev;        /* t, lr, this step's scalars (device) */
};

void optim_to_cuda(Optimizer *o, struct CudaBackend *cu)
{
    CHECK(!o->cuda, "optim_to_cuda called twice");
    struct OptimCuda *g = xcalloc(1, sizeof *g);
    g->cu = cu;
    size_t bytes = (size_t)(o->n ? o->n : 1) * sizeof(float);
    g->state1 = cuda_malloc(bytes);
    if (o->cfg.kind != OPTIM_SGD) g->state2 = cuda_malloc(bytes);
    g->dev = cuda_malloc(sizeof *g->dev);
    o->cuda = g;
    optim_state_to_device(o);
    optim_set_lr_cuda(o, 0.0f);
}

void optim_set_lr_cuda(Optimizer *o, float lr)
{
    CHECK(o->cuda, "optim_set_lr_cuda before optim_to_cuda");
    double d = float_intended_double(lr);
    cuda_copy_to_device(o->cuda->cu, &o->cuda->dev->lr, &d, sizeof d);
}

typedef struct DevStep {
    const Optimizer *o;
    float *params;
    const float *grads;
} DevStep;

static void cuda_range(void *user, long off, long n, float wd)
{
    DevStep *st = user;
    const Optimizer *o = st->o;
    struct OptimCuda *g = o->cuda;
    if (o->cfg.kind == OPTIM_SGD)
        cuda_sgd_update(g->cu, st->params + off, st->grads + off, g->state1 + off, n, wd,
                        o->cfg.nesterov, g->dev);
    else
        cuda_adam_update(g->cu, st->params + off, st->grads + off, g->state1 + off, g->state2 + off,
                         n, wd, o->cfg.kind == OPTIM_ADAMW, g->dev);
}

void optim_step_cuda(Optimizer *o, float *dev_params, const float *dev_grads)
{
    CHECK(o->cuda, "optim_step_cuda before optim_to_cuda");
    OptimHyper h = hyper_of(&o->cfg);
    cuda_optim_scalars(o->cuda->cu, &h, o->cuda->dev);
    DevStep st = {o, dev_params, dev_grads};
    for_each_range(o, cuda_range, &st);
}

void optim_state_to_host(Optimizer *o)
{
    struct OptimCuda *g = o->cuda;
    if (!g) return;
    size_t bytes = (size_t)o->n * sizeof(float);
    cuda_copy_to_host(g->cu, o->state1, g->state1, bytes);
    if (g->state2) cuda_copy_to_host(g->cu, o->state2, g->state2, bytes);
    long long t;
    cuda_copy_to_host(g->cu, &t, &g->dev->t, sizeof t);
    o->step = (long)t;
}

void optim_state_to_device(Optimizer *o)
{
    struct OptimCuda *g = o->cuda;
    if (!g) return;
    size_t bytes = (size_t)o->n * sizeof(float);
    cuda_copy_to_device(g->cu, g->state1, o->state1, bytes);
    if (g->state2) cuda_copy_to_device(g->cu, g->state2, o->state2, bytes);
    long long t = o->step;
    cuda_copy_to_device(g->cu, &g->dev->t, &t, sizeof t);
}

static void optim_cuda_free(Optimizer *o)
{
    struct OptimCuda *g = o->cuda;
    if (!g) return;
    cuda_free(g->state1);
    cuda_free(g->state2);
    cuda_free(g->dev);
    free(g);
    o->cuda = NULL;
}
#else
void optim_to_cuda(Optimizer *o, struct CudaBackend *cu) { (void)o, (void)cu; fatal("optim_to_cuda: built without CUDA"); }
void optim_set_lr_cuda(Optimizer *o, float lr) { (void)o, (void)lr; fatal("optim_set_lr_cuda: built without CUDA"); }
void optim_step_cuda(Optimizer *o, float *p, const float *g) { (void)o, (void)p, (void)g; fatal("optim_step_cuda: built without CUDA"); }
void optim_state_to_host(Optimizer *o) { (void)o; }
void optim_state_to_device(Optimizer *o) { (void)o; }
static void optim_cuda_free(Optimizer *o) { (void)o; }
#endif

static const char *const KIND_NAMES[] = {
    [OPTIM_SGD] = "sgd",
    [OPTIM_ADAM] = "adam",
    [OPTIM_ADAMW] = "adamw",
};

const char *optim_kind_name(OptimKind k)
{
    if ((int)k < 0 || (size_t)k >= sizeof KIND_NAMES / sizeof KIND_NAMES[0]) return "unknown";
    return KIND_NAMES[k];
}

int optim_kind_parse(const char *s, OptimKind *out)
{
    if (!s) return -1;
    for (size_t k = 0; k < sizeof KIND_NAMES / sizeof KIND_NAMES[0]; k++) {
        if (strcmp(s, KIND_NAMES[k]) == 0) {
            *out = (OptimKind)k;
            return 0;
        }
    }
    return -1;
}
