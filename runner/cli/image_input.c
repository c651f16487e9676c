#include "image_input.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, int n, const char *path, const char *what)
{
    snprintf(err, n, "%s: %s", path, what);
    return -1;
}

void gray_image_free(GrayImage *im)
{
    free(im->pixels);
    im->pixels = NULL;
    im->width = im->height = 0;
}

/* ---- PGM (netpbm "P5" binary or "P2" plain) ------------------------------------ */

/* Next header number, skipping white space and # comments; -1 if none. */
static long pgm_number(FILE *f)
{
    int c;
    for (;;) {
        c = fgetc(f);
        if (c == '#')
            while (c != '\n' && c != EOF) c = fgetc(f);
        else if (!isspace(c))
            break;
    }
    if (!isdigit(c)) return -1;
    long v = 0;
    while (isdigit(c) && v < 1000000) {
        v = 10 * v + (c - '0');
        c = fgetc(f);
    }
    return v;   /* the one white-space byte after the number is consumed */
}

/* The reader's bound, checked before any pixel is allocated: a header may
 * claim any size. */
static int check_size(const char *path, long w, long h, char *err, int n)
{
    if (w <= IMAGE_MAX_SIDE && h <= IMAGE_MAX_SIDE && w * h <= IMAGE_MAX_PIXELS) return 0;
    char why[200];
    snprintf(why, sizeof why, "the image is %ldx%ld pixels; at most %d on a side and %ld in all are accepted",
             w, h, IMAGE_MAX_SIDE, IMAGE_MAX_PIXELS);
    return fail(err, n, path, why);
}

static int read_pgm(FILE *f, const char *path, GrayImage *out, char *err, int n)
{
    int plain = fgetc(f) == 'P' && fgetc(f) == '2';
    long w = pgm_number(f), h = pgm_number(f), maxval = pgm_number(f);
    char why[200];
    if (w < 1 || h < 1 || maxval < 1 || maxval > 65535) {
        snprintf(why, sizeof why, "bad PGM header (width %ld, height %ld, maxval %ld; expected "
                                  "at least 1 and 1..65535)", w, h, maxval);
        return fail(err, n, path, why);
    }
    if (check_size(path, w, h, err, n)) return -1;
    out->width = (int)w;
    out->height = (int)h;
    out->pixels = malloc((size_t)(w * h));
    if (!out->pixels) return fail(err, n, path, "out of memory");
    for (long i = 0; i < w * h; i++) {
        long v;
        if (plain) {
            v = pgm_number(f);
        } else if (maxval < 256) {
            v = fgetc(f);
        } else {
            int hi = fgetc(f), lo = fgetc(f);
            v = hi < 0 || lo < 0 ? -1 : hi * 256 + lo;
        }
        if (v < 0 || v > maxval) {
            snprintf(why, sizeof why, "PGM data ends or is out of range at pixel %ld of %ld "
                                      "(maxval %ld)", i, w * h, maxval);
            gray_image_free(out);
            return fail(err, n, path, why);
        }
        out->pixels[i] = (uint8_t)((v * 255 + maxval / 2) / maxval);
    }
    return 0;
}

/* ---- PNG (libpng's simplified API) ----------------------------------------------- */

static int read_png(const char *path, GrayImage *out, char *err, int n)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path)) return fail(err, n, path, im.message);
    if (check_size(path, (long)im.width, (long)im.height, err, n)) {
        png_image_free(&im);
        return -1;
    }
    im.format = PNG_FORMAT_GRAY;
    out->width = (int)im.width;
    out->height = (int)im.height;
    out->pixels = malloc(PNG_IMAGE_SIZE(im));
    if (!out->pixels) {
        png_image_free(&im);
        return fail(err, n, path, "out of memory");
    }
    png_color white = {255, 255, 255};   /* transparent parts look white on screen */
    if (!png_image_finish_read(&im, &white, out->pixels, 0, NULL)) {
        gray_image_free(out);
        return fail(err, n, path, im.message);
    }
    return 0;
}

int image_read(const char *path, GrayImage *out, char *err, int err_size)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, err_size, path, strerror(errno));
    unsigned char magic[8] = {0};
    size_t got = fread(magic, 1, sizeof magic, f);
    int rc;
    if (got >= 2 && magic[0] == 'P' && (magic[1] == '5' || magic[1] == '2')) {
        rewind(f);
        rc = read_pgm(f, path, out, err, err_size);
    } else if (got == 8 && !png_sig_cmp(magic, 0, 8)) {
        rc = read_png(path, out, err, err_size);
    } else {
        rc = fail(err, err_size, path, "not a PGM (P2/P5) or PNG image");
    }
    fclose(f);
    return rc;
}

/* ---- to the model's input ------------------------------------------------------------ */

enum {
    DIGIT_BOX = 20,           /* MNIST: the digit's longer side */
    CENTRE = 14,              /* MNIST: the centre of mass, in pixel indices */
    INK_BOX_LEVEL = 64,       /* ink levels at least this form the bounding box */
    MIN_INK_CONTRAST = 16,    /* less between background and strongest ink: no ink */
    LIGHT_BACKGROUND = 128,   /* a border median this light or lighter: dark on light */
};

int polarity_parse(const char *text, Polarity *out)
{
    static const char *const names[] = {"auto", "light-on-dark", "dark-on-light"};   /* Polarity order */
    for (int i = 0; i < 3; i++)
        if (!strcmp(text, names[i])) {
            *out = (Polarity)i;
            return 0;
        }
    return -1;
}

int framing_parse(const char *text, Framing *out)
{
    if (!strcmp(text, "digit")) *out = FRAME_DIGIT;
    else if (!strcmp(text, "whole")) *out = FRAME_WHOLE;
    else return -1;
    return 0;
}

/* Median of the outermost rows and columns (the lower one of an even
 * count). */
static int border_median(const GrayImage *im)
{
    long count[256] = {0}, n = 0;
    int w = im->width, h = im->height;
    for (int x = 0; x < w; x++) {
        count[im->pixels[x]]++;
        count[im->pixels[(long)(h - 1) * w + x]]++;
        n += 2;
    }
    for (int y = 1; y < h - 1; y++) {
        count[im->pixels[(long)y * w]]++;
        count[im->pixels[(long)y * w + w - 1]]++;
        n += 2;
    }
    long seen = 0;
    for (int v = 0; v < 255; v++)
        if ((seen += count[v]) * 2 >= n) return v;
    return 255;
}

/* level[v]: the ink level of pixel value v, 0 background .. 255 strongest
 * ink. FRAME_WHOLE: only the inversion; FRAME_DIGIT: also the background
 * to 0 and the strongest ink to 255. Sets prep->blank. */
static void ink_levels(const GrayImage *im, Framing framing, ImagePrep *prep, uint8_t level[256])
{
    int invert = prep->used == POLARITY_DARK_ON_LIGHT;
    int background = invert ? 255 - prep->background : prep->background, peak = 0;
    long n = (long)im->width * im->height;
    for (long i = 0; i < n && peak < 255; i++) {
        int v = invert ? 255 - im->pixels[i] : im->pixels[i];
        if (v > peak) peak = v;
    }
    prep->blank = framing == FRAME_DIGIT && peak - background < MIN_INK_CONTRAST;
    for (int v = 0; v < 256; v++) {
        int t = invert ? 255 - v : v;
        if (framing == FRAME_WHOLE) level[v] = (uint8_t)t;
        else if (prep->blank || t <= background) level[v] = 0;
        else level[v] = (uint8_t)lround(255.0 * (t - background) / (peak - background));
    }
}

/* The mean ink level over the square [x0, x0 + side) x [y0, y0 + side) of
 * the image in n x n cells, each pixel weighted by the area of it a cell
 * covers; the square's parts outside the image are 0. Work and memory are
 * those of the image, never of the square. */
static void area_resample(const GrayImage *im, const uint8_t level[256], double x0, double y0, double side,
                          int n, double *out)
{
    double c = side / n;
    for (int j = 0; j < n; j++) {
        double cy0 = y0 + j * c, cy1 = cy0 + c;
        for (int i = 0; i < n; i++) {
            double cx0 = x0 + i * c, cx1 = cx0 + c, sum = 0;
            for (int y = (int)fmax(0, floor(cy0)); y < im->height && y < cy1; y++) {
                double wy = fmin(y + 1, cy1) - fmax(y, cy0);
                const uint8_t *row = im->pixels + (long)y * im->width;
                for (int x = (int)fmax(0, floor(cx0)); x < im->width && x < cx1; x++)
                    sum += wy * (fmin(x + 1, cx1) - fmax(x, cx0)) * level[row[x]];
            }
            out[j * n + i] = sum / (c * c);
        }
    }
}

static uint8_t to_byte(double v) { return (uint8_t)lround(fmin(255, fmax(0, v))); }

/* The bounding box of the pixels at INK_BOX_LEVEL or more: [x0, x1) x
 * [y0, y1). 0 ok, -1 none. */
static int ink_box(const GrayImage *im, const uint8_t level[256], int box[4])
{
    int x0 = im->width, y0 = im->height, x1 = 0, y1 = 0;
    for (int y = 0; y < im->height; y++)
        for (int x = 0; x < im->width; x++)
            if (level[im->pixels[(long)y * im->width + x]] >= INK_BOX_LEVEL) {
                if (x < x0) x0 = x;
                if (x >= x1) x1 = x + 1;
                if (y < y0) y0 = y;
                if (y >= y1) y1 = y + 1;
            }
    box[0] = x0, box[1] = y0, box[2] = x1, box[3] = y1;
    return x1 > x0 ? 0 : -1;
}

/* The whole-pixel shift along one axis that puts the centre of mass (in
 * the 20-pixel box's indices) at CENTRE, limited so that the ink, at
 * indices first..last of the box, stays inside the 28-pixel frame. */
static int centring_shift(double mass_centre, int first, int last)
{
    long shift = lround(CENTRE - mass_centre);
    if (shift < -first) shift = -first;
    if (shift > IMAGE_SIDE - 1 - last) shift = IMAGE_SIDE - 1 - last;
    return (int)shift;
}

/* Steps 2-4 of FRAME_DIGIT (image_input.h). */
static void frame_digit(const GrayImage *im, const uint8_t level[256], uint8_t out[IMAGE_SIDE * IMAGE_SIDE])
{
    int box[4];
    memset(out, 0, IMAGE_SIDE * IMAGE_SIDE);
    if (ink_box(im, level, box)) return;
    double bw = box[2] - box[0], bh = box[3] - box[1], side = fmax(bw, bh);
    double digit[DIGIT_BOX * DIGIT_BOX], mass = 0, mx = 0, my = 0;
    area_resample(im, level, box[0] - (side - bw) / 2, box[1] - (side - bh) / 2, side, DIGIT_BOX, digit);
    int first[2] = {DIGIT_BOX, DIGIT_BOX}, last[2] = {-1, -1};   /* x, y of the non-zero bytes */
    for (int y = 0; y < DIGIT_BOX; y++)
        for (int x = 0; x < DIGIT_BOX; x++) {
            double v = digit[y * DIGIT_BOX + x];
            mass += v, mx += v * x, my += v * y;
            if (to_byte(v) == 0) continue;
            first[0] = x < first[0] ? x : first[0], last[0] = x > last[0] ? x : last[0];
            first[1] = y < first[1] ? y : first[1], last[1] = y > last[1] ? y : last[1];
        }
    if (last[0] < 0) return;   /* the ink rounds to nothing at this size */
    int sx = centring_shift(mx / mass, first[0], last[0]), sy = centring_shift(my / mass, first[1], last[1]);
    for (int y = first[1]; y <= last[1]; y++)
        for (int x = first[0]; x <= last[0]; x++)
            out[(y + sy) * IMAGE_SIDE + x + sx] = to_byte(digit[y * DIGIT_BOX + x]);
}

void image_to_mnist(const GrayImage *im, Polarity polarity, Framing framing,
                    uint8_t out[IMAGE_SIDE * IMAGE_SIDE], ImagePrep *prep)
{
    memset(prep, 0, sizeof *prep);
    prep->background = border_median(im);
    prep->detected = prep->background >= LIGHT_BACKGROUND ? POLARITY_DARK_ON_LIGHT : POLARITY_LIGHT_ON_DARK;
    prep->used = polarity == POLARITY_AUTO ? prep->detected : polarity;
    uint8_t level[256];
    ink_levels(im, framing, prep, level);
    if (framing == FRAME_DIGIT) {
        frame_digit(im, level, out);
        return;
    }
    int side = im->width > im->height ? im->width : im->height;   /* black padding, centred */
    double cells[IMAGE_SIDE * IMAGE_SIDE];
    area_resample(im, level, -((side - im->width) / 2), -((side - im->height) / 2), side, IMAGE_SIDE, cells);
    for (int i = 0; i < IMAGE_SIDE * IMAGE_SIDE; i++) out[i] = to_byte(cells[i]);
}

int pgm_write(const char *path, const uint8_t *px, int width, int height, char *err, int err_size)
{
    FILE *f = fopen(path, "wb");
    if (!f) return fail(err, err_size, path, strerror(errno));
    fprintf(f, "P5\n%d %d\n255\n", width, height);
    size_t n = (size_t)width * height;
    int ok = fwrite(px, 1, n, f) == n;
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : fail(err, err_size, path, "cannot write");
}
