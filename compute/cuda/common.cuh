// Shared by the compute/cuda/*.cu files: the backend's state, error checks
// and launch geometry. Not a public header (cuda_ops.h is).
#ifndef SWEEPRUN_CUDA_COMMON_CUH
#define SWEEPRUN_CUDA_COMMON_CUH
#include <cstdio>
#include <cstdlib>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include "cuda_ops.h"

struct CudaBackend {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    void *blas_workspace;
    size_t blas_workspace_bytes;
    int tf32;
    int capturing;
};

[[noreturn]] void cuda_fail(const char *what, const char *why, const char *file, int line);

// A failing CUDA runtime call is a bug or a broken device: report and abort.
#define CUDA_CHECK(call)                                                          \
    do {                                                                          \
        cudaError_t e_ = (call);                                                  \
        if (e_ != cudaSuccess) cuda_fail(#call, cudaGetErrorString(e_), __FILE__, __LINE__); \
    } while (0)

#define CUBLAS_CHECK(call)                                                        \
    do {                                                                          \
        cublasStatus_t s_ = (call);                                               \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                          \
            cuda_fail(#call, cublasGetStatusString(s_), __FILE__, __LINE__);      \
    } while (0)

// After every kernel launch: catches bad launch configurations at once
// (cudaGetLastError does not synchronise, so it is legal while capturing).
#define LAUNCH_CHECK(name) CUDA_CHECK(cudaGetLastError())

static inline cudaStream_t stream_of(const CudaBackend *cu) { return cu->stream; }

// Grid-stride loops: enough blocks to fill the GPU, never more than needed.
static const int THREADS = 256;
static inline unsigned grid_for(long n)
{
    long blocks = (n + THREADS - 1) / THREADS;
    if (blocks < 1) blocks = 1;
    if (blocks > 65535L * 8) blocks = 65535L * 8;
    return (unsigned)blocks;
}

#define GRID_STRIDE(i, n) \
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long)gridDim.x * blockDim.x)

// Fixed-order tree reduction of one double per thread over a block of
// blockDim.x (a power of two) threads; the result is in sh[0] for everyone.
__device__ __forceinline__ double block_sum_double(double v, double *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads();
    return r;
}

#endif
