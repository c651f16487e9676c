/* Every row of the op-case table (op_cases.c), one cmocka test per row:
 *  1. the output's shape; against the float64 reference: the output, then every input
 *     gradient by central finite differences of L(x) = sum(ref(x) * R) for
 *     a random upstream R (check_op in testutil.c); rows with ties or an
 *     integer output check the forward only;
 *  2. inputs without a gradient come out unchanged, except where the op
 *     updates them (batch norm's running statistics in training);
 *  3. backward ACCUMULATES: from non-zero starting gradients G0 the result
 *     is G0 + the gradient from zero, within 1e-5 relative (catches a
 *     backward that assigns where it must add, which 1 cannot see);
 *  4. without gradients (grad_enabled = 0, or no input with a gradient)
 *     the op records nothing, its output has no gradient and its values are
 *     bit for bit those of the recording forward (e.g. the convolution's
 *     evaluation path that reuses one column tile per thread). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "op_cases.h"

#define ACCUMULATE_TOL 1e-5

static double *inputs_in_double(const OpCase *oc, const OpCaseData *d, int k)
{
    long n = tensor_numel_of(oc->in[k].ndim, oc->in[k].dims);
    double *x = malloc((size_t)n * sizeof(double));
    for (long i = 0; i < n; i++) x[i] = d->values[k][i];
    return x;
}

/* The reference on the inputs as they were, against out (ints converted). */
static void check_forward_only(const OpCase *oc, const OpCaseData *d, const Tensor *out)
{
    double *in64[OP_CASE_MAX_INPUTS];
    for (int k = 0; k < oc->n_in; k++) in64[k] = inputs_in_double(oc, d, k);
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

static void expect_output_shape(const OpCase *oc, const Tensor *out)
{
    const int *want = oc->out_ndim ? oc->out_dims : oc->in[0].dims;
    int ndim = oc->out_ndim ? oc->out_ndim : oc->in[0].ndim;
    int same = out->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = out->dims[d] == want[d];
    if (!same)
        fail_msg("%s: output of rank %d [%d,%d,%d,%d], want rank %d [%d,%d,%d,%d]", oc->name, out->ndim, out->dims[0],
                 out->ndim > 1 ? out->dims[1] : 0, out->ndim > 2 ? out->dims[2] : 0, out->ndim > 3 ? out->dims[3] : 0,
                 ndim, want[0], ndim > 1 ? want[1] : 0, ndim > 2 ? want[2] : 0, ndim > 3 ? want[3] : 0);
}

static void check_against_reference(const OpCase *oc, const OpCaseData *d)
{
    Ctx c;
    ctx_init(&c, OP_CASE_SEED, 1 << 20);
    op_case_begin(&c, oc);
    Tensor *in[OP_CASE_MAX_INPUTS];
    const int *labels;
    op_case_tensors(&c, oc, d, 0, in, &labels);
    Tensor *out = oc->build(&c, oc, in, labels);
    expect_output_shape(oc, out);
    if (out->grad && !oc->no_fd_grad) {
        OpRun run = {oc, d->labels};
        OpCheck chk = {oc->name, oc->fwd_tol, oc->grad_tol, oc->fd_step, oc->probes};
        uint64_t rng = d->seed ^ 0xfdull;
        check_op(&c, &chk, oc->n_in, in, out, oc->ref, &run, &rng);
    } else {
        check_forward_only(oc, d, out);
    }
    expect_constants_unchanged(oc, d, in);
    ctx_free(&c);
}

static void check_accumulates(const OpCase *oc, const OpCaseData *d, const OpCaseResult *from_zero)
{
    Ctx c;
    ctx_init(&c, OP_CASE_SEED, 1 << 20);
    OpCaseResult r;
    op_case_run(&c, oc, d, 1, &r);
    for (int k = 0; k < oc->n_in; k++) {
        if (!r.grads[k]) continue;
        for (long i = 0; i < tensor_numel_of(oc->in[k].ndim, oc->in[k].dims); i++) {
            double want = (double)d->grads[k][i] + from_zero->grads[k][i];
            if (!(fabs(r.grads[k][i] - want) <= ACCUMULATE_TOL * (fabs(want) + 1.0)))
                fail_msg("%s: gradient of input %d element %ld: %.8g from a start of %.8g, want %.8g (start + "
                         "%.8g): backward must add", oc->name, k, i, (double)r.grads[k][i], (double)d->grads[k][i],
                         want, (double)from_zero->grads[k][i]);
        }
    }
    op_case_result_free(oc, &r);
    ctx_free(&c);
}

/* Variant 0: grad_enabled = 0; variant 1: no input has a gradient. */
static void check_without_gradients(const OpCase *oc, const OpCaseData *d, const OpCaseResult *recorded)
{
    static const char *const how[2] = {"with grad_enabled = 0", "with no input needing a gradient"};
    for (int variant = 0; variant < 2; variant++) {
        Ctx c;
        ctx_init(&c, OP_CASE_SEED, 1 << 20);
        op_case_begin(&c, oc);
        c.grad_enabled = variant;
        Tensor *in[OP_CASE_MAX_INPUTS];
        const int *labels;
        op_case_tensors(&c, oc, d, 0, in, &labels);
        if (variant == 1)
            for (int k = 0; k < oc->n_in; k++) in[k]->grad = NULL;
        Tensor *out = oc->build(&c, oc, in, labels);
        if (out->grad || c.tape_len)
            fail_msg("%s %s: the output has a gradient or the tape %d entries", oc->name, how[variant], c.tape_len);
        if (memcmp(out->data, recorded->out, (size_t)out->numel * sizeof(float)))
            fail_msg("%s %s: the forward differs from the recording one", oc->name, how[variant]);
        ctx_free(&c);
    }
}

static void test_case(void **state)
{
    const OpCase *oc = *state;
    OpCaseData d;
    op_case_data(oc, op_case_seed(oc, 1), &d);
    check_against_reference(oc, &d);
    Ctx c;
    ctx_init(&c, OP_CASE_SEED, 1 << 20);
    OpCaseResult from_zero;
    op_case_run(&c, oc, &d, 0, &from_zero);
    check_accumulates(oc, &d, &from_zero);
    check_without_gradients(oc, &d, &from_zero);
    op_case_result_free(oc, &from_zero);
    ctx_free(&c);
    op_case_data_free(&d);
}

int main(void) { return op_cases_run("op_cases", test_case); }
