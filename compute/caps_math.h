/* Per-element math of the capsule ops (ops_caps.c), written once so the
 * CPU loops and the CUDA kernels compute the same values (docs/models.md 7.2,
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

/* Margin loss term of one class score and its derivative (docs/models.md 7.2,
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

/* Float dot product in index order (every capsule op's inner loop). */
HD float caps_dot(const float *a, const float *b, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* One vector of d values: v = phi(||s||) s, and its backward
 * ds += a dv + b s (squash_bwd_coeffs). */
HD void squash_row_fwd(const float *s, float *v, int d, float eps)
{
    float phi = squash_phi(sqrtf(caps_dot(s, s, d)), eps);
    for (int i = 0; i < d; i++) v[i] = phi * s[i];
}

HD void squash_row_bwd(const float *s, const float *dv, float *ds, int d, float eps)
{
    float a, b;
    squash_bwd_coeffs(sqrtf(caps_dot(s, s, d)), caps_dot(s, dv, d), eps, &a, &b);
    for (int i = 0; i < d; i++) ds[i] += a * dv[i] + b * s[i];
}

/* ---- capsule predictions uhat[B,K,J,D] = sum_i u[B,J,I] W[K,J,I,D] ----- */

typedef struct PredGeom { int b, j, i, k, d; } PredGeom;

/* uhat[b,k,j,z], summed over i in order from 0. */
HD float caps_predict_value(const PredGeom *g, const float *u, const float *w, int b, int k, int j, int z)
{
    const float *ur = u + ((long)b * g->j + j) * g->i;
    const float *wr = w + ((long)k * g->j + j) * g->i * g->d + z;
    float sum = 0.0f;
    for (int i = 0; i < g->i; i++) sum += ur[i] * wr[(long)i * g->d];
    return sum;
}

/* du[b,j,i] + sum over k (in order) of W[k,j,i,:] . duhat[b,k,j,:]. */
HD float caps_predict_du(const PredGeom *g, const float *w, const float *dy, int b, int j, int i, float acc)
{
    for (int k = 0; k < g->k; k++)
        acc += caps_dot(w + (((long)k * g->j + j) * g->i + i) * g->d, dy + (((long)b * g->k + k) * g->j + j) * g->d,
                        g->d);
    return acc;
}

/* dW at flat index at = ((k*J + j)*I + i)*D + z: acc + sum over b (in
 * order) of u[b,j,i] duhat[b,k,j,z]. */
HD float caps_predict_dw_add(const PredGeom *g, const float *u, const float *dy, long at, float acc)
{
    int z = (int)(at % g->d), i = (int)(at / g->d % g->i), j = (int)(at / ((long)g->d * g->i) % g->j);
    int k = (int)(at / ((long)g->d * g->i * g->j));
    for (int b = 0; b < g->b; b++)
        acc += u[((long)b * g->j + j) * g->i + i] * dy[(((long)b * g->k + k) * g->j + j) * g->d + z];
    return acc;
}

/* ---- lengths, margin loss, mask, MSE ------------------------------------ */

/* dv += dlen / len * v for one capsule. */
HD void caps_length_row_bwd(const float *v, float len, float dlen, float *dv, int d)
{
    float a = dlen / len;
    for (int z = 0; z < d; z++) dv[z] += a * v[z];
}

typedef struct MarginParams { float m_pos, m_neg, lambda; } MarginParams;

/* One sample's margin terms over its k classes, summed in double. */
HD double margin_row(const float *len, int label, int k, const MarginParams *mp)
{
    double total = 0;
    for (int j = 0; j < k; j++) total += margin_term(len[j], j == label, mp->m_pos, mp->m_neg, mp->lambda);
    return total;
}

/* The gradient of lengths[at] (row at / k): scale = dloss / n. */
HD float margin_grad(const float *len, const int *labels, int k, const MarginParams *mp, float scale, long at)
{
    return scale * margin_dlen(len[at], (int)(at % k) == labels[at / k], mp->m_pos, mp->m_neg, mp->lambda);
}

/* Element at of the masked decoder input [B, K*D]: capsule select[b] kept. */
HD float caps_masked(const float *v, const int *select, int k, int d, long at)
{
    long row = at / ((long)k * d);
    int capsule = (int)(at / d % k);
    return capsule == select[row] ? v[at] : 0.0f;
}

/* The mask's gradient reaches only the selected capsule: element t of
 * [B, D] (row t / d, component t % d) adds dy to dv at that capsule. */
HD void caps_mask_grad(const float *dy, const int *select, int k, int d, long t, float *dv)
{
    long i = t / d;
    long at = (i * k + select[i]) * d + t % d;
    dv[at] += dy[at];
}

HD double mse_term(float p, float t)
{
    double d = (double)p - t;
    return d * d;
}

/* d mse / d pred = scale (pred - target). */
HD float mse_scale(float dloss, long n) { return 2.0f * dloss / (float)n; }

/* Element i's share: dp += scale (p - t), dt -= the same (either NULL). */
HD void mse_grad(float scale, const float *p, const float *t, long i, float *dp, float *dt)
{
    float g = scale * (p[i] - t[i]);
    if (dp) dp[i] += g;
    if (dt) dt[i] -= g;
}

/* d prior[i] = sum over the batch (in order) of dcp[b, i]. */
HD float caps_prior_grad(const float *dcp, int batch, long kj, long i)
{
    float sum = 0.0f;
    for (int b = 0; b < batch; b++) sum += dcp[b * kj + i];
    return sum;
}

/* ---- self-attention routing of one sample ------------------------------- */
/* The CPU runs one sample per loop iteration, the CUDA twin one sample per
 * thread: the same code, so the same order of every sum. */

typedef struct RouteGeom { int b, k, j, d; } RouteGeom;

/* sums[k,:] = sum_j uhat[k,j,:]; coupling[k,j] = softmax over k of
 * uhat[k,j] . sums[k] / sqrt(D); s[k,:] = sum_j (coupling + prior) uhat. */
HD void caps_route_sample(const RouteGeom *g, const float *uh, const float *prior, float *sums,
                          float *coupling, float *s)
{
    float inv = 1.0f / sqrtf((float)g->d);
    for (int k = 0; k < g->k; k++) {
        float *sk = sums + (long)k * g->d;
        for (int z = 0; z < g->d; z++) sk[z] = 0.0f;
        for (int j = 0; j < g->j; j++)
            for (int z = 0; z < g->d; z++) sk[z] += uh[((long)k * g->j + j) * g->d + z];
        for (int j = 0; j < g->j; j++)
            coupling[k * g->j + j] = caps_dot(uh + ((long)k * g->j + j) * g->d, sk, g->d) * inv;
    }
    for (int j = 0; j < g->j; j++) {
        float m = coupling[j];
        for (int k = 1; k < g->k; k++) m = fmaxf(m, coupling[k * g->j + j]);
        float total = 0.0f;
        for (int k = 0; k < g->k; k++) {
            float ex = expf(coupling[k * g->j + j] - m);
            coupling[k * g->j + j] = ex;
            total += ex;
        }
        for (int k = 0; k < g->k; k++) coupling[k * g->j + j] /= total;
    }
    for (int k = 0; k < g->k; k++) {
        float *sk = s + (long)k * g->d;
        for (int z = 0; z < g->d; z++) sk[z] = 0.0f;
        for (int j = 0; j < g->j; j++) {
            float cp = coupling[k * g->j + j] + prior[k * g->j + j];
            const float *u = uh + ((long)k * g->j + j) * g->d;
            for (int z = 0; z < g->d; z++) sk[z] += cp * u[z];
        }
    }
}

/* One sample's backward. dcp[k,j] (kept for the prior's gradient) =
 * ds_k . uhat[k,j]; through the softmax dz = C (dcp - sum_k' C dcp); the
 * logit a[k,j] = uhat[k,j] . S_k / sqrt(D) sends dz S_k / sqrt(D) to
 * uhat[k,j] and, through S_k, sum_j dz[k,j] uhat[k,j] / sqrt(D) to every
 * uhat[k,l]. dz is scratch of K*J, gk of D; duh may be NULL. */
HD void caps_route_sample_backward(const RouteGeom *g, const float *uh, const float *prior,
                                   const float *sums, const float *coupling, const float *ds,
                                   float *duh, float *dcp, float *dz, float *gk)
{
    float inv = 1.0f / sqrtf((float)g->d);
    for (int k = 0; k < g->k; k++)
        for (int j = 0; j < g->j; j++) {
            long at = ((long)k * g->j + j) * g->d;
            dcp[k * g->j + j] = caps_dot(ds + (long)k * g->d, uh + at, g->d);
            if (duh) {
                float cp = coupling[k * g->j + j] + prior[k * g->j + j];
                for (int z = 0; z < g->d; z++) duh[at + z] += cp * ds[(long)k * g->d + z];
            }
        }
    if (!duh) return;
    for (int j = 0; j < g->j; j++) {
        float wsum = 0.0f;
        for (int k = 0; k < g->k; k++) wsum += coupling[k * g->j + j] * dcp[k * g->j + j];
        for (int k = 0; k < g->k; k++)
            dz[k * g->j + j] = softmax_dlogit(coupling[k * g->j + j], dcp[k * g->j + j], wsum);
    }
    for (int k = 0; k < g->k; k++) {
        const float *sk = sums + (long)k * g->d;
        for (int z = 0; z < g->d; z++) gk[z] = 0.0f;
        for (int j = 0; j < g->j; j++) {
            long at = ((long)k * g->j + j) * g->d;
            float a = dz[k * g->j + j] * inv;
            for (int z = 0; z < g->d; z++) {
                gk[z] += a * uh[at + z];
                duh[at + z] += a * sk[z];
            }
        }
        for (int j = 0; j < g->j; j++)
            for (int z = 0; z < g->d; z++) duh[((long)k * g->j + j) * g->d + z] += gk[z];
    }
}

#endif
