/* Cross-entropy, count_correct and argmax_rows.
 *
 * Tolerances (relative, |err| / (|ref| + 1)), ~25x above the largest error
 * measured on these cases (forward 4e-8, gradients 1.2e-8):
 *  - forward 1e-6: the loss is reduced in double and rounded once to fp32;
 *  - gradients 1e-6: each logit gradient (softmax - onehot)/N is one fp32
 *    rounding of a double value; the float64 central difference (step
 *    1e-6) is accurate to ~1e-9, and both sides see the same fp32 inputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "ops.h"

typedef struct { int n, k; const int *labels; } CeArgs;

/* Textbook definition: -log(exp(z_y) / sum exp(z)), with the max subtracted
 * so the reference itself survives the large-logit test. */
static void ref_cross_entropy(double *const *in, double *out, const void *vargs)
{
    const CeArgs *a = vargs;
    double total = 0;
    for (int i = 0; i < a->n; i++) {
        const double *z = in[0] + (long)i * a->k;
        double m = z[0], s = 0;
        for (int j = 1; j < a->k; j++) m = fmax(m, z[j]);
        for (int j = 0; j < a->k; j++) s += exp(z[j] - m);
        total += -((z[a->labels[i]] - m) - log(s));
    }
    out[0] = total / a->n;
}

static void test_cross_entropy_random(void **state)
{
    (void)state;
    uint64_t rng = 21;
    for (int rep = 0; rep < 30; rep++) {
        Ctx c;
        ctx_init(&c, 1234, 1 << 20);
        ctx_begin(&c, 1, 1);
        int dims[2] = {test_int(&rng, 1, 17), test_int(&rng, 2, 12)};
        Tensor *z = random_tensor(&c, &rng, 2, dims, -5.0, 5.0, 1);
        int labels[17];
        for (int i = 0; i < dims[0]; i++) labels[i] = test_int(&rng, 0, dims[1] - 1);
        Tensor *loss = op_cross_entropy(&c, z, labels);
        assert_int_equal(loss->numel, 1);
        CeArgs args = {dims[0], dims[1], labels};
        OpCheck chk = {.name = "cross_entropy", .fwd_tol = 1e-6, .grad_tol = 1e-6};
        check_op(&c, &chk, 1, &z, loss, ref_cross_entropy, &args, &rng);
        ctx_free(&c);
    }
}

/* Backward must ADD (+=) into the logits' grad: two losses on the same
 * logits in one tape double it (grads start at 0, so check_op alone cannot
 * tell "=" from "+="). */
static void test_cross_entropy_accumulates(void **state)
{
    (void)state;
    float single[5 * 7];
    for (int copies = 1; copies <= 2; copies++) {
        Ctx c;
        ctx_init(&c, 1234, 1 << 20);
        ctx_begin(&c, 1, 1);
        uint64_t rng = 23;
        int dims[2] = {5, 7}, labels[5] = {0, 6, 2, 2, 4};
        Tensor *z = random_tensor(&c, &rng, 2, dims, -3.0, 3.0, 1);
        for (int k = 0; k < copies; k++) op_cross_entropy(&c, z, labels)->grad[0] = 0.75f;
        for (int i = c.tape_len - 1; i >= 0; i--) c.tape[i].backward(&c.tape[i]);
        for (int i = 0; i < 35; i++) {
            if (copies == 1) single[i] = z->grad[i];
            else assert_float_equal(z->grad[i], 2.0f * single[i], 1e-6f);
        }
        ctx_free(&c);
    }
}

/* Logits of +-1000 overflow exp() in any precision without the max shift.
 * Row 0 = {1000, 0, -1000}, label 1: loss 1000, softmax (1, 0, 0).
 * Row 1 = {1000, 1000, 1000}, label 2: loss log 3, softmax 1/3 each. */
static void test_cross_entropy_large_logits(void **state)
{
    (void)state;
    Ctx c;
    ctx_init(&c, 1234, 1 << 20);
    ctx_begin(&c, 1, 1);
    int dims[2] = {2, 3};
    Tensor *z = ctx_tensor(&c, 2, dims, 1);
    const float vals[6] = {1000, 0, -1000, 1000, 1000, 1000};
    memcpy(z->data, vals, sizeof vals);
    int labels[2] = {1, 2};
    Tensor *loss = op_cross_entropy(&c, z, labels);
    assert_true(isfinite(loss->data[0]));
    assert_float_equal(loss->data[0], (1000.0 + log(3.0)) / 2, 1e-3f);
    float up = 2.0f;
    backward_from(&c, loss, &up);
    /* upstream 2 and N = 2 cancel: dz = softmax - onehot. */
    const float want[6] = {1, -1, 0, 1.0f / 3, 1.0f / 3, 1.0f / 3 - 1};
    for (int i = 0; i < 6; i++) {
        assert_true(isfinite(z->grad[i]));
        assert_float_equal(z->grad[i], want[i], 1e-6f);
    }
    ctx_free(&c);
}

/* No tape entry (and no grad) when nothing needs a gradient. */
static void test_cross_entropy_no_grad(void **state)
{
    (void)state;
    Ctx c;
    ctx_init(&c, 1234, 1 << 20);
    ctx_begin(&c, 0, 0);
    uint64_t rng = 22;
    int dims[2] = {4, 10}, labels[4] = {0, 9, 3, 3};
    Tensor *z = random_tensor(&c, &rng, 2, dims, -1, 1, 1);
    Tensor *loss = op_cross_entropy(&c, z, labels);
    assert_null(loss->grad);
    assert_int_equal(c.tape_len, 0);
    ctx_free(&c);
}

/* Ties go to the FIRST maximum, as torch.argmax does on CPU. */
static void test_count_correct_ties(void **state)
{
    (void)state;
    Ctx c;
    ctx_init(&c, 1234, 1 << 20);
    ctx_begin(&c, 0, 0);
    int dims[2] = {4, 3};
    Tensor *z = ctx_tensor(&c, 2, dims, 0);
    const float vals[12] = {
        1, 3, 3,      /* tie between 1 and 2 -> 1 */
        5, 5, 5,      /* all equal -> 0 */
        -2, -1, -1,   /* tie between 1 and 2 -> 1 */
        0, 0, 7,      /* clear max -> 2 */
    };
    memcpy(z->data, vals, sizeof vals);
    int pred[4];
    argmax_rows(z, pred);
    assert_int_equal(pred[0], 1);
    assert_int_equal(pred[1], 0);
    assert_int_equal(pred[2], 1);
    assert_int_equal(pred[3], 2);
    int first[4] = {1, 0, 1, 2}, second[4] = {2, 2, 2, 2}, mixed[4] = {1, 1, 2, 2};
    assert_int_equal(count_correct(z, first), 4);
    assert_int_equal(count_correct(z, second), 1);
    assert_int_equal(count_correct(z, mixed), 2);
    ctx_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_entropy_random),
        cmocka_unit_test(test_cross_entropy_accumulates),
        cmocka_unit_test(test_cross_entropy_large_logits),
        cmocka_unit_test(test_cross_entropy_no_grad),
        cmocka_unit_test(test_count_correct_ties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
