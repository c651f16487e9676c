/* Max pooling's window scan, shared by ops_pool.c and cuda/pool.cu so both
 * pick the same winner: ties go to the FIRST maximum in scan order (strict
 * >), and a NaN wins over any number and then sticks (NaNs propagate). */
#ifndef SWEEPRUN_POOL_MATH_H
#define SWEEPRUN_POOL_MATH_H
#include "hostdevice.h"

HD int pool_beats(float v, float best) { return v > best || (v != v && best == best); }

/* Output o of a window sequence (size k, stride s, padding pad) over an
 * axis of n inputs starts at input o*s - pad; padded positions hold -inf
 * in PyTorch, so they never win and only [lo, hi) of the window (offsets
 * from start) is scanned. pad <= k/2 guarantees lo < hi. */
HD void pool_window(int o, int s, int pad, int k, int n, int *start, int *lo, int *hi)
{
    *start = o * s - pad;
    *lo = *start < 0 ? -*start : 0;
    *hi = *start + k > n ? n - *start : k;
}

/* The winner of 2-D output (r, q), a k x k window with stride s and
 * padding pad over an h x w plane: its position inside the plane. The
 * window is scanned in row-major order from its first VALID element. */
HD int maxpool2d_winner(const float *x, int h, int w, int k, int s, int pad, int r, int q)
{
    int r0, i_lo, i_hi, q0, j_lo, j_hi;
    pool_window(r, s, pad, k, h, &r0, &i_lo, &i_hi);
    pool_window(q, s, pad, k, w, &q0, &j_lo, &j_hi);
    int best_i = (r0 + i_lo) * w + q0 + j_lo;
    float best = x[best_i];
    for (int i = i_lo; i < i_hi; i++)
        for (int j = j_lo; j < j_hi; j++) {
            int at = (r0 + i) * w + q0 + j;
            if (pool_beats(x[at], best)) {
                best = x[at];
                best_i = at;
            }
        }
    return best_i;
}

/* The winner of 1-D output o (window k, stride s, no padding) of a row. */
HD int maxpool1d_winner(const float *x, int k, int s, int o)
{
    int best_i = o * s;
    for (int at = o * s + 1; at < o * s + k; at++)
        if (pool_beats(x[at], x[best_i])) best_i = at;
    return best_i;
}

/* Global average pooling: one plane's mean, summed in double in order, and
 * each input's share of the output gradient. */
HD float avgpool_plane(const float *x, long plane)
{
    double sum = 0;
    for (long i = 0; i < plane; i++) sum += x[i];
    return (float)(sum / (double)plane);
}

/* __fmul_rn keeps nvcc from fusing the product into the caller's +=, so
 * the GPU adds the CPU's rounded product: the same bits. */
HD float avgpool_share(float dy, long plane)
{
#ifdef __CUDA_ARCH__
    return __fmul_rn(dy, 1.0f / (float)plane);
#else
    return dy * (1.0f / (float)plane);
#endif
}

#endif
