/* The convolution's im2col and col2im index maps, shared by ops_conv.c's
 * CPU loops and cuda/conv.cu's kernels, so both read the same input for a
 * column entry and sum a pixel's taps in the same order. */
#ifndef SWEEPRUN_CONV_MATH_H
#define SWEEPRUN_CONV_MATH_H
#include "hostdevice.h"

/* Input x[N,C,H,W], filters [K,C,kh,kw], zero padding, output [N,K,oh,ow]. */
typedef struct ConvShape {
    int n, c, h, w;
    int k, kh, kw;
    int stride, pad;
    int oh, ow;
} ConvShape;

/* Column entry (row (ch, i, j), column (n, oy, ox)): the input pixel that
 * tap (i, j) of output (oy, ox) reads, 0 in the padding. */
HD float im2col_value(const ConvShape *s, const float *x, int n, int ch, int i, int j, int oy, int ox)
{
    int iy = oy * s->stride - s->pad + i, ix = ox * s->stride - s->pad + j;
    if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) return 0.0f;
    return x[(((long)n * s->c + ch) * s->h + iy) * s->w + ix];
}

/* Input pixel (n, ch, iy, ix)'s gradient from col[C*kh*kw, N*oh*ow]: the
 * sum of every column entry that read it, taps in (i, j) order. */
HD float col2im_sum(const ConvShape *s, const float *col, int n, int ch, int iy, int ix)
{
    long plane = (long)s->oh * s->ow, np = (long)s->n * plane;
    float acc = 0.0f;
    for (int i = 0; i < s->kh; i++) {
        int a = iy + s->pad - i;   /* = oy * stride */
        if (a < 0 || a % s->stride) continue;
        int oy = a / s->stride;
        if (oy >= s->oh) continue;
        for (int j = 0; j < s->kw; j++) {
            int b = ix + s->pad - j;   /* = ox * stride */
            if (b < 0 || b % s->stride) continue;
            int ox = b / s->stride;
            if (ox >= s->ow) continue;
            long r = ((long)ch * s->kh + i) * s->kw + j;
            acc += col[r * np + (long)n * plane + (long)oy * s->ow + ox];
        }
    }
    return acc;
}

#endif
