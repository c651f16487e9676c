// Shared by the compute/cuda/*.cu files: the backend's state, error checks,
// launch geometry and the launch helpers. Not a public header (cuda_ops.h is).
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

// Report and abort; file NULL: no source position (a kernel launch, which
// the kernel's name identifies).
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

// ---- kernel launches ----------------------------------------------------------
// Every kernel starts through launch() or launch_1d(): on the backend's
// stream, then a check that catches a bad launch configuration at once and
// names the kernel (cudaGetLastError does not synchronise, so it is legal
// while a graph is being captured). The arguments convert to the kernel's
// parameter types as in a direct call. Shared memory is always static.

// The kernel's parameter types, not deduced from the call's arguments.
template <typename T> struct KernelParam { using type = T; };

// blocks x threads: the one-block and block-per-row reductions.
template <typename... Params>
void launch(const CudaBackend *cu, const char *name, void (*kernel)(Params...), unsigned blocks,
            unsigned threads, typename KernelParam<Params>::type... args)
{
    kernel<<<blocks, threads, 0, cu->stream>>>(args...);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) cuda_fail(name, cudaGetErrorString(e), NULL, 0);
}

// A grid-stride kernel over n items (GRID_STRIDE); nothing when n <= 0.
template <typename... Params>
void launch_1d(const CudaBackend *cu, const char *name, void (*kernel)(Params...), long n,
               typename KernelParam<Params>::type... args)
{
    if (n <= 0) return;
    launch(cu, name, kernel, grid_for(n), THREADS, args...);
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
