/* Per-element math of the GECCO ops (ops_gecco.c), written once so the CPU
 * loops and future CUDA kernels compute the same values. The sigmoid is the
 * project's overflow-safe one from elementwise_math.h, so the gate matches
 * op_sigmoid bit for bit. */
#ifndef SWEEPRUN_GECCO_MATH_H
#define SWEEPRUN_GECCO_MATH_H
#include "hostdevice.h"
#include "elementwise_math.h"

/* One ResGatedGraphConv message on edge j -> i, one feature:
 * sigmoid(k_i + q_j) * v_j. */
HD float gated_message(float k, float q, float v) { return sigmoid_fwd(k + q) * v; }

/* Gradients of that message given its upstream dm: with s = sigmoid(k + q),
 * dv = s * dm and da = dm * v * s * (1 - s), where da is both dk and dq
 * (k and q enter only through their sum). */
HD void gated_message_bwd(float k, float q, float v, float dm, float *dv, float *da)
{
    float s = sigmoid_fwd(k + q);
    *dv = s * dm;
    *da = dm * v * s * (1.0f - s);
}

/* One row of batch attention's weights: s (the row of x x^T) becomes
 * sigmoid(s), a = s / r with r its row sum (summed in double, in order);
 * returns r. */
HD float attention_weights_row(float *s, float *a, int rows)
{
    double sum = 0;
    for (int j = 0; j < rows; j++) {
        s[j] = sigmoid_fwd(s[j]);
        sum += s[j];
    }
    for (int j = 0; j < rows; j++) a[j] = (float)(s[j] / sum);
    return (float)sum;
}

/* Batch attention, A_ij = S_ij / r_i with S = sigmoid(G): the gradient
 * reaching G_ij from dA_ij, where row_dot = sum_l A_il dA_il and
 * inv_r = 1 / r_i:  dG_ij = (dA_ij - row_dot) / r_i * S_ij (1 - S_ij). */
HD float attention_dlogit(float da, float row_dot, float inv_r, float s)
{
    return (da - row_dot) * inv_r * s * (1.0f - s);
}

#endif
