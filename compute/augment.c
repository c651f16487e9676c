#include "augment.h"
#include "util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the spec ------------------------------------------------------------ */

static int parse_part(const char *name, const char *value, AugmentSpec *s, char *err, int n)
{
    char *end;
    double v = strtod(value, &end);
    int number = end != value && *end == '\0' && isfinite(v);
    if (!strcmp(name, "rotate")) {
        if (!number || v < 0 || v > 180) {
            snprintf(err, n, "expected rotate:DEGREES with DEGREES in [0, 180], got 'rotate:%s'", value);
            return -1;
        }
        s->rotate = (float)v;
    } else if (!strcmp(name, "scale")) {
        if (!number || v < 0 || v >= 1) {
            snprintf(err, n, "expected scale:FRACTION with 0 <= FRACTION < 1, got 'scale:%s'", value);
            return -1;
        }
        s->scale = (float)v;
    } else if (!strcmp(name, "shift") || !strcmp(name, "erase")) {
        if (!number || v != floor(v) || v < 0 || v > AUGMENT_MAX_PIXELS) {
            snprintf(err, n, "expected %s:PIXELS with a whole number of pixels in [0, %d], got '%s:%s'",
                     name, AUGMENT_MAX_PIXELS, name, value);
            return -1;
        }
        *(!strcmp(name, "shift") ? &s->shift : &s->erase) = (int)v;
    } else {
        snprintf(err, n, "expected parts rotate:DEGREES, shift:PIXELS, scale:FRACTION, erase:PIXELS "
                 "or 'none', got unknown part '%s'", name);
        return -1;
    }
    return 0;
}

int augment_parse(const char *spec, AugmentSpec *out, char *err, int err_size)
{
    AugmentSpec s = {0};
    if (!strcmp(spec, "none")) {
        *out = s;
        return 0;
    }
    char buf[256];
    if (!*spec || strlen(spec) >= sizeof buf) {
        snprintf(err, err_size, "expected 'none' or parts like rotate:10,shift:2,scale:0.1,erase:4, got '%s'",
                 spec);
        return -1;
    }
    strcpy(buf, spec);
    const char *seen[8];
    int n_seen = 0;
    char *next = NULL;
    /* strtok would skip empty parts ("rotate:10,,shift:2"); split by hand. */
    for (char *part = buf; part; part = next) {
        char *comma = strchr(part, ',');
        next = comma ? comma + 1 : NULL;
        if (comma) *comma = '\0';
        char *colon = strchr(part, ':');
        if (!colon || colon == part || !colon[1]) {
            snprintf(err, err_size, "expected parts of the form NAME:VALUE (rotate:10,shift:2,scale:0.1,erase:4), "
                     "got '%s' in '%s'", part, spec);
            return -1;
        }
        *colon = '\0';
        for (int k = 0; k < n_seen; k++)
            if (!strcmp(seen[k], part)) {
                snprintf(err, err_size, "expected each part at most once, got '%s' twice in '%s'", part, spec);
                return -1;
            }
        if (parse_part(part, colon + 1, &s, err, err_size)) return -1;
        if (n_seen < 8) seen[n_seen++] = part;
    }
    *out = s;
    return 0;
}

/* Shortest text that reads back as x, without an exponent ("10", not the
 * "1e+01" of %.1g). */
static void number_text(float x, char *buf, size_t size)
{
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, size, "%.*g", digits, (double)x);
        if (!strchr(buf, 'e') && (float)strtod(buf, NULL) == x) return;
    }
    float_shortest_text(x, buf, size);
}

void augment_format(const AugmentSpec *s, char *buf, int size)
{
    char num[32];
    int used = 0;
    buf[0] = '\0';
#define PART(cond, ...) \
    if (cond && used < size) used += snprintf(buf + used, (size_t)(size - used), __VA_ARGS__)
    number_text(s->rotate, num, sizeof num);
    PART(s->rotate > 0, "%srotate:%s", used ? "," : "", num);
    PART(s->shift > 0, "%sshift:%d", used ? "," : "", s->shift);
    number_text(s->scale, num, sizeof num);
    PART(s->scale > 0, "%sscale:%s", used ? "," : "", num);
    PART(s->erase > 0, "%serase:%d", used ? "," : "", s->erase);
#undef PART
    if (!used) snprintf(buf, (size_t)size, "none");
}

int augment_active(const AugmentSpec *s)
{
    return s->rotate > 0 || s->shift > 0 || s->scale > 0 || s->erase > 0;
}

/* ---- applying it --------------------------------------------------------- */

void augment_apply(const AugmentParams *p, const float *src, float *dst, int h, int w)
{
    AugmentMap m = augment_map(p, h, w);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            dst[y * w + x] = augment_erased(p, y, x) ? 0.0f : augment_sample(src, h, w, &m, y, x);
}

void augment_batch(const AugmentSpec *s, uint64_t seed, uint64_t first, const float *src,
                   float *dst, int n, int h, int w)
{
    long image = (long)h * w;
#pragma omp parallel for schedule(static) if (n > 1)
    for (int i = 0; i < n; i++) {
        AugmentParams p = augment_draw(s, seed, first + (uint64_t)i, h, w);
        augment_apply(&p, src + i * image, dst + i * image, h, w);
    }
}
