/* The optimizer arithmetic, written once for optim.c's loops and the CUDA
 * kernels (cuda/optim.cu), so both backends update a parameter with the
 * same operations in the same order (PyTorch's, see optim.c).
 *
 * optim_scalars() turns the step number t and the hyperparameters (as the
 * doubles the user wrote, see float_intended_double) into the per-step
 * float scalars; on CUDA a one-thread kernel calls it with t and lr read
 * from device memory, so a replayed CUDA graph sees each step's values. */
#ifndef SWEEPRUN_OPTIM_MATH_H
#define SWEEPRUN_OPTIM_MATH_H
#include <math.h>
#include "hostdevice.h"

typedef struct OptimScalars {
    float lr;           /* SGD: p += (-lr) * d */
    float momentum;
    float beta1, one_minus_beta1;
    float beta2, one_minus_beta2;
    float neg_step_size;          /* -lr / (1 - beta1^t) */
    float bias_correction2_sqrt;  /* sqrt(1 - beta2^t) */
    float eps;
    float adamw_scale;            /* 1 - lr*wd (AdamW) */
    int first;                    /* t == 1 (SGD's momentum buffer starts as the gradient) */
} OptimScalars;

/* Hyperparameters as the optimizer keeps them: the floats and the decimals
 * they were written as (lr_d, beta1_d, beta2_d, wd_d). */
typedef struct OptimHyper {
    double beta1_d, beta2_d, wd_d;
    float momentum, beta1, beta2, eps;
} OptimHyper;

HD OptimScalars optim_scalars(const OptimHyper *h, double lr, long long t)
{
    OptimScalars s;
    s.lr = (float)lr;
    s.momentum = h->momentum;
    s.beta1 = h->beta1;
    s.beta2 = h->beta2;
    s.one_minus_beta1 = (float)(1.0 - h->beta1_d);
    s.one_minus_beta2 = (float)(1.0 - h->beta2_d);
    s.neg_step_size = (float)(-(lr / (1.0 - pow(h->beta1_d, (double)t))));
    s.bias_correction2_sqrt = (float)sqrt(1.0 - pow(h->beta2_d, (double)t));
    s.eps = h->eps;
    s.adamw_scale = (float)(1.0 - lr * h->wd_d);
    s.first = t == 1;
    return s;
}

/* Rounding, operation by operation, as PyTorch's CPU kernels do it: an
 * add with alpha (x.add_(y, alpha=a)) and addcmul are one fused multiply-add,
 * mul_, div and addcdiv are not. The fused steps are written with fmaf and
 * the unfused ones so that no multiply feeds an add directly, so the result
 * does not depend on the compiler's -ffp-contract setting (nor on nvcc's
 * --fmad); with -march=native fmaf is a single instruction. */

/* One SGD element; wd is this parameter group's decay (0 = none). */
HD void sgd_element(float *p, float g, float *buf, float wd, int nesterov, const OptimScalars *s)
{
    const float neg_lr = -s->lr, mom = s->momentum;
    float d = g;
    if (wd != 0.0f) d = fmaf(*p, wd, d);                    /* d.add(p, alpha=wd) */
    if (mom != 0.0f) {
        /* PyTorch clones the first (decayed) gradient into the buffer
         * rather than decaying a zero buffer into it. */
        float b = s->first ? d : fmaf(d, 1.0f, *buf * mom);  /* buf.mul_(mom).add_(d) */
        *buf = b;
        d = nesterov ? fmaf(b, mom, d) : b;                  /* d.add(buf, alpha=mom) */
    }
    *p = fmaf(d, neg_lr, *p);                                /* p.add_(d, alpha=-lr) */
}

/* One Adam / AdamW element. wd is the coupled L2 coefficient (Adam) and
 * decoupled says whether to apply AdamW's multiplicative decay instead. */
HD void adam_element(float *p, float g, float *m, float *v, float wd, int decoupled,
                     const OptimScalars *s)
{
    float pi = *p, gi = g;
    if (wd != 0.0f) {
        /* p.mul_(1 - lr*wd), rounded on its own: fmaf(x, y, -0) is the
         * product x*y rounded once (-0 keeps a -0 product's sign), and
         * unlike a plain product the compiler cannot contract it into the
         * add below (vectorised with -ffp-contract=fast, GCC did). */
        if (decoupled) pi = fmaf(pi, s->adamw_scale, -0.0f);
        else gi = fmaf(pi, wd, gi);                          /* g.add(p, alpha=wd) */
    }
    float mi = fmaf(gi, s->one_minus_beta1, *m * s->beta1);
    float vi = fmaf(s->one_minus_beta2 * gi, gi, *v * s->beta2);   /* addcmul_ */
    *m = mi;
    *v = vi;
    /* PyTorch's arrangement: eps is added to sqrt(v)/sqrt(bc2), and the
     * first-moment bias correction is folded into the step size. */
    float denom = sqrtf(vi) / s->bias_correction2_sqrt + s->eps;
    *p = pi + (s->neg_step_size * mi) / denom;               /* addcdiv_ */
}

#endif
