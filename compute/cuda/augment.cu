// GPU twin of augment.c's augment_batch, fused with the trainer's
// normalisation: one block per image; thread 0 draws the image's
// parameters (augment_draw, the same Philox counters as the CPU) and
// builds the inverse map, then every thread samples its pixels with
// augment_math.h's functions and normalises with dataset_gather's
// expression. Shifts and erases alone reproduce the CPU's bits; rotation
// and scaling go through cosf/sinf and a bilinear blend, where CUDA's
// libm and multiply-add fusion differ from the CPU's by an ulp or so.
#include "common.cuh"
#include "augment_math.h"

static const int AUGMENT_THREADS = 256;

__global__ void augment_kernel(AugmentSpec spec, uint64_t seed, const long long *epoch_base,
                               const long long *batch, int batch_size, long start, const float *src, float *dst,
                               int h, int w, float mean, float std)
{
    __shared__ AugmentParams p;
    __shared__ AugmentMap m;
    long image = (long)h * w, i = blockIdx.x;
    if (threadIdx.x == 0) {
        long long first = (epoch_base ? *epoch_base : 0) + (batch ? *batch * (long long)batch_size : 0) + start;
        p = augment_draw(&spec, seed, (uint64_t)(first + i), h, w);
        m = augment_map(&p, h, w);
    }
    __syncthreads();
    const float *img = src + i * image;
    for (long at = threadIdx.x; at < image; at += blockDim.x) {
        int y = (int)(at / w), x = (int)(at % w);
        float v = augment_erased(&p, y, x) ? 0.0f : augment_sample(img, h, w, &m, y, x);
        dst[i * image + at] = (v - mean) / std;
    }
}

extern "C" {

void cuda_augment_batch(const CudaBackend *cu, AugmentSpec spec, uint64_t seed, const long long *epoch_base,
                        const long long *batch, int batch_size, long start, const float *src, float *dst, int n,
                        int h, int w, float mean, float std)
{
    if (n <= 0 || h <= 0 || w <= 0) return;
    launch(cu, "augment_kernel", augment_kernel, (unsigned)n, AUGMENT_THREADS, spec, seed, epoch_base, batch,
           batch_size, start, src, dst, h, w, mean, std);
}

}  // extern "C"
