/* Per-element math of the GECCO ops (ops_gecco.c), written once so the CPU
 * loops and the CUDA kernels (cuda/gecco.cu) compute the same values. The sigmoid is the
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

/* The complete graph's per-output sums over the batch (rows), feature f of
 * a [rows, fout] layout, j (or i) ascending from the given start:
 * out[i,f] = start + sum_j message(k_i, q_j, v_j). */
HD float complete_message_sum(float ki, const float *q, const float *v, int rows, int fout, int f, float start)
{
    float acc = start;
    for (int j = 0; j < rows; j++) acc += gated_message(ki, q[(long)j * fout + f], v[(long)j * fout + f]);
    return acc;
}

/* dk[i,f] = sum_j d_ij with d_ij = g_i v_j e_ij (1 - e_ij) (pass over
 * targets i). */
HD float complete_dk(float ki, float gi, const float *q, const float *v, int rows, int fout, int f)
{
    float acc = 0.0f;
    for (int j = 0; j < rows; j++) {
        float unused, da;
        gated_message_bwd(ki, q[(long)j * fout + f], v[(long)j * fout + f], gi, &unused, &da);
        acc += da;
    }
    return acc;
}

/* dq[j,f] = sum_i d_ij and dv[j,f] = sum_i e_ij g_i (pass over sources j). */
HD void complete_dq_dv(float qj, float vj, const float *k, const float *g, int rows, int fout, int f, float *dq,
                       float *dv)
{
    float aq = 0.0f, av = 0.0f;
    for (int i = 0; i < rows; i++) {
        float dvi, da;
        gated_message_bwd(k[(long)i * fout + f], qj, vj, g[(long)i * fout + f], &dvi, &da);
        av += dvi;
        aq += da;
    }
    *dq = aq;
    *dv = av;
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

/* dG from dA in place for row i: attention_dlogit with the row's
 * sum_l A_il dA_il (in double, in order). */
HD void attention_dlogits_row(const float *a, const float *s, float r, float *dg, int rows)
{
    double dot = 0;
    for (int l = 0; l < rows; l++) dot += (double)a[l] * dg[l];
    float inv_r = 1.0f / r;
    for (int j = 0; j < rows; j++) dg[j] = attention_dlogit(dg[j], (float)dot, inv_r, s[j]);
}

#endif
