#define _XOPEN_SOURCE 700
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

uint64_t test_rng_next(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double test_uniform(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(test_rng_next(s) >> 11) / 9007199254740992.0);
}

int test_int(uint64_t *s, int lo, int hi)
{
    return lo + (int)(test_rng_next(s) % (uint64_t)(hi - lo + 1));
}

void fill_uniform(float *x, long n, uint64_t *s, double lo, double hi)
{
    for (long i = 0; i < n; i++) x[i] = (float)test_uniform(s, lo, hi);
}

Tensor *random_tensor(Ctx *c, uint64_t *s, int ndim, const int *dims,
                      double lo, double hi, int needs_grad)
{
    Tensor *t = ctx_tensor(c, ndim, dims, needs_grad);
    fill_uniform(t->data, t->numel, s, lo, hi);
    return t;
}

void backward_from(Ctx *c, Tensor *out, const float *upstream)
{
    assert_non_null(out->grad);
    for (long i = 0; i < out->numel; i++) out->grad[i] += upstream[i];
    for (int i = c->tape_len - 1; i >= 0; i--) c->tape[i].backward(&c->tape[i]);
}

void expect_forward(const OpCheck *chk, const float *out, const double *ref_out, long n)
{
    double worst = 0;
    long at = -1;
    for (long i = 0; i < n; i++) {
        double e = fabs((double)out[i] - ref_out[i]) / (fabs(ref_out[i]) + 1.0);
        if (!(e <= worst)) worst = e, at = i;   /* NaN counts as worst */
    }
    if (at >= 0 && !(worst <= chk->fwd_tol))
        fail_msg("%s forward: output element %ld: op %.9g vs reference %.9g (rel err %.3g > %.3g)", chk->name, at,
                 (double)out[at], ref_out[at], worst, chk->fwd_tol);
}

static double weighted_sum(RefForward ref, double *const *in, double *out_buf,
                           const double *weights, long out_n, const void *args)
{
    ref(in, out_buf, args);
    double s = 0;
    for (long i = 0; i < out_n; i++) s += out_buf[i] * weights[i];
    return s;
}

void check_op(Ctx *c, const OpCheck *chk, int n_inputs, Tensor **inputs,
              Tensor *out, RefForward ref, const void *args, uint64_t *rng)
{
    double *in64[TAPE_MAX_INPUTS];
    for (int k = 0; k < n_inputs; k++) {
        in64[k] = malloc((size_t)inputs[k]->numel * sizeof(double));
        for (long i = 0; i < inputs[k]->numel; i++) in64[k][i] = inputs[k]->data[i];
    }
    long out_n = out->numel;
    double *ref_out = malloc((size_t)out_n * sizeof(double));
    ref(in64, ref_out, args);
    expect_forward(chk, out->data, ref_out, out_n);

    /* Backward with a random upstream gradient. */
    float *up = malloc((size_t)out_n * sizeof(float));
    double *up64 = malloc((size_t)out_n * sizeof(double));
    fill_uniform(up, out_n, rng, -1.0, 1.0);
    for (long i = 0; i < out_n; i++) up64[i] = up[i];
    backward_from(c, out, up);

    double h = chk->fd_step > 0 ? chk->fd_step : 1e-6;
    for (int k = 0; k < n_inputs; k++) {
        Tensor *t = inputs[k];
        if (!t->grad) continue;
        long n = t->numel;
        long probes = chk->max_probes > 0 && chk->max_probes < n ? chk->max_probes : n;
        for (long p = 0; p < probes; p++) {
            long i = probes == n ? p : (long)(test_rng_next(rng) % (uint64_t)n);
            double saved = in64[k][i];
            in64[k][i] = saved + h;
            double lp = weighted_sum(ref, in64, ref_out, up64, out_n, args);
            in64[k][i] = saved - h;
            double lm = weighted_sum(ref, in64, ref_out, up64, out_n, args);
            in64[k][i] = saved;
            double fd = (lp - lm) / (2 * h);
            double e = fabs((double)t->grad[i] - fd) / (fabs(fd) + 1.0);
            if (!(e <= chk->grad_tol))
                fail_msg("%s backward: input %d element %ld: analytic %.8g vs finite difference %.8g (rel err %.3g > %.3g)",
                         chk->name, k, i, (double)t->grad[i], fd, e, chk->grad_tol);
        }
    }
    for (int k = 0; k < n_inputs; k++) free(in64[k]);
    free(ref_out);
    free(up);
    free(up64);
}

char test_tmpdir[256];

static int remove_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

int test_tmpdir_setup(void **state)
{
    (void)state;
    snprintf(test_tmpdir, sizeof test_tmpdir, "/tmp/sweeprun-test-XXXXXX");
    return mkdtemp(test_tmpdir) ? 0 : -1;
}

int test_tmpdir_teardown(void **state)
{
    (void)state;
    return nftw(test_tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void test_tmpdir_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", test_tmpdir, name);
}

Ctx *test_ctx(void)
{
    static Ctx c;
    ctx_init(&c, 1234, 1 << 20);
    ctx_begin(&c, 1, 1);
    return &c;
}

const char *test_write_text(const char *name, const char *text)
{
    static char path[512];
    test_tmpdir_path(path, sizeof path, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Bilinear: the digit's value at (u, v) in its pixel indices, 0 outside. */
static double digit_at(const uint8_t *digit, double u, double v)
{
    int u0 = (int)floor(u), v0 = (int)floor(v);
    double sum = 0;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            int x = u0 + dx, y = v0 + dy;
            if (x < 0 || y < 0 || x >= 28 || y >= 28) continue;
            sum += (dx ? u - u0 : 1 - (u - u0)) * (dy ? v - v0 : 1 - (v - v0)) * digit[y * 28 + x];
        }
    return sum;
}

void test_draw_digit(const uint8_t *digit, double scale, int width, int height, int left, int top,
                     int dark_on_light, uint64_t *rng, uint8_t *out)
{
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            double ink = 0.9 * digit_at(digit, (x - left + 0.5) / scale - 0.5, (y - top + 0.5) / scale - 0.5);
            double paper = test_uniform(rng, 0, 12);
            double value = dark_on_light ? 250 - paper - ink : 8 + paper + ink;
            out[(long)y * width + x] = (uint8_t)lround(fmin(255, fmax(0, value)));
        }
}
