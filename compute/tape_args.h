/* What each op's forward keeps in its tape entry for the backward: one
 * struct of named fields per op family, all members of TapeArgs, the union
 * inside TapeEntry (ctx.h). A forward fills only its own member,
 * e->args.slice = (TapeSlice){.axis = a, .start = start}, and its backward
 * reads the same member back. Recording stays a copy into the tape, with
 * no allocation per step.
 *
 * Pointers to memory that forward allocated (winner indices, label copies,
 * im2col buffers) point into the ctx's arenas: host memory for tensor
 * headers, the ctx's device for data, and they live until the next
 * ctx_begin. */
#ifndef SWEEPRUN_TAPE_ARGS_H
#define SWEEPRUN_TAPE_ARGS_H
#include <stdint.h>
#include "tensor.h"

/* op_conv2d: the geometry not implied by x and w, and two saved buffers.
 * CPU: saved = the input in the layout oneDNN's forward chose (NULL when
 * that is NCHW: x itself is read); scratch unused. CUDA: saved = col
 * [rows, N*P], scratch = the K-major buffer [K, N*P]. */
typedef struct TapeConv {
    int stride, pad;
    int relu;             /* op_conv2d_relu: the output is max(0, convolution) */
    float *saved, *scratch;
} TapeConv;

/* op_depthwise_conv2d (the rest of the geometry comes from x and w). */
typedef struct TapeDepthwise {
    int stride, pad;
} TapeDepthwise;

/* op_maxpool2d_pad and op_maxpool1d: each output's winner (its position
 * inside the input plane), the plane sizes and, for the CUDA gather, the
 * window geometry; a 1-D pool has h = 1, w = the row length, pad = 0. */
typedef struct TapePool {
    const int *winner;
    long in_plane, out_plane;
    int two_d;
    int h, w, k, stride, pad;
} TapePool;

/* op_dropout: the mask is not stored; backward redraws it from the same
 * (seed, offset) and p. */
typedef struct TapeDropout {
    uint64_t seed, offset;
    float p;
} TapeDropout;

/* op_scale: the constant factor. */
typedef struct TapeScale {
    float s;
} TapeScale;

/* op_linear: y[n, out] = x[n, in] w[out, in]^T + b. */
typedef struct TapeLinear {
    int n, in, out;
} TapeLinear;

/* op_matmul: C[m, n] = op(A) op(B) with op(A) [m, k]. */
typedef struct TapeMatmul {
    int trans_a, trans_b;
    int m, n, k;
} TapeMatmul;

/* op_concat: an arena copy of the input list (host memory), the axis. */
typedef struct TapeConcat {
    Tensor **inputs;
    int n, axis;
} TapeConcat;

/* op_slice: positions [start, start + out->dims[axis]) of x's axis. */
typedef struct TapeSlice {
    int axis, start;
} TapeSlice;

/* op_softmax: the axis, resolved to [0, ndim). */
typedef struct TapeSoftmax {
    int axis;
} TapeSoftmax;

/* op_batchnorm, op_batchnorm_relu: batch_stats 1 when forward normalised
 * with batch statistics (training), 0 with the running ones; relu 1 for
 * op_batchnorm_relu. */
typedef struct TapeBatchNorm {
    int batch_stats;
    int relu;
} TapeBatchNorm;

/* op_gated_graph_conv: the GraphMode. */
typedef struct TapeGraph {
    int mode;
} TapeGraph;

/* The int arrays below are copies on the ctx's device: the caller's
 * buffer may be refilled (by a prefetching loader) before backward runs. */

/* op_cross_entropy: the labels. */
typedef struct TapeCrossEntropy {
    const int *labels;
} TapeCrossEntropy;

/* op_caps_mask: the capsule kept per row. */
typedef struct TapeCapsMask {
    const int *select;
} TapeCapsMask;

/* op_margin_loss: the labels and MarginParams' three numbers. */
typedef struct TapeMargin {
    const int *labels;
    float m_pos, m_neg, lambda;
} TapeMargin;

/* op_squash: the eps inside the norm. */
typedef struct TapeSquash {
    float eps;
} TapeSquash;

/* op_caps_routing, all on the ctx's device: the coupling coefficients
 * [B,K,J] and prediction sums [B,K,D] that forward computed, and
 * backward's scratch (backward has no arena): dcp and dz [B,K,J], gk
 * [B,D]. */
typedef struct TapeRoute {
    float *coupling, *sums;
    float *dcp, *dz, *gk;
} TapeRoute;

typedef union TapeArgs {
    TapeConv conv;
    TapeDepthwise depthwise;
    TapePool pool;
    TapeDropout dropout;
    TapeScale scale;
    TapeLinear linear;
    TapeMatmul matmul;
    TapeConcat concat;
    TapeSlice slice;
    TapeSoftmax softmax;
    TapeBatchNorm batchnorm;
    TapeGraph graph;
    TapeCrossEntropy cross_entropy;
    TapeCapsMask caps_mask;
    TapeMargin margin;
    TapeSquash squash;
    TapeRoute route;
} TapeArgs;

#endif
