// GPU twin of ops_elementwise.c. The per-element formulas are the shared
// HD helpers of elementwise_math.h, so both backends compute the same
// values, and dropout draws the same mask bits for the same index.
#include "common.cuh"
#include "elementwise_math.h"

__global__ void relu_fwd_kernel(const float *x, float *y, long n)
{
    GRID_STRIDE(i, n) y[i] = relu_fwd(x[i]);
}

__global__ void relu_bwd_kernel(const float *x, const float *dy, float *dx, long n)
{
    GRID_STRIDE(i, n) dx[i] += relu_bwd(x[i], dy[i]);
}

__global__ void sigmoid_fwd_kernel(const float *x, float *y, long n)
{
    GRID_STRIDE(i, n) y[i] = sigmoid_fwd(x[i]);
}

__global__ void sigmoid_bwd_kernel(const float *y, const float *dy, float *dx, long n)
{
    GRID_STRIDE(i, n) dx[i] += sigmoid_bwd(y[i], dy[i]);
}

__global__ void add_fwd_kernel(const float *a, const float *b, float *y, long n)
{
    GRID_STRIDE(i, n) y[i] = a[i] + b[i];
}

__global__ void mul_fwd_kernel(const float *a, const float *b, float *y, long n)
{
    GRID_STRIDE(i, n) y[i] = a[i] * b[i];
}

__global__ void mul_bwd_kernel(const float *dy, const float *other, float *dx, long n)
{
    GRID_STRIDE(i, n) dx[i] += dy[i] * other[i];
}

__global__ void scale_kernel(const float *src, float *dst, long n, float s, int accumulate)
{
    GRID_STRIDE(i, n) {
        float v = scale_term(src[i], s);
        dst[i] = accumulate ? dst[i] + v : v;
    }
}

// One thread per element; rng_u32 picks the same word of the same Philox
// block that the CPU's chunked loop uses for that absolute index.
__global__ void dropout_kernel(const float *src, float *dst, long n, int accumulate, uint64_t seed,
                               const uint64_t *base, uint64_t offset, float p, float scale)
{
    uint64_t start = offset + (base ? *base : 0);
    GRID_STRIDE(i, n) {
        uint32_t bits = rng_u32(seed, RNG_STREAM_DROPOUT, start + (uint64_t)i);
        float v = dropout_keep_bits(bits, p) ? src[i] * scale : 0.0f;
        dst[i] = accumulate ? dst[i] + v : v;
    }
}

extern "C" {

void cuda_relu_forward(const CudaBackend *cu, const float *x, float *y, long n)
{
    launch_1d(cu, "relu_fwd_kernel", relu_fwd_kernel, n, x, y, n);
}

void cuda_relu_backward(const CudaBackend *cu, const float *x, const float *dy, float *dx, long n)
{
    launch_1d(cu, "relu_bwd_kernel", relu_bwd_kernel, n, x, dy, dx, n);
}

void cuda_sigmoid_forward(const CudaBackend *cu, const float *x, float *y, long n)
{
    launch_1d(cu, "sigmoid_fwd_kernel", sigmoid_fwd_kernel, n, x, y, n);
}

void cuda_sigmoid_backward(const CudaBackend *cu, const float *y, const float *dy, float *dx, long n)
{
    launch_1d(cu, "sigmoid_bwd_kernel", sigmoid_bwd_kernel, n, y, dy, dx, n);
}

void cuda_add_forward(const CudaBackend *cu, const float *a, const float *b, float *y, long n)
{
    launch_1d(cu, "add_fwd_kernel", add_fwd_kernel, n, a, b, y, n);
}

void cuda_mul_forward(const CudaBackend *cu, const float *a, const float *b, float *y, long n)
{
    launch_1d(cu, "mul_fwd_kernel", mul_fwd_kernel, n, a, b, y, n);
}

void cuda_mul_backward(const CudaBackend *cu, const float *dy, const float *other, float *dx, long n)
{
    launch_1d(cu, "mul_bwd_kernel", mul_bwd_kernel, n, dy, other, dx, n);
}

void cuda_scale(const CudaBackend *cu, const float *src, float *dst, long n, float s, int accumulate)
{
    launch_1d(cu, "scale_kernel", scale_kernel, n, src, dst, n, s, accumulate);
}

void cuda_dropout(const CudaBackend *cu, const float *src, float *dst, long n, int accumulate,
                  uint64_t seed, const uint64_t *base, uint64_t offset, float p)
{
    launch_1d(cu, "dropout_kernel", dropout_kernel, n, src, dst, n, accumulate, seed, base, offset, p,
              dropout_scale(p));
}

}  // extern "C"
