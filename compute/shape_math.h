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

/* Softmax of one element given its line's maximum and sum of
 * exp(x - max): subtracting the maximum keeps expf() from overflowing. */
HD float softmax_value(float x, float max, float inv_sum) { return expf(x - max) * inv_sum; }

/* d softmax: dx_j = y_j (dy_j - sum_k y_k dy_k); dot is that sum. */
HD float softmax_bwd(float y, float dy, float dot) { return y * (dy - dot); }

#endif
