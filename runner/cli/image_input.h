/* Images for `sweeprun predict`: PGM (P2/P5, written by us) or PNG (read
 * with libpng), turned into what the models were trained on: 28x28 bytes,
 * white digit on black as in MNIST.
 *
 * Reading: colour becomes gray (libpng's sRGB weights); transparency is
 * composited onto white (how a drawing looks on screen). At most
 * IMAGE_MAX_SIDE pixels on a side and IMAGE_MAX_PIXELS in all.
 *
 * Polarity (POLARITY_AUTO): the background is the median of the image's
 * border pixels (its outermost rows and columns). A median of 128 or more
 * is a light background, so a dark digit on light: it is inverted to
 * MNIST's light on dark. --polarity (or --invert) overrides the rule.
 *
 * Framing FRAME_DIGIT, as MNIST was made (its digits' longer side is 20
 * pixels and their centre of mass at pixel (14, 14), x and y from 0):
 *   1. ink levels: the background (border median) becomes 0 and the
 *      strongest ink 255, linearly, clamped;
 *   2. crop to the bounding box of the ink: pixels at level >= 64;
 *   3. scale the box's longer side to 20 pixels keeping the aspect ratio,
 *      by an area (box) filter, which anti-aliases; the shorter side is
 *      centred in the 20x20;
 *   4. place the 20x20 in 28x28 with its centre of mass at pixel (14, 14),
 *      shifted by whole pixels and never so far that ink leaves the frame.
 * An image without ink (strongest ink < 16 levels from the background) is
 * all background: 0.
 * FRAME_WHOLE, for images already framed like MNIST: the whole image after
 * polarity, padded with black to a square (centred), area-resampled to
 * 28x28; a 28x28 image stays exactly as it is. */
#ifndef SWEEPRUN_IMAGE_INPUT_H
#define SWEEPRUN_IMAGE_INPUT_H
#include <stdint.h>

#define IMAGE_SIDE 28
#define IMAGE_MAX_SIDE 16384
/* 64 Mi pixels: 64 MiB of gray, a 48-megapixel photo fits. */
#define IMAGE_MAX_PIXELS (1L << 26)

/* A decoded gray image, 8 bits per pixel, row-major, top row first. */
typedef struct GrayImage {
    int width, height;
    uint8_t *pixels;
} GrayImage;

/* Read a PGM or PNG file (chosen by its first bytes). 0 ok; -1 with
 * "PATH: what is wrong" in err. */
int image_read(const char *path, GrayImage *out, char *err, int err_size);
void gray_image_free(GrayImage *im);

typedef enum { POLARITY_AUTO, POLARITY_LIGHT_ON_DARK, POLARITY_DARK_ON_LIGHT } Polarity;
typedef enum { FRAME_DIGIT, FRAME_WHOLE } Framing;

/* What preparing one image found. */
typedef struct ImagePrep {
    int background;       /* median of the border pixels, as read (0..255) */
    Polarity detected;    /* what the border says (the rule above) */
    Polarity used;        /* detected, or what was asked */
    int blank;            /* FRAME_DIGIT found no ink */
} ImagePrep;

/* Parse "auto", "dark-on-light", "light-on-dark"; 0 ok, -1 unknown. */
int polarity_parse(const char *text, Polarity *out);
/* Parse "digit", "whole"; 0 ok, -1 unknown. */
int framing_parse(const char *text, Framing *out);

/* The model's input from any image (the steps above). */
void image_to_mnist(const GrayImage *im, Polarity polarity, Framing framing,
                    uint8_t out[IMAGE_SIDE * IMAGE_SIDE], ImagePrep *prep);

/* Write 28x28 (or any w x h) bytes as a binary PGM (P5). 0 ok, -1 err. */
int pgm_write(const char *path, const uint8_t *px, int width, int height, char *err, int err_size);

#endif
