/* Per-image and per-pixel math of the data augmentation (augment.h), written
 * once so the CPU loop and a CUDA kernel draw the same parameters and
 * sample the same values.
 *
 * One image's parameters are a pure function of (seed, image counter):
 * draws k = 0..5 use RNG indices counter * AUGMENT_DRAWS + k in stream
 * RNG_STREAM_AUGMENT, so the result does not depend on how images are
 * split over threads, micro-batches, ranks or devices.
 *
 * Geometry (pixel centres at integer coordinates, centre c = ((w-1)/2,
 * (h-1)/2), y pointing down): the output is the input rotated
 * counter-clockwise on screen by `angle` degrees and scaled by `scale`
 * about c, then moved by (dx, dy) pixels (right, down). Each output pixel
 * takes the bilinear sample of the input at the inverse-mapped position;
 * input outside the image reads as 0 (black background of the raw
 * intensities). Then a square of erase_size pixels at (erase_top,
 * erase_left) is set to 0. */
#ifndef SWEEPRUN_AUGMENT_MATH_H
#define SWEEPRUN_AUGMENT_MATH_H
#include <math.h>
#include <stdint.h>
#include "hostdevice.h"
#include "rng.h"

#define AUGMENT_DRAWS 8   /* RNG indices reserved per image (6 used) */

/* Strengths (the `augment` key): each 0 switches that part off. */
typedef struct AugmentSpec {
    float rotate;   /* angle ~ U(-rotate, +rotate) degrees */
    int shift;      /* dx, dy ~ uniform integers in [-shift, +shift] */
    float scale;    /* factor ~ U(1 - scale, 1 + scale) */
    int erase;      /* side of the erased square, 0 = no erase */
} AugmentSpec;

/* One image's drawn parameters. */
typedef struct AugmentParams {
    float angle;    /* degrees, counter-clockwise */
    float scale;
    int dx, dy;
    int erase_top, erase_left, erase_size;
} AugmentParams;

/* The inverse map output -> input: in = M (out - c - d) + c. */
typedef struct AugmentMap {
    float m00, m01, m10, m11;
    float cx, cy, dx, dy;
} AugmentMap;

HD float augment_symmetric(uint64_t seed, uint64_t index, float bound)
{
    return (2.0f * rng_uniform(seed, RNG_STREAM_AUGMENT, index) - 1.0f) * bound;
}

HD int augment_int(uint64_t seed, uint64_t index, int bound)
{
    return (int)rng_below(seed, RNG_STREAM_AUGMENT, index, (uint32_t)(2 * bound + 1)) - bound;
}

/* The erased square never leaves the image: it is clamped to the smaller
 * side, and its corner is uniform over the positions where it fits. */
HD AugmentParams augment_draw(const AugmentSpec *s, uint64_t seed, uint64_t counter, int h, int w)
{
    uint64_t base = counter * AUGMENT_DRAWS;
    AugmentParams p;
    p.angle = augment_symmetric(seed, base + 0, s->rotate);
    p.scale = 1.0f + augment_symmetric(seed, base + 1, s->scale);
    p.dx = augment_int(seed, base + 2, s->shift);
    p.dy = augment_int(seed, base + 3, s->shift);
    int side = h < w ? h : w;
    p.erase_size = s->erase < side ? s->erase : side;
    p.erase_top = (int)rng_below(seed, RNG_STREAM_AUGMENT, base + 4, (uint32_t)(h - p.erase_size + 1));
    p.erase_left = (int)rng_below(seed, RNG_STREAM_AUGMENT, base + 5, (uint32_t)(w - p.erase_size + 1));
    return p;
}

/* With angle 0 and scale 1 the matrix is exactly the identity (cos 0 = 1,
 * sin 0 = 0, 1/1 = 1), so integer shifts land on pixel centres and copy
 * values bit for bit. */
HD AugmentMap augment_map(const AugmentParams *p, int h, int w)
{
    float rad = p->angle * 0.017453292519943295f;
    float cs = cosf(rad) / p->scale, sn = sinf(rad) / p->scale;
    AugmentMap m;
    m.m00 = cs;
    m.m01 = -sn;
    m.m10 = sn;
    m.m11 = cs;
    m.cx = 0.5f * (float)(w - 1);
    m.cy = 0.5f * (float)(h - 1);
    m.dx = (float)p->dx;
    m.dy = (float)p->dy;
    return m;
}

HD float augment_pixel_or_zero(const float *img, int h, int w, int y, int x)
{
    return y >= 0 && y < h && x >= 0 && x < w ? img[y * w + x] : 0.0f;
}

/* Output pixel (y, x): bilinear sample of img at the inverse-mapped point.
 * Weights of exactly 0 multiply in-image neighbours only by 0, so a
 * sample on a pixel centre returns that pixel's value exactly. */
HD float augment_sample(const float *img, int h, int w, const AugmentMap *m, int y, int x)
{
    float ox = (float)x - m->cx - m->dx, oy = (float)y - m->cy - m->dy;
    float sx = m->m00 * ox + m->m01 * oy + m->cx;
    float sy = m->m10 * ox + m->m11 * oy + m->cy;
    /* Far outside (also guards the int conversion below): background. */
    if (!(sx > -1.0f && sx < (float)w && sy > -1.0f && sy < (float)h)) return 0.0f;
    float fx = floorf(sx), fy = floorf(sy);
    int x0 = (int)fx, y0 = (int)fy;
    float wx = sx - fx, wy = sy - fy;
    float top = (1.0f - wx) * augment_pixel_or_zero(img, h, w, y0, x0) +
                wx * augment_pixel_or_zero(img, h, w, y0, x0 + 1);
    float bottom = (1.0f - wx) * augment_pixel_or_zero(img, h, w, y0 + 1, x0) +
                   wx * augment_pixel_or_zero(img, h, w, y0 + 1, x0 + 1);
    return (1.0f - wy) * top + wy * bottom;
}

HD int augment_erased(const AugmentParams *p, int y, int x)
{
    return y >= p->erase_top && y < p->erase_top + p->erase_size &&
           x >= p->erase_left && x < p->erase_left + p->erase_size;
}

#endif
