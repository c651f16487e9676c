/* Counter-based random numbers (Philox4x32-10, Salmon et al., SC'11).
 * A value is a pure function of (seed, stream, index): no hidden state, so
 * the CPU and a GPU kernel draw identical numbers for the same index, and a
 * run is reproducible from its seed alone. Streams separate the uses. */
#ifndef SWEEPRUN_RNG_H
#define SWEEPRUN_RNG_H
#include <stdint.h>
#include "hostdevice.h"

enum {
    RNG_STREAM_INIT = 1,     /* parameter initialisation */
    RNG_STREAM_SHUFFLE = 2,  /* epoch permutations */
    RNG_STREAM_DROPOUT = 3,  /* dropout masks */
    RNG_STREAM_AUGMENT = 4,  /* data augmentation */
    RNG_STREAM_VALIDATION = 5,  /* which training images the validation split holds out */
};

typedef struct { uint32_t v[4]; } Philox4;

HD uint32_t philox_mulhilo(uint32_t a, uint32_t b, uint32_t *hi)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

HD Philox4 philox4x32_10(Philox4 ctr, uint32_t k0, uint32_t k1)
{
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = philox_mulhilo(0xD2511F53u, ctr.v[0], &hi0);
        uint32_t lo1 = philox_mulhilo(0xCD9E8D57u, ctr.v[2], &hi1);
        Philox4 next = {{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
        ctr = next;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return ctr;
}

/* Four independent 32-bit words for (seed, stream, block). */
HD Philox4 rng_block(uint64_t seed, uint32_t stream, uint64_t block)
{
    Philox4 ctr = {{(uint32_t)block, (uint32_t)(block >> 32), stream, 0u}};
    return philox4x32_10(ctr, (uint32_t)seed, (uint32_t)(seed >> 32));
}

HD uint32_t rng_u32(uint64_t seed, uint32_t stream, uint64_t index)
{
    Philox4 r = rng_block(seed, stream, index >> 2);
    return r.v[index & 3];
}

/* Uniform in [0, 1) with 24 random bits (exactly representable in fp32). */
HD float rng_uniform(uint64_t seed, uint32_t stream, uint64_t index)
{
    return (float)(rng_u32(seed, stream, index) >> 8) * (1.0f / 16777216.0f);
}

/* Uniform integer in [0, n) without modulo bias worth caring about (n < 2^24
 * here); uses 64-bit multiply-shift on 32 random bits. */
HD uint32_t rng_below(uint64_t seed, uint32_t stream, uint64_t index, uint32_t n)
{
    return (uint32_t)(((uint64_t)rng_u32(seed, stream, index) * n) >> 32);
}

#endif
