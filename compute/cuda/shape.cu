// GPU twin of ops_shape.c: concat and slice are both "copy (or add) a run
// of axis positions from one [outer, len, inner] tensor to another", one
// thread per destination element (each written once: no atomics, exact).
#include "common.cuh"
#include "shape_math.h"

__global__ void axis_copy_kernel(const float *src, float *dst, long outer, long inner, long count, long src_len,
                                 long src_start, long dst_len, long dst_start, int accumulate)
{
    long run = count * inner;
    GRID_STRIDE(t, outer * run) {
        long o = t / run, j = t % run / inner, i = t % inner;
        float v = src[axis_index(o, src_start + j, i, src_len, inner)];
        float *d = dst + axis_index(o, dst_start + j, i, dst_len, inner);
        *d = accumulate ? *d + v : v;
    }
}

extern "C" {

void cuda_axis_copy(const CudaBackend *cu, const float *src, float *dst, long outer, long inner, long count,
                    long src_len, long src_start, long dst_len, long dst_start, int accumulate)
{
    long n = outer * count * inner;
    launch_1d(cu, "axis_copy_kernel", axis_copy_kernel, n, src, dst, outer, inner, count, src_len, src_start, dst_len,
              dst_start, accumulate);
}

}  // extern "C"
