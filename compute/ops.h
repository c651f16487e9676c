/* Differentiable ops, on the ctx's backend: the CPU (OpenBLAS for GEMM,
 * OpenMP elsewhere) or CUDA (cuBLAS, kernels in cuda/<family>.cu; see
 * backend.h for the dispatch and docs/cuda.md for adding an op).
 *
 * Contract for every op:
 *  - the output is a new arena tensor; it gets a grad buffer (and a tape
 *    entry) iff some input has one (ctx_any_grad);
 *  - backward ACCUMULATES into the grads of inputs that have one;
 *  - semantics follow PyTorch's layer of the same name (MODELS.md section 1).
 * One file per op family: ops_<family>.c. */
#ifndef SWEEPRUN_OPS_H
#define SWEEPRUN_OPS_H
#include "ctx.h"

/* ---- dense ---------------------------------------------------------------- */
/* y[N,out] = x[N,in] w[out,in]^T + b[out]; x may have any rank, its rows being
 * dims[0] and its row size in. b may be NULL. */
Tensor *op_linear(Ctx *c, Tensor *x, Tensor *w, Tensor *b);
/* y = op(a) op(b), 2-D only; trans_* transposes that operand. */
Tensor *op_matmul(Ctx *c, Tensor *a, Tensor *b, int trans_a, int trans_b);

/* ---- convolution and pooling (NCHW) --------------------------------------- */
/* x[N,C,H,W], w[K,C,kh,kw], b[K] or NULL; zero padding; floor output size. */
Tensor *op_conv2d(Ctx *c, Tensor *x, Tensor *w, Tensor *b, int stride, int pad);
/* Max over k x k windows, stride s, no padding, floor output size; windows may
 * overlap (3x3 stride 2). Backward: gradient to the first max of each window,
 * accumulated where windows overlap. */
Tensor *op_maxpool2d(Ctx *c, Tensor *x, int k, int stride);
/* Max over windows of the LAST dimension (PyTorch MaxPool1d on a (C, L) or
 * (N, C, L) tensor: every leading index is an independent channel). */
Tensor *op_maxpool1d(Ctx *c, Tensor *x, int k, int stride);

/* ---- normalisation -------------------------------------------------------- */
/* Batch norm over dim 0 (and H, W for 4-D input): x[N,C] or x[N,C,H,W].
 * Training: normalise with the biased batch variance; update
 * running = (1-momentum)*running + momentum*batch, with the UNBIASED variance
 * for running_var. Evaluation: normalise with the running statistics.
 * running_mean/var point into the model's buffer memory. */
Tensor *op_batchnorm(Ctx *c, Tensor *x, Tensor *gamma, Tensor *beta,
                     float *running_mean, float *running_var,
                     float momentum, float eps);
/* Each row of a 2-D tensor divided by its sum. */
Tensor *op_row_normalize(Ctx *c, Tensor *x);

/* ---- element-wise --------------------------------------------------------- */
Tensor *op_relu(Ctx *c, Tensor *x);
Tensor *op_sigmoid(Ctx *c, Tensor *x);
Tensor *op_add(Ctx *c, Tensor *a, Tensor *b);          /* same shape */
Tensor *op_mul(Ctx *c, Tensor *a, Tensor *b);          /* same shape */
/* Inverted dropout: in training keep with prob 1-p and scale by 1/(1-p); the
 * mask comes from the counter RNG (stream RNG_STREAM_DROPOUT, indices
 * c->rng_offset .. +numel, after which rng_offset advances). Identity when
 * not training or p == 0. */
Tensor *op_dropout(Ctx *c, Tensor *x, float p);
/* A view with new dims, sharing data and grad (no copy, no tape entry). */
Tensor *op_reshape(Ctx *c, Tensor *x, int ndim, const int *dims);
Tensor *op_flatten(Ctx *c, Tensor *x);                 /* [N, rest] */

/* ---- loss ----------------------------------------------------------------- */
/* Mean over the batch of -log softmax(logits)_y; logits[N,K]; returns [1]. */
Tensor *op_cross_entropy(Ctx *c, Tensor *logits, const int *labels);

/* ---- GECCO (MODELS.md 3.1-3.3, backward 3.6) ------------------------------ */
typedef enum { GRAPH_SELFLOOP = 0, GRAPH_COMPLETE = 1 } GraphMode;
/* PyG ResGatedGraphConv(F_in, F_out) over the batch graph of x[B,F_in]:
 *   k = x Wk^T + bk, q = x Wq^T + bq, v = x Wv^T + bv
 *   selfloop:  out_i = Ws x_i + bias + B * sigmoid(k_i + q_i) (.) v_i
 *              (the reference code's B repeated self-loops)
 *   complete:  out_i = Ws x_i + bias + sum_j sigmoid(k_i + q_j) (.) v_j
 * Weights [F_out, F_in]; Ws has no bias; bias [F_out]. */
typedef struct GatedGraphWeights {
    Tensor *key_w, *key_b, *query_w, *query_b, *value_w, *value_b, *skip_w, *bias;
} GatedGraphWeights;
Tensor *op_gated_graph_conv(Ctx *c, Tensor *x, const GatedGraphWeights *w, GraphMode mode);
/* GECCO's parameter-free batch attention on x[B,D]:
 *   S = sigmoid(x x^T); A = S / rowsum(S); y = A x + x. */
Tensor *op_batch_attention(Ctx *c, Tensor *x);

/* ---- non-differentiable helpers ------------------------------------------ */
/* Number of rows whose arg-max (first on ties) equals the label. */
int count_correct(const Tensor *logits, const int *labels);
/* Arg-max (first on ties) of each row into pred[N]. */
void argmax_rows(const Tensor *logits, int *pred);
/* The same on the ctx's device (pred in the ctx's memory; on CUDA,
 * correct counts are summed on the device too: cuda_accumulate_totals). */
void op_argmax_rows(Ctx *c, const Tensor *logits, int *pred);

#endif
