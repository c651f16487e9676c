/* Data augmentation: one seeded op applied to training images as a batch
 * is staged (random rotation, integer shift, scale, erased square;
 * bilinear sampling, zero fill). Per-pixel math and the parameter draws are
 * in augment_math.h, shared with the CUDA kernel. Evaluation never
 * augments. docs/augmentation.md compares it with the upstream pipelines. */
#ifndef SWEEPRUN_AUGMENT_H
#define SWEEPRUN_AUGMENT_H
#include <stdint.h>
#include "augment_math.h"

/* Largest shift and erase accepted (pixels): the datasets are 28x28. */
#define AUGMENT_MAX_PIXELS 28

/* Parse "none" or comma-separated parts rotate:DEGREES (0..180),
 * shift:PIXELS (whole, 0..28), scale:FRACTION (0 <= s < 1), erase:PIXELS
 * (whole, 0..28), each at most once, e.g. "rotate:10,shift:2,erase:4".
 * 0 ok; -1 with "expected ..., got ..." in err (no key prefix). */
int augment_parse(const char *spec, AugmentSpec *out, char *err, int err_size);
/* Canonical text ("none", or the non-zero parts in the order above); it
 * parses back to the same spec. */
void augment_format(const AugmentSpec *s, char *buf, int size);
/* Does the spec change any image? */
int augment_active(const AugmentSpec *s);

/* One image with explicit parameters: dst = erase(transform(src)). src and
 * dst are h x w and must not overlap. */
void augment_apply(const AugmentParams *p, const float *src, float *dst, int h, int w);
/* n images (raw intensities, background 0): image i gets the parameters
 * augment_draw(s, seed, first + i) and goes from src to dst. Identical for
 * any thread count. */
void augment_batch(const AugmentSpec *s, uint64_t seed, uint64_t first, const float *src,
                   float *dst, int n, int h, int w);

#endif
