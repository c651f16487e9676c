// GPU twin of ops_loss.c: cross-entropy (loss_math.h's rows in double, as
// the CPU), arg-max, and the device-side running totals of a training/eval
// phase.
#include <cmath>
#include "common.cuh"
#include "loss_math.h"

static const int LOSS_THREADS = 256;

// One block: thread t takes rows t, t + blockDim, ...; fixed tree sum.
__global__ void cross_entropy_fwd_kernel(const float *z, const int *labels, int n, int k, float *loss)
{
    __shared__ double sh[LOSS_THREADS];
    double acc = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float *zr = z + (long)i * k;
        acc += row_logsumexp(zr, k) - zr[labels[i]];
    }
    double total = block_sum_double(acc, sh);
    if (threadIdx.x == 0) loss[0] = (float)(total / n);
}

__global__ void cross_entropy_bwd_kernel(const float *z, const int *labels, int n, int k, const float *dloss,
                                         float *dz)
{
    double scale = (double)dloss[0] / n;
    GRID_STRIDE(i, n) cross_entropy_row_grad(z + i * k, labels[i], k, scale, dz + i * k);
}

__global__ void argmax_kernel(const float *z, int n, int k, int *pred)
{
    GRID_STRIDE(i, n) pred[i] = row_argmax(z + i * k, k);
}

__global__ void totals_kernel(const float *loss, const float *z, const int *labels, int n, int k,
                              int skip_nonfinite, CudaTotals *t)
{
    __shared__ double sh[LOSS_THREADS];
    double hits = 0;   // an integer count, exact in double up to 2^53
    for (int i = threadIdx.x; i < n; i += blockDim.x) hits += row_argmax(z + (long)i * k, k) == labels[i];
    double correct = block_sum_double(hits, sh);
    if (threadIdx.x == 0) {
        float l = loss[0];
        if (skip_nonfinite && !isfinite(l)) {
            t->nonfinite = 1;
        } else {
            t->loss_sum += (double)l * n;
            t->correct += (long long)correct;
            if (!isfinite(l)) t->nonfinite = 1;
        }
    }
}

extern "C" {

void cuda_cross_entropy_forward(const CudaBackend *cu, const float *z, const int *labels, int n, int k,
                                float *loss)
{
    launch(cu, "cross_entropy_fwd_kernel", cross_entropy_fwd_kernel, 1, LOSS_THREADS, z, labels, n, k, loss);
}

void cuda_cross_entropy_backward(const CudaBackend *cu, const float *z, const int *labels, int n, int k,
                                 const float *dloss, float *dz)
{
    launch_1d(cu, "cross_entropy_bwd_kernel", cross_entropy_bwd_kernel, n, z, labels, n, k, dloss, dz);
}

void cuda_argmax_rows(const CudaBackend *cu, const float *z, int n, int k, int *pred)
{
    launch_1d(cu, "argmax_kernel", argmax_kernel, n, z, n, k, pred);
}

void cuda_accumulate_totals(const CudaBackend *cu, const float *loss, const float *z, const int *labels,
                            int n, int k, int skip_nonfinite, CudaTotals *totals)
{
    launch(cu, "totals_kernel", totals_kernel, 1, LOSS_THREADS, loss, z, labels, n, k, skip_nonfinite, totals);
}

}  // extern "C"
