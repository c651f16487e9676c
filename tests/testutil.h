/* Shared helpers for the cmocka tests: random data, tolerant comparison and
 * the gradient checker the op-case table (op_cases.h) runs every op through.
 *
 * check_op() verifies one op against a naive float64 reference:
 *   1. forward: the op's fp32 output vs the reference's float64 output;
 *   2. backward: a random upstream gradient R is pushed through the tape;
 *      each input's analytic gradient is compared with the central finite
 *      difference, in float64, of  L(x) = sum(ref(x) * R).
 * So the fp32 implementation is checked against an independent float64
 * definition, never against itself. */
#ifndef SWEEPRUN_TESTUTIL_H
#define SWEEPRUN_TESTUTIL_H
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "ctx.h"

/* Reference forward in float64: in[i] has inputs[i]->numel values, out
 * receives out_numel values. args is the test's own parameter struct. */
typedef void (*RefForward)(double *const *in, double *out, const void *args);

typedef struct OpCheck {
    const char *name;
    double fwd_tol;      /* max |op - ref| / (|ref| + 1) for the forward */
    double grad_tol;     /* max |analytic - fd| / (|fd| + 1) for gradients */
    double fd_step;      /* finite-difference step (default 1e-6) */
    long max_probes;     /* per input, 0 = every element */
} OpCheck;

/* Deterministic test randomness (not the library RNG, on purpose). */
uint64_t test_rng_next(uint64_t *state);
double test_uniform(uint64_t *state, double lo, double hi);
int test_int(uint64_t *state, int lo, int hi);         /* inclusive */
void fill_uniform(float *x, long n, uint64_t *state, double lo, double hi);

/* A tensor in the ctx arena with random values in [lo, hi], and a zeroed
 * grad buffer when needs_grad. */
Tensor *random_tensor(Ctx *c, uint64_t *state, int ndim, const int *dims,
                      double lo, double hi, int needs_grad);

/* Run the tape backwards from out, whose upstream gradient is upstream. */
void backward_from(Ctx *c, Tensor *out, const float *upstream);

void check_op(Ctx *c, const OpCheck *chk, int n_inputs, Tensor **inputs,
              Tensor *out, RefForward ref, const void *args, uint64_t *rng);

/* Fails, naming the worst output element, unless every |out - ref| /
 * (|ref| + 1) <= chk->fwd_tol. */
void expect_forward(const OpCheck *chk, const float *out, const double *ref_out, long n);

/* A training-mode, gradient-recording context with a fixed seed; static,
 * so each call re-initialises the same one (tests are sequential). */
Ctx *test_ctx(void);

/* A 28x28 MNIST digit drawn the way users draw, into width x height bytes:
 * scaled by `scale` (bilinear), its top left at (left, top), dark ink on
 * near-white paper when dark_on_light (else light on near-black), plus up
 * to 12 levels of paper texture. */
void test_draw_digit(const uint8_t *digit, double scale, int width, int height, int left, int top,
                     int dark_on_light, uint64_t *rng, uint8_t *out);

/* A fresh temporary folder per test group: pass these as cmocka group
 * setup/teardown; files go to test_tmpdir_path(). */
extern char test_tmpdir[256];
int test_tmpdir_setup(void **state);
int test_tmpdir_teardown(void **state);   /* removes the folder and its contents */
void test_tmpdir_path(char *buf, size_t size, const char *name);
/* Write text to NAME in the test folder; returns its path (a static buffer,
 * valid until the next call). */
const char *test_write_text(const char *name, const char *text);

/* ASan reserves terabytes of address space for its shadow memory, so an
 * address-space limit makes every mmap fail: tests that
 * bound memory that way skip the bound in sanitizer builds (the Release
 * build checks it). */
#if defined(__SANITIZE_ADDRESS__)
#define ADDRESS_SPACE_LIMITABLE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ADDRESS_SPACE_LIMITABLE 0
#endif
#endif
#ifndef ADDRESS_SPACE_LIMITABLE
#define ADDRESS_SPACE_LIMITABLE 1
#endif

#endif
