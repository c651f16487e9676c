/* The backend-neutral helpers of backend.h: each is one dispatch between a
 * CPU loop (or oneDNN's GEMM) and its CUDA launcher. */
#include "backend.h"
#include "util.h"
#include "dnn_cpu.h"
#include <string.h>

static double gemm_flops;

void bk_flops_reset(void) { gemm_flops = 0; }
double bk_flops(void) { return gemm_flops; }
void bk_flops_add(double flops) { gemm_flops += flops; }

void bk_gemm(const Ctx *c, int ta, int tb, long m, long n, long k, float alpha,
             const float *a, long lda, const float *b, long ldb, float beta, float *cm, long ldc)
{
    gemm_flops += 2.0 * (double)m * (double)n * (double)k;
    if (ON_CUDA(c)) CUDA_ONLY(cuda_gemm(c->cuda, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, cm, ldc));
    else
        dnn_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, cm, ldc);
}

static void fill_cpu(float *x, long n, float value)
{
#pragma omp parallel for if (n >= PAR_MIN)
    for (long i = 0; i < n; i++) x[i] = value;
}

void bk_fill(const Ctx *c, float *x, long n, float value)
{
    if (ON_CUDA(c)) CUDA_ONLY(cuda_fill(c->cuda, x, n, value));
    else fill_cpu(x, n, value);
}

void bk_copy(const Ctx *c, float *dst, const float *src, long n)
{
    if (ON_CUDA(c)) CUDA_ONLY(cuda_copy_device(c->cuda, dst, src, (size_t)n * sizeof(float)));
    else memcpy(dst, src, (size_t)n * sizeof(float));
}

static void add_into_cpu(float *dst, const float *src, long n)
{
#pragma omp parallel for if (n >= PAR_MIN)
    for (long i = 0; i < n; i++) dst[i] += src[i];
}

void bk_add_into(const Ctx *c, float *dst, const float *src, long n)
{
    if (ON_CUDA(c)) CUDA_ONLY(cuda_add_into(c->cuda, dst, src, n));
    else add_into_cpu(dst, src, n);
}
