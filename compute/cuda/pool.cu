// GPU twin of ops_pool.c. Forward: one thread per output, running the
// CPU's own window scan (pool_math.h's maxpool*_winner): the same winner.
// Backward: one thread per INPUT element gathers the gradients of the
// outputs whose winner it is, in increasing output order, starting from
// dx's value: exactly the CPU's sequence of additions, without atomics,
// although 3x3/2 windows overlap. Global average pooling at the end.
#include "common.cuh"
#include "pool_math.h"

__global__ void maxpool2d_fwd_kernel(const float *x, float *y, int *idx, long planes, int h, int w, int k,
                                     int s, int pad, int oh, int ow)
{
    long out_plane = (long)oh * ow, in_plane = (long)h * w;
    GRID_STRIDE(t, planes * out_plane) {
        long p = t / out_plane;
        int o = (int)(t % out_plane), r = o / ow, q = o % ow;
        const float *xp = x + p * in_plane;
        int best_i = maxpool2d_winner(xp, h, w, k, s, pad, r, q);
        y[t] = xp[best_i];
        idx[t] = best_i;
    }
}

// Outputs o in [lo, hi] of a 1-D window sequence (size k, stride s, count n)
// whose window contains position pos.
__device__ __forceinline__ void covering(int pos, int k, int s, int n, int *lo, int *hi)
{
    int first = pos - k + 1;
    *lo = first <= 0 ? 0 : (first + s - 1) / s;
    int last = pos / s;
    *hi = last < n - 1 ? last : n - 1;
}

__global__ void maxpool2d_bwd_kernel(const float *dy, const int *idx, float *dx, long planes, int h, int w,
                                     int k, int s, int pad, int oh, int ow)
{
    long out_plane = (long)oh * ow, in_plane = (long)h * w;
    GRID_STRIDE(t, planes * in_plane) {
        long p = t / in_plane;
        int pos = (int)(t % in_plane), r = pos / w, q = pos % w;
        int r0, r1, q0, q1;
        covering(r + pad, k, s, oh, &r0, &r1);   /* windows in padded coordinates */
        covering(q + pad, k, s, ow, &q0, &q1);
        const int *ip = idx + p * out_plane;
        const float *dp = dy + p * out_plane;
        float acc = dx[t];
        for (int a = r0; a <= r1; a++)
            for (int b = q0; b <= q1; b++) {
                int o = a * ow + b;
                if (ip[o] == pos) acc += dp[o];
            }
        dx[t] = acc;
    }
}

__global__ void maxpool1d_fwd_kernel(const float *x, float *y, int *idx, long rows, int len, int k, int s, int ol)
{
    GRID_STRIDE(t, rows * ol) {
        long r = t / ol;
        int o = (int)(t % ol);
        const float *xr = x + r * len;
        int best_i = maxpool1d_winner(xr, k, s, o);
        y[t] = xr[best_i];
        idx[t] = best_i;
    }
}

__global__ void maxpool1d_bwd_kernel(const float *dy, const int *idx, float *dx, long rows, int len, int k,
                                     int s, int ol)
{
    GRID_STRIDE(t, rows * len) {
        long r = t / len;
        int pos = (int)(t % len), o0, o1;
        covering(pos, k, s, ol, &o0, &o1);
        float acc = dx[t];
        for (int o = o0; o <= o1; o++)
            if (idx[r * ol + o] == pos) acc += dy[r * ol + o];
        dx[t] = acc;
    }
}

// Global average pooling: one thread per plane, pool_math.h's double sum
// in order (the CPU's bits); backward one thread per input element.
__global__ void global_avgpool_fwd_kernel(const float *x, float *y, long planes, long plane)
{
    GRID_STRIDE(p, planes) y[p] = avgpool_plane(x + p * plane, plane);
}

__global__ void global_avgpool_bwd_kernel(const float *dy, float *dx, long planes, long plane)
{
    GRID_STRIDE(i, planes * plane) dx[i] += avgpool_share(dy[i / plane], plane);
}

extern "C" {

void cuda_maxpool2d_forward(const CudaBackend *cu, const float *x, float *y, int *idx, long planes, int h,
                            int w, int k, int stride, int pad, int oh, int ow)
{
    long n = planes * oh * ow;
    launch_1d(cu, "maxpool2d_fwd_kernel", maxpool2d_fwd_kernel, n, x, y, idx, planes, h, w, k, stride, pad, oh, ow);
}

void cuda_maxpool2d_backward(const CudaBackend *cu, const float *dy, const int *idx, float *dx, long planes,
                             int h, int w, int k, int stride, int pad, int oh, int ow)
{
    long n = planes * h * w;
    launch_1d(cu, "maxpool2d_bwd_kernel", maxpool2d_bwd_kernel, n, dy, idx, dx, planes, h, w, k, stride, pad, oh, ow);
}

void cuda_maxpool1d_forward(const CudaBackend *cu, const float *x, float *y, int *idx, long rows, int len,
                            int k, int stride, int ol)
{
    long n = rows * ol;
    launch_1d(cu, "maxpool1d_fwd_kernel", maxpool1d_fwd_kernel, n, x, y, idx, rows, len, k, stride, ol);
}

void cuda_maxpool1d_backward(const CudaBackend *cu, const float *dy, const int *idx, float *dx, long rows,
                             int len, int k, int stride, int ol)
{
    long n = rows * len;
    launch_1d(cu, "maxpool1d_bwd_kernel", maxpool1d_bwd_kernel, n, dy, idx, dx, rows, len, k, stride, ol);
}

void cuda_global_avgpool_forward(const CudaBackend *cu, const float *x, float *y, long planes, long plane)
{
    if (planes <= 0 || plane <= 0) return;
    launch_1d(cu, "global_avgpool_fwd_kernel", global_avgpool_fwd_kernel, planes, x, y, planes, plane);
}

void cuda_global_avgpool_backward(const CudaBackend *cu, const float *dy, float *dx, long planes, long plane)
{
    long n = planes * plane;
    launch_1d(cu, "global_avgpool_bwd_kernel", global_avgpool_bwd_kernel, n, dy, dx, planes, plane);
}

}  // extern "C"
