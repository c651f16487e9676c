// GPU twin of ops_gecco.c's element-wise and row-wise parts (the dense
// products are cuBLAS through bk_gemm). Every sum runs over the same index
// in the same order as the CPU loop it mirrors, from the same start value,
// with the gecco_math.h formulas, so a thread's result matches the CPU's.
#include "common.cuh"
#include "gecco_math.h"

__global__ void selfloop_fwd_kernel(const float *k, const float *q, const float *v, long n, float mult, float *out)
{
    GRID_STRIDE(t, n) out[t] += mult * gated_message(k[t], q[t], v[t]);
}

__global__ void selfloop_bwd_kernel(const float *k, const float *q, const float *v, const float *g, long n,
                                    float mult, float *dk, float *dv)
{
    GRID_STRIDE(t, n) gated_message_bwd(k[t], q[t], v[t], mult * g[t], &dv[t], &dk[t]);
}

// out[i,f] += sum_j message(k[i,f], q[j,f], v[j,f]), j ascending.
__global__ void complete_fwd_kernel(const float *k, const float *q, const float *v, int rows, int fout, float *out)
{
    GRID_STRIDE(t, (long)rows * fout) out[t] = complete_message_sum(k[t], q, v, rows, fout, (int)(t % fout), out[t]);
}

// dk[i,f] = sum_j d_ij (pass over targets i).
__global__ void complete_bwd_dk_kernel(const float *k, const float *q, const float *v, const float *g, int rows,
                                       int fout, float *dk)
{
    GRID_STRIDE(t, (long)rows * fout) dk[t] = complete_dk(k[t], g[t], q, v, rows, fout, (int)(t % fout));
}

// dq[j,f] = sum_i d_ij and dv[j,f] = sum_i e_ij g_i (pass over sources j).
__global__ void complete_bwd_dqdv_kernel(const float *k, const float *q, const float *v, const float *g, int rows,
                                         int fout, float *dq, float *dv)
{
    GRID_STRIDE(t, (long)rows * fout) complete_dq_dv(q[t], v[t], k, g, rows, fout, (int)(t % fout), &dq[t], &dv[t]);
}

// One thread per row (rows is the batch size: small).
__global__ void attention_weights_kernel(float *s, float *a, float *r, int rows)
{
    GRID_STRIDE(i, rows) r[i] = attention_weights_row(s + i * rows, a + i * rows, rows);
}

__global__ void attention_dlogits_kernel(const float *a, const float *s, const float *r, float *dg, int rows)
{
    GRID_STRIDE(i, rows) attention_dlogits_row(a + i * rows, s + i * rows, r[i], dg + i * rows, rows);
}

extern "C" {

void cuda_selfloop_messages(const CudaBackend *cu, const float *k, const float *q, const float *v, int rows,
                            int fout, float *out)
{
    long n = (long)rows * fout;
    launch_1d(cu, "selfloop_fwd_kernel", selfloop_fwd_kernel, n, k, q, v, n, (float)rows, out);
}

void cuda_selfloop_backward(const CudaBackend *cu, const float *k, const float *q, const float *v,
                            const float *g, int rows, int fout, float *dk, float *dv)
{
    long n = (long)rows * fout;
    launch_1d(cu, "selfloop_bwd_kernel", selfloop_bwd_kernel, n, k, q, v, g, n, (float)rows, dk, dv);
}

void cuda_complete_messages(const CudaBackend *cu, const float *k, const float *q, const float *v, int rows,
                            int fout, float *out)
{
    long n = (long)rows * fout;
    launch_1d(cu, "complete_fwd_kernel", complete_fwd_kernel, n, k, q, v, rows, fout, out);
}

void cuda_complete_backward(const CudaBackend *cu, const float *k, const float *q, const float *v,
                            const float *g, int rows, int fout, float *dk, float *dq, float *dv)
{
    long n = (long)rows * fout;
    launch_1d(cu, "complete_bwd_dk_kernel", complete_bwd_dk_kernel, n, k, q, v, g, rows, fout, dk);
    launch_1d(cu, "complete_bwd_dqdv_kernel", complete_bwd_dqdv_kernel, n, k, q, v, g, rows, fout, dq, dv);
}

void cuda_attention_weights(const CudaBackend *cu, float *s, float *a, float *r, int rows)
{
    launch_1d(cu, "attention_weights_kernel", attention_weights_kernel, rows, s, a, r, rows);
}

void cuda_attention_dlogits(const CudaBackend *cu, const float *a, const float *s, const float *r, float *dg,
                            int rows)
{
    launch_1d(cu, "attention_dlogits_kernel", attention_dlogits_kernel, rows, a, s, r, dg, rows);
}

}  // extern "C"
