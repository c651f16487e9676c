// GPU twin of ops_conv.c: im2col over the whole batch, the output permute
// (with bias) and its inverse, bias gradients, col2im. The matrix products
// themselves are cuBLAS calls made by ops_conv.c through bk_gemm.
#include "common.cuh"

// col[r, n*P + p] with r = (ch*kh + i)*kw + j and p = oh*OW + ow.
__global__ void im2col_kernel(CudaConvShape s, const float *x, float *col)
{
    long plane = (long)s.oh * s.ow, np = (long)s.n * plane;
    long rows = (long)s.c * s.kh * s.kw;
    GRID_STRIDE(t, rows * np) {
        long r = t / np, q = t % np;
        int n = (int)(q / plane);
        long p = q % plane;
        int oh = (int)(p / s.ow), ow = (int)(p % s.ow);
        int j = (int)(r % s.kw), i = (int)((r / s.kw) % s.kh), ch = (int)(r / ((long)s.kw * s.kh));
        col[t] = im2col_value(&s, x, n, ch, i, j, oh, ow);
    }
}

// One thread per input pixel: col2im_sum (conv_math.h), added once to dx.
// A gather, so no two threads write the same element and the order is fixed.
__global__ void col2im_add_kernel(CudaConvShape s, const float *col, float *dx)
{
    long total = (long)s.n * s.c * s.h * s.w;
    GRID_STRIDE(t, total) {
        int iw = (int)(t % s.w), ih = (int)((t / s.w) % s.h);
        int ch = (int)((t / ((long)s.w * s.h)) % s.c), n = (int)(t / ((long)s.w * s.h * s.c));
        dx[t] += col2im_sum(&s, col, n, ch, ih, iw);
    }
}

__global__ void kmajor_to_nchw_kernel(const float *yk, const float *bias, float *y, int n, int k, long plane)
{
    long np = (long)n * plane;
    GRID_STRIDE(t, (long)n * k * plane) {
        long p = t % plane;
        int ch = (int)((t / plane) % k), img = (int)(t / (plane * k));
        float v = yk[(long)ch * np + (long)img * plane + p];
        y[t] = bias ? v + bias[ch] : v;
    }
}

__global__ void nchw_to_kmajor_kernel(const float *dy, float *dyk, int n, int k, long plane)
{
    long np = (long)n * plane;
    GRID_STRIDE(t, (long)k * np) {
        int ch = (int)(t / np);
        long q = t % np;
        int img = (int)(q / plane);
        long p = q % plane;
        dyk[t] = dy[((long)img * k + ch) * plane + p];
    }
}

static const int SUM_THREADS = 256;

// One block per row; each thread sums a strided share in double, then a
// fixed tree: the same bits on every run.
__global__ void row_sums_add_kernel(const float *x, long cols, float *out)
{
    __shared__ double sh[SUM_THREADS];
    const float *row = x + (long)blockIdx.x * cols;
    double acc = 0;
    for (long j = threadIdx.x; j < cols; j += blockDim.x) acc += row[j];
    double total = block_sum_double(acc, sh);
    if (threadIdx.x == 0) out[blockIdx.x] += (float)total;
}

extern "C" {

void cuda_im2col(const CudaBackend *cu, CudaConvShape s, const float *x, float *col)
{
    long total = (long)s.c * s.kh * s.kw * s.n * s.oh * s.ow;
    launch_1d(cu, "im2col_kernel", im2col_kernel, total, s, x, col);
}

void cuda_col2im_add(const CudaBackend *cu, CudaConvShape s, const float *col, float *dx)
{
    long total = (long)s.n * s.c * s.h * s.w;
    launch_1d(cu, "col2im_add_kernel", col2im_add_kernel, total, s, col, dx);
}

void cuda_kmajor_to_nchw(const CudaBackend *cu, const float *yk, const float *bias, float *y, int n, int k,
                         long plane)
{
    long total = (long)n * k * plane;
    launch_1d(cu, "kmajor_to_nchw_kernel", kmajor_to_nchw_kernel, total, yk, bias, y, n, k, plane);
}

void cuda_nchw_to_kmajor(const CudaBackend *cu, const float *dy, float *dyk, int n, int k, long plane)
{
    long total = (long)n * k * plane;
    launch_1d(cu, "nchw_to_kmajor_kernel", nchw_to_kmajor_kernel, total, dy, dyk, n, k, plane);
}

void cuda_row_sums_add(const CudaBackend *cu, const float *x, long rows, long cols, float *out)
{
    if (rows <= 0) return;
    launch(cu, "row_sums_add_kernel", row_sums_add_kernel, (unsigned)rows, SUM_THREADS, x, cols, out);
}

}  // extern "C"
