/* Images for `sweeprun predict`: PGM (P5 8 and 16 bit, P2 with comments)
 * and PNG (gray, RGB, RGBA written here with libpng), the conversion to
 * 28x28 (identity at 28x28, exact 2x2 and 3x3 box averages, padding of a
 * non-square image, inversion, alpha on white) and clear errors. */
#define _XOPEN_SOURCE 700
#include "testutil.h"
#include "image_input.h"
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char err[1024];

#define OK(call)                                                  \
    do {                                                          \
        if ((call) != 0) fail_msg("%s failed: %s", #call, err);   \
    } while (0)

static void path_of(char *buf, size_t size, const char *name) { test_tmpdir_path(buf, size, name); }

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void write_png(const char *path, int w, int h, png_uint_32 format, const void *px)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w;
    im.height = (png_uint_32)h;
    im.format = format;
    if (!png_image_write_to_file(&im, path, 0, px, 0, NULL)) fail_msg("libpng: %s", im.message);
}

/* A 28x28 test pattern with every value 0..255 somewhere. */
static void pattern(uint8_t *px)
{
    for (int i = 0; i < 784; i++) px[i] = (uint8_t)((i * 37) % 256);
}

static void test_pgm_round_trip_is_identity(void **state)
{
    (void)state;
    char path[512];
    uint8_t px[784], out[784];
    pattern(px);
    path_of(path, sizeof path, "p5.pgm");
    OK(pgm_write(path, px, 28, 28, err, sizeof err));
    GrayImage im;
    OK(image_read(path, &im, err, sizeof err));
    assert_int_equal(im.width, 28);
    assert_int_equal(im.height, 28);
    image_to_mnist(&im, 0, out);
    assert_memory_equal(out, px, 784);
    image_to_mnist(&im, 1, out);   /* --invert */
    for (int i = 0; i < 784; i++) assert_int_equal(out[i], 255 - px[i]);
    gray_image_free(&im);
}

static void test_pgm_variants(void **state)
{
    (void)state;
    char path[512];
    GrayImage im;
    /* plain P2 with a comment, maxval 4: 0, 2, 4 -> 0, 128, 255 (rounded) */
    const char *p2 = "P2\n# a comment\n3 1\n4\n0 2\n4\n";
    path_of(path, sizeof path, "p2.pgm");
    write_bytes(path, p2, strlen(p2));
    OK(image_read(path, &im, err, sizeof err));
    assert_int_equal(im.width, 3);
    assert_int_equal(im.pixels[0], 0);
    assert_int_equal(im.pixels[1], 128);
    assert_int_equal(im.pixels[2], 255);
    gray_image_free(&im);
    /* 16-bit P5, big-endian: 65535 -> 255, 257 -> 1 */
    const unsigned char p5[] = {'P', '5', '\n', '2', ' ', '1', '\n', '6', '5', '5', '3', '5', '\n',
                                0xff, 0xff, 0x01, 0x01};
    path_of(path, sizeof path, "p5-16.pgm");
    write_bytes(path, p5, sizeof p5);
    OK(image_read(path, &im, err, sizeof err));
    assert_int_equal(im.pixels[0], 255);
    assert_int_equal(im.pixels[1], 1);
    gray_image_free(&im);
}

static void test_png_gray_rgb_alpha(void **state)
{
    (void)state;
    char path[512];
    uint8_t px[784], out[784];
    pattern(px);
    GrayImage im;
    path_of(path, sizeof path, "gray.png");
    write_png(path, 28, 28, PNG_FORMAT_GRAY, px);
    OK(image_read(path, &im, err, sizeof err));
    image_to_mnist(&im, 0, out);
    assert_memory_equal(out, px, 784);
    gray_image_free(&im);
    /* RGB gray values stay what they are; pure colours become their luminance */
    uint8_t rgb[4 * 3] = {10, 10, 10, 200, 200, 200, 255, 0, 0, 0, 0, 255};
    path_of(path, sizeof path, "rgb.png");
    write_png(path, 4, 1, PNG_FORMAT_RGB, rgb);
    OK(image_read(path, &im, err, sizeof err));
    assert_int_equal(im.pixels[0], 10);
    assert_int_equal(im.pixels[1], 200);
    assert_true(im.pixels[2] > 100 && im.pixels[2] < 160);   /* red: ~0.21 linear -> ~127 sRGB */
    assert_true(im.pixels[3] > 40 && im.pixels[3] < 90);     /* blue: ~0.07 linear -> ~76 sRGB */
    gray_image_free(&im);
    /* gray + alpha: transparent is white (as on screen), opaque keeps its value */
    uint8_t ga[2 * 2] = {0, 0, 30, 255};
    path_of(path, sizeof path, "alpha.png");
    write_png(path, 2, 1, PNG_FORMAT_GA, ga);
    OK(image_read(path, &im, err, sizeof err));
    assert_int_equal(im.pixels[0], 255);
    assert_int_equal(im.pixels[1], 30);
    gray_image_free(&im);
}

static void test_resampling(void **state)
{
    (void)state;
    uint8_t px[784], out[784];
    pattern(px);
    /* 84x84 made of 3x3 blocks: the box filter gives the 28x28 back */
    GrayImage big = {84, 84, malloc(84 * 84)};
    for (int y = 0; y < 84; y++)
        for (int x = 0; x < 84; x++) big.pixels[y * 84 + x] = px[(y / 3) * 28 + x / 3];
    image_to_mnist(&big, 0, out);
    assert_memory_equal(out, px, 784);
    /* 56x56 of 2x2 blocks with values a, b, c, d: each output is their mean */
    GrayImage half = {56, 56, malloc(56 * 56)};
    for (int y = 0; y < 56; y++)
        for (int x = 0; x < 56; x++) half.pixels[y * 56 + x] = (uint8_t)(x % 2 * 100 + y % 2 * 40);
    image_to_mnist(&half, 0, out);
    for (int i = 0; i < 784; i++) assert_int_equal(out[i], 70);   /* (0 + 100 + 40 + 140) / 4 */
    /* 28 wide, 14 high, all white: padded to 28x28 with black, centred:
     * rows 7..20 white */
    GrayImage wide = {28, 14, malloc(28 * 14)};
    memset(wide.pixels, 255, 28 * 14);
    image_to_mnist(&wide, 0, out);
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) assert_int_equal(out[y * 28 + x], y >= 7 && y < 21 ? 255 : 0);
    assert_true(image_border_mean(out) < 128);
    /* a 14x14 image is scaled up 2x: each pixel becomes a 2x2 block */
    GrayImage small = {14, 14, malloc(14 * 14)};
    for (int i = 0; i < 196; i++) small.pixels[i] = (uint8_t)i;
    image_to_mnist(&small, 0, out);
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) assert_int_equal(out[y * 28 + x], (y / 2) * 14 + x / 2);
    /* white everywhere: a bright border, the hint for --invert */
    memset(out, 250, 784);
    assert_true(image_border_mean(out) == 250);
    gray_image_free(&big);
    gray_image_free(&half);
    gray_image_free(&wide);
    gray_image_free(&small);
}

static void test_errors(void **state)
{
    (void)state;
    char path[512];
    GrayImage im;
    path_of(path, sizeof path, "text.txt");
    write_bytes(path, "hello", 5);
    assert_int_equal(image_read(path, &im, err, sizeof err), -1);
    assert_non_null(strstr(err, "text.txt: not a PGM (P2/P5) or PNG image"));
    path_of(path, sizeof path, "short.pgm");
    write_bytes(path, "P5\n28 28\n255\n\x01\x02", 15);
    assert_int_equal(image_read(path, &im, err, sizeof err), -1);
    assert_non_null(strstr(err, "short.pgm: PGM data ends or is out of range at pixel 2 of 784"));
    path_of(path, sizeof path, "header.pgm");
    write_bytes(path, "P5\n0 28\n255\n", 12);
    assert_int_equal(image_read(path, &im, err, sizeof err), -1);
    assert_non_null(strstr(err, "header.pgm: bad PGM header (width 0, height 28"));
    const unsigned char broken_png[12] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};
    path_of(path, sizeof path, "broken.png");
    write_bytes(path, broken_png, sizeof broken_png);
    assert_int_equal(image_read(path, &im, err, sizeof err), -1);
    assert_non_null(strstr(err, "broken.png: "));
    assert_int_equal(image_read("/nonexistent.png", &im, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent.png: No such file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pgm_round_trip_is_identity),
        cmocka_unit_test(test_pgm_variants),
        cmocka_unit_test(test_png_gray_rgb_alpha),
        cmocka_unit_test(test_resampling),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown);
}
