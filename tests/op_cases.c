/* The op-case table (op_cases.h) and the machinery the three suites share:
 * input data, running a case on a ctx, comparing two runs.
 *
 * Adding an op: its rows go into one of the add_*_cases functions below
 * (shapes, input ranges, params, its float64 reference, tolerances); the
 * three suites then check it with no further code.
 *
 * Thread counts (test_op_threads, docs/determinism.md): every CPU loop is
 * split over OpenMP threads by OUTPUT element (each element computed by one
 * thread in one fixed order), so rows are EXACT across thread counts, with
 * two exceptions, both in oneDNN: its threaded SGEMM (linear, matmul:
 * products of at least DNN_GEMM_SERIAL multiply-adds are split across the
 * team and within GEMM_THREADS_TOL; smaller ones always run on one thread,
 * EXACT), and the convolution's weight and bias gradients (oneDNN's
 * backward-weights pass sums each thread's share of the batch and then
 * the threads' partials: within CONV_THREADS_TOL; its output and input
 * gradient are computed per output element, EXACT at any team size). */
#include "op_cases.h"
#include "caps_math.h"
#include "dnn_cpu.h"
#include "ops.h"
#include "rng.h"
#include "util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the table ------------------------------------------------------------- */

#define MAX_CASES 1024

typedef struct CaseList {
    OpCase rows[MAX_CASES];
    int count;
} CaseList;

/* A new zeroed row named "op variant..." (printf-style). */
static OpCase *add_case(CaseList *l, const char *op, OpBuildFn build, RefForward ref, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static OpCase *add_case(CaseList *l, const char *op, OpBuildFn build, RefForward ref, const char *fmt, ...)
{
    CHECK(l->count < MAX_CASES, "op cases: more than %d rows (raise MAX_CASES)", MAX_CASES);
    OpCase *oc = &l->rows[l->count++];
    oc->op = op;
    oc->build = build;
    oc->ref = ref;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(oc->name, sizeof oc->name, fmt, ap);
    va_end(ap);
    return oc;
}

/* Input k: ndim dims, values in [lo, hi]. */
static OpInput *set_input(OpCase *oc, int k, int ndim, const int *dims, double lo, double hi)
{
    OpInput *in = &oc->in[k];
    in->ndim = ndim;
    memcpy(in->dims, dims, (size_t)ndim * sizeof(int));
    in->lo = lo;
    in->hi = hi;
    if (k >= oc->n_in) oc->n_in = k + 1;
    return in;
}

static void set_tols(OpCase *oc, double fwd, double grad, double cuda_fwd, double cuda_grad)
{
    oc->fwd_tol = fwd;
    oc->grad_tol = grad;
    oc->cuda_fwd_tol = cuda_fwd;
    oc->cuda_grad_tol = cuda_grad;
    oc->threads_tol = EXACT;   /* see the header comment */
}

static void set_output(OpCase *oc, int ndim, int d0, int d1, int d2, int d3)
{
    int dims[4] = {d0, d1, d2, d3};
    oc->out_ndim = ndim;
    memcpy(oc->out_dims, dims, sizeof dims);
}

static long numel_of(const OpInput *in) { return tensor_numel_of(in->ndim, in->dims); }

/* Finite-difference probes: every element of small inputs, a sample of
 * large ones (each probe re-runs the reference twice). */
static long probes_for(long n, long sample) { return n > 2000 ? sample : 0; }

/* Row-major flat index of coordinates idx in dims. */
static long flat(int ndim, const int *dims, const int *idx)
{
    long f = 0;
    for (int d = 0; d < ndim; d++) f = f * dims[d] + idx[d];
    return f;
}

/* Advance coordinates idx through dims (last fastest); 0 when done. */
static int next_index(int ndim, const int *dims, int *idx)
{
    for (int d = ndim - 1; d >= 0; d--) {
        if (++idx[d] < dims[d]) return 1;
        idx[d] = 0;
    }
    return 0;
}

static const OpCase *case_of(const void *args) { return ((const OpRun *)args)->oc; }
static const int *labels_of(const void *args) { return ((const OpRun *)args)->labels; }
static double sigmoid64(double z) { return 1.0 / (1.0 + exp(-z)); }

/* Ops of one or two tensors and nothing else: the case names the function. */
static Tensor *build_unary(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)labels;
    return oc->unary(c, in[0]);
}

static Tensor *build_binary(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)labels;
    return oc->binary(c, in[0], in[1]);
}

/* ---- element-wise, dropout, views ------------------------------------------- */
/* Against the reference: forward 1e-6 (one fp32 operation or an fp32 expf
 * per element, a few ulp ~1e-7), gradient 1e-5 (one or two fp32 operations;
 * the float64 central difference with h = 1e-6 is accurate to ~1e-10, and a
 * wrong factor is off by O(1)). Views copy: forward EXACT, gradient 1e-7
 * (the central difference of a linear function is exact up to rounding).
 * CPU vs CUDA: EXACT for relu, add, mul, scale forward and dropout forward (the same
 * float operations in the same order, no multiply-add to fuse); 1e-6 for
 * sigmoid (CUDA's expf vs glibc's differ by an ulp or two) and for products
 * added to a gradient (nvcc fuses dx += dy * other into one FMA, gcc may or
 * may not: mul, scale and dropout gradients). */

typedef struct Shape { int ndim; int dims[4]; } Shape;

/* Batch 1, odd sizes, 1-D to 4-D, one tensor above PAR_MIN (the OpenMP
 * path) and the CUDA suite's 7x33x41 (several blocks and a partial one). */
static const Shape ELEMENTWISE_SHAPES[] = {
    {1, {1}}, {1, {7}}, {2, {1, 5}}, {2, {3, 4}}, {3, {2, 3, 5}},
    {4, {1, 3, 5, 7}}, {4, {2, 3, 4, 5}}, {2, {129, 301}}, {3, {7, 33, 41}},
};
#define N_ELEMENTWISE_SHAPES (int)(sizeof ELEMENTWISE_SHAPES / sizeof ELEMENTWISE_SHAPES[0])

static void ref_relu(double *const *in, double *out, const void *args)
{
    long n = numel_of(&case_of(args)->in[0]);
    for (long i = 0; i < n; i++) out[i] = in[0][i] > 0 ? in[0][i] : 0;
}

static void ref_sigmoid(double *const *in, double *out, const void *args)
{
    long n = numel_of(&case_of(args)->in[0]);
    for (long i = 0; i < n; i++) out[i] = sigmoid64(in[0][i]);
}

static void ref_add(double *const *in, double *out, const void *args)
{
    long n = numel_of(&case_of(args)->in[0]);
    for (long i = 0; i < n; i++) out[i] = in[0][i] + in[1][i];
}

static void ref_add_relu(double *const *in, double *out, const void *args)
{
    long n = numel_of(&case_of(args)->in[0]);
    for (long i = 0; i < n; i++) out[i] = in[0][i] + in[1][i] > 0 ? in[0][i] + in[1][i] : 0;
}

static void ref_mul(double *const *in, double *out, const void *args)
{
    long n = numel_of(&case_of(args)->in[0]);
    for (long i = 0; i < n; i++) out[i] = in[0][i] * in[1][i];
}

/* p[0]: the factor in 1/1000 (the op multiplies by its fp32 value). */
static void ref_scale(double *const *in, double *out, const void *args)
{
    const OpCase *oc = case_of(args);
    double s = (float)(oc->p[0] / 1000.0);
    for (long i = 0; i < numel_of(&oc->in[0]); i++) out[i] = s * in[0][i];
}

static Tensor *build_scale(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)labels;
    return op_scale(c, in[0], (float)(oc->p[0] / 1000.0));
}

static void ref_copy(double *const *in, double *out, const void *args)
{
    memcpy(out, in[0], (size_t)numel_of(&case_of(args)->in[0]) * sizeof(double));
}

/* The mask redrawn from rng_uniform directly (one call per element, the
 * definition in ops.h), independent of the op's batching of Philox blocks;
 * the scale is the fp32 1/(1-p), as the op documents. p[0]: p in 1/1000. */
static void ref_dropout(double *const *in, double *out, const void *args)
{
    const OpCase *oc = case_of(args);
    float p = (float)oc->p[0] / 1000.0f;
    double scale = 1.0f / (1.0f - p);
    for (long i = 0; i < numel_of(&oc->in[0]); i++) {
        int keep = rng_uniform(OP_CASE_SEED, RNG_STREAM_DROPOUT, OP_CASE_RNG_OFFSET + (uint64_t)i) >= p;
        out[i] = keep ? in[0][i] * scale : 0.0;
    }
}

static Tensor *build_dropout(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)labels;
    return op_dropout(c, in[0], (float)oc->p[0] / 1000.0f);
}

/* p[0]: the new rank, p[1..]: the new dims (one may be -1). */
static Tensor *build_reshape(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)labels;
    return op_reshape(c, in[0], oc->p[0], oc->p + 1);
}

/* An element-wise op of two same-shape operands in [-2, 2]; cuda_grad_tol:
 * the CPU-vs-CUDA tolerance of the input gradients. */
static void add_binary_case(CaseList *l, const char *op, Tensor *(*fn)(Ctx *, Tensor *, Tensor *), RefForward ref,
                            const Shape *sh, double cuda_grad_tol)
{
    long n = tensor_numel_of(sh->ndim, sh->dims);
    OpCase *oc = add_case(l, op, build_binary, ref, "%s %ld", op + 3, n);
    oc->binary = fn;
    set_input(oc, 0, sh->ndim, sh->dims, -2, 2);
    set_input(oc, 1, sh->ndim, sh->dims, -2, 2);
    set_tols(oc, 1e-6, 1e-5, EXACT, cuda_grad_tol);
    oc->probes = probes_for(n, 300);
}

static void add_elementwise_cases(CaseList *l)
{
    for (int s = 0; s < N_ELEMENTWISE_SHAPES; s++) {
        const Shape *sh = &ELEMENTWISE_SHAPES[s];
        long n = tensor_numel_of(sh->ndim, sh->dims);
        OpCase *oc = add_case(l, "op_relu", build_unary, ref_relu, "relu %ld", n);
        oc->unary = op_relu;
        OpInput *x = set_input(oc, 0, sh->ndim, sh->dims, -1, 1);
        x->n_kinks = 1;   /* kink[0] = 0 */
        set_tols(oc, 1e-6, 1e-5, EXACT, EXACT);
        oc->probes = probes_for(n, 300);

        oc = add_case(l, "op_sigmoid", build_unary, ref_sigmoid, "sigmoid %ld", n);
        oc->unary = op_sigmoid;
        set_input(oc, 0, sh->ndim, sh->dims, -8, 8);
        set_tols(oc, 1e-6, 1e-5, 1e-6, 1e-6);
        oc->probes = probes_for(n, 300);

        add_binary_case(l, "op_add", op_add, ref_add, sh, EXACT);
        add_binary_case(l, "op_add_relu", op_add_relu, ref_add_relu, sh, EXACT);
        add_binary_case(l, "op_mul", op_mul, ref_mul, sh, 1e-6);

        const int per_mille[3] = {100, 500, 800};
        for (int k = 0; k < 3; k++) {
            oc = add_case(l, "op_dropout", build_dropout, ref_dropout, "dropout p %.1f %ld", per_mille[k] / 1000.0, n);
            set_input(oc, 0, sh->ndim, sh->dims, -2, 2);
            oc->p[0] = per_mille[k];
            set_tols(oc, 1e-6, 1e-5, EXACT, 1e-6);
            oc->probes = probes_for(n, 300);
        }
    }
    int d4[4] = {2, 3, 4, 5}, f4[4] = {3, 2, 5, 7};
    OpCase *oc = add_case(l, "op_reshape", build_reshape, ref_copy, "reshape [2,3,4,5] -> [6,-1]");
    set_input(oc, 0, 4, d4, -1, 1);
    oc->p[0] = 2, oc->p[1] = 6, oc->p[2] = -1;
    set_output(oc, 2, 6, 20, 0, 0);
    set_tols(oc, EXACT, 1e-7, EXACT, EXACT);
    oc = add_case(l, "op_flatten", build_unary, ref_copy, "flatten [3,2,5,7]");
    oc->unary = op_flatten;
    set_input(oc, 0, 4, f4, -1, 1);
    set_output(oc, 2, 3, 70, 0, 0);
    set_tols(oc, EXACT, 1e-7, EXACT, EXACT);
}

/* op_scale, with the element-wise tolerances above. Its rows come last in
 * the table (op_cases): a case's input seed is its row number, so rows
 * added in the middle would redraw every later case's inputs. */
static void add_scale_cases(CaseList *l)
{
    /* 48: the gate's factor at F = 48; a negative, non-integer one too */
    const int factors[2] = {48000, -2500};
    for (int s = 0; s < N_ELEMENTWISE_SHAPES; s++) {
        const Shape *sh = &ELEMENTWISE_SHAPES[s];
        long n = tensor_numel_of(sh->ndim, sh->dims);
        for (int k = 0; k < 2; k++) {
            OpCase *oc = add_case(l, "op_scale", build_scale, ref_scale, "scale %g %ld", factors[k] / 1000.0, n);
            set_input(oc, 0, sh->ndim, sh->dims, -2, 2);
            oc->p[0] = factors[k];
            set_tols(oc, 1e-6, 1e-5, EXACT, 1e-6);
            oc->probes = probes_for(n, 300);
        }
    }
}

/* ---- dense ------------------------------------------------------------------ */
/* Against the reference: forward 1e-5 (fp32 dot products of up to ~60 terms
 * in [-1, 1]: worst-case rounding ~K * 6e-8, typically far less with BLAS's
 * blocked FMA sums), gradient 1e-4 (fp32 sums of up to ~N*out products; the
 * float64 central difference of a (bi)linear function is exact up to
 * rounding ~1e-10; a transposed or missing term is off by O(1)).
 * CPU vs CUDA 1e-5: cuBLAS sums in another order and blocking than
 * OpenBLAS (inputs O(1), sums of <= 600 terms). */

/* 1 vs 2 threads: products below DNN_GEMM_SERIAL multiply-adds run on one
 * thread whatever the team (dnn_cpu.h), so those are EXACT. Above,
 * oneDNN's threaded SGEMM splits and sums differently from its
 * single-threaded one for some shapes: within 2e-5 (docs/determinism.md). */
#define GEMM_THREAD_MIN DNN_GEMM_SERIAL
#define GEMM_THREADS_TOL 2e-5

static double gemm_threads_tol(long multiply_adds)
{
    return multiply_adds < GEMM_THREAD_MIN ? EXACT : GEMM_THREADS_TOL;
}

/* x[rows, ...] w[out, in]^T + b; in = x's row size. */
static void ref_linear(double *const *in, double *out, const void *args)
{
    const OpCase *oc = case_of(args);
    int rows = oc->in[0].dims[0], outs = oc->in[1].dims[0], ins = oc->in[1].dims[1];
    const double *b = oc->n_in == 3 ? in[2] : NULL;
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < outs; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < ins; i++) s += in[0][r * ins + i] * in[1][o * ins + i];
            out[r * outs + o] = s;
        }
}

static Tensor *build_linear(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)labels;
    return op_linear(c, in[0], in[1], oc->n_in == 3 ? in[2] : NULL);
}

/* op(A)[i,p] = ta ? A[p,i] : A[i,p]; p[0..1] = ta, tb. */
static void ref_matmul(double *const *in, double *out, const void *args)
{
    const OpCase *oc = case_of(args);
    int ta = oc->p[0], tb = oc->p[1];
    int m = oc->in[0].dims[ta ? 1 : 0], k = oc->in[0].dims[ta ? 0 : 1], n = oc->in[1].dims[tb ? 0 : 1];
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int p = 0; p < k; p++) {
                double av = ta ? in[0][p * m + i] : in[0][i * k + p];
                double bv = tb ? in[1][j * k + p] : in[1][p * n + j];
                s += av * bv;
            }
            out[i * n + j] = s;
        }
}

static Tensor *build_matmul(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)labels;
    return op_matmul(c, in[0], in[1], oc->p[0], oc->p[1]);
}

typedef struct LinearShape { int xnd; int xdims[4]; int out; } LinearShape;

/* Batch 1, width 1, odd sizes, x of rank 3 and 4 (rows = dims[0]), the
 * CUDA suite's rank-4 x of 37 rows, and two products oneDNN threads:
 * baseline_cnn's last layer (576 -> 10) and GECCO's first (784 -> 64). */
static const LinearShape LINEAR_SHAPES[] = {
    {2, {1, 1}, 1}, {2, {1, 7}, 3}, {2, {3, 5}, 4}, {2, {7, 13}, 2},
    {2, {16, 33}, 17}, {3, {4, 3, 5}, 6}, {4, {2, 3, 2, 2}, 5}, {4, {37, 2, 5, 6}, 23},
    {2, {64, 576}, 10}, {2, {64, 784}, 64},
};

static void add_linear_case(CaseList *l, const LinearShape *s, int bias, int x_grad)
{
    int ins = (int)(tensor_numel_of(s->xnd, s->xdims) / s->xdims[0]);
    OpCase *oc = add_case(l, "op_linear", build_linear, ref_linear, "linear x%d[%d..] -> %d%s%s", s->xnd,
                          s->xdims[0], s->out, bias ? " bias" : "", x_grad ? "" : " x constant");
    set_input(oc, 0, s->xnd, s->xdims, -1, 1)->constant = !x_grad;
    int wd[2] = {s->out, ins};
    set_input(oc, 1, 2, wd, -1, 1);
    if (bias) set_input(oc, 2, 1, &s->out, -1, 1);
    set_output(oc, 2, s->xdims[0], s->out, 0, 0);
    /* 784-term rows (GECCO's first layer) sum to |y| ~ 10: fp32 rounding
     * of such a sum is ~sqrt(784) * 10 * 6e-8 ~ 2e-5 (oneDNN's sgemm
     * measured 1.1e-5); the ~60-term rows keep 1e-5. */
    set_tols(oc, ins > 100 ? 4e-5 : 1e-5, 1e-4, 1e-5, 1e-5);
    oc->threads_tol = gemm_threads_tol((long)s->xdims[0] * s->out * ins);
    oc->probes = probes_for(numel_of(&oc->in[1]), 20);
}

static void add_dense_cases(CaseList *l)
{
    for (size_t t = 0; t < sizeof LINEAR_SHAPES / sizeof LINEAR_SHAPES[0]; t++) {
        add_linear_case(l, &LINEAR_SHAPES[t], 1, 1);
        add_linear_case(l, &LINEAR_SHAPES[t], 0, 1);
        add_linear_case(l, &LINEAR_SHAPES[t], 1, 0);   /* the network input has no grad */
    }
    /* {m, k, n}: ones, a row, odd sizes, and the CUDA suite's 19x31x13. */
    const int shapes[][3] = {{1, 1, 1}, {1, 5, 3}, {3, 4, 5}, {7, 2, 9}, {17, 31, 6}, {8, 1, 8}, {19, 31, 13}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
                OpCase *oc = add_case(l, "op_matmul", build_matmul, ref_matmul, "matmul %dx%dx%d ta %d tb %d", m,
                                      k, n, ta, tb);
                int ad[2] = {ta ? k : m, ta ? m : k}, bd[2] = {tb ? n : k, tb ? k : n};
                set_input(oc, 0, 2, ad, -1, 1);
                set_input(oc, 1, 2, bd, -1, 1);
                oc->p[0] = ta, oc->p[1] = tb;
                set_output(oc, 2, m, n, 0, 0);
                set_tols(oc, 1e-5, 1e-4, 1e-5, 1e-5);
                oc->threads_tol = gemm_threads_tol((long)m * n * k);
            }
}

/* ---- convolutions ------------------------------------------------------------- */
/* Against a direct float64 convolution (no im2col): forward 1e-5 (an output
 * is an fp32 sum of C*kh*kw <= ~300 products of values in [-1, 1] plus a
 * bias), gradient 1e-4 (dW sums N*OH*OW products, dx up to K*kh*kw; the
 * float64 central difference of a function linear in each input is exact
 * up to rounding). CPU vs CUDA: 1e-5 for the output and dx (cuBLAS vs
 * oneDNN order), 1e-4 for dW and db: they sum over N*OH*OW positions in
 * one cuBLAS GEMM where oneDNN sums per thread's share of the batch and
 * then across threads. Depthwise: 1e-5 throughout (sums of up to 81 products, fused
 * differently). p[0..1] = stride, pad. */

/* 1 vs 2 threads: oneDNN's backward-weights pass splits the batch across
 * the team and adds the threads' partial dW and db, so these differ in the
 * last bits (measured up to 6.6e-6 relative); output and dx are EXACT but
 * a row has one tolerance. */
#define CONV_THREADS_TOL 2e-5

typedef struct ConvGeom { int n, c, h, w, k, kh, kw, stride, pad, oh, ow; } ConvGeom;

/* Geometry from the case: x = in[0], w = in[1] ([K, C or 1, kh, kw]). */
static ConvGeom conv_geom_of(const OpCase *oc)
{
    const int *x = oc->in[0].dims, *w = oc->in[1].dims;
    ConvGeom g = {x[0], x[1], x[2], x[3], w[0], w[2], w[3], oc->p[0], oc->p[1], 0, 0};
    g.oh = (g.h + 2 * g.pad - g.kh) / g.stride + 1;
    g.ow = (g.w + 2 * g.pad - g.kw) / g.stride + 1;
    return g;
}

/* Sum over one window of input channel ch against filter plane wk. */
static double window_sum(const ConvGeom *g, const double *xc, const double *wk, int oy, int ox)
{
    double s = 0;
    for (int i = 0; i < g->kh; i++)
        for (int j = 0; j < g->kw; j++) {
            int iy = oy * g->stride - g->pad + i, ix = ox * g->stride - g->pad + j;
            if (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w) s += xc[iy * g->w + ix] * wk[i * g->kw + j];
        }
    return s;
}

/* Filter k sees every input channel, or (depthwise) only channel k. */
static void conv_reference(double *const *in, double *out, const OpCase *oc, int depthwise)
{
    ConvGeom g = conv_geom_of(oc);
    const double *b = oc->n_in == 3 ? in[2] : NULL;
    long plane = (long)g.h * g.w, kplane = (long)g.kh * g.kw;
    int outs = depthwise ? g.c : g.k, per_filter = depthwise ? 1 : g.c;
    for (int n = 0; n < g.n; n++)
        for (int k = 0; k < outs; k++)
            for (int oy = 0; oy < g.oh; oy++)
                for (int ox = 0; ox < g.ow; ox++) {
                    double s = b ? b[k] : 0.0;
                    for (int i = 0; i < per_filter; i++) {
                        int ch = depthwise ? k : i;
                        s += window_sum(&g, in[0] + ((long)n * g.c + ch) * plane,
                                        in[1] + ((long)k * per_filter + i) * kplane, oy, ox);
                    }
                    out[(((long)n * outs + k) * g.oh + oy) * g.ow + ox] = s;
                }
}

/* p[2] = 1: op_conv2d_relu, max(0, .) of the convolution. */
static void ref_conv2d(double *const *in, double *out, const void *args)
{
    const OpCase *oc = case_of(args);
    conv_reference(in, out, oc, 0);
    if (!oc->p[2]) return;
    long n = tensor_numel_of(oc->out_ndim, oc->out_dims);
    for (long i = 0; i < n; i++) out[i] = out[i] > 0 ? out[i] : 0;
}

static void ref_depthwise_conv2d(double *const *in, double *out, const void *args)
{
    conv_reference(in, out, case_of(args), 1);
}

static Tensor *build_conv2d(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)labels;
    return (oc->p[2] ? op_conv2d_relu : op_conv2d)(c, in[0], in[1], oc->n_in == 3 ? in[2] : NULL, oc->p[0], oc->p[1]);
}

static Tensor *build_depthwise_conv2d(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)labels;
    return op_depthwise_conv2d(c, in[0], in[1], oc->n_in == 3 ? in[2] : NULL, oc->p[0], oc->p[1]);
}

/* {n, c, h, w, k, kh, kw, stride, pad}: batch 1, a single channel,
 * non-square images and kernels, 1x1 kernels, strides 1-3, padding 0-2,
 * sizes where the floor drops rows/columns, a kernel larger than the
 * unpadded input, and output planes of <= 16 positions (the batch-wide
 * GEMM path) as well as larger ones (per image). */
static const int CONV_SHAPES[][9] = {
    {1, 1, 5, 5, 1, 3, 3, 1, 0}, {2, 3, 7, 9, 4, 3, 3, 1, 1}, {3, 2, 8, 6, 5, 3, 3, 2, 1},
    {1, 4, 9, 7, 3, 5, 5, 2, 2}, {2, 1, 6, 5, 2, 1, 1, 1, 0}, {2, 3, 10, 11, 2, 4, 2, 3, 2},
    {1, 2, 4, 4, 3, 5, 5, 1, 2}, {2, 2, 7, 7, 3, 2, 2, 2, 0}, {1, 3, 1, 8, 2, 1, 3, 1, 0},
    {2, 2, 9, 9, 2, 3, 3, 2, 2},
};
/* Big enough that every OpenMP loop has work for several threads, and the
 * CUDA suite's shapes: the models' 3x3 pad 1, stride 2 with a non-square
 * kernel, 32 input channels (long GEMM rows). */
static const int CONV_LARGE_SHAPES[][9] = {
    {4, 8, 16, 13, 6, 3, 3, 1, 1}, {5, 3, 15, 15, 4, 5, 5, 2, 2}, {5, 3, 11, 9, 4, 3, 3, 1, 1},
    {4, 2, 12, 10, 3, 3, 2, 2, 1}, {3, 32, 13, 13, 8, 3, 3, 1, 1}, {9, 4, 10, 10, 5, 3, 3, 1, 1},
};

/* Shapes where the CPU convolves with Winograd F(4x4, 3x3) (dnn_cpu.c's
 * wants_winograd, on AVX-512): 64 channels on a 9x9 map, 32 on 20x20.
 * Winograd's transforms round more than the direct sum: forward errors
 * of 1.8e-5 and 3.6e-5 against the float64 reference (the direct
 * kernels' tolerance is 1e-5), so these rows allow 1e-4. */
#define WINOGRAD_TOL 1e-4
static const int CONV_WINOGRAD_SHAPES[][9] = {
    {2, 64, 9, 9, 64, 3, 3, 1, 1}, {1, 32, 20, 20, 32, 3, 3, 1, 1},
};

/* Shapes with a 1x1 output map, which the CPU convolves as one GEMM over
 * the batch (ops_conv.c's cpu_wants_batched_gemm, the CUDA algorithm):
 * 3x3 pad 1 on a 1x1 map (only the centre tap sees the input), a 1x1
 * kernel, a stride-2 1x1 downsample from 2x2, a 3x3 stride 2 pad 1 from
 * 2x2, and one big enough for the OpenMP loops of im2col and col2im. */
static const int CONV_GEMM_SHAPES[][9] = {
    {3, 8, 1, 1, 6, 3, 3, 1, 1}, {4, 16, 1, 1, 8, 1, 1, 1, 0}, {2, 6, 2, 2, 5, 1, 1, 2, 0},
    {2, 4, 2, 2, 3, 3, 3, 2, 1}, {64, 128, 2, 2, 16, 3, 3, 2, 1},
};

static OpCase *add_conv_case_of(CaseList *l, const char *op, const int *v, int bias, int x_grad, long probes)
{
    int relu = !strcmp(op, "op_conv2d_relu");
    OpCase *oc = add_case(l, op, build_conv2d, ref_conv2d, "conv2d%s x[%d,%d,%d,%d] w[%d,%d,%d] s%d p%d%s%s",
                          relu ? "_relu" : "", v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8],
                          bias ? " bias" : "", x_grad ? "" : " x constant");
    oc->p[2] = relu;
    int xd[4] = {v[0], v[1], v[2], v[3]}, wd[4] = {v[4], v[1], v[5], v[6]};
    set_input(oc, 0, 4, xd, -1, 1)->constant = !x_grad;
    set_input(oc, 1, 4, wd, -1, 1)->cuda_grad_tol = 1e-4;
    if (bias) set_input(oc, 2, 1, &v[4], -1, 1)->cuda_grad_tol = 1e-4;
    oc->p[0] = v[7], oc->p[1] = v[8];
    ConvGeom g = conv_geom_of(oc);
    set_output(oc, 4, g.n, g.k, g.oh, g.ow);
    set_tols(oc, 1e-5, 1e-4, 1e-5, 1e-5);
    oc->threads_tol = CONV_THREADS_TOL;
    oc->probes = probes;
    return oc;
}

static void add_conv_case(CaseList *l, const int *v, int bias, int x_grad, long probes)
{
    add_conv_case_of(l, "op_conv2d", v, bias, x_grad, probes);
}

/* {n, c, h, w, kh, kw, stride, pad}: Efficient-CapsNet's 9x9 kernel on a
 * 9x9 map (one output per channel), strides, padding, non-square kernels,
 * one big enough for the OpenMP path, and the CUDA suite's shapes
 * (including the primary capsules' 16 x 128 channels). */
static const int DEPTHWISE_SHAPES[][8] = {
    {3, 8, 9, 9, 9, 9, 1, 0}, {2, 3, 7, 6, 3, 3, 1, 1}, {1, 4, 8, 9, 3, 2, 2, 1}, {2, 2, 5, 5, 5, 5, 1, 2},
    {1, 1, 4, 4, 1, 1, 1, 0}, {4, 128, 9, 9, 9, 9, 1, 0}, {4, 6, 11, 9, 3, 3, 1, 1}, {3, 5, 12, 10, 5, 4, 2, 2},
    {16, 128, 9, 9, 9, 9, 1, 0},
};

static void add_conv_cases(CaseList *l)
{
    for (size_t t = 0; t < sizeof CONV_SHAPES / sizeof CONV_SHAPES[0]; t++) {
        add_conv_case(l, CONV_SHAPES[t], 1, 1, 0);
        add_conv_case(l, CONV_SHAPES[t], 0, 1, 0);
        add_conv_case(l, CONV_SHAPES[t], 1, 0, 0);   /* the first layer: dx skipped */
    }
    for (size_t t = 0; t < sizeof CONV_GEMM_SHAPES / sizeof CONV_GEMM_SHAPES[0]; t++) {
        long probes = t == 4 ? 200 : 0;
        add_conv_case(l, CONV_GEMM_SHAPES[t], 1, 1, probes);
        add_conv_case(l, CONV_GEMM_SHAPES[t], 0, 1, probes);
        add_conv_case(l, CONV_GEMM_SHAPES[t], 1, 0, probes);
    }
    /* Sampled finite differences on the large shapes; fewer on the CUDA
     * suite's (t >= 2), which are there for the other suites. */
    for (size_t t = 0; t < sizeof CONV_LARGE_SHAPES / sizeof CONV_LARGE_SHAPES[0]; t++)
        add_conv_case(l, CONV_LARGE_SHAPES[t], t != 3, 1, t < 2 ? 200 : 40);
    for (size_t t = 0; t < sizeof CONV_WINOGRAD_SHAPES / sizeof CONV_WINOGRAD_SHAPES[0]; t++) {
        add_conv_case(l, CONV_WINOGRAD_SHAPES[t], 1, 1, 100);
        OpCase *oc = &l->rows[l->count - 1];
        set_tols(oc, WINOGRAD_TOL, WINOGRAD_TOL, WINOGRAD_TOL, WINOGRAD_TOL);
    }
    /* op_conv2d_relu on each CPU path: oneDNN direct with its ReLU post-op
     * (with and without bias, x constant), Winograd, and the batched GEMM
     * at 1x1 maps (a ReLU pass after the permute). */
    add_conv_case_of(l, "op_conv2d_relu", CONV_SHAPES[1], 1, 1, 0);
    add_conv_case_of(l, "op_conv2d_relu", CONV_SHAPES[2], 0, 1, 0);
    add_conv_case_of(l, "op_conv2d_relu", CONV_SHAPES[3], 1, 0, 0);
    add_conv_case_of(l, "op_conv2d_relu", CONV_LARGE_SHAPES[4], 1, 1, 200);
    OpCase *wino = add_conv_case_of(l, "op_conv2d_relu", CONV_WINOGRAD_SHAPES[1], 1, 1, 100);
    set_tols(wino, WINOGRAD_TOL, WINOGRAD_TOL, WINOGRAD_TOL, WINOGRAD_TOL);
    add_conv_case_of(l, "op_conv2d_relu", CONV_GEMM_SHAPES[0], 1, 1, 0);
    add_conv_case_of(l, "op_conv2d_relu", CONV_GEMM_SHAPES[4], 1, 1, 200);
    for (size_t t = 0; t < sizeof DEPTHWISE_SHAPES / sizeof DEPTHWISE_SHAPES[0]; t++)
        for (int bias = 0; bias <= 1; bias++) {
            const int *v = DEPTHWISE_SHAPES[t];
            OpCase *oc = add_case(l, "op_depthwise_conv2d", build_depthwise_conv2d, ref_depthwise_conv2d,
                                  "depthwise_conv2d x[%d,%d,%d,%d] k%dx%d s%d p%d%s", v[0], v[1], v[2], v[3], v[4],
                                  v[5], v[6], v[7], bias ? " bias" : "");
            int xd[4] = {v[0], v[1], v[2], v[3]}, wd[4] = {v[1], 1, v[4], v[5]};
            set_input(oc, 0, 4, xd, -1, 1);
            set_input(oc, 1, 4, wd, -1, 1);
            if (bias) set_input(oc, 2, 1, &v[1], -1, 1);
            oc->p[0] = v[6], oc->p[1] = v[7];
            ConvGeom g = conv_geom_of(oc);
            set_output(oc, 4, g.n, g.c, g.oh, g.ow);
            set_tols(oc, 1e-5, 1e-4, 1e-5, 1e-5);
            oc->probes = v[0] == 16 ? 40 : 300;   /* the CUDA suite's 16 x 128 channels: fewer */
        }
}

/* ---- pooling ------------------------------------------------------------------- */
/* Max pooling inputs are distinct values 0.01 apart (FILL_DISTINCT): every
 * window has a unique maximum with a margin far above the finite-difference
 * step, so the reference is locally linear. Forward 1e-7 (pooling copies
 * values; fp32 -> double is exact, so any error is a wrong pick), gradient
 * 1e-5 (sums of a few fp32 upstream values). Rows with ties (FILL_TIES)
 * check the forward only against the reference (the first maximum taking
 * the gradient is a convention, not a derivative: test_ops_pool.c checks
 * it by hand) and everything across threads and backends. CPU vs CUDA:
 * EXACT (the same picks, the same additions in the same order; the global
 * average sums in double in the same order). p[0..2] = k, stride, pad. */

static double window_max(const double *plane, int h, int w, int r0, int c0, int k)
{
    double m = -INFINITY;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            int y = r0 + i, x = c0 + j;
            if (y >= 0 && y < h && x >= 0 && x < w && plane[y * w + x] > m) m = plane[y * w + x];
        }
    return m;
}

/* Padded positions are -inf, i.e. skipped; pad 0 is op_maxpool2d. */
static void ref_maxpool2d(double *const *in, double *out, const void *args)
{
    const OpCase *oc = case_of(args);
    const int *d = oc->in[0].dims;
    int k = oc->p[0], s = oc->p[1], pad = oc->p[2];
    int oh = (d[2] + 2 * pad - k) / s + 1, ow = (d[3] + 2 * pad - k) / s + 1;
    for (long q = 0; q < (long)d[0] * d[1]; q++)
        for (int r = 0; r < oh; r++)
            for (int col = 0; col < ow; col++)
                out[(q * oh + r) * ow + col] = window_max(in[0] + q * d[2] * d[3], d[2], d[3], r * s - pad, col * s - pad, k);
}

static void ref_maxpool1d(double *const *in, double *out, const void *args)
{
    const OpCase *oc = case_of(args);
    const OpInput *x = &oc->in[0];
    int len = x->dims[x->ndim - 1], k = oc->p[0], s = oc->p[1], ol = (len - k) / s + 1;
    for (long r = 0; r < numel_of(x) / len; r++)
        for (int o = 0; o < ol; o++) out[r * ol + o] = window_max(in[0] + r * len, 1, len, 0, o * s, k);
}

static void ref_global_avgpool(double *const *in, double *out, const void *args)
{
    const int *d = case_of(args)->in[0].dims;
    long plane = (long)d[2] * d[3];
    for (long q = 0; q < (long)d[0] * d[1]; q++) {
        double s = 0;
        for (long i = 0; i < plane; i++) s += in[0][q * plane + i];
        out[q] = s / (double)plane;
    }
}

static Tensor *build_maxpool2d(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)labels;
    return op_maxpool2d(c, in[0], oc->p[0], oc->p[1]);
}

static Tensor *build_maxpool2d_pad(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)labels;
    return op_maxpool2d_pad(c, in[0], oc->p[0], oc->p[1], oc->p[2]);
}

static Tensor *build_maxpool1d(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)labels;
    return op_maxpool1d(c, in[0], oc->p[0], oc->p[1]);
}

static OpCase *add_pool_case(CaseList *l, const char *op, OpBuildFn build, RefForward ref, int ndim,
                             const int *dims, const int *kernel, FillKind fill, double lo)
{
    OpCase *oc = add_case(l, op, build, ref, "%s [%d,%d,%d,%d] k%d s%d p%d%s", op + 3, dims[0], ndim > 1 ? dims[1] : 0,
                          ndim > 2 ? dims[2] : 0, ndim > 3 ? dims[3] : 0, kernel[0], kernel[1], kernel[2],
                          fill == FILL_TIES ? " ties" : "");
    set_input(oc, 0, ndim, dims, lo, lo + 2)->fill = fill;
    memcpy(oc->p, kernel, 3 * sizeof(int));
    int out[4] = {0, 0, 0, 0};
    memcpy(out, dims, (size_t)ndim * sizeof(int));
    for (int d = ndim - (ndim == 4 && strcmp(op, "op_maxpool1d") ? 2 : 1); d < ndim; d++)
        out[d] = (dims[d] + 2 * kernel[2] - kernel[0]) / kernel[1] + 1;
    set_output(oc, ndim, out[0], out[1], out[2], out[3]);
    set_tols(oc, 1e-7, 1e-5, EXACT, EXACT);
    oc->probes = probes_for(tensor_numel_of(ndim, dims), 400);
    oc->no_fd_grad = fill == FILL_TIES;
    return oc;
}

/* {n, c, h, w, k, stride}: non-overlapping 2x2/2, overlapping 3x3/2 and
 * 2x2/1, floor sizes that drop a border, 1x1, batch 1, a window covering
 * the whole image, a big case for the OpenMP path and the CUDA suite's. */
static const int POOL2_SHAPES[][6] = {
    {1, 1, 4, 4, 2, 2}, {2, 3, 7, 9, 3, 2}, {1, 2, 5, 5, 3, 2}, {2, 2, 6, 5, 2, 1},
    {1, 3, 8, 10, 3, 3}, {3, 1, 5, 7, 2, 2}, {1, 1, 3, 3, 1, 1}, {2, 1, 4, 4, 4, 1},
    {8, 16, 17, 16, 3, 2}, {4, 3, 13, 13, 3, 2},
};
/* {n, c, h, w, k, stride, pad}: ResNet's 3/2/1 on its 14x14 map and on odd
 * sizes, 2/2/1 (windows of one valid pixel at the corners), 5/1/2, 1x1, and
 * pad 0. All values negative (lo = -100): a padding treated as 0 instead of
 * -inf would win every border window. */
static const int PADPOOL_SHAPES[][7] = {
    {2, 3, 14, 14, 3, 2, 1}, {1, 2, 7, 5, 3, 2, 1}, {2, 1, 4, 4, 2, 2, 1},
    {1, 2, 6, 7, 5, 1, 2}, {1, 1, 1, 1, 3, 2, 1}, {2, 2, 5, 5, 3, 2, 0},
};
typedef struct Pool1Shape { int ndim; int dims[4]; int k, s; } Pool1Shape;
/* [B,F] 2/2 (GECCO's use), odd lengths where the floor drops the tail,
 * overlapping 3/2, a plain vector, 3-D (N,C,L), 4-D, a large one, and the
 * CUDA suite's [8,6,11] with 2/2 and 3/2. */
static const Pool1Shape POOL1_SHAPES[] = {
    {2, {4, 16}, 2, 2}, {2, {1, 9}, 2, 2}, {2, {3, 11}, 3, 2}, {1, {10}, 3, 3}, {3, {2, 3, 8}, 3, 1},
    {4, {2, 2, 3, 7}, 2, 2}, {2, {5, 4}, 4, 1}, {2, {256, 300}, 2, 2}, {3, {8, 6, 11}, 2, 2}, {3, {8, 6, 11}, 3, 2},
};

static void add_pool_cases(CaseList *l)
{
    for (size_t t = 0; t < sizeof POOL2_SHAPES / sizeof POOL2_SHAPES[0]; t++) {
        int kernel[3] = {POOL2_SHAPES[t][4], POOL2_SHAPES[t][5], 0};
        add_pool_case(l, "op_maxpool2d", build_maxpool2d, ref_maxpool2d, 4, POOL2_SHAPES[t], kernel, FILL_DISTINCT, 0);
    }
    int tie_dims[4] = {4, 3, 13, 13}, tie_kernel[3] = {3, 2, 0};
    add_pool_case(l, "op_maxpool2d", build_maxpool2d, ref_maxpool2d, 4, tie_dims, tie_kernel, FILL_TIES, -2);
    for (size_t t = 0; t < sizeof PADPOOL_SHAPES / sizeof PADPOOL_SHAPES[0]; t++)
        add_pool_case(l, "op_maxpool2d_pad", build_maxpool2d_pad, ref_maxpool2d, 4, PADPOOL_SHAPES[t],
                      PADPOOL_SHAPES[t] + 4, FILL_DISTINCT, -100);
    int stem_dims[4] = {4, 3, 14, 13}, stem_kernel[3] = {3, 2, 1};
    add_pool_case(l, "op_maxpool2d_pad", build_maxpool2d_pad, ref_maxpool2d, 4, stem_dims, stem_kernel, FILL_TIES, -2);
    for (size_t t = 0; t < sizeof POOL1_SHAPES / sizeof POOL1_SHAPES[0]; t++) {
        const Pool1Shape *s = &POOL1_SHAPES[t];
        int kernel[3] = {s->k, s->s, 0};
        add_pool_case(l, "op_maxpool1d", build_maxpool1d, ref_maxpool1d, s->ndim, s->dims, kernel, FILL_DISTINCT, 0);
        if (t >= 8) add_pool_case(l, "op_maxpool1d", build_maxpool1d, ref_maxpool1d, s->ndim, s->dims, kernel, FILL_TIES, -2);
    }
    /* {n, c, h, w}: ResNet's 1x1 (an identity), 2x2, odd and large planes,
     * the CUDA suite's. Mean of fp32 values summed in double: error ~1e-7. */
    static const int GAP_SHAPES[][4] = {{3, 5, 1, 1}, {2, 4, 2, 2}, {1, 3, 7, 5}, {2, 8, 28, 28}, {6, 5, 7, 9}};
    for (size_t t = 0; t < sizeof GAP_SHAPES / sizeof GAP_SHAPES[0]; t++) {
        const int *d = GAP_SHAPES[t];
        OpCase *oc = add_case(l, "op_global_avgpool", build_unary, ref_global_avgpool,
                              "global_avgpool [%d,%d,%d,%d]", d[0], d[1], d[2], d[3]);
        oc->unary = op_global_avgpool;
        set_input(oc, 0, 4, d, -1, 1);
        set_output(oc, 2, d[0], d[1], 0, 0);
        set_tols(oc, 1e-6, 1e-5, EXACT, EXACT);
        oc->probes = probes_for(tensor_numel_of(4, d), 300);
    }
}

/* ---- normalisation ---------------------------------------------------------------- */
/* Against the reference, ~20x above the largest error measured: forward
 * 5e-6 (fp32 on O(1..4) values with the statistics reduced in double),
 * gradients 5e-6 (the BN input gradient n*dy - sum(dy) - xhat*sum(dy*xhat)
 * would cancel badly in fp32, but the op forms it in double; a wrong or
 * missing term costs O(1/n) >= 2e-3). CPU vs CUDA: forward and running
 * statistics 1e-6 (row-wise double sums in another order, fused
 * multiply-adds), gradients 1e-4 (the same long per-channel reductions);
 * row normalisation 1e-6. */

#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f

/* in = {x, gamma, beta, running_mean, running_var}; eval normalises with
 * the running statistics, training with the biased batch variance; p[0]
 * 1: then max(0, .) (op_batchnorm_relu). */
static void ref_batchnorm(double *const *in, double *out, const void *args)
{
    const OpCase *oc = case_of(args);
    const OpInput *x = &oc->in[0];
    int n = x->dims[0], ch = x->dims[1];
    long hw = x->ndim == 4 ? (long)x->dims[2] * x->dims[3] : 1, cnt = n * hw;
    for (int c = 0; c < ch; c++) {
        double mean = in[3][c], var = in[4][c];
        if (!oc->eval) {
            double s = 0, sq = 0;
            for (int b = 0; b < n; b++)
                for (long i = 0; i < hw; i++) s += in[0][((long)b * ch + c) * hw + i];
            mean = s / cnt;
            for (int b = 0; b < n; b++)
                for (long i = 0; i < hw; i++) sq += pow(in[0][((long)b * ch + c) * hw + i] - mean, 2);
            var = sq / cnt;
        }
        for (int b = 0; b < n; b++)
            for (long i = 0; i < hw; i++) {
                long o = ((long)b * ch + c) * hw + i;
                out[o] = in[1][c] * (in[0][o] - mean) / sqrt(var + BN_EPS) + in[2][c];
                if (oc->p[0] && out[o] < 0) out[o] = 0;
            }
    }
}

static Tensor *build_batchnorm(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)labels;
    return (oc->p[0] ? op_batchnorm_relu : op_batchnorm)(c, in[0], in[1], in[2], in[3]->data, in[4]->data,
                                                         BN_MOMENTUM, BN_EPS);
}

static void ref_row_normalize(double *const *in, double *out, const void *args)
{
    const int *d = case_of(args)->in[0].dims;
    for (int i = 0; i < d[0]; i++) {
        double s = 0;
        for (int j = 0; j < d[1]; j++) s += in[0][(long)i * d[1] + j];
        for (int j = 0; j < d[1]; j++) out[(long)i * d[1] + j] = in[0][(long)i * d[1] + j] / s;
    }
}

static void add_batchnorm_case(CaseList *l, int ndim, const int *dims, int eval, int relu)
{
    OpCase *oc = add_case(l, relu ? "op_batchnorm_relu" : "op_batchnorm", build_batchnorm, ref_batchnorm,
                          "batchnorm%s %s [%d,%d,%d,%d]", relu ? "_relu" : "", eval ? "eval" : "train", dims[0],
                          dims[1], ndim == 4 ? dims[2] : 0, ndim == 4 ? dims[3] : 0);
    oc->p[0] = relu;
    int ch = dims[1];
    set_input(oc, 0, ndim, dims, -2, 3);
    set_input(oc, 1, 1, &ch, 0.5, 1.5);
    set_input(oc, 2, 1, &ch, -1, 1);
    set_input(oc, 3, 1, &ch, -0.5, 0.5)->constant = 1;
    set_input(oc, 4, 1, &ch, 0.2, 2.0)->constant = 1;
    oc->eval = eval;
    oc->updates_inputs = !eval;   /* training updates the running statistics */
    set_tols(oc, 5e-6, 5e-6, 1e-6, 1e-4);
}

/* Random small shapes (batch 1 in evaluation), then the CUDA suite's. */
static void add_norm_cases(CaseList *l)
{
    uint64_t rng = 11;
    for (int rep = 0; rep < 60; rep++) {
        int ndim = rep % 2 ? 4 : 2, eval = rep >= 40;
        int dims[4] = {test_int(&rng, eval ? 1 : 2, 17), test_int(&rng, 1, 9), test_int(&rng, 1, 5), test_int(&rng, 1, 5)};
        add_batchnorm_case(l, ndim, dims, eval, 0);
        if (rep % 3 == 0) add_batchnorm_case(l, ndim, dims, eval, 1);   /* 20 rows of the fused op */
    }
    int x4[4] = {6, 5, 7, 9}, x2[2] = {64, 12};
    for (int relu = 0; relu <= 1; relu++) {
        add_batchnorm_case(l, 4, x4, 0, relu);
        add_batchnorm_case(l, 2, x2, 0, relu);
        add_batchnorm_case(l, 4, x4, 1, relu);
    }
    /* Both CPU loop shapes (ops_norm.c): runs of at least BN_SHORT_RUN = 64
     * values per channel and sample ([3,4,9,10], [8,16,16,16]) and shorter
     * ones in blocks of whole channels, a block boundary inside the
     * channels ([4,7,7,7]: 5 channels a block; [16,300]: 256). Those with
     * 32768 values or more run the OpenMP loops. The fused ReLU only on
     * the smaller ones: with 32768 outputs some lie within a probe's step
     * of the kink, and one there throws a gamma's finite difference off by
     * percents (test_ops_norm checks the fused op on a large shape). */
    static const int BN_LOOP_SHAPES[][4] = {
        {3, 4, 9, 10}, {8, 16, 16, 16}, {4, 7, 7, 7}, {64, 128, 2, 2}, {16, 300, 0, 0}, {256, 160, 0, 0},
    };
    for (size_t t = 0; t < sizeof BN_LOOP_SHAPES / sizeof BN_LOOP_SHAPES[0]; t++) {
        const int *d = BN_LOOP_SHAPES[t];
        int ndim = d[2] ? 4 : 2;
        long numel = (long)d[0] * d[1] * (ndim == 4 ? d[2] * d[3] : 1);
        add_batchnorm_case(l, ndim, d, 0, t % 2 == 0);
        add_batchnorm_case(l, ndim, d, 1, 0);
        if (numel >= 32768) l->rows[l->count - 1].probes = l->rows[l->count - 2].probes = 200;
    }
    for (int rep = 0; rep < 21; rep++) {
        int dims[2] = {test_int(&rng, 1, 17), test_int(&rng, 1, 13)};
        if (rep == 20) dims[0] = 29, dims[1] = 37;
        OpCase *oc = add_case(l, "op_row_normalize", build_unary, ref_row_normalize, "row_normalize [%d,%d]",
                              dims[0], dims[1]);
        oc->unary = op_row_normalize;
        set_input(oc, 0, 2, dims, 0.5, 2.0);   /* positive: row sums away from 0 */
        set_tols(oc, 5e-6, 5e-6, 1e-6, 1e-6);
    }
}

/* ---- loss and arg-max --------------------------------------------------------------- */
/* Cross-entropy against the textbook definition (max-shifted), 1e-6 forward
 * and gradient (the loss is reduced in double and rounded once; each logit
 * gradient (softmax - onehot)/N is one fp32 rounding of a double value),
 * ~25x above the largest error measured. CPU vs CUDA 1e-6 (expf, a block
 * tree instead of an ordered double sum). Arg-max: forward only, EXACT
 * everywhere, ties to the first maximum. */

static void ref_cross_entropy(double *const *in, double *out, const void *args)
{
    const int *d = case_of(args)->in[0].dims, *labels = labels_of(args);
    double total = 0;
    for (int i = 0; i < d[0]; i++) {
        const double *z = in[0] + (long)i * d[1];
        double m = z[0], s = 0;
        for (int j = 1; j < d[1]; j++) m = fmax(m, z[j]);
        for (int j = 0; j < d[1]; j++) s += exp(z[j] - m);
        total += -((z[labels[i]] - m) - log(s));
    }
    out[0] = total / d[0];
}

static Tensor *build_cross_entropy(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)oc;
    return op_cross_entropy(c, in[0], labels);
}

static int first_max(const double *row, int k)
{
    int best = 0;
    for (int j = 1; j < k; j++)
        if (row[j] > row[best]) best = j;
    return best;
}

static void ref_argmax_rows(double *const *in, double *out, const void *args)
{
    const int *d = case_of(args)->in[0].dims;
    for (int i = 0; i < d[0]; i++) out[i] = first_max(in[0] + (long)i * d[1], d[1]);
}

/* The predictions (ints, in the ctx's memory) wrapped as the output. */
static Tensor *build_argmax_rows(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)oc, (void)labels;
    int *pred = ctx_data(c, (size_t)in[0]->dims[0] * sizeof(int));
    op_argmax_rows(c, in[0], pred);
    return ctx_wrap(c, (float *)pred, NULL, 1, in[0]->dims);
}

static void add_loss_cases(CaseList *l)
{
    uint64_t rng = 21;
    for (int rep = 0; rep < 31; rep++) {
        int dims[2] = {test_int(&rng, 1, 17), test_int(&rng, 2, 12)};
        double range = 5;
        if (rep == 30) dims[0] = 300, dims[1] = 10, range = 8;   /* the CUDA suite's */
        OpCase *oc = add_case(l, "op_cross_entropy", build_cross_entropy, ref_cross_entropy,
                              "cross_entropy [%d,%d]", dims[0], dims[1]);
        set_input(oc, 0, 2, dims, -range, range);
        oc->n_labels = dims[0], oc->classes = dims[1];
        set_output(oc, 1, 1, 0, 0, 0);
        set_tols(oc, 1e-6, 1e-6, 1e-6, 1e-6);
        oc->probes = probes_for(dims[0] * dims[1], 300);
    }
    const int shapes[2][2] = {{4, 3}, {300, 10}};
    for (int t = 0; t < 2; t++) {
        OpCase *oc = add_case(l, "op_argmax_rows", build_argmax_rows, ref_argmax_rows, "argmax_rows [%d,%d] ties",
                              shapes[t][0], shapes[t][1]);
        OpInput *z = set_input(oc, 0, 2, shapes[t], -1, 1);
        z->fill = FILL_TIES;
        z->constant = 1;
        oc->int_output = 1;
        set_output(oc, 1, shapes[t][0], 0, 0, 0);
        set_tols(oc, EXACT, EXACT, EXACT, EXACT);
    }
}

/* ---- GECCO ------------------------------------------------------------------------------ */
/* The gated conv's reference is generic PyG-style message passing over an
 * explicit edge list (source j, target i, messages sigmoid(k_i + q_j) v_j
 * summed at i): for GRAPH_SELFLOOP built exactly as the reference model.py
 * builds it (so the op's closed form B sigmoid(k_i + q_i) v_i is checked
 * against what the original code computes), for GRAPH_COMPLETE every
 * ordered pair. Tolerances, >= 20x above the largest error measured:
 * forward 1e-4 and gradients 2e-4: in the self-loop mode the message is
 * multiplied by B = 64, so terms of size ~30 cancel against the skip path
 * and leave an absolute fp32 error of a few ulps of 30 on outputs of size
 * ~1. Batch attention 1e-6 (values stay O(1), short fp32 sums). CPU vs
 * CUDA: self-loop 1e-4 (the same cancellation), complete and attention
 * 1e-5 (GEMMs). p[0] = the graph mode. */

EdgeList reference_code_edges(int b)
{
    /* model.py: edges = [[0..B-1] for _ in range(B)] -> tensor [B, B] ->
     * reshape(1, B*B) -> cat([e, flip(e, [0])], 0). flip along a dimension
     * of size 1 returns the same tensor, so both rows are the flat list. */
    int *nested = malloc(sizeof(int) * (size_t)b * b);
    for (int r = 0; r < b; r++)
        for (int col = 0; col < b; col++) nested[r * b + col] = col;
    int rows = 1, flat_len = b * b;             /* reshape(1, B*B) of the same memory */
    int *flipped = malloc(sizeof(int) * (size_t)flat_len);
    for (int r = 0; r < rows; r++)              /* flip(., [0]): row r <- row rows-1-r */
        for (int t = 0; t < flat_len; t++) flipped[r * flat_len + t] = nested[(rows - 1 - r) * flat_len + t];
    EdgeList e = {flat_len, nested, flipped};   /* cat: row 0 = source, row 1 = target */
    return e;
}

static EdgeList complete_edges(int b)
{
    EdgeList e = {b * b, malloc(sizeof(int) * (size_t)b * b), malloc(sizeof(int) * (size_t)b * b)};
    for (int i = 0; i < b; i++)
        for (int j = 0; j < b; j++) {
            e.src[i * b + j] = j;
            e.dst[i * b + j] = i;
        }
    return e;
}

void free_edges(EdgeList *e)
{
    free(e->src);
    free(e->dst);
}

/* y[b, fout] = x w^T + bias (bias may be NULL). */
static void ref_dense(const double *x, const double *w, const double *bias, int b, int fin, int fout, double *y)
{
    for (int i = 0; i < b; i++)
        for (int o = 0; o < fout; o++) {
            double s = bias ? bias[o] : 0.0;
            for (int f = 0; f < fin; f++) s += x[i * fin + f] * w[o * fin + f];
            y[i * fout + o] = s;
        }
}

/* in = {x, key_w, key_b, query_w, query_b, value_w, value_b, skip_w, bias} */
static void ref_gated_graph_conv(double *const *in, double *out, const void *args)
{
    const OpCase *oc = case_of(args);
    int b = oc->in[0].dims[0], fin = oc->in[0].dims[1], fout = oc->in[1].dims[0];
    EdgeList edges = oc->p[0] == GRAPH_SELFLOOP ? reference_code_edges(b) : complete_edges(b);
    size_t plane = (size_t)b * fout;
    double *k = malloc(3 * plane * sizeof(double)), *q = k + plane, *v = q + plane;
    ref_dense(in[0], in[1], in[2], b, fin, fout, k);
    ref_dense(in[0], in[3], in[4], b, fin, fout, q);
    ref_dense(in[0], in[5], in[6], b, fin, fout, v);
    ref_dense(in[0], in[7], in[8], b, fin, fout, out);
    for (int e = 0; e < edges.n; e++) {
        int j = edges.src[e], i = edges.dst[e];
        for (int o = 0; o < fout; o++) out[i * fout + o] += sigmoid64(k[i * fout + o] + q[j * fout + o]) * v[j * fout + o];
    }
    free(k);
    free_edges(&edges);
}

static Tensor *build_gated_graph_conv(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)labels;
    GatedGraphWeights w = {.key_w = in[1], .key_b = in[2], .query_w = in[3], .query_b = in[4],
                           .value_w = in[5], .value_b = in[6], .skip_w = in[7], .bias = in[8]};
    return op_gated_graph_conv(c, in[0], &w, (GraphMode)oc->p[0]);
}

/* S = sigmoid(x x^T); A = S / rowsum(S); y = A x + x. */
static void ref_batch_attention(double *const *in, double *out, const void *args)
{
    const int *dims = case_of(args)->in[0].dims;
    int b = dims[0], d = dims[1];
    const double *x = in[0];
    double *s = malloc(sizeof(double) * (size_t)b);
    for (int i = 0; i < b; i++) {
        double r = 0;
        for (int j = 0; j < b; j++) {
            double g = 0;
            for (int t = 0; t < d; t++) g += x[i * d + t] * x[j * d + t];
            r += s[j] = sigmoid64(g);
        }
        for (int t = 0; t < d; t++) {
            double acc = x[i * d + t];
            for (int j = 0; j < b; j++) acc += s[j] / r * x[j * d + t];
            out[i * d + t] = acc;
        }
    }
    free(s);
}

/* Inputs with a gradient: bit k of grad_mask for input k. Ranges: x in
 * [-1, 1.5] and the weights in PyTorch's Linear init range, or (range > 0)
 * everything in +-range as the CUDA suite draws them. */
static void add_gated_conv_case(CaseList *l, GraphMode mode, int b, int fin, int fout, unsigned grad_mask,
                                long probes, double range)
{
    OpCase *oc = add_case(l, "op_gated_graph_conv", build_gated_graph_conv, ref_gated_graph_conv,
                          "gated_graph_conv %s B%d %d->%d grads 0x%03x", mode == GRAPH_SELFLOOP ? "selfloop" : "complete",
                          b, fin, fout, grad_mask);
    int xd[2] = {b, fin}, wd[2] = {fout, fin};
    double bound = range > 0 ? range : 1.0 / sqrt((double)fin);
    set_input(oc, 0, 2, xd, range > 0 ? -range * 2 : -1.0, range > 0 ? range * 2 : 1.5);
    for (int m = 0; m < 4; m++) {
        set_input(oc, 1 + 2 * m, 2, wd, -bound, bound);
        set_input(oc, 2 + 2 * m, 1, &fout, -bound, bound);
    }
    for (int k = 0; k < 9; k++) oc->in[k].constant = !((grad_mask >> k) & 1u);
    oc->p[0] = mode;
    set_output(oc, 2, b, fout, 0, 0);
    double cuda = mode == GRAPH_SELFLOOP ? 1e-4 : 1e-5;
    set_tols(oc, 1e-4, 2e-4, cuda, cuda);
    oc->probes = probes;
}

static void add_attention_case(CaseList *l, int b, int d, long probes)
{
    OpCase *oc = add_case(l, "op_batch_attention", build_unary, ref_batch_attention,
                          "batch_attention [%d,%d]", b, d);
    oc->unary = op_batch_attention;
    int dims[2] = {b, d};
    set_input(oc, 0, 2, dims, -1, 1);   /* x x^T within +-d: the sigmoids are not all saturated */
    set_tols(oc, 1e-6, 1e-6, 1e-5, 1e-5);
    oc->probes = probes;
}

static void add_gecco_cases(CaseList *l)
{
    uint64_t rng = 31;
    for (int rep = 0; rep < 12; rep++)   /* small random shapes, B = 1 included */
        for (int mode = 0; mode < 2; mode++)
            add_gated_conv_case(l, (GraphMode)mode, test_int(&rng, 1, 9), test_int(&rng, 1, 7), test_int(&rng, 1, 7),
                                0x1FFu, 0, 0);
    /* GECCO's shapes: full batch 64 and partial last batches at F = 64; some
     * inputs without gradients (frozen weights, an input with none); the
     * CUDA suite's. */
    const int batches[3] = {64, 32, 16};
    const unsigned masks[4] = {0x001u, 0x1FEu, 0x0A5u, 0x150u};
    for (int mode = 0; mode < 2; mode++) {
        for (int t = 0; t < 3; t++) add_gated_conv_case(l, (GraphMode)mode, batches[t], 64, 64, 0x1FFu, 16, 0);
        for (int t = 0; t < 4; t++) add_gated_conv_case(l, (GraphMode)mode, 5, 4, 3, masks[t], 0, 0);
        add_gated_conv_case(l, (GraphMode)mode, 17, 12, 10, 0x1FFu, 0, 0.5);
    }
    for (int rep = 0; rep < 20; rep++) add_attention_case(l, test_int(&rng, 1, 12), test_int(&rng, 1, 9), 0);
    add_attention_case(l, 64, 32, 48);   /* GECCO's shapes after the pool: D = F/2 */
    add_attention_case(l, 16, 32, 48);
    add_attention_case(l, 19, 7, 0);
}

/* ---- axis ops: softmax, concat, slice ------------------------------------------------------ */
/* References index the tensor by its full coordinates (not through the
 * ops' [outer, len, inner] shortcut), on every axis of 1-D to 4-D shapes,
 * every second case with the axis counted from the end, one shape above
 * PAR_MIN. Softmax: forward 1e-6 (fp32 expf and a sum of <= 60 terms),
 * gradient 1e-5 (an fp32 dot of <= 60 products); CPU vs CUDA 1e-6. Concat
 * and slice copy: forward EXACT, gradient 1e-7 (the central difference of
 * a linear function, rounding ~(sum of |outputs|) 1e-16 / h); CPU vs CUDA
 * EXACT. p[0] = the axis as given, p[1..2] = slice start, length. */

static const Shape AXIS_SHAPES[] = {
    {1, {7}}, {2, {1, 5}}, {2, {3, 4}}, {3, {2, 3, 5}}, {4, {2, 3, 4, 5}}, {3, {64, 10, 60}},
};
#define N_AXIS_SHAPES (int)(sizeof AXIS_SHAPES / sizeof AXIS_SHAPES[0])

static int axis_of(const OpCase *oc, int ndim) { return oc->p[0] < 0 ? oc->p[0] + ndim : oc->p[0]; }

/* exp(x) / the sum of exp over the elements that share all coordinates but
 * the axis one (no max subtraction: inputs are small). */
static void ref_softmax(double *const *in, double *out, const void *args)
{
    const OpInput *x = &case_of(args)->in[0];
    int axis = axis_of(case_of(args), x->ndim), idx[4] = {0, 0, 0, 0};
    do {
        int k[4];
        memcpy(k, idx, sizeof k);
        double sum = 0;
        for (k[axis] = 0; k[axis] < x->dims[axis]; k[axis]++) sum += exp(in[0][flat(x->ndim, x->dims, k)]);
        long f = flat(x->ndim, x->dims, idx);
        out[f] = exp(in[0][f]) / sum;
    } while (next_index(x->ndim, x->dims, idx));
}

/* out[idx] = input k at idx with the axis coordinate shifted by the sizes of
 * inputs 0..k-1 along the axis. */
static void ref_concat(double *const *in, double *out, const void *args)
{
    const OpCase *oc = case_of(args);
    int ndim = oc->in[0].ndim, axis = axis_of(oc, ndim), dims[4], idx[4] = {0, 0, 0, 0};
    memcpy(dims, oc->in[0].dims, sizeof dims);
    for (int k = 1; k < oc->n_in; k++) dims[axis] += oc->in[k].dims[axis];
    do {
        int k = 0, src[4];
        memcpy(src, idx, sizeof src);
        while (src[axis] >= oc->in[k].dims[axis]) src[axis] -= oc->in[k++].dims[axis];
        out[flat(ndim, dims, idx)] = in[k][flat(ndim, oc->in[k].dims, src)];
    } while (next_index(ndim, dims, idx));
}

static void ref_slice(double *const *in, double *out, const void *args)
{
    const OpCase *oc = case_of(args);
    const OpInput *x = &oc->in[0];
    int axis = axis_of(oc, x->ndim), dims[4], idx[4] = {0, 0, 0, 0};
    memcpy(dims, x->dims, sizeof dims);
    dims[axis] = oc->p[2];
    do {
        int src[4];
        memcpy(src, idx, sizeof src);
        src[axis] += oc->p[1];
        out[flat(x->ndim, dims, idx)] = in[0][flat(x->ndim, x->dims, src)];
    } while (next_index(x->ndim, dims, idx));
}

static Tensor *build_softmax(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)labels;
    return op_softmax(c, in[0], oc->p[0]);
}

static Tensor *build_concat(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)labels;
    return op_concat(c, oc->n_in, in, oc->p[0]);
}

static Tensor *build_slice(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)labels;
    return op_slice(c, in[0], oc->p[0], oc->p[1], oc->p[2]);
}

/* n parts of shape s, unequal along axis (sizes from part_size). */
static void add_concat_case(CaseList *l, const Shape *s, int axis, int given_axis, int n, const int *part_size)
{
    OpCase *oc = add_case(l, "op_concat", build_concat, ref_concat, "concat %d parts rank %d axis %d", n, s->ndim,
                          given_axis);
    for (int k = 0; k < n; k++) {
        int dims[4];
        memcpy(dims, s->dims, sizeof dims);
        dims[axis] = part_size[k];
        set_input(oc, k, s->ndim, dims, -2, 2);
    }
    oc->p[0] = given_axis;
    int out[4] = {0, 0, 0, 0};
    memcpy(out, s->dims, (size_t)s->ndim * sizeof(int));
    out[axis] = 0;
    for (int k = 0; k < n; k++) out[axis] += part_size[k];
    set_output(oc, s->ndim, out[0], out[1], out[2], out[3]);
    set_tols(oc, EXACT, 1e-7, EXACT, EXACT);
    oc->probes = probes_for(n * tensor_numel_of(s->ndim, s->dims), 40);
}

static void add_slice_case(CaseList *l, const Shape *s, int given_axis, int start, int length)
{
    OpCase *oc = add_case(l, "op_slice", build_slice, ref_slice, "slice rank %d axis %d [%d, +%d)", s->ndim, given_axis,
                          start, length);
    set_input(oc, 0, s->ndim, s->dims, -2, 2);
    oc->p[0] = given_axis, oc->p[1] = start, oc->p[2] = length;
    int out[4] = {0, 0, 0, 0};
    memcpy(out, s->dims, (size_t)s->ndim * sizeof(int));
    out[axis_of(oc, s->ndim)] = length;
    set_output(oc, s->ndim, out[0], out[1], out[2], out[3]);
    set_tols(oc, EXACT, 1e-7, EXACT, EXACT);
    oc->probes = probes_for(tensor_numel_of(s->ndim, s->dims), 40);
}

static void add_axis_cases(CaseList *l)
{
    uint64_t rng = 41;
    for (int s = 0; s < N_AXIS_SHAPES; s++)
        for (int axis = 0; axis < AXIS_SHAPES[s].ndim; axis++) {
            const Shape *sh = &AXIS_SHAPES[s];
            int given = (axis + s) % 2 ? axis - sh->ndim : axis;
            OpCase *oc = add_case(l, "op_softmax", build_softmax, ref_softmax, "softmax rank %d [%d..] axis %d", sh->ndim,
                                  sh->dims[0], given);
            set_input(oc, 0, sh->ndim, sh->dims, -3, 3);
            oc->p[0] = given;
            set_tols(oc, 1e-6, 1e-5, 1e-6, 1e-6);
            oc->probes = probes_for(tensor_numel_of(sh->ndim, sh->dims), 40);

            int sizes[3] = {1 + axis % 4, 1 + (2 + axis) % 4, 1 + (4 + axis) % 4};
            add_concat_case(l, sh, axis, axis - (s % 2 ? sh->ndim : 0), 1 + (s + axis) % 3, sizes);
            int len = sh->dims[axis], start = len > 1 ? test_int(&rng, 0, len - 1) : 0;
            add_slice_case(l, sh, axis - (s % 2 ? 0 : sh->ndim), start, test_int(&rng, 1, len - start));
        }
    /* The CUDA suite's: softmax of [5,7,9] on every axis, concat of three
     * [4,6,5]-like parts and slices [2, 5) of [6,7,8]. */
    Shape cube = {3, {5, 7, 9}}, parts = {3, {4, 6, 5}}, block = {3, {6, 7, 8}};
    for (int axis = -1; axis < 3; axis++) {
        OpCase *oc = add_case(l, "op_softmax", build_softmax, ref_softmax, "softmax [5,7,9] axis %d", axis);
        set_input(oc, 0, 3, cube.dims, -6, 6);
        oc->p[0] = axis;
        set_tols(oc, 1e-6, 1e-5, 1e-6, 1e-6);
        oc->probes = 40;
        if (axis < 0) continue;
        int sizes[3] = {2, 3, 4};
        add_concat_case(l, &parts, axis, axis, 3, sizes);
        add_slice_case(l, &block, axis, 2, 3);
    }
}

/* ---- capsules (Efficient-CapsNet) ----------------------------------------------------------- */
/* References written from the formulas (the squash in its literal Keras
 * form 1 - 1/(e^n + eps), not the rewritten one the op uses). Against them:
 * forward 1e-5 (fp32 sums of <= 256 products of values in [-1, 1]),
 * gradients 1e-4; the mask copies (EXACT, 1e-7 as concat and slice). CPU vs CUDA: squash,
 * lengths, margin loss and MSE 1e-6 (expf, fused multiply-adds, a block
 * tree instead of an ordered double sum; the squash gradient 1e-5),
 * predictions 1e-5 (sums of products fused differently), routing forward
 * 1e-5 and its gradients 1e-4 (a chain of dot products, a softmax and its
 * backward, each rounding with or without fusion), the mask EXACT. */

static const double EPS_SQUASH = 1e-20, EPS_LEN = 1e-7;
#define MARGIN_POS 0.9f
#define MARGIN_NEG 0.1f
#define MARGIN_LAMBDA 0.5f

static void ref_squash(double *const *in, double *out, const void *args)
{
    const OpInput *x = &case_of(args)->in[0];
    int d = x->dims[x->ndim - 1];
    for (long r = 0; r < numel_of(x) / d; r++) {
        const double *s = in[0] + r * d;
        double n2 = 0;
        for (int i = 0; i < d; i++) n2 += s[i] * s[i];
        double n = sqrt(n2), scale = (1.0 - 1.0 / (exp(n) + EPS_SQUASH)) / (n + EPS_SQUASH);
        for (int i = 0; i < d; i++) out[r * d + i] = scale * s[i];
    }
}

/* u[B,J,I], W[K,J,I,D] -> uhat[B,K,J,D]. */
static void ref_caps_predict(double *const *in, double *out, const void *args)
{
    const OpCase *oc = case_of(args);
    int nb = oc->in[0].dims[0], nk = oc->in[1].dims[0], nj = oc->in[1].dims[1], ni = oc->in[1].dims[2],
        nd = oc->in[1].dims[3];
    for (int b = 0; b < nb; b++)
        for (int k = 0; k < nk; k++)
            for (int j = 0; j < nj; j++)
                for (int z = 0; z < nd; z++) {
                    double s = 0;
                    for (int i = 0; i < ni; i++) s += in[0][(b * nj + j) * ni + i] * in[1][((k * nj + j) * ni + i) * nd + z];
                    out[((b * nk + k) * nj + j) * nd + z] = s;
                }
}

/* One sample: coupling logits a[k,j] = uhat[k,j] . S_k / sqrt(D), softmax
 * over k into c[k*J + j]. */
static void routing_couplings(const double *u, int nk, int nj, int nd, double *c)
{
    for (int k = 0; k < nk; k++)
        for (int j = 0; j < nj; j++) {
            double s = 0;
            for (int z = 0; z < nd; z++) {
                double sum = 0;
                for (int l = 0; l < nj; l++) sum += u[(k * nj + l) * nd + z];
                s += u[(k * nj + j) * nd + z] * sum;
            }
            c[k * nj + j] = s / sqrt((double)nd);
        }
    for (int j = 0; j < nj; j++) {
        double total = 0;
        for (int k = 0; k < nk; k++) total += exp(c[k * nj + j]);
        for (int k = 0; k < nk; k++) c[k * nj + j] = exp(c[k * nj + j]) / total;
    }
}

/* uhat[B,K,J,D], prior of K*J -> s[B,K,D]. */
static void ref_caps_routing(double *const *in, double *out, const void *args)
{
    const int *d = case_of(args)->in[0].dims;
    int nb = d[0], nk = d[1], nj = d[2], nd = d[3];
    double *c = malloc((size_t)nk * nj * sizeof(double));
    for (int b = 0; b < nb; b++) {
        const double *u = in[0] + (long)b * nk * nj * nd;
        routing_couplings(u, nk, nj, nd, c);
        for (int k = 0; k < nk; k++)
            for (int z = 0; z < nd; z++) {
                double s = 0;
                for (int j = 0; j < nj; j++) s += (c[k * nj + j] + in[1][k * nj + j]) * u[(k * nj + j) * nd + z];
                out[((long)b * nk + k) * nd + z] = s;
            }
    }
    free(c);
}

static void ref_caps_length(double *const *in, double *out, const void *args)
{
    const OpInput *x = &case_of(args)->in[0];
    int d = x->dims[x->ndim - 1];
    for (long r = 0; r < numel_of(x) / d; r++) {
        double s = 0;
        for (int i = 0; i < d; i++) s += in[0][r * d + i] * in[0][r * d + i];
        out[r] = sqrt(s + EPS_LEN);
    }
}

static void ref_margin_loss(double *const *in, double *out, const void *args)
{
    const int *d = case_of(args)->in[0].dims, *labels = labels_of(args);
    double total = 0;
    for (int i = 0; i < d[0]; i++)
        for (int j = 0; j < d[1]; j++) {
            double len = in[0][i * d[1] + j];
            double pos = fmax(0.0, MARGIN_POS - len), neg = fmax(0.0, len - MARGIN_NEG);
            total += j == labels[i] ? pos * pos : MARGIN_LAMBDA * neg * neg;
        }
    out[0] = total / d[0];
}

static void ref_caps_mask(double *const *in, double *out, const void *args)
{
    const int *d = case_of(args)->in[0].dims, *select = labels_of(args);
    for (int i = 0; i < d[0]; i++)
        for (int k = 0; k < d[1]; k++)
            for (int z = 0; z < d[2]; z++) {
                long at = ((long)i * d[1] + k) * d[2] + z;
                out[at] = k == select[i] ? in[0][at] : 0.0;
            }
}

static void ref_mse(double *const *in, double *out, const void *args)
{
    long n = numel_of(&case_of(args)->in[0]);
    double s = 0;
    for (long i = 0; i < n; i++) s += (in[0][i] - in[1][i]) * (in[0][i] - in[1][i]);
    out[0] = s / (double)n;
}

static Tensor *build_squash(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)oc, (void)labels;
    return op_squash(c, in[0], CAPS_SQUASH_EPS);
}

static Tensor *build_caps_length(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)oc, (void)labels;
    return op_caps_length(c, in[0], CAPS_LENGTH_EPS);
}

static Tensor *build_margin_loss(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)oc;
    return op_margin_loss(c, in[0], labels, MARGIN_POS, MARGIN_NEG, MARGIN_LAMBDA);
}

static Tensor *build_caps_mask(Ctx *c, const OpCase *oc, Tensor **in, const int *labels)
{
    (void)oc;
    return op_caps_mask(c, in[0], labels);
}

static OpCase *add_caps_case(CaseList *l, const char *op, OpBuildFn build, RefForward ref, int ndim, const int *dims,
                             double lo, double hi)
{
    OpCase *oc = add_case(l, op, build, ref, "%s [%d,%d,%d,%d] in [%g, %g]", op + 3, dims[0], ndim > 1 ? dims[1] : 0,
                          ndim > 2 ? dims[2] : 0, ndim > 3 ? dims[3] : 0, lo, hi);
    set_input(oc, 0, ndim, dims, lo, hi);
    set_tols(oc, 1e-5, 1e-4, 1e-6, 1e-6);
    return oc;
}

/* Squash ranges give norms from ~0.02 (near the origin, where the rewritten
 * form matters) to ~40 (saturated), one near 0 (step 1e-7), and the CUDA
 * suite's with an all-zero vector (the n = 0 branch). */
static void add_squash_cases(CaseList *l)
{
    static const struct { int ndim; int dims[3]; double lo, hi; } SQUASH[] = {
        {3, {4, 16, 8}, -1, 1}, {2, {6, 16}, -0.01, 0.01}, {2, {5, 3}, -10, 10},
        {3, {2, 10, 16}, -0.3, 0.3}, {2, {3, 1}, -2, 2}, {2, {2, 8}, -1e-4, 1e-4}, {3, {7, 16, 8}, -1, 1},
    };
    for (size_t t = 0; t < sizeof SQUASH / sizeof SQUASH[0]; t++) {
        OpCase *oc = add_caps_case(l, "op_squash", build_squash, ref_squash, SQUASH[t].ndim, SQUASH[t].dims,
                                   SQUASH[t].lo, SQUASH[t].hi);
        oc->cuda_grad_tol = 1e-5;
        oc->probes = 200;
        if (SQUASH[t].hi == 1e-4) oc->fd_step = 1e-7;
        if (t == 6) oc->in[0].fill = FILL_ZERO_VECTOR;
    }
}

static void add_caps_cases(CaseList *l)
{
    add_squash_cases(l);
    /* {B, J, I, K, D}: small odd sizes, ones, the reference's 16x8 -> 10x16 */
    static const int PREDICT[][5] = {{3, 5, 2, 4, 3}, {1, 1, 1, 1, 1}, {2, 16, 8, 10, 16}, {5, 16, 8, 10, 16}};
    for (size_t t = 0; t < sizeof PREDICT / sizeof PREDICT[0]; t++) {
        const int *v = PREDICT[t];
        int ud[3] = {v[0], v[1], v[2]}, wd[4] = {v[3], v[1], v[2], v[4]};
        OpCase *oc = add_caps_case(l, "op_caps_predict", build_binary, ref_caps_predict, 3, ud, -1, 1);
        oc->binary = op_caps_predict;
        set_input(oc, 1, 4, wd, t == 3 ? -0.5 : -1, t == 3 ? 0.5 : 1);
        set_output(oc, 4, v[0], v[3], v[1], v[4]);
        oc->cuda_fwd_tol = oc->cuda_grad_tol = 1e-5;
        oc->probes = 300;
    }
    /* {B, K, J, D}: small, one output capsule (softmax = 1: no gradient
     * through it), the reference size, the CUDA suite's. */
    static const int ROUTING[][4] = {{3, 4, 5, 3}, {2, 1, 3, 2}, {2, 10, 16, 16}, {5, 10, 16, 16}};
    for (size_t t = 0; t < sizeof ROUTING / sizeof ROUTING[0]; t++) {
        const int *v = ROUTING[t];
        int pd[3] = {v[1], v[2], 1};
        double prior = t == 3 ? 0.2 : 0.5;
        OpCase *oc = add_caps_case(l, "op_caps_routing", build_binary, ref_caps_routing, 4, v, -0.5, 0.5);
        oc->binary = op_caps_routing;
        set_input(oc, 1, 3, pd, -prior, prior);
        set_output(oc, 3, v[0], v[1], v[3], 0);
        oc->cuda_fwd_tol = 1e-5;
        oc->cuda_grad_tol = 1e-4;
        oc->probes = 300;
    }
    const int lengths[2][3] = {{4, 10, 16}, {37, 10, 16}};
    for (int t = 0; t < 2; t++) {
        OpCase *oc = add_caps_case(l, "op_caps_length", build_caps_length, ref_caps_length, 3, lengths[t], -0.3, 0.3);
        int ld[2] = {lengths[t][0], 10};
        set_output(oc, 2, ld[0], ld[1], 0, 0);
        /* lengths in [0, 1.2], clear of the kinks at m_neg and m_pos */
        oc = add_caps_case(l, "op_margin_loss", build_margin_loss, ref_margin_loss, 2, ld, 0, 1.2);
        set_output(oc, 1, 1, 0, 0, 0);
        oc->in[0].kink[0] = MARGIN_NEG, oc->in[0].kink[1] = MARGIN_POS, oc->in[0].n_kinks = 2;
        oc->n_labels = ld[0], oc->classes = 10;

        int md[3] = {t ? 37 : 5, 10, 16};
        oc = add_caps_case(l, "op_caps_mask", build_caps_mask, ref_caps_mask, 3, md, -1, 1);
        oc->n_labels = md[0], oc->classes = 10;
        set_output(oc, 2, md[0], md[1] * md[2], 0, 0);
        set_tols(oc, EXACT, 1e-7, EXACT, EXACT);   /* copies and zeros, as concat and slice */
    }
    /* pred and target of one element count in different shapes */
    const int pred[2][2] = {{3, 784}, {37, 160}}, target[2][4] = {{3, 1, 28, 28}, {37, 1, 10, 16}};
    for (int t = 0; t < 2; t++) {
        OpCase *oc = add_caps_case(l, "op_mse", build_binary, ref_mse, 2, pred[t], t ? -1 : 0, 1);
        oc->binary = op_mse;
        set_input(oc, 1, 4, target[t], t ? -1 : 0, 1);
        set_output(oc, 1, 1, 0, 0, 0);
        oc->probes = 200;
    }
}

const OpCase *op_cases(int *count)
{
    static CaseList table;   /* zeroed: every new row starts empty */
    if (!table.count) {
        add_elementwise_cases(&table);
        add_dense_cases(&table);
        add_conv_cases(&table);
        add_pool_cases(&table);
        add_norm_cases(&table);
        add_loss_cases(&table);
        add_gecco_cases(&table);
        add_axis_cases(&table);
        add_caps_cases(&table);
        add_scale_cases(&table);
    }
    *count = table.count;
    return table.rows;
}

/* ---- data, runs, comparisons ------------------------------------------------------------------ */

/* A permutation of n values 0.01 apart, centred on 0, plus lo. */
static void fill_distinct(float *x, long n, uint64_t *rng, double lo)
{
    long *perm = malloc((size_t)n * sizeof *perm);
    for (long i = 0; i < n; i++) perm[i] = i;
    for (long i = n - 1; i > 0; i--) {
        long j = (long)(test_rng_next(rng) % (uint64_t)(i + 1)), s = perm[i];
        perm[i] = perm[j];
        perm[j] = s;
    }
    for (long i = 0; i < n; i++) x[i] = (float)((double)(perm[i] - n / 2) * 0.01 + lo);
    free(perm);
}

static void fill_input(const OpInput *in, float *x, uint64_t *rng)
{
    long n = numel_of(in);
    if (in->fill == FILL_DISTINCT) {
        fill_distinct(x, n, rng, in->lo);
        return;
    }
    fill_uniform(x, n, rng, in->lo, in->hi);
    for (long i = 0; i < n; i++) {
        if (in->fill == FILL_TIES) x[i] = roundf(x[i] * 2.0f) / 2.0f;
        for (int k = 0; k < in->n_kinks; k++)
            if (fabs(x[i] - in->kink[k]) < 0.01) x[i] += 0.02f;
    }
    int d = in->dims[in->ndim - 1];
    if (in->fill == FILL_ZERO_VECTOR && n >= 2 * d) memset(x + d, 0, (size_t)d * sizeof *x);
}

void op_case_data(const OpCase *oc, uint64_t seed, OpCaseData *d)
{
    memset(d, 0, sizeof *d);
    d->seed = seed;
    uint64_t rng = seed;
    for (int k = 0; k < oc->n_in; k++) {
        long n = numel_of(&oc->in[k]);
        d->values[k] = malloc((size_t)n * sizeof(float));
        fill_input(&oc->in[k], d->values[k], &rng);
        if (oc->in[k].constant) continue;
        d->grads[k] = malloc((size_t)n * sizeof(float));
        fill_uniform(d->grads[k], n, &rng, -0.5, 0.5);
    }
    if (oc->n_labels) {
        d->labels = malloc((size_t)oc->n_labels * sizeof(int));
        for (int i = 0; i < oc->n_labels; i++) d->labels[i] = test_int(&rng, 0, oc->classes - 1);
    }
}

void op_case_data_free(OpCaseData *d)
{
    for (int k = 0; k < OP_CASE_MAX_INPUTS; k++) {
        free(d->values[k]);
        free(d->grads[k]);
    }
    free(d->labels);
}

void op_case_begin(Ctx *c, const OpCase *oc)
{
    ctx_begin(c, !oc->eval, 1);
    c->seed = OP_CASE_SEED;
    c->rng_offset = OP_CASE_RNG_OFFSET;
}

void op_case_tensors(Ctx *c, const OpCase *oc, const OpCaseData *d, int start_grads, Tensor **in,
                     const int **labels)
{
    for (int k = 0; k < oc->n_in; k++) {
        const OpInput *spec = &oc->in[k];
        in[k] = ctx_tensor(c, spec->ndim, spec->dims, !spec->constant);
        size_t bytes = (size_t)in[k]->numel * sizeof(float);
        ctx_to_device(c, in[k]->data, d->values[k], bytes);
        if (start_grads && in[k]->grad) ctx_to_device(c, in[k]->grad, d->grads[k], bytes);
    }
    *labels = NULL;
    if (oc->n_labels) {
        size_t bytes = (size_t)oc->n_labels * sizeof(int);
        int *dev = ctx_data(c, bytes);
        ctx_to_device(c, dev, d->labels, bytes);
        *labels = dev;
    }
}

static float *download(Ctx *c, const float *src, long n)
{
    float *h = malloc((size_t)(n ? n : 1) * sizeof *h);
    ctx_to_host(c, h, src, (size_t)n * sizeof *h);
    return h;
}

/* out->grad += upstream (it may alias an input's grad: views), then the
 * tape backwards; on either backend. */
static void push_upstream(Ctx *c, Tensor *out, const float *upstream)
{
    float *g = download(c, out->grad, out->numel);
    for (long i = 0; i < out->numel; i++) g[i] += upstream[i];
    ctx_to_device(c, out->grad, g, (size_t)out->numel * sizeof *g);
    free(g);
    for (int i = c->tape_len - 1; i >= 0; i--) c->tape[i].backward(&c->tape[i]);
}

void op_case_run(Ctx *c, const OpCase *oc, const OpCaseData *d, int start_grads, OpCaseResult *r)
{
    memset(r, 0, sizeof *r);
    op_case_begin(c, oc);
    Tensor *in[OP_CASE_MAX_INPUTS];
    const int *labels;
    op_case_tensors(c, oc, d, start_grads, in, &labels);
    Tensor *out = oc->build(c, oc, in, labels);
    r->out_n = out->numel;
    r->out = download(c, out->data, out->numel);
    for (int k = 0; k < oc->n_in; k++) r->after[k] = download(c, in[k]->data, in[k]->numel);
    if (!out->grad) return;
    uint64_t rng = d->seed ^ 0x5eedull;
    float *up = malloc((size_t)out->numel * sizeof *up);
    fill_uniform(up, out->numel, &rng, -1, 1);
    push_upstream(c, out, up);
    free(up);
    for (int k = 0; k < oc->n_in; k++)
        if (in[k]->grad) r->grads[k] = download(c, in[k]->grad, in[k]->numel);
}

void op_case_result_free(const OpCase *oc, OpCaseResult *r)
{
    free(r->out);
    for (int k = 0; k < oc->n_in; k++) {
        free(r->after[k]);
        free(r->grads[k]);
    }
}

double op_case_cuda_grad_tol(const OpCase *oc, int input)
{
    return oc->in[input].cuda_grad_tol > 0 ? oc->in[input].cuda_grad_tol : oc->cuda_grad_tol;
}

/* Fails on the worst element of b against a: bit for bit when tol is
 * EXACT, else max |b - a| / (|a| + 1) <= tol (NaN counts as worst). */
static void expect_values(const OpCase *oc, const char *what, const char *a_name, const float *a, const char *b_name,
                          const float *b, long n, double tol)
{
    double worst = 0;
    long at = -1;
    for (long i = 0; i < n; i++) {
        double e = fabs((double)b[i] - (double)a[i]) / (fabs((double)a[i]) + 1.0);
        if (isnan(e)) e = INFINITY;
        if (e > worst || (tol == EXACT && at < 0 && memcmp(&a[i], &b[i], sizeof *a))) worst = e, at = i;
    }
    if (at < 0 || (tol != EXACT && worst <= tol)) return;
    fail_msg("%s: %s element %ld: %s %.9g, %s %.9g (rel err %.3g > %s%.3g)", oc->name, what, at, a_name,
             (double)a[at], b_name, (double)b[at], worst, tol == EXACT ? "bit-exact " : "", tol);
}

void op_case_expect_close(const OpCase *oc, const char *a_name, const OpCaseResult *a, const char *b_name,
                          const OpCaseResult *b, double fwd_tol, const double *grad_tols)
{
    assert_int_equal(a->out_n, b->out_n);
    if (oc->int_output) assert_memory_equal(a->out, b->out, (size_t)a->out_n * sizeof(int));
    else expect_values(oc, "output", a_name, a->out, b_name, b->out, a->out_n, fwd_tol);
    char what[64];
    for (int k = 0; k < oc->n_in; k++) {
        long n = numel_of(&oc->in[k]);
        snprintf(what, sizeof what, "input %d after the op", k);
        expect_values(oc, what, a_name, a->after[k], b_name, b->after[k], n, fwd_tol);
        if (!a->grads[k]) continue;
        snprintf(what, sizeof what, "gradient of input %d", k);
        expect_values(oc, what, a_name, a->grads[k], b_name, b->grads[k], n, grad_tols[k]);
    }
}

struct CMUnitTest *op_case_tests(CMUnitTestFunction test, const struct CMUnitTest *more, int n_more, int *count)
{
    int n;
    const OpCase *rows = op_cases(&n);
    struct CMUnitTest *tests = calloc((size_t)(n + n_more), sizeof *tests);
    for (int i = 0; i < n; i++) {
        tests[i].name = rows[i].name;
        tests[i].test_func = test;
        tests[i].initial_state = (void *)&rows[i];
    }
    if (n_more) memcpy(tests + n, more, (size_t)n_more * sizeof *more);
    *count = n + n_more;
    return tests;
}

int op_cases_run(const char *group, CMUnitTestFunction test)
{
    int n;
    struct CMUnitTest *tests = op_case_tests(test, NULL, 0, &n);
    int failed = _cmocka_run_group_tests(group, tests, (size_t)n, NULL, NULL);
    free(tests);
    return failed;
}

uint64_t op_case_seed(const OpCase *oc, uint64_t suite)
{
    int n;
    return suite * 1000 + (uint64_t)(oc - op_cases(&n));
}
