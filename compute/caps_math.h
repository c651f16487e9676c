/* Per-element math of the capsule ops (ops_caps.c), written once so the
 * CPU loops and the CUDA kernels compute the same values (MODELS.md 7.2,
 * 7.3).
 *
 * The Efficient squash v = f(n) s / (n + eps), f(n) = 1 - 1/(e^n + eps),
 * n = ||s||. Written as f(n) = (expm1(n) + eps) / (e^n + eps) for n < 1,
 * which is the same function without the cancellation of 1 - 1/e^n: in
 * fp32 the literal form gives f = 0 for every n < 6e-8 (so v = 0 and a
 * zero gradient near the origin), while the true function is v ~ s there
 * (phi(0) = 1/(1 + eps)). With this form the squash and its gradient are
 * smooth and finite everywhere, n = 0 included. For n >= 1 the literal form
 * is exact enough and saturates cleanly when e^n overflows (f = 1). */
#ifndef SWEEPRUN_CAPS_MATH_H
#define SWEEPRUN_CAPS_MATH_H
#include <math.h>
#include "hostdevice.h"

/* Keras constants of Efficient-CapsNet: squash eps (config "10e-21") and
 * the Length layer's K.epsilon(). */
#define CAPS_SQUASH_EPS 1e-20f
#define CAPS_LENGTH_EPS 1e-7f

HD float squash_f(float n, float eps)
{
    float e = expf(n);
    if (n < 1.0f) return (expm1f(n) + eps) / (e + eps);
    return 1.0f - 1.0f / (e + eps);
}

/* The scale v/s: phi(n) = f(n) / (n + eps). */
HD float squash_phi(float n, float eps) { return squash_f(n, eps) / (n + eps); }

/* phi'(n) = (f'(n) - phi(n)) / (n + eps), with f'(n) = e^n / (e^n + eps)^2
 * written as r (1 - eps r), r = 1/(e^n + eps), which is 0 (not inf/inf)
 * when e^n overflows. */
HD float squash_dphi(float n, float eps)
{
    float r = 1.0f / (expf(n) + eps);
    float df = r * (1.0f - eps * r);
    return (df - squash_phi(n, eps)) / (n + eps);
}

/* Backward coefficients for one vector: ds = a * dv + b * s with
 * a = phi(n), b = phi'(n) (s . dv) / n. At n = 0 the b term is the limit 0
 * (s . dv / n is bounded by |dv| and s = 0). */
HD void squash_bwd_coeffs(float n, float s_dot_dv, float eps, float *a, float *b)
{
    *a = squash_phi(n, eps);
    *b = n > 0.0f ? squash_dphi(n, eps) * s_dot_dv / n : 0.0f;
}

/* One capsule's length from its squared norm. */
HD float caps_length(float sumsq, float eps) { return sqrtf(sumsq + eps); }

/* Margin loss term of one class score and its derivative (MODELS.md 7.2,
 * 7.3): T max(0, m+ - len)^2 + lambda (1 - T) max(0, len - m-)^2. */
HD float margin_term(float len, int target, float m_pos, float m_neg, float lambda)
{
    float a = target ? m_pos - len : len - m_neg;
    a = a > 0.0f ? a : 0.0f;
    return (target ? 1.0f : lambda) * a * a;
}

HD float margin_dlen(float len, int target, float m_pos, float m_neg, float lambda)
{
    if (target) {
        float a = m_pos - len;
        return a > 0.0f ? -2.0f * a : 0.0f;
    }
    float a = len - m_neg;
    return a > 0.0f ? 2.0f * lambda * a : 0.0f;
}

/* Softmax backward for one coupling coefficient: with C = softmax over the
 * output capsules, dz = C (dC - sum_k' C_k' dC_k'). */
HD float softmax_dlogit(float coupling, float dcoupling, float weighted_sum)
{
    return coupling * (dcoupling - weighted_sum);
}

#endif
