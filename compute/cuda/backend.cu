// The CUDA backend itself: device selection, the one stream, cuBLAS, device
// memory, copies, graph capture and the small generic kernels (fill, add).
#include <cstring>
#include "common.cuh"

void cuda_fail(const char *what, const char *why, const char *file, int line)
{
    fflush(stdout);
    if (file) fprintf(stderr, "sweeprun: internal error: CUDA error in %s (%s:%d): %s\n", what, file, line, why);
    else fprintf(stderr, "sweeprun: internal error: CUDA error in %s: %s\n", what, why);
    abort();
}

extern "C" {

// cuBLAS's recommended workspace for Hopper; fixed, so cuBLAS never
// allocates while a step is being captured.
static const size_t BLAS_WORKSPACE = (size_t)32 << 20;

CudaBackend *cuda_backend_create(int device, int tf32, char *err, int err_size)
{
    int count = 0;
    cudaError_t rc = cudaGetDeviceCount(&count);
    if (rc != cudaSuccess || count == 0) {
        snprintf(err, err_size, "no usable CUDA device (%s)",
                 rc != cudaSuccess ? cudaGetErrorString(rc) : "none found");
        return NULL;
    }
    if (device < 0 || device >= count) {
        snprintf(err, err_size, "CUDA device %d does not exist (this machine has %d: 0..%d)", device,
                 count, count - 1);
        return NULL;
    }
    rc = cudaSetDevice(device);
    if (rc == cudaSuccess) rc = cudaFree(0);   // create the context now, report failure here
    if (rc != cudaSuccess) {
        snprintf(err, err_size, "CUDA device %d cannot be used: %s", device, cudaGetErrorString(rc));
        return NULL;
    }
    CudaBackend *cu = (CudaBackend *)calloc(1, sizeof *cu);
    if (!cu) cuda_fail("calloc", "out of host memory", __FILE__, __LINE__);
    cu->device = device;
    cu->tf32 = tf32;
    CUDA_CHECK(cudaStreamCreateWithFlags(&cu->stream, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasCreate(&cu->blas));
    CUBLAS_CHECK(cublasSetStream(cu->blas, cu->stream));
    cu->blas_workspace_bytes = BLAS_WORKSPACE;
    CUDA_CHECK(cudaMalloc(&cu->blas_workspace, cu->blas_workspace_bytes));
    CUBLAS_CHECK(cublasSetWorkspace(cu->blas, cu->blas_workspace, cu->blas_workspace_bytes));
    // FP32 products unless TF32 was asked for: parity with the CPU first.
    CUBLAS_CHECK(cublasSetMathMode(cu->blas, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    // Atomics-free cuBLAS routines only (the default, stated for the record).
    CUBLAS_CHECK(cublasSetAtomicsMode(cu->blas, CUBLAS_ATOMICS_NOT_ALLOWED));
    return cu;
}

void cuda_backend_free(CudaBackend *cu)
{
    if (!cu) return;
    cudaStreamSynchronize(cu->stream);
    cublasDestroy(cu->blas);
    cudaFree(cu->blas_workspace);
    cudaStreamDestroy(cu->stream);
    free(cu);
}

void *cuda_backend_stream(const CudaBackend *cu) { return (void *)cu->stream; }

void cuda_backend_describe(const CudaBackend *cu, char *buf, int size)
{
    cudaDeviceProp p;
    CUDA_CHECK(cudaGetDeviceProperties(&p, cu->device));
    snprintf(buf, size, "cuda:%d: %s (sm_%d%d, %.0f GiB)%s", cu->device, p.name, p.major, p.minor,
             (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), cu->tf32 ? ", TF32 allowed" : "");
}

// ---- memory and copies --------------------------------------------------------

void *cuda_malloc(size_t bytes)
{
    void *p = NULL;
    cudaError_t rc = cudaMalloc(&p, bytes ? bytes : 1);
    if (rc != cudaSuccess) {
        char why[256];
        snprintf(why, sizeof why, "%s (allocating %zu bytes)", cudaGetErrorString(rc), bytes);
        cuda_fail("cudaMalloc", why, __FILE__, __LINE__);
    }
    return p;
}

void cuda_free(void *p)
{
    if (p) CUDA_CHECK(cudaFree(p));
}

void cuda_memset_async(const CudaBackend *cu, void *p, size_t bytes)
{
    if (bytes) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cu->stream));
}

void cuda_copy_to_device(const CudaBackend *cu, void *dst, const void *src, size_t bytes)
{
    if (!bytes) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cu->stream));
    CUDA_CHECK(cudaStreamSynchronize(cu->stream));
}

void cuda_copy_to_host(const CudaBackend *cu, void *dst, const void *src, size_t bytes)
{
    if (!bytes) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cu->stream));
    CUDA_CHECK(cudaStreamSynchronize(cu->stream));
}

void cuda_copy_device(const CudaBackend *cu, void *dst, const void *src, size_t bytes)
{
    if (bytes) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cu->stream));
}

void cuda_sync(const CudaBackend *cu) { CUDA_CHECK(cudaStreamSynchronize(cu->stream)); }

// ---- graphs -------------------------------------------------------------------

struct CudaGraph {
    cudaGraph_t graph;
    cudaGraphExec_t exec;
};

void cuda_graph_begin(CudaBackend *cu)
{
    // Global mode: any unsafe call (cudaMalloc, a synchronisation) from any
    // thread while capturing is an error, which is what proves that a step
    // neither allocates nor waits.
    CUDA_CHECK(cudaStreamBeginCapture(cu->stream, cudaStreamCaptureModeGlobal));
    cu->capturing = 1;
}

CudaGraph *cuda_graph_end(CudaBackend *cu)
{
    CudaGraph *g = (CudaGraph *)calloc(1, sizeof *g);
    if (!g) cuda_fail("calloc", "out of host memory", __FILE__, __LINE__);
    CUDA_CHECK(cudaStreamEndCapture(cu->stream, &g->graph));
    cu->capturing = 0;
    CUDA_CHECK(cudaGraphInstantiate(&g->exec, g->graph, 0));
    CUDA_CHECK(cudaGraphUpload(g->exec, cu->stream));
    return g;
}

void cuda_graph_launch(CudaBackend *cu, CudaGraph *g) { CUDA_CHECK(cudaGraphLaunch(g->exec, cu->stream)); }

void cuda_graph_free(CudaGraph *g)
{
    if (!g) return;
    cudaGraphExecDestroy(g->exec);
    cudaGraphDestroy(g->graph);
    free(g);
}

// ---- cuBLAS -------------------------------------------------------------------

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, and a
// row-major matrix read column-major is its transpose: so swap the operands
// (and m with n) and keep each one's transpose flag.
void cuda_gemm(const CudaBackend *cu, int ta, int tb, long m, long n, long k, float alpha,
               const float *a, long lda, const float *b, long ldb, float beta, float *c, long ldc)
{
    if (m == 0 || n == 0) return;
    CUBLAS_CHECK(cublasSgemm(cu->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                             (int)n, (int)m, (int)k, &alpha, b, (int)ldb, a, (int)lda, &beta, c, (int)ldc));
}

__global__ void fill_kernel(float *x, long n, float v)
{
    GRID_STRIDE(i, n) x[i] = v;
}

double cuda_peak_sgemm_flops(CudaBackend *cu, int n, int reps)
{
    size_t bytes = (size_t)n * n * sizeof(float);
    float *a = (float *)cuda_malloc(bytes), *b = (float *)cuda_malloc(bytes), *c = (float *)cuda_malloc(bytes);
    launch_1d(cu, "fill_kernel", fill_kernel, (long)n * n, a, (long)n * n, 0.5f);
    launch_1d(cu, "fill_kernel", fill_kernel, (long)n * n, b, (long)n * n, 0.25f);
    cudaEvent_t t0, t1;
    CUDA_CHECK(cudaEventCreate(&t0));
    CUDA_CHECK(cudaEventCreate(&t1));
    cuda_gemm(cu, 0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);   // warm-up
    double best = 0;
    for (int r = 0; r < reps; r++) {
        CUDA_CHECK(cudaEventRecord(t0, cu->stream));
        cuda_gemm(cu, 0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        CUDA_CHECK(cudaEventRecord(t1, cu->stream));
        CUDA_CHECK(cudaEventSynchronize(t1));
        float ms = 0;
        CUDA_CHECK(cudaEventElapsedTime(&ms, t0, t1));
        double rate = 2.0 * n * (double)n * n / (ms * 1e-3);
        if (rate > best) best = rate;
    }
    cudaEventDestroy(t0);
    cudaEventDestroy(t1);
    cuda_free(a);
    cuda_free(b);
    cuda_free(c);
    return best;
}

// ---- generic kernels ----------------------------------------------------------

__global__ void add_into_kernel(float *dst, const float *src, long n)
{
    GRID_STRIDE(i, n) dst[i] += src[i];
}

__global__ void add_scalar_kernel(float *x, float v) { x[0] += v; }

void cuda_fill(const CudaBackend *cu, float *x, long n, float value)
{
    launch_1d(cu, "fill_kernel", fill_kernel, n, x, n, value);
}

void cuda_add_into(const CudaBackend *cu, float *dst, const float *src, long n)
{
    launch_1d(cu, "add_into_kernel", add_into_kernel, n, dst, src, n);
}

void cuda_add_scalar(const CudaBackend *cu, float *x, float value)
{
    launch(cu, "add_scalar_kernel", add_scalar_kernel, 1, 1, x, value);
}

}  // extern "C"
