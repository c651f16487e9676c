/* Images for `sweeprun predict`: PGM (P2/P5, written by us) or PNG (read
 * with libpng), turned into what the models were trained on: 28x28 bytes,
 * white digit on black as in MNIST.
 *
 * Conversion: colour becomes gray (libpng's sRGB weights); transparency is
 * composited onto white (how a drawing looks on screen); --invert turns a
 * dark digit on a light background into MNIST's light-on-dark; a
 * non-square image is padded to a square with black, centred; then an area
 * (box) filter resamples it to 28x28, which leaves a 28x28 image exactly
 * as it was. MNIST digits fill about the centre 20x20 of their frame, so
 * crop a photo to the digit plus a margin of about a fifth on each side. */
#ifndef SWEEPRUN_IMAGE_INPUT_H
#define SWEEPRUN_IMAGE_INPUT_H
#include <stdint.h>

#define IMAGE_SIDE 28
#define IMAGE_MAX_SIDE 16384

/* A decoded gray image, 8 bits per pixel, row-major, top row first. */
typedef struct GrayImage {
    int width, height;
    uint8_t *pixels;
} GrayImage;

/* Read a PGM or PNG file (chosen by its first bytes). 0 ok; -1 with
 * "PATH: what is wrong" in err. */
int image_read(const char *path, GrayImage *out, char *err, int err_size);
void gray_image_free(GrayImage *im);

/* The model's input from any image: optional inversion, pad to square,
 * area resample to 28x28 (IMAGE_SIDE). */
void image_to_mnist(const GrayImage *im, int invert, uint8_t out[IMAGE_SIDE * IMAGE_SIDE]);

/* Mean of the outermost ring of pixels: MNIST's border is black, so a
 * bright border after conversion suggests a missing --invert. */
double image_border_mean(const uint8_t px[IMAGE_SIDE * IMAGE_SIDE]);

/* Write 28x28 (or any w x h) bytes as a binary PGM (P5). 0 ok, -1 err. */
int pgm_write(const char *path, const uint8_t *px, int width, int height, char *err, int err_size);

#endif
