/* Per-element math of the axis ops (ops_shape.c: concat, slice;
 * ops_softmax.c: softmax), written once so the CPU loops and the CUDA
 * kernels compute the same indices and values.
 *
 * Every axis op sees its tensor as [outer, len, inner] around the axis:
 * outer = product of the dimensions before it, inner = product of those
 * after it. Element (o, j, i) then sits at (o * len + j) * inner + i. */
#ifndef SWEEPRUN_SHAPE_MATH_H
#define SWEEPRUN_SHAPE_MATH_H
#include <math.h>
#include "hostdevice.h"

HD long axis_index(long o, long j, long i, long len, long inner)
{
    return (o * len + j) * inner + i;
}

/* A softmax "line" is an (outer, inner) pair: line l starts at
 * axis_index(l / inner, 0, l % inner) and steps by inner. */
HD long line_base(long line, long len, long inner) { return axis_index(line / inner, 0, line % inner, len, inner); }

/* Softmax of one element given its line's maximum and sum of
 * exp(x - max): subtracting the maximum keeps expf() from overflowing. */
HD float softmax_value(float x, float max, float inv_sum) { return expf(x - max) * inv_sum; }

/* d softmax: dx_j = y_j (dy_j - sum_k y_k dy_k); dot is that sum. */
HD float softmax_bwd(float y, float dy, float dot) { return y * (dy - dot); }

/* One line of len elements, stride apart: the CPU loop runs it per line,
 * the CUDA kernel per thread, so both sum in the same order. */
HD void softmax_line_fwd(const float *x, float *y, long len, long stride)
{
    float max = x[0];
    for (long j = 1; j < len; j++)
        if (x[j * stride] > max) max = x[j * stride];
    float sum = 0.0f;
    for (long j = 0; j < len; j++) sum += expf(x[j * stride] - max);
    float inv = 1.0f / sum;
    for (long j = 0; j < len; j++) y[j * stride] = softmax_value(x[j * stride], max, inv);
}

/* dx += softmax backward of one line (y the saved output). */
HD void softmax_line_bwd(const float *y, const float *dy, float *dx, long len, long stride)
{
    float dot = 0.0f;
    for (long j = 0; j < len; j++) dot += y[j * stride] * dy[j * stride];
    for (long j = 0; j < len; j++) dx[j * stride] += softmax_bwd(y[j * stride], dy[j * stride], dot);
}

#endif
