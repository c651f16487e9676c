/* Per-element math of the element-wise ops, written once so the CPU loops
 * (ops_elementwise.c) and CUDA kernels share the same formulas; the dropout
 * keep test in particular must agree bit for bit, so both backends drop the
 * same elements for the same (seed, rng_offset). */
#ifndef SWEEPRUN_ELEMENTWISE_MATH_H
#define SWEEPRUN_ELEMENTWISE_MATH_H
#include <math.h>
#include <stdint.h>
#include "hostdevice.h"
#include "rng.h"

HD float relu_fwd(float x) { return x > 0.0f ? x : 0.0f; }

/* PyTorch passes the gradient where the output is positive, so x == 0 gets
 * none (the subgradient at the kink is 0). */
HD float relu_bwd(float x, float dy) { return x > 0.0f ? dy : 0.0f; }

/* Split on the sign so exp() never overflows: for x < 0 use
 * e^x / (1 + e^x), which is the same function. */
HD float sigmoid_fwd(float x)
{
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* In terms of the output y = sigmoid(x): dy/dx = y (1 - y). */
HD float sigmoid_bwd(float y, float dy) { return dy * y * (1.0f - y); }

/* op_scale: y = s x, and its input gradient term dy s (the same product,
 * so forward and backward round alike on both backends). */
HD float scale_term(float v, float s) { return v * s; }

/* The dropout keep test on one raw 32-bit draw; identical to
 * rng_uniform(...) >= p because it applies the same 24-bit conversion. */
HD int dropout_keep_bits(uint32_t bits, float p)
{
    return (float)(bits >> 8) * (1.0f / 16777216.0f) >= p;
}

/* 1/(1-p), or 0 when p >= 1 (everything dropped; avoids 0 * inf = NaN). */
HD float dropout_scale(float p) { return p < 1.0f ? 1.0f / (1.0f - p) : 0.0f; }

#endif
