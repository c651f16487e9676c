// GPU twin of ops_softmax.c: one thread per line, running shape_math.h's
// line functions, so every max, sum and dot is taken in the CPU's order.
#include "common.cuh"
#include "shape_math.h"

__global__ void softmax_fwd_kernel(const float *x, float *y, long outer, long len, long inner)
{
    GRID_STRIDE(line, outer * inner) {
        long base = line_base(line, len, inner);
        softmax_line_fwd(x + base, y + base, len, inner);
    }
}

__global__ void softmax_bwd_kernel(const float *y, const float *dy, float *dx, long outer, long len, long inner)
{
    GRID_STRIDE(line, outer * inner) {
        long base = line_base(line, len, inner);
        softmax_line_bwd(y + base, dy + base, dx + base, len, inner);
    }
}

extern "C" {

void cuda_softmax_forward(const CudaBackend *cu, const float *x, float *y, long outer, long len, long inner)
{
    long lines = outer * inner;
    if (lines <= 0 || len <= 0) return;
    launch_1d(cu, "softmax_fwd_kernel", softmax_fwd_kernel, lines, x, y, outer, len, inner);
}

void cuda_softmax_backward(const CudaBackend *cu, const float *y, const float *dy, float *dx, long outer,
                           long len, long inner)
{
    long lines = outer * inner;
    if (lines <= 0 || len <= 0) return;
    launch_1d(cu, "softmax_bwd_kernel", softmax_bwd_kernel, lines, y, dy, dx, outer, len, inner);
}

}  // extern "C"
