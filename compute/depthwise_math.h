/* Geometry and per-element math of the depthwise convolution
 * (ops_depthwise.c), shared with its CUDA twin (cuda/depthwise.cu) so both
 * backends visit the taps of an output, and the outputs of an input, in
 * the same order. */
#ifndef SWEEPRUN_DEPTHWISE_MATH_H
#define SWEEPRUN_DEPTHWISE_MATH_H
#include "hostdevice.h"

typedef struct DwGeom {
    int n, c, h, w, kh, kw, stride, pad, oh, ow;
} DwGeom;

/* Output (r, q) of one plane: bias + sum over the taps in row-major order
 * (taps in the zero padding skipped). */
HD float dw_output(const DwGeom *g, const float *x, const float *w, float bias, int r, int q)
{
    float sum = bias;
    for (int i = 0; i < g->kh; i++) {
        int ih = r * g->stride - g->pad + i;
        if (ih < 0 || ih >= g->h) continue;
        for (int j = 0; j < g->kw; j++) {
            int iw = q * g->stride - g->pad + j;
            if (iw >= 0 && iw < g->w) sum += w[i * g->kw + j] * x[ih * g->w + iw];
        }
    }
    return sum;
}

/* Outputs [lo, hi] along one axis (n outputs, kernel k) whose window holds
 * input position pos; lo > hi when none does. */
HD void dw_covering(int pos, int k, int stride, int pad, int n, int *lo, int *hi)
{
    int first = pos + pad - k + 1;   /* smallest o*stride that still reaches pos */
    *lo = first <= 0 ? 0 : (first + stride - 1) / stride;
    int last = (pos + pad) / stride;
    *hi = last < n - 1 ? last : n - 1;
}

#endif
