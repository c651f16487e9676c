/* Column sums of a row-major [rows, cols] matrix (bias gradients), written
 * once so the CPU loops (ops_dense.c, ops_gecco.c) and cuda/dense.cu add
 * the same terms in the same order: rows ascending. */
#ifndef SWEEPRUN_DENSE_MATH_H
#define SWEEPRUN_DENSE_MATH_H
#include "hostdevice.h"

/* start + sum_r x[r, j], summed in float (ops_dense.c's bias gradient). */
HD float col_sum_float(const float *x, long rows, long cols, long j, float start)
{
    float acc = start;
    for (long r = 0; r < rows; r++) acc += x[r * cols + j];
    return acc;
}

/* sum_r x[r, j], summed in double (ops_gecco.c's bias gradients). */
HD float col_sum_double(const float *x, long rows, long cols, long j)
{
    double acc = 0;
    for (long r = 0; r < rows; r++) acc += x[r * cols + j];
    return (float)acc;
}

#endif
