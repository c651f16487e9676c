/* The CUDA backend's C interface: every function here is callable from C
 * and defined in one compute/cuda/<family>.cu, the GPU twin of
 * compute/ops_<family>.c (Darknet style). Only compute/ includes it, and
 * only under SWEEPRUN_HAVE_CUDA (backend.h's ON_CUDA / CUDA_ONLY), plus the
 * trainer's CUDA path (runner/train/trainer_cuda.c).
 *
 * Conventions:
 *  - pointers are device pointers unless the name says host;
 *  - everything is enqueued on the backend's one stream, asynchronously,
 *    and may be captured in a CUDA graph, except the functions marked
 *    "waits" (copies to the host, allocation, synchronisation);
 *  - nothing here allocates device memory per call except cuda_malloc;
 *  - a CUDA error is fatal: "sweeprun: CUDA error in <call>: <reason>" and
 *    abort (an error in a kernel is a bug, not bad input);
 *  - reductions that feed gradients or statistics have one fixed order
 *    (no floating-point atomics), so a run is bitwise repeatable on the
 *    same GPU. */
#ifndef SWEEPRUN_CUDA_OPS_H
#define SWEEPRUN_CUDA_OPS_H
#include "../conv_math.h"
#include <stddef.h>
#include <stdint.h>
#include "augment_math.h"
#include "caps_math.h"
#include "depthwise_math.h"
#include "optim_math.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- backend.cu: device, stream, cuBLAS, memory, graphs ------------------- */

typedef struct CudaBackend CudaBackend;
/* Select device `device`, create a non-blocking stream, a cuBLAS handle on
 * it with a fixed workspace (so cuBLAS never allocates inside a captured
 * graph) and math mode FP32 (TF32 tensor cores only with tf32 = 1).
 * NULL with a one-line reason in err when the device cannot be used. */
CudaBackend *cuda_backend_create(int device, int tf32, char *err, int err_size);
void cuda_backend_free(CudaBackend *cu);
void *cuda_backend_stream(const CudaBackend *cu);   /* the cudaStream_t */
/* "cuda:0: NVIDIA H100 80GB HBM3 (sm_90, 79 GiB)" */
void cuda_backend_describe(const CudaBackend *cu, char *buf, int size);

void *cuda_malloc(size_t bytes);                     /* waits; aborts when out of memory */
void cuda_free(void *p);                             /* waits; NULL is fine */
void cuda_memset_async(const CudaBackend *cu, void *p, size_t bytes);   /* zero bytes */
void cuda_copy_to_device(const CudaBackend *cu, void *dst, const void *host_src, size_t bytes); /* waits */
void cuda_copy_to_host(const CudaBackend *cu, void *host_dst, const void *src, size_t bytes);   /* waits */
void cuda_copy_device(const CudaBackend *cu, void *dst, const void *src, size_t bytes);
void cuda_sync(const CudaBackend *cu);                                  /* waits */

/* Stream capture: begin, run the step's host code (which enqueues), end.
 * Any allocation or synchronisation in between is an error CUDA reports
 * at cuda_graph_end (fatal). */
typedef struct CudaGraph CudaGraph;
void cuda_graph_begin(CudaBackend *cu);
CudaGraph *cuda_graph_end(CudaBackend *cu);
void cuda_graph_launch(CudaBackend *cu, CudaGraph *g);
void cuda_graph_free(CudaGraph *g);

/* Row-major C[m,n] = alpha op(A) op(B) + beta C (cublasSgemm on the
 * transposed problem). */
void cuda_gemm(const CudaBackend *cu, int trans_a, int trans_b, long m, long n, long k, float alpha,
               const float *a, long lda, const float *b, long ldb, float beta, float *c, long ldc);
/* Measured FP32 SGEMM rate (FLOP/s) on n x n matrices, best of reps (waits). */
double cuda_peak_sgemm_flops(CudaBackend *cu, int n, int reps);

void cuda_fill(const CudaBackend *cu, float *x, long n, float value);
void cuda_add_into(const CudaBackend *cu, float *dst, const float *src, long n);   /* dst += src */
void cuda_add_scalar(const CudaBackend *cu, float *x, float value);               /* x[0] += value */

/* ---- elementwise.cu (ops_elementwise.c) ----------------------------------- */
void cuda_relu_forward(const CudaBackend *cu, const float *x, float *y, long n);
void cuda_relu_backward(const CudaBackend *cu, const float *x, const float *dy, float *dx, long n);
void cuda_sigmoid_forward(const CudaBackend *cu, const float *x, float *y, long n);
void cuda_sigmoid_backward(const CudaBackend *cu, const float *y, const float *dy, float *dx, long n);
void cuda_add_forward(const CudaBackend *cu, const float *a, const float *b, float *y, long n);
void cuda_mul_forward(const CudaBackend *cu, const float *a, const float *b, float *y, long n);
/* dst = s src, or dst += s src when accumulate (op_scale and its backward). */
void cuda_scale(const CudaBackend *cu, const float *src, float *dst, long n, float s, int accumulate);
/* dx += dy * other */
void cuda_mul_backward(const CudaBackend *cu, const float *dy, const float *other, float *dx, long n);
/* dst[i] (+)= keep(index) ? src[i] * scale : 0 with index = offset + i
 * + (base ? *base : 0): the draw of ops_elementwise.c's dropout_range. */
void cuda_dropout(const CudaBackend *cu, const float *src, float *dst, long n, int accumulate,
                  uint64_t seed, const uint64_t *base, uint64_t offset, float p);

/* ---- dense.cu (ops_dense.c, and the dense parts of ops_gecco.c) ----------- */
void cuda_fill_rows(const CudaBackend *cu, float *y, const float *row, long rows, long cols);  /* y[r,:] = row */
void cuda_add_rows(const CudaBackend *cu, float *y, const float *row, long rows, long cols);   /* y[r,:] += row */
/* out[j] += sum_r x[r,j], summed in float in row order (as ops_dense.c) */
void cuda_col_sums_float(const CudaBackend *cu, const float *x, long rows, long cols, float *out);
/* out[j] += (float) sum_r x[r,j], summed in double in row order (as ops_gecco.c) */
void cuda_col_sums_double(const CudaBackend *cu, const float *x, long rows, long cols, float *out);

/* ---- conv.cu (ops_conv.c) -------------------------------------------------- */
/* The batch goes through one GEMM: columns of all images side by side,
 * col[C*kh*kw, N*OH*OW], and the output first K-major, y_k[K, N*OH*OW]. */
typedef ConvShape CudaConvShape;   /* conv_math.h */
void cuda_im2col(const CudaBackend *cu, CudaConvShape s, const float *x, float *col);
/* dx += the columns folded back (each dx element sums its taps in a fixed order) */
void cuda_col2im_add(const CudaBackend *cu, CudaConvShape s, const float *col, float *dx);
/* y[n,k,p] = y_k[k, n*P + p] + (bias ? bias[k] : 0) */
void cuda_kmajor_to_nchw(const CudaBackend *cu, const float *yk, const float *bias, float *y,
                         int n, int k, long plane);
/* dy_k[k, n*P + p] = dy[n,k,p] */
void cuda_nchw_to_kmajor(const CudaBackend *cu, const float *dy, float *dyk, int n, int k, long plane);
/* out[r] += sum_j x[r,j] (one block per row, fixed-order tree in double) */
void cuda_row_sums_add(const CudaBackend *cu, const float *x, long rows, long cols, float *out);

/* ---- pool.cu (ops_pool.c) -------------------------------------------------- */
/* idx[o] = position of the winner inside its plane (first max, NaN sticks);
 * backward: dx[i] += sum of dy[o] over outputs whose winner is i, in output
 * order (a gather, no atomics: overlapping windows stay deterministic). */
void cuda_maxpool2d_forward(const CudaBackend *cu, const float *x, float *y, int *idx, long planes,
                            int h, int w, int k, int stride, int pad, int oh, int ow);
void cuda_maxpool2d_backward(const CudaBackend *cu, const float *dy, const int *idx, float *dx,
                             long planes, int h, int w, int k, int stride, int pad, int oh, int ow);
void cuda_maxpool1d_forward(const CudaBackend *cu, const float *x, float *y, int *idx, long rows,
                            int len, int k, int stride, int ol);
void cuda_maxpool1d_backward(const CudaBackend *cu, const float *dy, const int *idx, float *dx,
                             long rows, int len, int k, int stride, int ol);
/* y[p] = mean of plane p (double sum in order, one thread per plane: the
 * CPU's bits); dx[i] += dy[i / plane] / plane. */
void cuda_global_avgpool_forward(const CudaBackend *cu, const float *x, float *y, long planes, long plane);
void cuda_global_avgpool_backward(const CudaBackend *cu, const float *dy, float *dx, long planes, long plane);

/* ---- softmax.cu (ops_softmax.c) -------------------------------------------- */
/* Softmax over the middle axis of [outer, len, inner], one thread per line
 * (shape_math.h's softmax_line_fwd / _bwd); backward: dx += ... */
void cuda_softmax_forward(const CudaBackend *cu, const float *x, float *y, long outer, long len, long inner);
void cuda_softmax_backward(const CudaBackend *cu, const float *y, const float *dy, float *dx, long outer,
                           long len, long inner);

/* ---- shape.cu (ops_shape.c) ------------------------------------------------ */
/* For o < outer, j < count, i < inner:
 * dst[o, dst_start + j, i] (+)= src[o, src_start + j, i], with axis lengths
 * src_len and dst_len ([outer, len, inner] views, shape_math.h). Each dst
 * element is written by one thread. */
void cuda_axis_copy(const CudaBackend *cu, const float *src, float *dst, long outer, long inner, long count,
                    long src_len, long src_start, long dst_len, long dst_start, int accumulate);

/* ---- depthwise.cu (ops_depthwise.c) ---------------------------------------- */
/* y = depthwise conv (bias may be NULL), one thread per output
 * (depthwise_math.h's dw_output). Backward gathers, in the CPU's order:
 * dx per input element, dw per (channel, tap) summing over images and
 * outputs, db per channel; each gradient pointer may be NULL. */
void cuda_depthwise_forward(const CudaBackend *cu, DwGeom g, const float *x, const float *w, const float *b,
                            float *y);
void cuda_depthwise_backward(const CudaBackend *cu, DwGeom g, const float *x, const float *w, const float *dy,
                             float *dx, float *dw, float *db);

/* ---- caps.cu (ops_caps.c) -------------------------------------------------- */
/* Per-row / per-sample / per-element functions of caps_math.h, one thread
 * each; gradients accumulate, and any gradient pointer may be NULL.
 * labels and select are device memory; dloss (the loss's gradient) is read
 * on the device. */
void cuda_squash_forward(const CudaBackend *cu, const float *s, float *v, long rows, int d, float eps);
void cuda_squash_backward(const CudaBackend *cu, const float *s, const float *dv, float *ds, long rows, int d,
                          float eps);
void cuda_caps_predict_forward(const CudaBackend *cu, PredGeom g, const float *u, const float *w, float *y);
void cuda_caps_predict_backward(const CudaBackend *cu, PredGeom g, const float *u, const float *w,
                                const float *dy, float *du, float *dw);
/* sums [B,K,D], coupling [B,K,J] are kept for backward; dcp, dz [B,K,J]
 * and gk [B,D] are backward's scratch. */
void cuda_caps_routing_forward(const CudaBackend *cu, RouteGeom g, const float *uhat, const float *prior,
                               float *sums, float *coupling, float *s);
void cuda_caps_routing_backward(const CudaBackend *cu, RouteGeom g, const float *uhat, const float *prior,
                                const float *sums, const float *coupling, const float *ds, float *duhat,
                                float *dprior, float *dcp, float *dz, float *gk);
void cuda_caps_length_forward(const CudaBackend *cu, const float *v, float *len, long rows, int d, float eps);
void cuda_caps_length_backward(const CudaBackend *cu, const float *v, const float *len, const float *dlen,
                               float *dv, long rows, int d);
/* loss[0] = mean over rows of margin_row (one block, rows in double, a
 * fixed tree). */
void cuda_margin_forward(const CudaBackend *cu, const float *len, const int *labels, int n, int k,
                         MarginParams mp, float *loss);
void cuda_margin_backward(const CudaBackend *cu, const float *len, const int *labels, int n, int k,
                          MarginParams mp, const float *dloss, float *dlen);
void cuda_caps_mask_forward(const CudaBackend *cu, const float *v, const int *select, float *y, int n, int k,
                            int d);
void cuda_caps_mask_backward(const CudaBackend *cu, const float *dy, const int *select, float *dv, int n, int k,
                             int d);
/* loss[0] = mean of (p - t)^2 (one block, double, a fixed tree). */
void cuda_mse_forward(const CudaBackend *cu, const float *p, const float *t, long n, float *loss);
void cuda_mse_backward(const CudaBackend *cu, const float *p, const float *t, const float *dloss, float *dp,
                       float *dt, long n);

/* ---- augment.cu (augment.c) ------------------------------------------------ */
/* dst = (augment(src) - mean) / std for n images of h x w raw intensities
 * (src: a gather with mean 0, std 1). Image i gets augment_draw(spec, seed,
 * first + i) with first = (epoch_base ? *epoch_base : 0)
 * + (batch ? *batch * batch_size : 0) + start: the CPU's counter
 * epoch * n_train + position in the epoch, read from device memory so a
 * replayed graph takes the next batch. One block per image. */
void cuda_augment_batch(const CudaBackend *cu, AugmentSpec spec, uint64_t seed, const long long *epoch_base,
                        const long long *batch, int batch_size, long start, const float *src, float *dst, int n,
                        int h, int w, float mean, float std);

/* ---- norm.cu (ops_norm.c) -------------------------------------------------- */
/* Batch statistics per channel of x[N, C, hw] (double sums, one block per
 * channel) and PyTorch's running-stat update (run_* may be NULL). */
void cuda_bn_batch_stats(const CudaBackend *cu, const float *x, int n, int c, long hw, float momentum,
                         float eps, float *mean, float *invstd, float *run_mean, float *run_var);
/* Evaluation: mean = running_mean, invstd = 1/sqrt(running_var + eps). */
void cuda_bn_running_stats(const CudaBackend *cu, const float *run_mean, const float *run_var, int c,
                           float eps, float *mean, float *invstd);
void cuda_bn_apply(const CudaBackend *cu, const float *x, int n, int c, long hw, const float *mean,
                   const float *invstd, const float *gamma, const float *beta, float *y);
/* dgamma/dbeta/dx accumulate; any may be NULL; gamma NULL means 1. */
void cuda_bn_backward(const CudaBackend *cu, const float *x, const float *dy, int n, int c, long hw,
                      const float *mean, const float *invstd, const float *gamma, int batch_stats,
                      float *dgamma, float *dbeta, float *dx);
void cuda_row_normalize_forward(const CudaBackend *cu, const float *x, float *y, int rows, int cols);
void cuda_row_normalize_backward(const CudaBackend *cu, const float *x, const float *y, const float *dy,
                                 float *dx, int rows, int cols);

/* ---- loss.cu (ops_loss.c) -------------------------------------------------- */
/* loss[0] = mean_i (logsumexp(z_i) - z_i[y_i]), rows in double */
void cuda_cross_entropy_forward(const CudaBackend *cu, const float *z, const int *labels, int n, int k,
                                float *loss);
/* dz += dloss[0] / n * (softmax - onehot) */
void cuda_cross_entropy_backward(const CudaBackend *cu, const float *z, const int *labels, int n, int k,
                                 const float *dloss, float *dz);
void cuda_argmax_rows(const CudaBackend *cu, const float *z, int n, int k, int *pred);
/* Running totals of a phase, in device memory. */
typedef struct CudaTotals {
    double loss_sum;          /* sum of loss x batch size */
    long long correct;        /* rows whose arg-max equals the label */
    int nonfinite;            /* a loss was NaN or infinite */
    int pad;
} CudaTotals;
/* totals += this batch: loss[0] * n (training: only when finite, else the
 * nonfinite flag), and the correct predictions (integer sums, exact). */
void cuda_accumulate_totals(const CudaBackend *cu, const float *loss, const float *z, const int *labels,
                            int n, int k, int skip_nonfinite, CudaTotals *totals);

/* ---- gecco.cu (ops_gecco.c) ------------------------------------------------ */
void cuda_selfloop_messages(const CudaBackend *cu, const float *k, const float *q, const float *v,
                            int rows, int fout, float *out);
void cuda_selfloop_backward(const CudaBackend *cu, const float *k, const float *q, const float *v,
                            const float *g, int rows, int fout, float *dk, float *dv);
void cuda_complete_messages(const CudaBackend *cu, const float *k, const float *q, const float *v,
                            int rows, int fout, float *out);
void cuda_complete_backward(const CudaBackend *cu, const float *k, const float *q, const float *v,
                            const float *g, int rows, int fout, float *dk, float *dq, float *dv);
/* s holds x x^T on entry, sigmoid of it on exit; r = row sums; a = s / r */
void cuda_attention_weights(const CudaBackend *cu, float *s, float *a, float *r, int rows);
/* dg holds dA on entry, dG on exit (attention_dlogit per element) */
void cuda_attention_dlogits(const CudaBackend *cu, const float *a, const float *s, const float *r,
                            float *dg, int rows);

/* ---- optim.cu (optim.c) ---------------------------------------------------- */
typedef struct CudaOptimDevice {
    long long t;         /* optimizer steps taken */
    double lr;           /* the learning rate as written (float_intended_double) */
    OptimScalars s;      /* this step's scalars */
} CudaOptimDevice;
/* t += 1, then s = optim_scalars(h, lr, t): one thread. */
void cuda_optim_scalars(const CudaBackend *cu, const OptimHyper *h, CudaOptimDevice *dev);
void cuda_sgd_update(const CudaBackend *cu, float *p, const float *g, float *buf, long n, float wd,
                     int nesterov, const CudaOptimDevice *dev);
void cuda_adam_update(const CudaBackend *cu, float *p, const float *g, float *m, float *v, long n,
                      float wd, int decoupled, const CudaOptimDevice *dev);

/* ---- data.cu (the trainer's data path) ------------------------------------ */
/* The epoch permutation (runner/train/train.h: epoch_permutation): keys
 * rng_u32(seed, SHUFFLE, epoch << 32 | i), indices sorted by (key, index)
 * with cub's stable radix sort. The shuffler holds the sort's buffers. */
typedef struct CudaShuffler CudaShuffler;
CudaShuffler *cuda_shuffler_create(const CudaBackend *cu, int n);
void cuda_shuffler_run(const CudaBackend *cu, CudaShuffler *s, uint64_t seed, int epoch, int *order);
void cuda_shuffler_free(CudaShuffler *s);
/* Images index_0..index_{m-1} of pixels[*, image] normalised into x[m, image]
 * ((p/255 - mean)/std) and their labels into y, where
 * index_i = order ? order[base + i] : base + i and
 * base = (batch ? *batch * batch_size : 0) + start: the batch number is read
 * from device memory, so a replayed graph takes the next batch. */
void cuda_gather_batch(const CudaBackend *cu, const unsigned char *pixels, const unsigned char *labels,
                       const int *order, const long long *batch, int batch_size, long start, int m,
                       int image, float mean, float std, float *x, int *y);
/* *rng_base = (step * slots + slot) << 32 with step = state[0]: the dropout
 * offset of micro-batch `slot` (runner/train/batch_plan.h). */
void cuda_set_rng_base(const CudaBackend *cu, const long long *state, int slots, int slot,
                       uint64_t *rng_base);
/* state[0] += 1 (optimizer step), state[1] += 1 (batch of the epoch). */
void cuda_advance_step(const CudaBackend *cu, long long *state);

#ifdef __cplusplus
}
#endif
#endif
