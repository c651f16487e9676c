/* Images for `sweeprun predict`: PGM (P5 8 and 16 bit, P2 with comments)
 * and PNG (gray, RGB, RGBA written here with libpng), the conversion to
 * 28x28 framed whole (identity at 28x28, exact 2x2 and 3x3 box averages,
 * padding of a non-square image, inversion, alpha on white), the size
 * bound, and clear errors; MNIST's own preparation (framed by the digit)
 * and the polarity rule on MNIST test digits drawn at other sizes,
 * positions and polarities. */
#define _XOPEN_SOURCE 700
#include "testutil.h"
#include "image_input.h"
#include "dataset.h"
#include <math.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
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
    ImagePrep prep;
    image_to_mnist(&im, POLARITY_LIGHT_ON_DARK, FRAME_WHOLE, out, &prep);
    assert_memory_equal(out, px, 784);
    image_to_mnist(&im, POLARITY_DARK_ON_LIGHT, FRAME_WHOLE, out, &prep);   /* --invert */
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
    ImagePrep prep;
    image_to_mnist(&im, POLARITY_LIGHT_ON_DARK, FRAME_WHOLE, out, &prep);
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
    ImagePrep prep;
    image_to_mnist(&big, POLARITY_LIGHT_ON_DARK, FRAME_WHOLE, out, &prep);
    assert_memory_equal(out, px, 784);
    /* 56x56 of 2x2 blocks with values a, b, c, d: each output is their mean */
    GrayImage half = {56, 56, malloc(56 * 56)};
    for (int y = 0; y < 56; y++)
        for (int x = 0; x < 56; x++) half.pixels[y * 56 + x] = (uint8_t)(x % 2 * 100 + y % 2 * 40);
    image_to_mnist(&half, POLARITY_LIGHT_ON_DARK, FRAME_WHOLE, out, &prep);
    for (int i = 0; i < 784; i++) assert_int_equal(out[i], 70);   /* (0 + 100 + 40 + 140) / 4 */
    /* 28 wide, 14 high, all white: padded to 28x28 with black, centred:
     * rows 7..20 white */
    GrayImage wide = {28, 14, malloc(28 * 14)};
    memset(wide.pixels, 255, 28 * 14);
    image_to_mnist(&wide, POLARITY_LIGHT_ON_DARK, FRAME_WHOLE, out, &prep);
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) assert_int_equal(out[y * 28 + x], y >= 7 && y < 21 ? 255 : 0);
    /* a 14x14 image is scaled up 2x: each pixel becomes a 2x2 block */
    GrayImage small = {14, 14, malloc(14 * 14)};
    for (int i = 0; i < 196; i++) small.pixels[i] = (uint8_t)i;
    image_to_mnist(&small, POLARITY_LIGHT_ON_DARK, FRAME_WHOLE, out, &prep);
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) assert_int_equal(out[y * 28 + x], (y / 2) * 14 + x / 2);
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

/* The reader's bound: the header's size is refused before any pixel is
 * allocated, naming the file, the size and the limit. */
static void test_size_limits(void **state)
{
    (void)state;
    char path[512];
    GrayImage im;
    path_of(path, sizeof path, "huge.pgm");   /* every side allowed, too many pixels; no data */
    write_bytes(path, "P5\n10000 10000\n255\n", 19);
    assert_int_equal(image_read(path, &im, err, sizeof err), -1);
    assert_non_null(strstr(err, "huge.pgm: the image is 10000x10000 pixels; at most 16384 on a side and "
                                "67108864 in all are accepted"));
    static uint8_t row[20000];
    path_of(path, sizeof path, "wide.png");
    write_png(path, 20000, 1, PNG_FORMAT_GRAY, row);
    assert_int_equal(image_read(path, &im, err, sizeof err), -1);
    assert_non_null(strstr(err, "wide.png: the image is 20000x1 pixels; at most 16384"));
}

/* A 1x16384 image needs the memory of its pixels, not of a 16384x16384
 * square: converted in a child limited to 256 MiB of address space. */
static void test_thin_image_small_memory(void **state)
{
    (void)state;
    for (int framing = FRAME_DIGIT; framing <= FRAME_WHOLE; framing++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            struct rlimit limit = {256L << 20, 256L << 20};
            if (ADDRESS_SPACE_LIMITABLE) setrlimit(RLIMIT_AS, &limit);
            GrayImage thin = {1, 16384, calloc(16384, 1)};
            if (!thin.pixels) _exit(3);
            memset(thin.pixels + 8000, 255, 400);
            uint8_t out[784];
            ImagePrep prep;
            image_to_mnist(&thin, POLARITY_AUTO, (Framing)framing, out, &prep);
            int lit = 0;   /* framed whole, a 1-pixel column is 1/585 of a cell: rounds to 0 */
            for (int i = 0; i < 784; i++) lit += out[i] > 0;
            _exit(lit > 0 || framing == FRAME_WHOLE ? 0 : 4);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("framing %d: the child %s %d", framing, WIFEXITED(status) ? "exited" : "died of signal",
                     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
}

/* Pearson correlation of two 28x28 images. */
static double correlation(const uint8_t *a, const uint8_t *b)
{
    double ma = 0, mb = 0, ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < 784; i++) ma += a[i] / 784.0, mb += b[i] / 784.0;
    for (int i = 0; i < 784; i++) {
        ab += (a[i] - ma) * (b[i] - mb);
        aa += (a[i] - ma) * (a[i] - ma);
        bb += (b[i] - mb) * (b[i] - mb);
    }
    return ab / sqrt(aa * bb);
}

/* 50 MNIST test digits drawn at scales 0.8x..7x, anywhere in canvases from
 * 60x50 to 200x260, both polarities: the polarity rule picks the drawn
 * polarity every time and the prepared 28x28 matches the original MNIST
 * image: correlation >= 0.9 on average and >= 0.7 each (measured: 0.941
 * and 0.725; a thin stroke one pixel off its original place costs most). */
static void test_mnist_preparation(void **state)
{
    (void)state;
    Dataset data;
    if (dataset_load("mnist", 1, 50, &data, err, sizeof err)) fail_msg("MNIST needed (MNIST_DIR): %s", err);
    uint64_t rng = 11;
    double sum = 0, worst = 1;
    for (int i = 0; i < 50; i++) {
        const uint8_t *digit = data.test_x + (long)i * 784;
        int width = i % 3 ? 200 : 60, height = i % 3 ? 260 : 50, dark = i % 2;
        double scale = i % 3 ? test_uniform(&rng, 3, 7) : test_uniform(&rng, 0.8, 1.7);
        int left = test_int(&rng, 0, width - (int)ceil(28 * scale)), top = test_int(&rng, 0, height - (int)ceil(28 * scale));
        GrayImage im = {width, height, malloc((size_t)width * height)};
        test_draw_digit(digit, scale, width, height, left, top, dark, &rng, im.pixels);
        uint8_t out[784];
        ImagePrep prep;
        image_to_mnist(&im, POLARITY_AUTO, FRAME_DIGIT, out, &prep);
        assert_int_equal(prep.used, dark ? POLARITY_DARK_ON_LIGHT : POLARITY_LIGHT_ON_DARK);
        if (prep.blank) fail_msg("test image %d: blank (background %d)", i, prep.background);
        double r = correlation(out, digit);
        sum += r;
        worst = fmin(worst, r);
        if (r < 0.7) fail_msg("test image %d (scale %.2f, %dx%d at %d,%d, %s): correlation %.3f", i, scale,
                              width, height, left, top, dark ? "dark on light" : "light on dark", r);
        gray_image_free(&im);
    }
    print_message("MNIST preparation: correlation with the original %.3f on average, %.3f at worst\n", sum / 50,
                  worst);
    assert_true(sum / 50 >= 0.9);
    /* MNIST's own images are prepared already: digit framing nearly keeps them */
    double same = 0;
    for (int i = 0; i < 50; i++) {
        GrayImage im = {28, 28, data.test_x + (long)i * 784};
        uint8_t out[784];
        ImagePrep prep;
        image_to_mnist(&im, POLARITY_AUTO, FRAME_DIGIT, out, &prep);
        same += correlation(out, im.pixels) / 50;
    }
    print_message("MNIST images framed again: correlation %.3f on average\n", same);
    assert_true(same >= 0.95);
    dataset_free(&data);
}

/* The rule's edges: a forced polarity wins; a uniform image has no ink. */
static void test_polarity_and_blank(void **state)
{
    (void)state;
    uint8_t px[40 * 30], out[784];
    memset(px, 200, sizeof px);   /* light gray paper */
    for (int y = 10; y < 20; y++) px[y * 40 + 15] = 20;   /* a dark stroke: a "1" */
    GrayImage im = {40, 30, px};
    ImagePrep prep;
    image_to_mnist(&im, POLARITY_AUTO, FRAME_DIGIT, out, &prep);
    assert_int_equal(prep.background, 200);
    assert_int_equal(prep.detected, POLARITY_DARK_ON_LIGHT);
    assert_int_equal(out[14 * 28 + 14], 255);   /* the stroke, white, through the centre */
    assert_int_equal(out[0], 0);
    image_to_mnist(&im, POLARITY_LIGHT_ON_DARK, FRAME_DIGIT, out, &prep);
    assert_int_equal(prep.used, POLARITY_LIGHT_ON_DARK);
    assert_int_equal(prep.detected, POLARITY_DARK_ON_LIGHT);
    memset(px, 200, sizeof px);
    image_to_mnist(&im, POLARITY_AUTO, FRAME_DIGIT, out, &prep);
    assert_true(prep.blank);
    for (int i = 0; i < 784; i++) assert_int_equal(out[i], 0);
    Polarity p;
    Framing f;
    assert_int_equal(polarity_parse("dark-on-light", &p), 0);
    assert_int_equal(p, POLARITY_DARK_ON_LIGHT);
    assert_int_equal(polarity_parse("dark", &p), -1);
    assert_int_equal(framing_parse("whole", &f), 0);
    assert_int_equal(f, FRAME_WHOLE);
    assert_int_equal(framing_parse("crop", &f), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pgm_round_trip_is_identity),
        cmocka_unit_test(test_pgm_variants),
        cmocka_unit_test(test_png_gray_rgb_alpha),
        cmocka_unit_test(test_resampling),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_thin_image_small_memory),
        cmocka_unit_test(test_mnist_preparation),
        cmocka_unit_test(test_polarity_and_blank),
    };
    return cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown);
}
