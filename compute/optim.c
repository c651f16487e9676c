/* Optimizers over the flat parameter buffer, reproducing PyTorch's
 * single-tensor torch.optim.SGD / Adam / AdamW (1.13, 2.x) operation by
 * operation: scalars (bias corrections, step size, 1 - lr*wd) in double,
 * element-wise updates in float with each hyperparameter rounded to float,
 * exactly where PyTorch's tensor ops round them. */
#include "optim.h"
#include "util.h"
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

void optim_free(Optimizer *o)
{
    free(o->state1);
    free(o->state2);
    memset(o, 0, sizeof *o);
}

/* Per-step float scalars shared by every entry, precomputed in double. */
typedef struct StepScalars {
    float lr;           /* SGD: p += (-lr) * d */
    float momentum;
    float beta1, one_minus_beta1;
    float beta2, one_minus_beta2;
    float neg_step_size;          /* -lr / (1 - beta1^t) */
    float bias_correction2_sqrt;  /* sqrt(1 - beta2^t) */
    float eps;
    float adamw_scale;            /* 1 - lr*wd (AdamW) */
} StepScalars;

static StepScalars step_scalars(const OptimConfig *c, float lr_f, long t)
{
    double lr = float_intended_double(lr_f);
    double b1 = float_intended_double(c->beta1), b2 = float_intended_double(c->beta2);
    double wd = float_intended_double(c->weight_decay);
    StepScalars s;
    s.lr = (float)lr;
    s.momentum = c->momentum;
    s.beta1 = c->beta1;
    s.beta2 = c->beta2;
    s.one_minus_beta1 = (float)(1.0 - b1);
    s.one_minus_beta2 = (float)(1.0 - b2);
    s.neg_step_size = (float)(-(lr / (1.0 - pow(b1, (double)t))));
    s.bias_correction2_sqrt = (float)sqrt(1.0 - pow(b2, (double)t));
    s.eps = c->eps;
    s.adamw_scale = (float)(1.0 - lr * wd);
    return s;
}

/* Decay for this entry under the configured scope; 0 means "no L2 term",
 * which PyTorch skips entirely (so inf/NaN params are not multiplied by 0). */
static float entry_decay(const OptimConfig *c, const ParamEntry *e)
{
    if (c->l2_scope == L2_SCOPE_FC && !e->is_fc) return 0.0f;
    return c->weight_decay;
}

/* Rounding, operation by operation, as PyTorch's CPU kernels do it: an
 * add with alpha (x.add_(y, alpha=a)) and addcmul are one fused multiply-add,
 * mul_, div and addcdiv are not. The fused steps are written with fmaf and
 * the unfused ones so that no multiply feeds an add directly, so the result
 * does not depend on the compiler's -ffp-contract setting; with -march=native
 * fmaf is a single instruction. */

static void sgd_entry(float *restrict p, const float *restrict g, float *restrict buf,
                      long n, float wd, const StepScalars *s, int first, int nesterov)
{
    const float neg_lr = -s->lr, mom = s->momentum;
#pragma omp parallel for if (n >= OPTIM_PAR_MIN) schedule(static)
    for (long i = 0; i < n; i++) {
        float d = g[i];
        if (wd != 0.0f) d = fmaf(p[i], wd, d);                 /* d.add(p, alpha=wd) */
        if (mom != 0.0f) {
            /* PyTorch clones the first (decayed) gradient into the buffer
             * rather than decaying a zero buffer into it. */
            float b = first ? d : fmaf(d, 1.0f, buf[i] * mom); /* buf.mul_(mom).add_(d) */
            buf[i] = b;
            d = nesterov ? fmaf(b, mom, d) : b;                 /* d.add(buf, alpha=mom) */
        }
        p[i] = fmaf(d, neg_lr, p[i]);                           /* p.add_(d, alpha=-lr) */
    }
}

/* Adam / AdamW on one entry. wd is the coupled L2 coefficient (Adam) and
 * decoupled says whether to apply AdamW's multiplicative decay instead. */
static void adam_entry(float *restrict p, const float *restrict g, float *restrict m,
                       float *restrict v, long n, float wd, int decoupled,
                       const StepScalars *s)
{
#pragma omp parallel for if (n >= OPTIM_PAR_MIN) schedule(static)
    for (long i = 0; i < n; i++) {
        float pi = p[i], gi = g[i];
        if (wd != 0.0f) {
            if (decoupled) pi = pi * s->adamw_scale;            /* p.mul_(1 - lr*wd) */
            else gi = fmaf(pi, wd, gi);                         /* g.add(p, alpha=wd) */
        }
        float mi = fmaf(gi, s->one_minus_beta1, m[i] * s->beta1);
        float vi = fmaf(s->one_minus_beta2 * gi, gi, v[i] * s->beta2);   /* addcmul_ */
        m[i] = mi;
        v[i] = vi;
        /* PyTorch's arrangement: eps is added to sqrt(v)/sqrt(bc2), and the
         * first-moment bias correction is folded into the step size. */
        float denom = sqrtf(vi) / s->bias_correction2_sqrt + s->eps;
        p[i] = pi + (s->neg_step_size * mi) / denom;            /* addcdiv_ */
    }
}

void optim_step(Optimizer *o, float *params, const float *grads, float lr)
{
    const OptimConfig *c = &o->cfg;
    const ParamTable *t = o->table;
    CHECK(t->n_params == o->n, "parameter table changed size after optim_init (%ld -> %ld)",
          o->n, t->n_params);
    o->step++;
    StepScalars s = step_scalars(c, lr, o->step);
    for (int k = 0; k < t->count; k++) {
        const ParamEntry *e = &t->entries[k];
        /* Buffers are not trained; unused entries have no gradient and
         * PyTorch leaves them (and their state) completely alone. */
        if (e->kind != ENTRY_PARAM || e->unused) continue;
        long off = e->offset;
        float wd = entry_decay(c, e);
        if (c->kind == OPTIM_SGD)
            sgd_entry(params + off, grads + off, o->state1 + off, e->numel, wd, &s,
                      o->step == 1, c->nesterov);
        else
            adam_entry(params + off, grads + off, o->state1 + off, o->state2 + off,
                       e->numel, wd, c->kind == OPTIM_ADAMW, &s);
    }
}

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
