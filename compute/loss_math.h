/* Per-row math of the cross-entropy loss and the arg-max, written once so
 * ops_loss.c and cuda/loss.cu compute the same values: rows in double,
 * columns in order. */
#ifndef SWEEPRUN_LOSS_MATH_H
#define SWEEPRUN_LOSS_MATH_H
#include <math.h>
#include "hostdevice.h"

/* log(sum_j exp(z_j)) of one row of k logits, in double; the row maximum
 * is subtracted first, so logits of any magnitude (1e3, 1e30) give a
 * finite value instead of exp() overflowing to inf. */
HD double row_logsumexp(const float *z, int k)
{
    double m = z[0];
    for (int j = 1; j < k; j++)
        if (z[j] > m) m = z[j];
    double s = 0;
    for (int j = 0; j < k; j++) s += exp((double)z[j] - m);
    return m + log(s);
}

/* One row's loss gradient: dz_j += scale * (softmax_j - [j == label]),
 * scale being the upstream gradient over the batch size. */
HD void cross_entropy_row_grad(const float *z, int label, int k, double scale, float *dz)
{
    double lse = row_logsumexp(z, k);
    for (int j = 0; j < k; j++) {
        double p = exp((double)z[j] - lse);
        dz[j] += (float)(scale * (p - (j == label)));
    }
}

/* First index of the row maximum (strict > keeps the earliest on ties). A
 * NaN logit after index 0 is never chosen, since comparisons with NaN are
 * false. */
HD int row_argmax(const float *row, int k)
{
    int best = 0;
    for (int j = 1; j < k; j++)
        if (row[j] > row[best]) best = j;
    return best;
}

#endif
