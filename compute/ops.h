/* Differentiable ops, on the ctx's backend: the CPU (oneDNN for GEMM and convolution,
 * OpenMP elsewhere) or CUDA (cuBLAS, kernels in cuda/<family>.cu; see
 * backend.h for the dispatch and docs/cuda.md for adding an op).
 *
 * Contract for every op:
 *  - the output is a new arena tensor; it gets a grad buffer (and a tape
 *    entry) iff some input has one (ctx_any_grad);
 *  - backward ACCUMULATES into the grads of inputs that have one;
 *  - semantics follow PyTorch's layer of the same name (docs/models.md section 1).
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
/* relu(op_conv2d(...)) in one op (on the CPU a oneDNN post-op): the same
 * values as op_relu of op_conv2d (a clipped output may be -0.0) and the same
 * gradients, bit for bit, without the tensor between them. */
Tensor *op_conv2d_relu(Ctx *c, Tensor *x, Tensor *w, Tensor *b, int stride, int pad);
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
/* relu(op_batchnorm(...)) in one op: the same bits on the CPU, one pass
 * over the activation less each way and no tensor between the two. */
Tensor *op_batchnorm_relu(Ctx *c, Tensor *x, Tensor *gamma, Tensor *beta,
                          float *running_mean, float *running_var,
                          float momentum, float eps);
/* Each row of a 2-D tensor divided by its sum. */
Tensor *op_row_normalize(Ctx *c, Tensor *x);

/* ---- element-wise --------------------------------------------------------- */
Tensor *op_relu(Ctx *c, Tensor *x);
Tensor *op_sigmoid(Ctx *c, Tensor *x);
Tensor *op_add(Ctx *c, Tensor *a, Tensor *b);          /* same shape */
/* relu(a + b) in one op (a residual block's end): bit for bit op_relu of
 * op_add on the CPU, without the tensor between them. */
Tensor *op_add_relu(Ctx *c, Tensor *a, Tensor *b);
Tensor *op_mul(Ctx *c, Tensor *a, Tensor *b);          /* same shape */
/* y = s x for a constant s (torch's x * s with a Python float). */
Tensor *op_scale(Ctx *c, Tensor *x, float s);
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

/* ---- GECCO (docs/models.md 3.1-3.3, backward 3.6) ------------------------------ */
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

/* ---- axis ops: softmax, concat, slice (ops_softmax.c, ops_shape.c) -------- */
/* Negative axes count from the end, as in PyTorch (-1 = last). */
/* Softmax over one axis of a tensor of any rank (torch.softmax(x, axis)). */
Tensor *op_softmax(Ctx *c, Tensor *x, int axis);
/* torch.cat(xs[0..n), axis): same rank, same dims except along axis. */
Tensor *op_concat(Ctx *c, int n, Tensor *const *xs, int axis);
/* A copy of x[..., start:start+length, ...] along axis (torch.narrow). */
Tensor *op_slice(Ctx *c, Tensor *x, int axis, int start, int length);
/* ---- ResNet and Efficient-CapsNet (docs/models.md sections 6, 7) --------------- */
/* op_maxpool2d with zero-or-more padding: padded positions count as -inf
 * (PyTorch MaxPool2d(k, stride, padding)); pad <= k/2.
 * op_maxpool2d(c, x, k, s) is op_maxpool2d_pad(c, x, k, s, 0). */
Tensor *op_maxpool2d_pad(Ctx *c, Tensor *x, int k, int stride, int pad);
/* Mean over H, W: x[N,C,H,W] -> y[N,C] (AdaptiveAvgPool2d(1) + flatten). */
Tensor *op_global_avgpool(Ctx *c, Tensor *x);
/* Depthwise convolution (groups = C, one filter per channel):
 * x[N,C,H,W], w[C,1,kh,kw], b[C] or NULL; zero padding; floor output size.
 * y[n,c] = b[c] + sum_ij w[c,0,i,j] x[n, c, oh*s - p + i, ow*s - p + j]. */
Tensor *op_depthwise_conv2d(Ctx *c, Tensor *x, Tensor *w, Tensor *b, int stride, int pad);
/* Efficient-CapsNet squash of every vector along the LAST dimension:
 * v = (1 - 1/(exp(n) + eps)) s / (n + eps), n = ||s||. Smooth at n = 0
 * (v = 0 there, gradient eps/(1+eps)/eps ~ identity, never NaN); see
 * caps_math.h. */
Tensor *op_squash(Ctx *c, Tensor *s, float eps);
/* Capsule predictions: u[B,J,I] (J input capsules of I dims), W[K,J,I,D]
 * -> uhat[B,K,J,D] = sum_i u[b,j,i] W[k,j,i,:]. */
Tensor *op_caps_predict(Ctx *c, Tensor *u, Tensor *w);
/* Self-attention routing (Efficient-CapsNet FCCaps), per sample:
 *   S_k = sum_j uhat[k,j];  a[k,j] = uhat[k,j] . S_k / sqrt(D);
 *   C[:,j] = softmax over k of a[:,j];  s_k = sum_j (C[k,j] + prior[k,j]) uhat[k,j].
 * uhat[B,K,J,D], prior of K*J values (any shape, e.g. [K,J,1]) -> s[B,K,D]
 * (before the squash). Not stop-gradient: everything is differentiated. */
Tensor *op_caps_routing(Ctx *c, Tensor *uhat, Tensor *prior);
/* Capsule lengths sqrt(||v||^2 + eps) along the last dimension:
 * v[B,K,D] -> [B,K] (eps keeps the gradient v/len finite at v = 0). */
Tensor *op_caps_length(Ctx *c, Tensor *v, float eps);
/* Margin loss on lengths len[B,K], mean over the batch of
 *   sum_k T_k max(0, m_pos - len_k)^2 + lambda (1 - T_k) max(0, len_k - m_neg)^2. */
Tensor *op_margin_loss(Ctx *c, Tensor *len, const int *labels, float m_pos, float m_neg, float lambda);
/* Decoder input: v[B,K,D] -> [B,K*D], zero except capsule select[b] of
 * each row (the true class in training, the longest one at test). Gradient
 * flows to the selected capsule only. */
Tensor *op_caps_mask(Ctx *c, Tensor *v, const int *select);
/* Mean squared error over all elements; pred and target need the same
 * element count (shapes may differ, e.g. [B,784] vs [B,1,28,28]). Gradient
 * to whichever has one. Returns [1]. */
Tensor *op_mse(Ctx *c, Tensor *pred, Tensor *target);

/* ---- non-differentiable helpers ------------------------------------------ */
/* Number of rows whose arg-max (first on ties) equals the label. */
int count_correct(const Tensor *logits, const int *labels);
/* Arg-max (first on ties) of each row into pred[N]. */
void argmax_rows(const Tensor *logits, int *pred);
/* The same on the ctx's device (pred in the ctx's memory; on CUDA,
 * correct counts are summed on the device too: cuda_accumulate_totals). */
void op_argmax_rows(Ctx *c, const Tensor *logits, int *pred);

#endif
