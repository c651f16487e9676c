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

static int read_pgm(FILE *f, const char *path, GrayImage *out, char *err, int n)
{
    int plain = fgetc(f) == 'P' && fgetc(f) == '2';
    long w = pgm_number(f), h = pgm_number(f), maxval = pgm_number(f);
    char why[200];
    if (w < 1 || h < 1 || w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE || maxval < 1 || maxval > 65535) {
        snprintf(why, sizeof why, "bad PGM header (width %ld, height %ld, maxval %ld; expected "
                                  "1..%d and 1..65535)", w, h, maxval, IMAGE_MAX_SIDE);
        return fail(err, n, path, why);
    }
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
    if (im.width < 1 || im.height < 1 || im.width > IMAGE_MAX_SIDE || im.height > IMAGE_MAX_SIDE) {
        png_image_free(&im);
        return fail(err, n, path, "PNG larger than 16384 pixels on a side");
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

/* Average of src over the square [x0, x1) x [y0, y1) in pixel units of a
 * side x side image, each pixel weighted by the area it covers. */
static double box_average(const double *src, int side, double x0, double x1, double y0, double y1)
{
    double sum = 0, area = 0;
    for (int y = (int)floor(y0); y < side && y < y1; y++) {
        double wy = fmin(y + 1, y1) - fmax(y, y0);
        for (int x = (int)floor(x0); x < side && x < x1; x++) {
            double w = wy * (fmin(x + 1, x1) - fmax(x, x0));
            sum += w * src[(long)y * side + x];
            area += w;
        }
    }
    return area > 0 ? sum / area : 0;
}

void image_to_mnist(const GrayImage *im, int invert, uint8_t out[IMAGE_SIDE * IMAGE_SIDE])
{
    int side = im->width > im->height ? im->width : im->height;
    int ox = (side - im->width) / 2, oy = (side - im->height) / 2;
    double *sq = calloc((size_t)side * side, sizeof(double));   /* black padding */
    for (int y = 0; y < im->height; y++)
        for (int x = 0; x < im->width; x++) {
            int v = im->pixels[(long)y * im->width + x];
            sq[(long)(y + oy) * side + x + ox] = invert ? 255 - v : v;
        }
    double scale = (double)side / IMAGE_SIDE;
    for (int y = 0; y < IMAGE_SIDE; y++)
        for (int x = 0; x < IMAGE_SIDE; x++) {
            double v = box_average(sq, side, x * scale, (x + 1) * scale, y * scale, (y + 1) * scale);
            out[y * IMAGE_SIDE + x] = (uint8_t)lround(fmin(255, fmax(0, v)));
        }
    free(sq);
}

double image_border_mean(const uint8_t px[IMAGE_SIDE * IMAGE_SIDE])
{
    double sum = 0;
    int count = 0;
    for (int i = 0; i < IMAGE_SIDE; i++) {
        sum += px[i] + px[(IMAGE_SIDE - 1) * IMAGE_SIDE + i];
        sum += px[i * IMAGE_SIDE] + px[i * IMAGE_SIDE + IMAGE_SIDE - 1];
        count += 4;
    }
    return sum / count;
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
