// The trainer's data path on the GPU: the epoch permutation (Philox keys,
// cub's stable radix sort), batch gathering with normalisation, and the
// per-step counters a replayed graph reads (batch number, dropout base).
#include <cub/device/device_radix_sort.cuh>
#include "common.cuh"
#include "rng.h"

struct CudaShuffler {
    int n;
    uint32_t *keys_in, *keys_out;
    int *idx_in;
    void *temp;
    size_t temp_bytes;
};

__global__ void shuffle_keys_kernel(uint64_t seed, int epoch, int n, uint32_t *keys, int *idx)
{
    GRID_STRIDE(i, n) {
        keys[i] = rng_u32(seed, RNG_STREAM_SHUFFLE, ((uint64_t)(uint32_t)epoch << 32) | (uint64_t)i);
        idx[i] = (int)i;
    }
}

// Image index_i = order ? order[base + i] : base + i; the normalisation is
// dataset_gather's expression, so the floats are the CPU's.
__global__ void gather_kernel(const unsigned char *pixels, const unsigned char *labels, const int *order,
                              const long long *batch, int batch_size, long start, int m, int image, float mean,
                              float std, float *x, int *y)
{
    long base = (batch ? *batch * (long)batch_size : 0) + start;
    GRID_STRIDE(t, (long)m * image) {
        long i = t / image, j = t % image;
        long src = order ? order[base + i] : base + i;
        x[t] = ((float)pixels[src * image + j] / 255.0f - mean) / std;
        if (j == 0) y[i] = labels[src];
    }
}

__global__ void rng_base_kernel(const long long *state, int slots, int slot, uint64_t *rng_base)
{
    *rng_base = ((uint64_t)state[0] * (uint64_t)slots + (uint64_t)slot) << 32;
}

__global__ void advance_kernel(long long *state)
{
    state[0] += 1;
    state[1] += 1;
}

extern "C" {

CudaShuffler *cuda_shuffler_create(const CudaBackend *cu, int n)
{
    CudaShuffler *s = (CudaShuffler *)calloc(1, sizeof *s);
    if (!s) cuda_fail("calloc", "out of host memory", __FILE__, __LINE__);
    s->n = n;
    s->keys_in = (uint32_t *)cuda_malloc((size_t)n * sizeof(uint32_t));
    s->keys_out = (uint32_t *)cuda_malloc((size_t)n * sizeof(uint32_t));
    s->idx_in = (int *)cuda_malloc((size_t)n * sizeof(int));
    // A size query: no work is done with temp == NULL.
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs(NULL, s->temp_bytes, s->keys_in, s->keys_out, s->idx_in,
                                               (int *)NULL, n, 0, 32, stream_of(cu)));
    s->temp = cuda_malloc(s->temp_bytes);
    return s;
}

void cuda_shuffler_run(const CudaBackend *cu, CudaShuffler *s, uint64_t seed, int epoch, int *order)
{
    launch_1d(cu, "shuffle_keys_kernel", shuffle_keys_kernel, s->n, seed, epoch, s->n, s->keys_in, s->idx_in);
    // LSD radix sort is stable: equal keys keep index order, so the result
    // is the order by (key, index), as epoch_permutation's on the CPU.
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs(s->temp, s->temp_bytes, s->keys_in, s->keys_out, s->idx_in,
                                               order, s->n, 0, 32, stream_of(cu)));
}

void cuda_shuffler_free(CudaShuffler *s)
{
    if (!s) return;
    cuda_free(s->keys_in);
    cuda_free(s->keys_out);
    cuda_free(s->idx_in);
    cuda_free(s->temp);
    free(s);
}

void cuda_gather_batch(const CudaBackend *cu, const unsigned char *pixels, const unsigned char *labels,
                       const int *order, const long long *batch, int batch_size, long start, int m, int image,
                       float mean, float std, float *x, int *y)
{
    long n = (long)m * image;
    launch_1d(cu, "gather_kernel", gather_kernel, n, pixels, labels, order, batch, batch_size, start, m, image, mean,
              std, x, y);
}

void cuda_set_rng_base(const CudaBackend *cu, const long long *state, int slots, int slot, uint64_t *rng_base)
{
    launch(cu, "rng_base_kernel", rng_base_kernel, 1, 1, state, slots, slot, rng_base);
}

void cuda_advance_step(const CudaBackend *cu, long long *state)
{
    launch(cu, "advance_kernel", advance_kernel, 1, 1, state);
}

}  // extern "C"
