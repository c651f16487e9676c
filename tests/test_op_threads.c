/* Every row of the op-case table at 1 and at 2 CPU threads (OpenMP and
 * OpenBLAS both set, as `sweeprun train --threads N` sets them): the same
 * inputs, starting gradients and upstream gradient; the outputs, the
 * inputs after the op and every input gradient must agree within the row's
 * threads_tol (EXACT: bit for bit). Why they do: docs/determinism.md and
 * the header of op_cases.c. */
#include <stdlib.h>
#include "op_cases.h"
#include "train.h"

static void run_at(int threads, const OpCase *oc, const OpCaseData *d, OpCaseResult *r)
{
    set_compute_threads(threads);
    Ctx c;
    ctx_init(&c, OP_CASE_SEED, 1 << 20);
    op_case_run(&c, oc, d, 1, r);
    ctx_free(&c);
}

static void test_case(void **state)
{
    const OpCase *oc = *state;
    OpCaseData d;
    op_case_data(oc, op_case_seed(oc, 2), &d);
    OpCaseResult one, two;
    run_at(1, oc, &d, &one);
    run_at(2, oc, &d, &two);
    double tols[OP_CASE_MAX_INPUTS];
    for (int k = 0; k < OP_CASE_MAX_INPUTS; k++) tols[k] = oc->threads_tol;
    op_case_expect_close(oc, "1 thread", &one, "2 threads", &two, oc->threads_tol, tols);
    op_case_result_free(oc, &one);
    op_case_result_free(oc, &two);
    op_case_data_free(&d);
}

int main(void)
{
    int failed = op_cases_run("op_threads", test_case);
    set_compute_threads(0);   /* back to all cores */
    return failed;
}
