/* GECCO ops: the gated graph convolution in both graph modes and the batch
 * attention, against float64 references written from the definitions.
 *
 * The gated-conv reference is generic PyG-style message passing over an
 * explicit edge list (edge_index[0] = source j, [1] = target i, messages
 * sigmoid(k_i + q_j) * v_j summed at i). For GRAPH_SELFLOOP the edge list is
 * built exactly as the reference model.py builds it (a B x B list of
 * [0..B-1] rows, reshaped to 1 x B^2, concatenated with its no-op flip), so
 * the test checks the op's closed form "B * sigmoid(k_i + q_i) v_i" against
 * what the original code really computes. For GRAPH_COMPLETE the edge list
 * holds every ordered pair (j, i).
 *
 * Tolerances (relative, |err| / (|ref| + 1)), >= 20x above the largest
 * error measured on these cases:
 *  - gated conv forward 1e-4 (measured 4.6e-6) and gradients 2e-4 (measured
 *    1e-5): in the self-loop mode the message is multiplied by B = 64, so
 *    terms of size ~30 cancel against the skip path and leave an absolute
 *    fp32 error of a few ulps of 30 (~2e-6) on outputs of size ~1; weight
 *    gradients are fp32 GEMM sums over B rows of such terms;
 *  - batch attention forward and gradients 1e-6 (measured 8e-8): values
 *    stay O(1), only short fp32 sums.
 * The finite differences are central, in float64, step 1e-6 (error ~1e-9). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "ops.h"

#define GC_FWD_TOL 1e-4
#define GC_GRAD_TOL 2e-4
#define ATT_TOL 1e-6

/* ---- edge lists ------------------------------------------------------------ */

typedef struct EdgeList { int n; int *src, *dst; } EdgeList;

/* model.py: edges = [[0..B-1] for _ in range(B)] -> tensor [B, B] ->
 * reshape(1, B*B) -> cat([e, flip(e, [0])], 0). flip along a dimension of
 * size 1 returns the same tensor, so both rows are the flat list. */
static EdgeList reference_code_edges(int b)
{
    int *nested = malloc(sizeof(int) * (size_t)b * b);
    for (int r = 0; r < b; r++)
        for (int col = 0; col < b; col++) nested[r * b + col] = col;
    int rows = 1, flat_len = b * b;             /* reshape(1, B*B) of the same memory */
    int *flat = nested;
    int *flipped = malloc(sizeof(int) * (size_t)flat_len);
    for (int r = 0; r < rows; r++)              /* flip(., [0]): row r <- row rows-1-r */
        for (int t = 0; t < flat_len; t++)
            flipped[r * flat_len + t] = flat[(rows - 1 - r) * flat_len + t];
    EdgeList e = {flat_len, flat, flipped};     /* cat: row 0 = source, row 1 = target */
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

static void free_edges(EdgeList *e)
{
    free(e->src);
    free(e->dst);
}

/* ---- gated conv reference ---------------------------------------------------- */

typedef struct GcArgs { int b, fin, fout; const EdgeList *edges; } GcArgs;

static double sigmoid64(double z) { return 1.0 / (1.0 + exp(-z)); }

/* y[b, fout] = x w^T + bias (bias may be NULL). */
static void ref_dense(const double *x, const double *w, const double *bias,
                      int b, int fin, int fout, double *y)
{
    for (int i = 0; i < b; i++)
        for (int o = 0; o < fout; o++) {
            double s = bias ? bias[o] : 0.0;
            for (int f = 0; f < fin; f++) s += x[i * fin + f] * w[o * fin + f];
            y[i * fout + o] = s;
        }
}

/* in = {x, key_w, key_b, query_w, query_b, value_w, value_b, skip_w, bias} */
static void ref_gated_conv(double *const *in, double *out, const void *vargs)
{
    const GcArgs *a = vargs;
    size_t plane = (size_t)a->b * a->fout;
    double *k = malloc(3 * plane * sizeof(double)), *q = k + plane, *v = q + plane;
    ref_dense(in[0], in[1], in[2], a->b, a->fin, a->fout, k);
    ref_dense(in[0], in[3], in[4], a->b, a->fin, a->fout, q);
    ref_dense(in[0], in[5], in[6], a->b, a->fin, a->fout, v);
    ref_dense(in[0], in[7], in[8], a->b, a->fin, a->fout, out);
    for (int e = 0; e < a->edges->n; e++) {
        int j = a->edges->src[e], i = a->edges->dst[e];
        for (int o = 0; o < a->fout; o++)
            out[i * a->fout + o] += sigmoid64(k[i * a->fout + o] + q[j * a->fout + o]) * v[j * a->fout + o];
    }
    free(k);
}

/* Inputs of one gated-conv case; which of them carry a gradient is chosen
 * by the bits of grad_mask (bit 0 = x, bit 1 = key_w, ... as in ins[]). */
typedef struct GcCase {
    Tensor *ins[9];
    GatedGraphWeights w;
} GcCase;

static GcCase make_gc_case(Ctx *c, uint64_t *rng, int b, int fin, int fout, unsigned grad_mask)
{
    GcCase g;
    int xd[2] = {b, fin}, wd[2] = {fout, fin}, bd[1] = {fout};
    double bound = 1.0 / sqrt((double)fin);   /* PyTorch Linear init range */
    g.ins[0] = random_tensor(c, rng, 2, xd, -1.0, 1.5, grad_mask & 1u);
    for (int m = 0; m < 4; m++) {
        g.ins[1 + 2 * m] = random_tensor(c, rng, 2, wd, -bound, bound, (grad_mask >> (1 + 2 * m)) & 1u);
        g.ins[2 + 2 * m] = random_tensor(c, rng, 1, bd, -bound, bound, (grad_mask >> (2 + 2 * m)) & 1u);
    }
    g.w = (GatedGraphWeights){.key_w = g.ins[1], .key_b = g.ins[2], .query_w = g.ins[3],
                              .query_b = g.ins[4], .value_w = g.ins[5], .value_b = g.ins[6],
                              .skip_w = g.ins[7], .bias = g.ins[8]};
    return g;
}

static void gc_case(uint64_t *rng, GraphMode mode, int b, int fin, int fout,
                    unsigned grad_mask, long probes)
{
    Ctx c;
    ctx_init(&c, 1234, 1 << 20);
    ctx_begin(&c, 1, 1);
    GcCase g = make_gc_case(&c, rng, b, fin, fout, grad_mask);
    Tensor *y = op_gated_graph_conv(&c, g.ins[0], &g.w, mode);
    EdgeList edges = mode == GRAPH_SELFLOOP ? reference_code_edges(b) : complete_edges(b);
    GcArgs args = {b, fin, fout, &edges};
    OpCheck chk = {.name = mode == GRAPH_SELFLOOP ? "gated_graph_conv selfloop"
                                                  : "gated_graph_conv complete",
                   .fwd_tol = GC_FWD_TOL, .grad_tol = GC_GRAD_TOL, .max_probes = probes};
    check_op(&c, &chk, 9, g.ins, y, ref_gated_conv, &args, rng);
    free_edges(&edges);
    ctx_free(&c);
}

/* The helper must reproduce MODELS.md 3.2's observation for B = 4: both
 * rows read 0,1,2,3,0,1,2,3,... i.e. B self-loops each repeated B times. */
static void test_reference_edge_list(void **state)
{
    (void)state;
    EdgeList e = reference_code_edges(4);
    assert_int_equal(e.n, 16);
    for (int t = 0; t < 16; t++) {
        assert_int_equal(e.src[t], t % 4);
        assert_int_equal(e.dst[t], t % 4);
    }
    free_edges(&e);
}

/* Small random shapes (B = 1 included), every input with a gradient. */
static void test_gated_conv_random(void **state)
{
    (void)state;
    uint64_t rng = 31;
    for (int rep = 0; rep < 12; rep++)
        for (int mode = 0; mode < 2; mode++)
            gc_case(&rng, (GraphMode)mode, test_int(&rng, 1, 9), test_int(&rng, 1, 7),
                    test_int(&rng, 1, 7), 0x1FFu, 0);
}

/* GECCO's shapes: full batch 64 and the partial last batches (32, 16) at
 * F = 64, with sampled finite-difference probes. */
static void test_gated_conv_model_size(void **state)
{
    (void)state;
    uint64_t rng = 32;
    const int batches[3] = {64, 32, 16};
    for (int t = 0; t < 3; t++)
        for (int mode = 0; mode < 2; mode++)
            gc_case(&rng, (GraphMode)mode, batches[t], 64, 64, 0x1FFu, 16);
}

/* Only some inputs carry gradients (e.g. frozen weights, or an input with
 * none): the op must skip the others and still get the rest right. */
static void test_gated_conv_partial_grads(void **state)
{
    (void)state;
    uint64_t rng = 33;
    const unsigned masks[4] = {0x001u, 0x1FEu, 0x0A5u, 0x150u};
    for (int t = 0; t < 4; t++)
        for (int mode = 0; mode < 2; mode++)
            gc_case(&rng, (GraphMode)mode, 5, 4, 3, masks[t], 0);
}

/* Self-loop graph: k and q enter only through k + q, so their weight and
 * bias gradients are identical (MODELS.md 3.2). */
static void test_gated_conv_selfloop_kq_tied(void **state)
{
    (void)state;
    uint64_t rng = 34;
    Ctx c;
    ctx_init(&c, 1234, 1 << 20);
    ctx_begin(&c, 1, 1);
    GcCase g = make_gc_case(&c, &rng, 7, 6, 5, 0x1FFu);
    Tensor *y = op_gated_graph_conv(&c, g.ins[0], &g.w, GRAPH_SELFLOOP);
    float *up = malloc(sizeof(float) * (size_t)y->numel);
    fill_uniform(up, y->numel, &rng, -1, 1);
    backward_from(&c, y, up);
    assert_memory_equal(g.w.key_w->grad, g.w.query_w->grad, sizeof(float) * 30);
    assert_memory_equal(g.w.key_b->grad, g.w.query_b->grad, sizeof(float) * 5);
    free(up);
    ctx_free(&c);
}

/* ---- gradient accumulation ------------------------------------------------------ */

/* Runs the tape once, after the caller has seeded the outputs' grads. */
static void run_tape(Ctx *c)
{
    for (int i = c->tape_len - 1; i >= 0; i--) c->tape[i].backward(&c->tape[i]);
}


/* copies applications of the op on inputs drawn from seed, same upstream. */
static GcCase gc_run_copies(Ctx *c, uint64_t seed, GraphMode mode, int copies)
{
    uint64_t rng = seed;
    GcCase g = make_gc_case(c, &rng, 6, 5, 4, 0x1FFu);
    for (int k = 0; k < copies; k++) {
        Tensor *y = op_gated_graph_conv(c, g.ins[0], &g.w, mode);
        uint64_t up_rng = seed + 1;
        fill_uniform(y->grad, y->numel, &up_rng, -1, 1);
    }
    run_tape(c);
    return g;
}

static void test_gated_conv_accumulates(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        Ctx c1, c2;
        ctx_init(&c1, 1234, 1 << 20);
        ctx_init(&c2, 1234, 1 << 20);
        ctx_begin(&c1, 1, 1);
        ctx_begin(&c2, 1, 1);
        GcCase once = gc_run_copies(&c1, 35, (GraphMode)mode, 1);
        GcCase twice = gc_run_copies(&c2, 35, (GraphMode)mode, 2);
        for (int i = 0; i < 9; i++) assert_grad_doubled(once.ins[i], twice.ins[i]);
        ctx_free(&c1);
        ctx_free(&c2);
    }
}

static Tensor *attention_run_copies(Ctx *c, uint64_t seed, int copies)
{
    uint64_t rng = seed;
    int dims[2] = {9, 4};
    Tensor *x = random_tensor(c, &rng, 2, dims, -1.0, 1.0, 1);
    for (int k = 0; k < copies; k++) {
        Tensor *y = op_batch_attention(c, x);
        uint64_t up_rng = seed + 1;
        fill_uniform(y->grad, y->numel, &up_rng, -1, 1);
    }
    run_tape(c);
    return x;
}

static void test_batch_attention_accumulates(void **state)
{
    (void)state;
    Ctx c1, c2;
    ctx_init(&c1, 1234, 1 << 20);
    ctx_init(&c2, 1234, 1 << 20);
    ctx_begin(&c1, 1, 1);
    ctx_begin(&c2, 1, 1);
    assert_grad_doubled(attention_run_copies(&c1, 43, 1), attention_run_copies(&c2, 43, 2));
    ctx_free(&c1);
    ctx_free(&c2);
}

/* ---- batch attention ---------------------------------------------------------- */

typedef struct { int b, d; } AttArgs;

/* S = sigmoid(x x^T); A = S / rowsum(S); y = A x + x. */
static void ref_batch_attention(double *const *in, double *out, const void *vargs)
{
    const AttArgs *a = vargs;
    const double *x = in[0];
    double *s = malloc(sizeof(double) * (size_t)a->b * a->b);
    for (int i = 0; i < a->b; i++) {
        double r = 0;
        for (int j = 0; j < a->b; j++) {
            double g = 0;
            for (int t = 0; t < a->d; t++) g += x[i * a->d + t] * x[j * a->d + t];
            s[i * a->b + j] = sigmoid64(g);
            r += s[i * a->b + j];
        }
        for (int t = 0; t < a->d; t++) {
            double acc = x[i * a->d + t];
            for (int j = 0; j < a->b; j++) acc += s[i * a->b + j] / r * x[j * a->d + t];
            out[i * a->d + t] = acc;
        }
    }
    free(s);
}

static void attention_case(uint64_t *rng, int b, int d, long probes)
{
    Ctx c;
    ctx_init(&c, 1234, 1 << 20);
    ctx_begin(&c, 1, 1);
    int dims[2] = {b, d};
    /* |x| <= 1 keeps x x^T within +-d, so the sigmoids are not all saturated
     * and the gradient through S is exercised. */
    Tensor *x = random_tensor(&c, rng, 2, dims, -1.0, 1.0, 1);
    Tensor *y = op_batch_attention(&c, x);
    AttArgs args = {b, d};
    OpCheck chk = {.name = "batch_attention", .fwd_tol = ATT_TOL, .grad_tol = ATT_TOL,
                   .max_probes = probes};
    check_op(&c, &chk, 1, &x, y, ref_batch_attention, &args, rng);
    ctx_free(&c);
}

static void test_batch_attention_random(void **state)
{
    (void)state;
    uint64_t rng = 41;
    for (int rep = 0; rep < 20; rep++) attention_case(&rng, test_int(&rng, 1, 12), test_int(&rng, 1, 9), 0);
}

/* GECCO's shapes after the pool: D = F/2 = 32, batches 64 and 16. */
static void test_batch_attention_model_size(void **state)
{
    (void)state;
    uint64_t rng = 42;
    attention_case(&rng, 64, 32, 48);
    attention_case(&rng, 16, 32, 48);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_edge_list),
        cmocka_unit_test(test_gated_conv_random),
        cmocka_unit_test(test_gated_conv_model_size),
        cmocka_unit_test(test_gated_conv_partial_grads),
        cmocka_unit_test(test_gated_conv_selfloop_kq_tied),
        cmocka_unit_test(test_gated_conv_accumulates),
        cmocka_unit_test(test_batch_attention_random),
        cmocka_unit_test(test_batch_attention_model_size),
        cmocka_unit_test(test_batch_attention_accumulates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
