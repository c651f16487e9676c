/* Dense ops: every product goes through bk_gemm (oneDNN sgemm or
 * cuBLAS, row-major), with beta = 1 in backward so results accumulate into
 * existing gradients. The bias rows and bias gradients are the only
 * non-GEMM arithmetic; their CUDA twins are in cuda/dense.cu. */
#include "ops.h"
#include "backend.h"
#include "dense_math.h"
#include "util.h"
#include <string.h>

/* ---- linear ------------------------------------------------------------- */

static void fill_rows_cpu(float *y, const float *row, int n, int out)
{
    for (int r = 0; r < n; r++) memcpy(y + (long)r * out, row, (size_t)out * sizeof(float));
}

/* db[j] += sum over rows of dy[r, j], in row order (float). */
static void bias_grad_cpu(const float *dy, int n, int out, float *db)
{
    for (int j = 0; j < out; j++) db[j] = col_sum_float(dy, n, out, j, db[j]);
}

/* y[N,out] = x[N,in] w[out,in]^T + b:
 *   dx += dy w,  dw += dy^T x,  db += column sums of dy (sum over rows). */
static void linear_backward(TapeEntry *e)
{
    Tensor *x = e->in[0], *w = e->in[1], *b = e->in[2];
    const Ctx *c = e->ctx;
    const float *dy = e->out->grad;
    int n = e->args.linear.n, in = e->args.linear.in, out = e->args.linear.out;
    if (x->grad) bk_gemm(c, 0, 0, n, in, out, 1.0f, dy, out, w->data, in, 1.0f, x->grad, in);
    if (w->grad) bk_gemm(c, 1, 0, out, in, n, 1.0f, dy, out, x->data, in, 1.0f, w->grad, in);
    if (b && b->grad) {
        if (ON_CUDA(c)) CUDA_ONLY(cuda_col_sums_float(c->cuda, dy, n, out, b->grad));
        else bias_grad_cpu(dy, n, out, b->grad);
    }
}

Tensor *op_linear(Ctx *c, Tensor *x, Tensor *w, Tensor *b)
{
    CHECK(w->ndim == 2, "op_linear: weight must be 2-D");
    int n = x->dims[0], in = (int)tensor_row_size(x), out = w->dims[0];
    CHECK(w->dims[1] == in, "op_linear: input rows have %d features, weight expects %d",
          in, w->dims[1]);
    CHECK(!b || b->numel == out, "op_linear: bias has %ld elements, expected %d",
          b ? b->numel : 0L, out);
    Tensor *ins[3] = {x, w, b};
    int g = ctx_any_grad(c, 3, ins);
    int dims[2] = {n, out};
    Tensor *y = ctx_tensor(c, 2, dims, g);
    /* Pre-fill y with the bias so one sgemm with beta = 1 adds x w^T. */
    float beta = 0.0f;
    if (b) {
        if (ON_CUDA(c)) CUDA_ONLY(cuda_fill_rows(c->cuda, y->data, b->data, n, out));
        else fill_rows_cpu(y->data, b->data, n, out);
        beta = 1.0f;
    }
    bk_gemm(c, 0, 1, n, out, in, 1.0f, x->data, in, w->data, in, beta, y->data, out);
    if (g) {
        TapeEntry *e = ctx_record(c, linear_backward, y);
        e->in[0] = x;
        e->in[1] = w;
        e->in[2] = b;
        e->args.linear = (TapeLinear){.n = n, .in = in, .out = out};
    }
    return y;
}

/* ---- matmul ------------------------------------------------------------- */

/* C[M,N] = op(A) op(B), op(A) being [M,K]. Gradients w.r.t. the STORED
 * operands:
 *   A stored [M,K] (no trans): dA += dC op(B)^T
 *   A stored [K,M] (trans):    dA += op(B) dC^T
 *   B stored [K,N] (no trans): dB += op(A)^T dC
 *   B stored [N,K] (trans):    dB += dC^T op(A)
 * op(X)^T of a stored matrix is X with the opposite transpose flag. */
static void matmul_backward(TapeEntry *e)
{
    Tensor *a = e->in[0], *b = e->in[1];
    const Ctx *c = e->ctx;
    const float *dc = e->out->grad;
    const TapeMatmul *mm = &e->args.matmul;
    int ta = mm->trans_a, tb = mm->trans_b, m = mm->m, n = mm->n, k = mm->k;
    int lda = a->dims[1], ldb = b->dims[1];
    if (a->grad) {
        if (!ta) bk_gemm(c, 0, !tb, m, k, n, 1.0f, dc, n, b->data, ldb, 1.0f, a->grad, lda);
        else bk_gemm(c, tb, 1, k, m, n, 1.0f, b->data, ldb, dc, n, 1.0f, a->grad, lda);
    }
    if (b->grad) {
        if (!tb) bk_gemm(c, !ta, 0, k, n, m, 1.0f, a->data, lda, dc, n, 1.0f, b->grad, ldb);
        else bk_gemm(c, 1, ta, n, k, m, 1.0f, dc, n, a->data, lda, 1.0f, b->grad, ldb);
    }
}

Tensor *op_matmul(Ctx *c, Tensor *a, Tensor *b, int trans_a, int trans_b)
{
    CHECK(a->ndim == 2 && b->ndim == 2, "op_matmul: operands must be 2-D");
    int m = trans_a ? a->dims[1] : a->dims[0];
    int k = trans_a ? a->dims[0] : a->dims[1];
    int kb = trans_b ? b->dims[1] : b->dims[0];
    int n = trans_b ? b->dims[0] : b->dims[1];
    CHECK(k == kb, "op_matmul: inner dimensions %d and %d differ", k, kb);
    Tensor *ins[2] = {a, b};
    int g = ctx_any_grad(c, 2, ins);
    int dims[2] = {m, n};
    Tensor *y = ctx_tensor(c, 2, dims, g);
    bk_gemm(c, trans_a, trans_b, m, n, k, 1.0f, a->data, a->dims[1], b->data, b->dims[1], 0.0f, y->data, n);
    if (g) {
        TapeEntry *e = ctx_record(c, matmul_backward, y);
        e->in[0] = a;
        e->in[1] = b;
        e->args.matmul = (TapeMatmul){.trans_a = !!trans_a, .trans_b = !!trans_b, .m = m, .n = n, .k = k};
    }
    return y;
}
