/* GECCO's two batch-coupled ops (docs/models.md 3.1-3.3, backward 3.6):
 *
 *  - op_gated_graph_conv: PyG ResGatedGraphConv over the batch graph.
 *    GRAPH_SELFLOOP reproduces the reference code, whose edge list is the B
 *    self-loops (i, i) each repeated B times, so the summed message is
 *    B * sigmoid(k_i + q_i) v_i; GRAPH_COMPLETE is the intended complete
 *    graph, out_i gets sum_j sigmoid(k_i + q_j) v_j.
 *  - op_batch_attention: y = A x + x with A = S / rowsum(S), S = sigmoid(x x^T).
 *
 * Matrix products go through bk_gemm (oneDNN or cuBLAS); per-element
 * math lives in gecco_math.h, shared with the CUDA twins in cuda/gecco.cu.
 * Buffers the backward needs (k, q, v, scratch for their gradients) are
 * taken from the arena during the forward, so the backward never allocates. */
#include "backend.h"
#include "dense_math.h"
#include "gecco_math.h"
#include "ops.h"
#include "util.h"

/* ---- dense pieces (row-major) ---------------------------------------------- */

static void add_bias_rows_cpu(float *y, const float *b, int rows, int fout)
{
    for (int i = 0; i < rows; i++)
        for (int f = 0; f < fout; f++) y[(long)i * fout + f] += b[f];
}

/* y[rows, fout] = x[rows, fin] w[fout, fin]^T (+ b). */
static void dense_rows(const Ctx *c, const float *x, const Tensor *w, const Tensor *b,
                       int rows, int fin, int fout, float *y)
{
    bk_gemm(c, 0, 1, rows, fout, fin, 1.0f, x, fin, w->data, fin, 0.0f, y, fout);
    if (!b) return;
    if (ON_CUDA(c)) CUDA_ONLY(cuda_add_rows(c->cuda, y, b->data, rows, fout));
    else add_bias_rows_cpu(y, b->data, rows, fout);
}

static void bias_grad_cpu(const float *dy, int rows, int fout, float *db)
{
    for (int f = 0; f < fout; f++) db[f] += col_sum_double(dy, rows, fout, f);
}

/* dw[fout, fin] += dy[rows, fout]^T x[rows, fin]; db[fout] += colsum(dy). */
static void dense_param_grads(const Ctx *c, const float *dy, const float *x, Tensor *w, Tensor *b,
                              int rows, int fin, int fout)
{
    if (w && w->grad) bk_gemm(c, 1, 0, fout, fin, rows, 1.0f, dy, fout, x, fin, 1.0f, w->grad, fin);
    if (!b || !b->grad) return;
    if (ON_CUDA(c)) CUDA_ONLY(cuda_col_sums_double(c->cuda, dy, rows, fout, b->grad));
    else bias_grad_cpu(dy, rows, fout, b->grad);
}

/* dx[rows, fin] += dy[rows, fout] w[fout, fin]. */
static void dense_input_grad(const Ctx *c, const float *dy, const Tensor *w, float *dx,
                             int rows, int fin, int fout)
{
    bk_gemm(c, 0, 0, rows, fin, fout, 1.0f, dy, fout, w->data, fin, 1.0f, dx, fin);
}

/* ---- gated graph convolution ---------------------------------------------- */

/* Tape layout: in = {x, key_w, key_b, query_w, query_b, value_w, value_b,
 * skip_w, bias}; aux[0] = k,q,v as [3, B, F_out]; aux[1] = scratch of the
 * same shape for dk, dq, dv; args.graph.mode = GraphMode. */
enum { GC_X, GC_KW, GC_KB, GC_QW, GC_QB, GC_VW, GC_VB, GC_SW, GC_BIAS, GC_NIN };

static void check_dense_weight(const Tensor *w, const Tensor *b, int fin, int fout,
                               const char *name)
{
    CHECK(w && w->ndim == 2 && w->dims[1] == fin && w->dims[0] == fout,
          "gated_graph_conv: %s weight must be [%d, %d]", name, fout, fin);
    CHECK(!b || b->numel == fout, "gated_graph_conv: %s bias has %ld values, want %d",
          name, b->numel, fout);
}

/* out_i += B * message(k_i, q_i, v_i): the B repeated self-loops of 3.2. */
static void selfloop_messages(const float *k, const float *q, const float *v,
                              int rows, int fout, float *out)
{
    long n = (long)rows * fout;
    float mult = (float)rows;
    #pragma omp parallel for if (n >= PAR_MIN) schedule(static)
    for (long t = 0; t < n; t++) out[t] += mult * gated_message(k[t], q[t], v[t]);
}

/* out_i += sum_j message(k_i, q_j, v_j), over every ordered pair (i, j). */
static void complete_messages(const float *k, const float *q, const float *v,
                              int rows, int fout, float *out)
{
    #pragma omp parallel for if ((long)rows * rows * fout >= PAR_MIN) schedule(static)
    for (int i = 0; i < rows; i++)
        for (int f = 0; f < fout; f++) {
            long t = (long)i * fout + f;
            out[t] = complete_message_sum(k[t], q, v, rows, fout, f, out[t]);
        }
}

/* Self-loop backward (3.6): dv = B s g, dk = dq = B g v s (1 - s). dq is
 * not stored: the caller uses dk for both. */
static void selfloop_backward(const float *k, const float *q, const float *v, const float *g,
                              int rows, int fout, float *dk, float *dv)
{
    long n = (long)rows * fout;
    float mult = (float)rows;
    #pragma omp parallel for if (n >= PAR_MIN) schedule(static)
    for (long t = 0; t < n; t++) gated_message_bwd(k[t], q[t], v[t], mult * g[t], &dv[t], &dk[t]);
}

/* Complete-graph backward (3.6), with d_ij = g_i v_j e_ij (1 - e_ij):
 * dk_i = sum_j d_ij, dq_j = sum_i d_ij, dv_j = sum_i e_ij g_i. Two passes,
 * one parallel over targets i and one over sources j, so no two threads
 * write the same row (the gates are recomputed instead of stored: B^2 F). */
static void complete_backward(const float *k, const float *q, const float *v, const float *g,
                              int rows, int fout, float *dk, float *dq, float *dv)
{
    #pragma omp parallel for if ((long)rows * rows * fout >= PAR_MIN) schedule(static)
    for (int i = 0; i < rows; i++)
        for (int f = 0; f < fout; f++) {
            long t = (long)i * fout + f;
            dk[t] = complete_dk(k[t], g[t], q, v, rows, fout, f);
        }
    #pragma omp parallel for if ((long)rows * rows * fout >= PAR_MIN) schedule(static)
    for (int j = 0; j < rows; j++)
        for (int f = 0; f < fout; f++) {
            long t = (long)j * fout + f;
            complete_dq_dv(q[t], v[t], k, g, rows, fout, f, &dq[t], &dv[t]);
        }
}

static void gated_graph_conv_backward(TapeEntry *e)
{
    Tensor *const *in = e->in;
    const float *x = in[GC_X]->data, *g = e->out->grad;
    int rows = in[GC_X]->dims[0], fin = in[GC_X]->dims[1], fout = e->out->dims[1];
    long plane = (long)rows * fout;
    const float *k = e->aux[0]->data, *q = k + plane, *v = q + plane;
    float *dk = e->aux[1]->data, *dq = dk + plane, *dv = dq + plane;
    const Ctx *c = e->ctx;
    if (e->args.graph.mode == GRAPH_SELFLOOP) {
        if (ON_CUDA(c)) CUDA_ONLY(cuda_selfloop_backward(c->cuda, k, q, v, g, rows, fout, dk, dv));
        else selfloop_backward(k, q, v, g, rows, fout, dk, dv);
        dq = dk;   /* identical in the self-loop graph */
    } else {
        if (ON_CUDA(c)) CUDA_ONLY(cuda_complete_backward(c->cuda, k, q, v, g, rows, fout, dk, dq, dv));
        else complete_backward(k, q, v, g, rows, fout, dk, dq, dv);
    }
    const float *dys[4] = {dk, dq, dv, g};
    for (int m = 0; m < 4; m++) {
        Tensor *w = in[GC_KW + 2 * m];
        Tensor *b = m < 3 ? in[GC_KB + 2 * m] : in[GC_BIAS];
        dense_param_grads(e->ctx, dys[m], x, w, b, rows, fin, fout);
        if (in[GC_X]->grad) dense_input_grad(e->ctx, dys[m], w, in[GC_X]->grad, rows, fin, fout);
    }
}

Tensor *op_gated_graph_conv(Ctx *c, Tensor *x, const GatedGraphWeights *w, GraphMode mode)
{
    CHECK(x->ndim == 2, "gated_graph_conv: input rank %d (want 2)", x->ndim);
    CHECK(mode == GRAPH_SELFLOOP || mode == GRAPH_COMPLETE, "gated_graph_conv: mode %d", (int)mode);
    int rows = x->dims[0], fin = x->dims[1];
    CHECK(w->skip_w, "gated_graph_conv: skip weight missing");
    int fout = w->skip_w->dims[0];
    check_dense_weight(w->key_w, w->key_b, fin, fout, "key");
    check_dense_weight(w->query_w, w->query_b, fin, fout, "query");
    check_dense_weight(w->value_w, w->value_b, fin, fout, "value");
    check_dense_weight(w->skip_w, w->bias, fin, fout, "skip");

    int kqv_dims[3] = {3, rows, fout}, out_dims[2] = {rows, fout};
    Tensor *kqv = ctx_tensor(c, 3, kqv_dims, 0);
    long plane = (long)rows * fout;
    float *k = kqv->data, *q = k + plane, *v = q + plane;
    dense_rows(c, x->data, w->key_w, w->key_b, rows, fin, fout, k);
    dense_rows(c, x->data, w->query_w, w->query_b, rows, fin, fout, q);
    dense_rows(c, x->data, w->value_w, w->value_b, rows, fin, fout, v);

    Tensor *ins[GC_NIN] = {x, w->key_w, w->key_b, w->query_w, w->query_b,
                           w->value_w, w->value_b, w->skip_w, w->bias};
    int needs_grad = ctx_any_grad(c, GC_NIN, ins);
    Tensor *out = ctx_tensor(c, 2, out_dims, needs_grad);
    dense_rows(c, x->data, w->skip_w, w->bias, rows, fin, fout, out->data);
    if (ON_CUDA(c)) {
        if (mode == GRAPH_SELFLOOP) CUDA_ONLY(cuda_selfloop_messages(c->cuda, k, q, v, rows, fout, out->data));
        else CUDA_ONLY(cuda_complete_messages(c->cuda, k, q, v, rows, fout, out->data));
    } else if (mode == GRAPH_SELFLOOP) {
        selfloop_messages(k, q, v, rows, fout, out->data);
    } else {
        complete_messages(k, q, v, rows, fout, out->data);
    }

    if (needs_grad) {
        TapeEntry *e = ctx_record(c, gated_graph_conv_backward, out);
        for (int i = 0; i < GC_NIN; i++) e->in[i] = ins[i];
        e->aux[0] = kqv;
        e->aux[1] = ctx_tensor(c, 3, kqv_dims, 0);
        e->args.graph.mode = (int)mode;
    }
    return out;
}

/* ---- batch attention ------------------------------------------------------ */

/* Tape layout: in[0] = x; aux = {S [B,B], A [B,B], r [B], scratch [B,B]}. */

/* dG from dA (in place), row by row: attention_dlogit with each row's
 * sum_l A_il dA_il. */
static void attention_dlogits_cpu(const float *a, const float *s, const float *r, float *dg, int rows)
{
    #pragma omp parallel for if ((long)rows * rows >= PAR_MIN) schedule(static)
    for (int i = 0; i < rows; i++)
        attention_dlogits_row(a + (long)i * rows, s + (long)i * rows, r[i], dg + (long)i * rows, rows);
}

static void batch_attention_backward(TapeEntry *e)
{
    Tensor *xt = e->in[0];
    if (!xt->grad) return;
    const Ctx *c = e->ctx;
    int rows = xt->dims[0], d = xt->dims[1];
    const float *x = xt->data, *dy = e->out->grad;
    const float *s = e->aux[0]->data, *a = e->aux[1]->data, *r = e->aux[2]->data;
    float *dx = xt->grad, *dg = e->aux[3]->data;
    /* Residual and value paths: dX += dY + A^T dY. */
    bk_add_into(c, dx, dy, (long)rows * d);
    bk_gemm(c, 1, 0, rows, d, rows, 1.0f, a, rows, dy, d, 1.0f, dx, d);
    /* dA = dY X^T, then through the row normalisation and the sigmoid. */
    bk_gemm(c, 0, 1, rows, rows, d, 1.0f, dy, d, x, d, 0.0f, dg, rows);
    if (ON_CUDA(c)) CUDA_ONLY(cuda_attention_dlogits(c->cuda, a, s, r, dg, rows));
    else attention_dlogits_cpu(a, s, r, dg, rows);
    /* G = X X^T uses X on both sides: dX += dG X + dG^T X. */
    bk_gemm(c, 0, 0, rows, d, rows, 1.0f, dg, rows, x, d, 1.0f, dx, d);
    bk_gemm(c, 1, 0, rows, d, rows, 1.0f, dg, rows, x, d, 1.0f, dx, d);
}

/* s holds x x^T; becomes sigmoid of it; row sums into r, A = S / r into a. */
static void attention_weights_cpu(float *s, float *a, float *r, int rows)
{
    #pragma omp parallel for if ((long)rows * rows >= PAR_MIN) schedule(static)
    for (int i = 0; i < rows; i++) r[i] = attention_weights_row(s + (long)i * rows, a + (long)i * rows, rows);
}

Tensor *op_batch_attention(Ctx *c, Tensor *x)
{
    CHECK(x->ndim == 2, "batch_attention: input rank %d (want 2)", x->ndim);
    int rows = x->dims[0], d = x->dims[1];
    int sq[2] = {rows, rows};
    Tensor *s = ctx_tensor(c, 2, sq, 0), *a = ctx_tensor(c, 2, sq, 0);
    Tensor *r = ctx_tensor(c, 1, &rows, 0);
    bk_gemm(c, 0, 1, rows, rows, d, 1.0f, x->data, d, x->data, d, 0.0f, s->data, rows);
    if (ON_CUDA(c)) CUDA_ONLY(cuda_attention_weights(c->cuda, s->data, a->data, r->data, rows));
    else attention_weights_cpu(s->data, a->data, r->data, rows);

    int needs_grad = ctx_any_grad(c, 1, &x);
    Tensor *y = ctx_tensor_like(c, x, needs_grad);
    bk_copy(c, y->data, x->data, x->numel);
    bk_gemm(c, 0, 0, rows, d, rows, 1.0f, a->data, rows, x->data, d, 1.0f, y->data, d);
    if (needs_grad) {
        TapeEntry *e = ctx_record(c, batch_attention_backward, y);
        e->in[0] = x;
        e->aux[0] = s;
        e->aux[1] = a;
        e->aux[2] = r;
        e->aux[3] = ctx_tensor(c, 2, sq, 0);
    }
    return y;
}
