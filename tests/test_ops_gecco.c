/* GECCO ops beyond the op-case table (op_cases.c, run by test_op_cases,
 * which checks the gated graph convolution in both graph modes and the
 * batch attention against float64 references): the reference code's edge
 * list itself, and the self-loop graph's tied key and query gradients. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "op_cases.h"
#include "ops.h"

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

/* The helper must reproduce docs/models.md 3.2's observation for B = 4: both
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

/* Self-loop graph: k and q enter only through k + q, so their weight and
 * bias gradients are identical (docs/models.md 3.2). */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_edge_list),
        cmocka_unit_test(test_gated_conv_selfloop_kq_tied),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
