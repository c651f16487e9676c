/* oneDNN on the CPU (compute-internal): the CPU backend's matrix products
 * and convolutions run in Debian's libdnnl (2.6, OpenMP runtime: it uses
 * the team size omp_set_num_threads gave, like every other CPU loop).
 *
 * Why oneDNN rather than OpenBLAS: its JIT kernels pick the ISA from CPUID
 * flags, so they run AVX-512 on any processor that has it; OpenBLAS 0.3.21
 * picks kernels by CPU model and ran its generic Prescott (SSE3) kernels on
 * the project's current machine (Xeon family 6 model 207): 18 GFLOP/s per
 * core against 157 for dnnl_sgemm on a 1024^3 product. Its direct
 * convolution on blocked layouts (nChw16c) replaced im2col + GEMM: forward +
 * both backward passes of x[64,32,28,28] * w[32,32,3,3] take 8.3 ms at 2
 * threads against 47 ms for oneDNN's own im2col path on plain NCHW.
 *
 * Everything here is deterministic run to run for a fixed thread count (no
 * atomics in oneDNN's CPU convolutions or GEMM); results differ in the
 * last bits between thread counts above DNN_GEMM_SERIAL (docs/determinism.md).
 * Not thread-safe: one thread at a time calls into this module (the ops
 * are called from the training loop's thread, never inside a parallel
 * region). */
#ifndef SWEEPRUN_DNN_CPU_H
#define SWEEPRUN_DNN_CPU_H
#include <stddef.h>

/* Products of fewer multiply-adds than this run on one thread whatever the
 * team size: at these sizes OpenMP's fork/join costs more than the second
 * core saves (measured, dnnl_sgemm: 64x64x64 4.4 us on 1 thread, 6.4 us on
 * 2), and the result is then the same bits at any thread count. */
#define DNN_GEMM_SERIAL (1L << 20)

/* Row-major C[m,n] = alpha op(A) op(B) + beta C (cblas_sgemm's contract). */
void dnn_sgemm(int trans_a, int trans_b, long m, long n, long k, float alpha, const float *a, long lda,
               const float *b, long ldb, float beta, float *c, long ldc);

/* One convolution shape's primitives (forward, backward data, backward
 * weights, and the reorders between PyTorch's NCHW / OIHW and the blocked
 * layouts the JIT kernels use), created on first use and cached by shape
 * and thread count for the life of the process: never per step. */
typedef struct DnnConv DnnConv;

typedef struct DnnConvShape {
    int n, c, h, w;       /* input, NCHW */
    int k, kh, kw;        /* filters, OIHW */
    int stride, pad;      /* zero padding; floor output size */
    int oh, ow;
    int bias;             /* 1: a bias of k values */
    int relu;             /* 1: forward writes max(0, y), an eltwise post-op */
} DnnConvShape;

DnnConv *dnn_conv_plan(const DnnConvShape *s);
/* Floats the forward must keep for backward weights (the input in the
 * forward's layout); 0 when that layout is NCHW and x itself is kept. */
long dnn_conv_saved_floats(const DnnConv *p);
/* y = conv(x, w) + b (b NULL without bias). saved: dnn_conv_saved_floats
 * floats that backward will read, or NULL when no backward follows. */
void dnn_conv_forward(DnnConv *p, const float *x, const float *w, const float *b, float *y, float *saved);
/* Accumulates: dx += dL/dx, dw += dL/dw, db += dL/db, each skipped when NULL.
 * x and saved as given to the forward. */
void dnn_conv_backward(DnnConv *p, const float *x, const float *saved, const float *w, const float *dy,
                       float *dx, float *dw, float *db);

#endif
