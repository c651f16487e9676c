/* Every row of the op-case table (op_cases.c) against its float64
 * reference, one cmocka test per row: the forward output, then every input
 * gradient by central finite differences of L(x) = sum(ref(x) * R) for a
 * random upstream R (check_op in testutil.c). Rows with ties or an integer
 * output check the forward only. Inputs without a gradient must come out
 * unchanged, except where the op updates them (batch norm's running
 * statistics in training). */
#include <stdlib.h>
#include <string.h>
#include "op_cases.h"

static const OpCase *table;

/* The reference on the inputs as they were, against out (ints converted). */
static void check_forward_only(const OpCase *oc, const OpCaseData *d, const Tensor *out)
{
    double *in64[OP_CASE_MAX_INPUTS];
    for (int k = 0; k < oc->n_in; k++) {
        long n = tensor_numel_of(oc->in[k].ndim, oc->in[k].dims);
        in64[k] = malloc((size_t)n * sizeof(double));
        for (long i = 0; i < n; i++) in64[k][i] = d->values[k][i];
    }
    double *want = malloc((size_t)out->numel * sizeof(double));
    float *got = malloc((size_t)out->numel * sizeof(float));
    OpRun run = {oc, d->labels};
    oc->ref(in64, want, &run);
    for (long i = 0; i < out->numel; i++) got[i] = oc->int_output ? (float)((const int *)out->data)[i] : out->data[i];
    OpCheck chk = {.name = oc->name, .fwd_tol = oc->fwd_tol};
    expect_forward(&chk, got, want, out->numel);
    for (int k = 0; k < oc->n_in; k++) free(in64[k]);
    free(want);
    free(got);
}

static void expect_constants_unchanged(const OpCase *oc, const OpCaseData *d, Tensor **in)
{
    if (oc->updates_inputs) return;
    for (int k = 0; k < oc->n_in; k++)
        if (!in[k]->grad && memcmp(in[k]->data, d->values[k], (size_t)in[k]->numel * sizeof(float)))
            fail_msg("%s: input %d (no gradient) was changed by the op", oc->name, k);
}

static void test_case(void **state)
{
    const OpCase *oc = *state;
    Ctx c;
    ctx_init(&c, OP_CASE_SEED, 1 << 20);
    op_case_begin(&c, oc);
    OpCaseData d;
    op_case_data(oc, 1000 + (uint64_t)(oc - table), &d);
    Tensor *in[OP_CASE_MAX_INPUTS];
    const int *labels;
    op_case_tensors(&c, oc, &d, 0, in, &labels);
    Tensor *out = oc->build(&c, oc, in, labels);
    if (out->grad && !oc->no_fd_grad) {
        OpRun run = {oc, d.labels};
        OpCheck chk = {oc->name, oc->fwd_tol, oc->grad_tol, oc->fd_step, oc->probes};
        uint64_t rng = d.seed ^ 0xfdull;
        check_op(&c, &chk, oc->n_in, in, out, oc->ref, &run, &rng);
    } else {
        check_forward_only(oc, &d, out);
    }
    expect_constants_unchanged(oc, &d, in);
    op_case_data_free(&d);
    ctx_free(&c);
}

int main(void)
{
    int n;
    table = op_cases(&n);
    struct CMUnitTest *tests = op_case_tests(test_case, NULL, 0, &n);
    int failed = _cmocka_run_group_tests("op_cases", tests, (size_t)n, NULL, NULL);
    free(tests);
    return failed;
}
