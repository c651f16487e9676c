// GPU twin of ops_norm.c: batch norm and the row normalisation. Every
// per-channel (per-row) reduction is one block: each thread sums a fixed
// strided share in double, then block_sum_double's fixed tree, so results
// are bitwise repeatable; the formulas applied to the sums are the CPU's
// own (norm_math.h).
#include "common.cuh"
#include "norm_math.h"

static const int NORM_THREADS = 512;

// Element e of channel ch (e in [0, n*hw)) sits at (n_idx*C + ch)*hw + i.
__device__ __forceinline__ long bn_at(long e, int ch, int c, long hw)
{
    return ((e / hw) * c + ch) * hw + e % hw;
}

__global__ void bn_stats_kernel(const float *x, int n, int c, long hw, float momentum, float eps, float *mean,
                                float *invstd, float *run_mean, float *run_var)
{
    __shared__ double sh[NORM_THREADS];
    int ch = blockIdx.x;
    long count = (long)n * hw;
    double sum = 0;
    for (long e = threadIdx.x; e < count; e += blockDim.x) sum += x[bn_at(e, ch, c, hw)];
    double m = block_sum_double(sum, sh) / (double)count;
    double sq = 0;
    for (long e = threadIdx.x; e < count; e += blockDim.x) {
        double d = x[bn_at(e, ch, c, hw)] - m;
        sq += d * d;
    }
    double v = block_sum_double(sq, sh) / (double)count;
    if (threadIdx.x == 0) bn_store_stats(ch, m, v, count, momentum, eps, mean, invstd, run_mean, run_var);
}

__global__ void bn_running_kernel(const float *run_mean, const float *run_var, int c, float eps, float *mean,
                                  float *invstd)
{
    GRID_STRIDE(ch, c) {
        mean[ch] = run_mean[ch];
        invstd[ch] = bn_invstd(run_var[ch], eps);
    }
}

__global__ void bn_apply_kernel(const float *x, int n, int c, long hw, const float *mean, const float *invstd,
                                const float *gamma, const float *beta, float *y)
{
    GRID_STRIDE(t, (long)n * c * hw) {
        int ch = (int)((t / hw) % c);
        float scale = bn_scale(invstd, gamma, ch);
        float shift = bn_shift(mean, beta, ch, scale);
        y[t] = x[t] * scale + shift;
    }
}

// One block per channel: the two sums, then (when x needs it) dx.
__global__ void bn_backward_kernel(const float *x, const float *dy, int n, int c, long hw, const float *mean,
                                   const float *invstd, const float *gamma, int batch_stats, float *dgamma,
                                   float *dbeta, float *dx)
{
    __shared__ double sh[NORM_THREADS];
    int ch = blockIdx.x;
    long count = (long)n * hw;
    double s_dy = 0, s_dyx = 0;
    for (long e = threadIdx.x; e < count; e += blockDim.x) {
        long at = bn_at(e, ch, c, hw);
        double xhat = bn_xhat(x[at], mean[ch], invstd[ch]);
        s_dy += dy[at];
        s_dyx += dy[at] * xhat;
    }
    double sum_dy = block_sum_double(s_dy, sh);
    double sum_dy_xhat = block_sum_double(s_dyx, sh);
    if (threadIdx.x == 0) {
        if (dgamma) dgamma[ch] += (float)sum_dy_xhat;
        if (dbeta) dbeta[ch] += (float)sum_dy;
    }
    if (!dx) return;
    BnDx t = bn_dx_terms(gamma, invstd, ch, batch_stats, sum_dy, sum_dy_xhat, count);
    for (long e = threadIdx.x; e < count; e += blockDim.x) {
        long at = bn_at(e, ch, c, hw);
        dx[at] += bn_dx(&t, dy[at], bn_xhat(x[at], mean[ch], invstd[ch]));
    }
}

__global__ void row_normalize_fwd_kernel(const float *x, float *y, int cols)
{
    __shared__ double sh[NORM_THREADS];
    const float *xr = x + (long)blockIdx.x * cols;
    float *yr = y + (long)blockIdx.x * cols;
    double acc = 0;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) acc += xr[j];
    double s = block_sum_double(acc, sh);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = row_normalized(xr[j], s);
}

// dx_k += (dy_k - sum_j dy_j y_j) / s with s = sum(x).
__global__ void row_normalize_bwd_kernel(const float *x, const float *y, const float *dy, float *dx, int cols)
{
    __shared__ double sh[NORM_THREADS];
    long off = (long)blockIdx.x * cols;
    double acc = 0, dot = 0;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        acc += x[off + j];
        dot += (double)dy[off + j] * y[off + j];
    }
    double s = block_sum_double(acc, sh);
    double d = block_sum_double(dot, sh);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) dx[off + j] += row_normalize_dx(dy[off + j], d, s);
}

extern "C" {

void cuda_bn_batch_stats(const CudaBackend *cu, const float *x, int n, int c, long hw, float momentum,
                         float eps, float *mean, float *invstd, float *run_mean, float *run_var)
{
    launch(cu, "bn_stats_kernel", bn_stats_kernel, c, NORM_THREADS, x, n, c, hw, momentum, eps, mean, invstd,
           run_mean, run_var);
}

void cuda_bn_running_stats(const CudaBackend *cu, const float *run_mean, const float *run_var, int c,
                           float eps, float *mean, float *invstd)
{
    launch_1d(cu, "bn_running_kernel", bn_running_kernel, c, run_mean, run_var, c, eps, mean, invstd);
}

void cuda_bn_apply(const CudaBackend *cu, const float *x, int n, int c, long hw, const float *mean,
                   const float *invstd, const float *gamma, const float *beta, float *y)
{
    long total = (long)n * c * hw;
    launch_1d(cu, "bn_apply_kernel", bn_apply_kernel, total, x, n, c, hw, mean, invstd, gamma, beta, y);
}

void cuda_bn_backward(const CudaBackend *cu, const float *x, const float *dy, int n, int c, long hw,
                      const float *mean, const float *invstd, const float *gamma, int batch_stats,
                      float *dgamma, float *dbeta, float *dx)
{
    launch(cu, "bn_backward_kernel", bn_backward_kernel, c, NORM_THREADS, x, dy, n, c, hw, mean, invstd, gamma,
           batch_stats, dgamma, dbeta, dx);
}

void cuda_row_normalize_forward(const CudaBackend *cu, const float *x, float *y, int rows, int cols)
{
    if (rows <= 0) return;
    launch(cu, "row_normalize_fwd_kernel", row_normalize_fwd_kernel, rows, NORM_THREADS, x, y, cols);
}

void cuda_row_normalize_backward(const CudaBackend *cu, const float *x, const float *y, const float *dy,
                                 float *dx, int rows, int cols)
{
    if (rows <= 0) return;
    launch(cu, "row_normalize_bwd_kernel", row_normalize_bwd_kernel, rows, NORM_THREADS, x, y, dy, dx, cols);
}

}  // extern "C"
