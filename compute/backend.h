/* Backend dispatch for the ops (compute-internal; models never need it).
 *
 * An op keeps its shape checks, output allocation and tape recording in
 * ops_<family>.c, written once; only the arithmetic differs per backend:
 *
 *     if (ON_CUDA(c)) CUDA_ONLY(cuda_relu_forward(c->cuda, x->data, y->data, n));
 *     else relu_forward_cpu(x->data, y->data, n);
 *
 * Backward functions use e->ctx the same way. Without the CUDA backend
 * ON_CUDA() is the constant 0 and CUDA_ONLY() drops its argument before
 * compilation, so a CPU-only build neither compiles nor links a single CUDA
 * symbol. CPU arithmetic lives in static functions (an OpenMP pragma cannot
 * sit inside a macro argument); CUDA launchers are declared in
 * cuda/cuda_ops.h and defined in cuda/<family>.cu. docs/cuda.md has the
 * checklist for adding an op.
 *
 * The bk_* helpers below do the common pieces (matrix products, fills,
 * copies) on either backend, so ops written with them need no CUDA twin
 * of their own for those parts. */
#ifndef SWEEPRUN_BACKEND_H
#define SWEEPRUN_BACKEND_H
#include "ctx.h"

#ifdef SWEEPRUN_HAVE_CUDA
#include "cuda/cuda_ops.h"
#define ON_CUDA(c) ((c)->device == DEVICE_CUDA)
#define CUDA_ONLY(...) __VA_ARGS__
#else
#define ON_CUDA(c) ((void)(c), 0)
#define CUDA_ONLY(...) ((void)0)
#endif

/* Row-major C[m,n] = alpha op(A) op(B) + beta C on the ctx's backend
 * (oneDNN's sgemm or cuBLAS; TF32 only when the backend was created with it).
 * Every call adds 2mnk to the FLOP counter. */
void bk_gemm(const Ctx *c, int trans_a, int trans_b, long m, long n, long k, float alpha,
             const float *a, long lda, const float *b, long ldb, float beta, float *cm, long ldc);
/* x[0..n) = value */
void bk_fill(const Ctx *c, float *x, long n, float value);
/* dst[0..n) = src[0..n) */
void bk_copy(const Ctx *c, float *dst, const float *src, long n);
/* dst[i] += src[i] */
void bk_add_into(const Ctx *c, float *dst, const float *src, long n);

/* Matrix-product FLOPs done through bk_gemm (and the CPU convolution) since
 * the last reset: sweeprun-bench counts one eager training step with it. */
void bk_flops_reset(void);
double bk_flops(void);
void bk_flops_add(double flops);

#endif
