/* Per-channel and per-element formulas of batch norm and the row
 * normalisation, written once so ops_norm.c and cuda/norm.cu compute the
 * same values from the same (double) sums; only how the sums are reduced
 * differs (in order on the CPU, a fixed tree per block on CUDA). */
#ifndef SWEEPRUN_NORM_MATH_H
#define SWEEPRUN_NORM_MATH_H
#include <math.h>
#include "hostdevice.h"

/* 1 / sqrt(var + eps), in double. */
HD float bn_invstd(double var, float eps) { return (float)(1.0 / sqrt(var + (double)eps)); }

/* Channel ch's statistics from its batch mean and biased variance over
 * count values: mean[ch], invstd[ch] and PyTorch's running-stat update
 * (unbiased variance for running_var; run_* may be NULL). */
HD void bn_store_stats(int ch, double mean, double var, long count, float momentum, float eps, float *mean_out,
                       float *invstd_out, float *run_mean, float *run_var)
{
    double unbias = (double)count / (double)(count - 1);
    mean_out[ch] = (float)mean;
    invstd_out[ch] = bn_invstd(var, eps);
    if (run_mean) run_mean[ch] = (float)((1.0 - momentum) * run_mean[ch] + momentum * mean);
    if (run_var) run_var[ch] = (float)((1.0 - momentum) * run_var[ch] + momentum * var * unbias);
}

/* y = x * scale + shift with scale = invstd * gamma and shift = beta -
 * mean * scale (gamma, beta NULL mean 1, 0). */
HD float bn_scale(const float *invstd, const float *gamma, int ch)
{
    return invstd[ch] * (gamma ? gamma[ch] : 1.0f);
}

HD float bn_shift(const float *mean, const float *beta, int ch, float scale)
{
    return (beta ? beta[ch] : 0.0f) - mean[ch] * scale;
}

HD double bn_xhat(float x, float mean, float invstd) { return ((double)x - mean) * invstd; }

/* Channel ch's input gradient is dx = k * (dy - mdy - xhat * mxh) with
 * k = gamma * invstd. With batch statistics the mean and variance depend
 * on x: mdy = mean(dy), mxh = mean(dy * xhat), so that
 * dx = g*invstd/n * (n*dy - sum(dy) - xhat*sum(dy*xhat)). With running
 * statistics they are constants: mdy = mxh = 0, dx = g*invstd*dy. */
typedef struct BnDx { double k, mdy, mxh; } BnDx;

HD BnDx bn_dx_terms(const float *gamma, const float *invstd, int ch, int batch_stats, double sum_dy,
                    double sum_dy_xhat, long count)
{
    double g = gamma ? gamma[ch] : 1.0;
    BnDx t = {g * invstd[ch], 0, 0};
    if (batch_stats) {
        t.mdy = sum_dy / (double)count;
        t.mxh = sum_dy_xhat / (double)count;
    }
    return t;
}

HD float bn_dx(const BnDx *t, float dy, double xhat) { return (float)(t->k * (dy - t->mdy - xhat * t->mxh)); }

/* Row normalisation y = x / s with s = sum(x) (in double), and its
 * gradient dx_k = (dy_k - dot) / s with dot = sum_j dy_j y_j. */
HD float row_normalized(float x, double s) { return (float)(x / s); }

HD float row_normalize_dx(float dy, double dot, double s) { return (float)((dy - dot) / s); }

#endif
