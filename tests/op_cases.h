/* The op-case table: every op of compute/ops.h declared once, with its
 * inputs, its float64 reference and three tolerances. Three suites iterate
 * it (in the manner of ggml's test-backend-ops):
 *  - test_op_cases:    the op against its float64 reference, forward and
 *                      (by central finite differences) every input gradient;
 *  - test_op_threads:  the op at 1 and at 2 CPU threads, outputs and input
 *                      gradients compared (docs/determinism.md);
 *  - test_cuda_parity: the op on a CPU ctx and a CUDA ctx, same inputs.
 * tests/check_op_cases.sh fails the build of the tests when an op declared
 * in ops.h has no row here (its `.op` names the ops.h function).
 *
 * Tolerances are max |a - b| / (|b| + 1) over all elements; EXACT (0)
 * means bit for bit. Each family's comment in op_cases.c says why. */
#ifndef SWEEPRUN_OP_CASES_H
#define SWEEPRUN_OP_CASES_H
#include "testutil.h"

#define OP_CASE_MAX_INPUTS TAPE_MAX_INPUTS
#define EXACT 0.0
/* The ctx seed and rng offset every case runs with (dropout's masks); the
 * offset is not a multiple of 4, so a Philox block is split. */
#define OP_CASE_SEED 1234
#define OP_CASE_RNG_OFFSET 3

typedef enum {
    FILL_UNIFORM = 0,   /* uniform in [lo, hi] */
    FILL_DISTINCT,      /* a permutation of values 0.01 apart, shifted by lo:
                         * every pooling window has a unique maximum */
    FILL_TIES,          /* uniform, rounded to a 0.5 grid: windows and rows
                         * hold ties (the first maximum must win) */
    FILL_ZERO_VECTOR,   /* uniform, with the second vector along the last
                         * dimension all zero (squash's n = 0 branch) */
} FillKind;

typedef struct OpInput {
    int ndim, dims[4];
    double lo, hi;
    FillKind fill;
    int constant;        /* no gradient (running statistics, a frozen input) */
    double kink[2];      /* values within 0.01 of one of the first n_kinks kinks
                          * move 0.02 up: the finite difference never straddles
                          * one (relu's 0, the margin loss's m_neg and m_pos) */
    int n_kinks;
    double cuda_grad_tol;   /* > 0: this input's own CPU-vs-CUDA gradient tolerance */
} OpInput;

struct OpCase;
/* args of the reference: the case and its labels (host memory). */
typedef struct OpRun {
    const struct OpCase *oc;
    const int *labels;
} OpRun;
/* Applies the op on c; labels live in c's memory. */
typedef Tensor *(*OpBuildFn)(Ctx *c, const struct OpCase *oc, Tensor **in, const int *labels);

typedef struct OpCase {
    const char *op;             /* the ops.h function */
    char name[64];              /* op and variant, unique */
    int n_in;
    OpInput in[OP_CASE_MAX_INPUTS];
    int n_labels, classes;      /* labels in [0, classes) */
    int out_ndim, out_dims[4];  /* the output's shape; out_ndim 0: input 0's */
    int p[6];                   /* op parameters, read by build and ref */
    int eval;                   /* evaluation mode (training = 0) */
    int int_output;             /* the output holds ints (arg-max), forward only */
    int updates_inputs;         /* the op writes its constant inputs (batch norm's
                                 * running statistics in training) */
    OpBuildFn build;
    Tensor *(*unary)(Ctx *c, Tensor *x);               /* for build_unary */
    Tensor *(*binary)(Ctx *c, Tensor *a, Tensor *b);   /* for build_binary */
    RefForward ref;             /* float64 reference; args = const OpRun * */
    double fwd_tol, grad_tol;   /* against the reference */
    double fd_step;             /* 0: 1e-6 */
    long probes;                /* finite-difference probes per input, 0 = all */
    int no_fd_grad;             /* ties: the gradient is no derivative; compared
                                 * across threads and backends only */
    double cuda_fwd_tol, cuda_grad_tol;
    double threads_tol;         /* 1 vs 2 threads; EXACT = bit-identical */
} OpCase;

/* The table, built on first use. */
const OpCase *op_cases(int *count);
/* One cmocka test per row (named after it, its initial state the row),
 * followed by n_more other tests; free() the array. */
struct CMUnitTest *op_case_tests(CMUnitTestFunction test, const struct CMUnitTest *more, int n_more, int *count);
/* A suite's main: one test per row, in one group; returns the failures. */
int op_cases_run(const char *group, CMUnitTestFunction test);
/* The data seed of a row in a suite (suites draw different data). */
uint64_t op_case_seed(const OpCase *oc, uint64_t suite);

/* Host data of one case: input values, starting gradients (random, for the
 * accumulate checks; zero for the finite differences), labels and the
 * upstream gradient of the output, all drawn from seed. */
typedef struct OpCaseData {
    float *values[OP_CASE_MAX_INPUTS], *grads[OP_CASE_MAX_INPUTS];
    int *labels;
    uint64_t seed;
} OpCaseData;
void op_case_data(const OpCase *oc, uint64_t seed, OpCaseData *d);
void op_case_data_free(OpCaseData *d);

/* A case's inputs as tensors on c (uploaded on CUDA); grads start at
 * d->grads when start_grads, else at zero. *labels: in c's memory. */
void op_case_tensors(Ctx *c, const OpCase *oc, const OpCaseData *d, int start_grads, Tensor **in,
                     const int **labels);
/* ctx_begin with the case's mode, seed and rng offset. */
void op_case_begin(Ctx *c, const OpCase *oc);

/* What one run of a case leaves, in host memory: the output, every input
 * after the op (in-place updates) and every input gradient (NULL without). */
typedef struct OpCaseResult {
    long out_n;
    float *out;
    float *after[OP_CASE_MAX_INPUTS], *grads[OP_CASE_MAX_INPUTS];
} OpCaseResult;
/* Forward, then backward with an upstream gradient drawn from d->seed,
 * the input gradients starting from d's (start_grads) or from zero. */
void op_case_run(Ctx *c, const OpCase *oc, const OpCaseData *d, int start_grads, OpCaseResult *r);
void op_case_result_free(const OpCase *oc, OpCaseResult *r);
/* Fails (naming the case, the input and the worst element) unless b is
 * within the tolerances of a: fwd_tol for the output and the inputs after
 * the op, grad_tols[k] for input k's gradient. */
void op_case_expect_close(const OpCase *oc, const char *a_name, const OpCaseResult *a, const char *b_name,
                          const OpCaseResult *b, double fwd_tol, const double *grad_tols);
/* Input k's CPU-vs-CUDA gradient tolerance (its own, else the case's). */
double op_case_cuda_grad_tol(const OpCase *oc, int input);

/* The self-loop edge list exactly as the reference model.py builds it
 * (both rows the flat [0..B-1] x B list): the gated conv's reference. */
typedef struct EdgeList { int n; int *src, *dst; } EdgeList;
EdgeList reference_code_edges(int b);
void free_edges(EdgeList *e);

#endif
