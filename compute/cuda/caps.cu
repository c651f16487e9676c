// GPU twin of ops_caps.c. Every kernel runs a caps_math.h function per
// row, sample or element, the CPU's own code, so sums keep the CPU's
// order. The two batch losses (margin, MSE) sum in double over one block
// with a fixed tree (the CPU sums in order), so they agree to rounding.
// Routing runs one sample per thread: at Efficient-CapsNet's sizes (16
// samples of 10 x 16 x 16) that is a few microseconds of work each.
#include "common.cuh"
#include "caps_math.h"

static const int CAPS_REDUCE_THREADS = 256;

__global__ void squash_fwd_kernel(const float *s, float *v, long rows, int d, float eps)
{
    GRID_STRIDE(r, rows) squash_row_fwd(s + r * d, v + r * d, d, eps);
}

__global__ void squash_bwd_kernel(const float *s, const float *dv, float *ds, long rows, int d, float eps)
{
    GRID_STRIDE(r, rows) squash_row_bwd(s + r * d, dv + r * d, ds + r * d, d, eps);
}

__global__ void caps_predict_fwd_kernel(PredGeom g, const float *u, const float *w, float *y)
{
    GRID_STRIDE(t, (long)g.b * g.k * g.j * g.d) {
        int z = (int)(t % g.d), j = (int)(t / g.d % g.j), k = (int)(t / ((long)g.d * g.j) % g.k);
        int b = (int)(t / ((long)g.d * g.j * g.k));
        y[t] = caps_predict_value(&g, u, w, b, k, j, z);
    }
}

__global__ void caps_predict_du_kernel(PredGeom g, const float *w, const float *dy, float *du)
{
    GRID_STRIDE(t, (long)g.b * g.j * g.i) {
        int i = (int)(t % g.i), j = (int)(t / g.i % g.j), b = (int)(t / ((long)g.i * g.j));
        du[t] = caps_predict_du(&g, w, dy, b, j, i, du[t]);
    }
}

__global__ void caps_predict_dw_kernel(PredGeom g, const float *u, const float *dy, float *dw)
{
    GRID_STRIDE(t, (long)g.k * g.j * g.i * g.d) dw[t] = caps_predict_dw_add(&g, u, dy, t, dw[t]);
}

__global__ void caps_route_fwd_kernel(RouteGeom g, const float *uhat, const float *prior, float *sums,
                                      float *coupling, float *s)
{
    long kj = (long)g.k * g.j, kd = (long)g.k * g.d, kjd = kj * g.d;
    GRID_STRIDE(b, (long)g.b) caps_route_sample(&g, uhat + b * kjd, prior, sums + b * kd, coupling + b * kj, s + b * kd);
}

__global__ void caps_route_bwd_kernel(RouteGeom g, const float *uhat, const float *prior, const float *sums,
                                      const float *coupling, const float *ds, float *duhat, float *dcp, float *dz,
                                      float *gk)
{
    long kj = (long)g.k * g.j, kd = (long)g.k * g.d, kjd = kj * g.d;
    GRID_STRIDE(b, (long)g.b)
        caps_route_sample_backward(&g, uhat + b * kjd, prior, sums + b * kd, coupling + b * kj, ds + b * kd,
                                   duhat ? duhat + b * kjd : NULL, dcp + b * kj, dz + b * kj, gk + b * g.d);
}

// After the per-sample kernel: one thread per prior element, batch in order.
__global__ void caps_prior_grad_kernel(const float *dcp, int batch, long kj, float *dprior)
{
    GRID_STRIDE(i, kj) dprior[i] += caps_prior_grad(dcp, batch, kj, i);
}

__global__ void caps_length_fwd_kernel(const float *v, float *len, long rows, int d, float eps)
{
    GRID_STRIDE(r, rows) len[r] = caps_length(caps_dot(v + r * d, v + r * d, d), eps);
}

__global__ void caps_length_bwd_kernel(const float *v, const float *len, const float *dlen, float *dv, long rows,
                                       int d)
{
    GRID_STRIDE(r, rows) caps_length_row_bwd(v + r * d, len[r], dlen[r], dv + r * d, d);
}

// One block: thread t takes rows t, t + blockDim, ...; fixed tree sum.
__global__ void margin_fwd_kernel(const float *len, const int *labels, int n, int k, MarginParams mp, float *loss)
{
    __shared__ double sh[CAPS_REDUCE_THREADS];
    double acc = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) acc += margin_row(len + (long)i * k, labels[i], k, &mp);
    double total = block_sum_double(acc, sh);
    if (threadIdx.x == 0) loss[0] = (float)(total / n);
}

__global__ void margin_bwd_kernel(const float *len, const int *labels, int n, int k, MarginParams mp,
                                  const float *dloss, float *dlen)
{
    float scale = dloss[0] / (float)n;
    GRID_STRIDE(t, (long)n * k) dlen[t] += margin_grad(len, labels, k, &mp, scale, t);
}

__global__ void caps_mask_fwd_kernel(const float *v, const int *select, float *y, int n, int k, int d)
{
    GRID_STRIDE(t, (long)n * k * d) y[t] = caps_masked(v, select, k, d, t);
}

// Only the selected capsule's elements are touched, as on the CPU.
__global__ void caps_mask_bwd_kernel(const float *dy, const int *select, float *dv, int n, int k, int d)
{
    GRID_STRIDE(t, (long)n * d) caps_mask_grad(dy, select, k, d, t, dv);
}

__global__ void mse_fwd_kernel(const float *p, const float *t, long n, float *loss)
{
    __shared__ double sh[CAPS_REDUCE_THREADS];
    double acc = 0;
    for (long i = threadIdx.x; i < n; i += blockDim.x) acc += mse_term(p[i], t[i]);
    double total = block_sum_double(acc, sh);
    if (threadIdx.x == 0) loss[0] = (float)(total / (double)n);
}

__global__ void mse_bwd_kernel(const float *p, const float *t, const float *dloss, float *dp, float *dt, long n)
{
    float scale = mse_scale(dloss[0], n);
    GRID_STRIDE(i, n) mse_grad(scale, p, t, i, dp, dt);
}

extern "C" {

void cuda_squash_forward(const CudaBackend *cu, const float *s, float *v, long rows, int d, float eps)
{
    launch_1d(cu, "squash_fwd_kernel", squash_fwd_kernel, rows, s, v, rows, d, eps);
}

void cuda_squash_backward(const CudaBackend *cu, const float *s, const float *dv, float *ds, long rows, int d,
                          float eps)
{
    launch_1d(cu, "squash_bwd_kernel", squash_bwd_kernel, rows, s, dv, ds, rows, d, eps);
}

void cuda_caps_predict_forward(const CudaBackend *cu, PredGeom g, const float *u, const float *w, float *y)
{
    launch_1d(cu, "caps_predict_fwd_kernel", caps_predict_fwd_kernel, (long)g.b * g.k * g.j * g.d, g, u, w, y);
}

void cuda_caps_predict_backward(const CudaBackend *cu, PredGeom g, const float *u, const float *w,
                                const float *dy, float *du, float *dw)
{
    if (du) launch_1d(cu, "caps_predict_du_kernel", caps_predict_du_kernel, (long)g.b * g.j * g.i, g, w, dy, du);
    if (dw) launch_1d(cu, "caps_predict_dw_kernel", caps_predict_dw_kernel, (long)g.k * g.j * g.i * g.d, g, u, dy, dw);
}

void cuda_caps_routing_forward(const CudaBackend *cu, RouteGeom g, const float *uhat, const float *prior,
                               float *sums, float *coupling, float *s)
{
    launch_1d(cu, "caps_route_fwd_kernel", caps_route_fwd_kernel, (long)g.b, g, uhat, prior, sums, coupling, s);
}

void cuda_caps_routing_backward(const CudaBackend *cu, RouteGeom g, const float *uhat, const float *prior,
                                const float *sums, const float *coupling, const float *ds, float *duhat,
                                float *dprior, float *dcp, float *dz, float *gk)
{
    launch_1d(cu, "caps_route_bwd_kernel", caps_route_bwd_kernel, (long)g.b, g, uhat, prior, sums, coupling, ds,
              duhat, dcp, dz, gk);
    long kj = (long)g.k * g.j;
    if (dprior) launch_1d(cu, "caps_prior_grad_kernel", caps_prior_grad_kernel, kj, dcp, g.b, kj, dprior);
}

void cuda_caps_length_forward(const CudaBackend *cu, const float *v, float *len, long rows, int d, float eps)
{
    launch_1d(cu, "caps_length_fwd_kernel", caps_length_fwd_kernel, rows, v, len, rows, d, eps);
}

void cuda_caps_length_backward(const CudaBackend *cu, const float *v, const float *len, const float *dlen,
                               float *dv, long rows, int d)
{
    launch_1d(cu, "caps_length_bwd_kernel", caps_length_bwd_kernel, rows, v, len, dlen, dv, rows, d);
}

void cuda_margin_forward(const CudaBackend *cu, const float *len, const int *labels, int n, int k,
                         MarginParams mp, float *loss)
{
    launch(cu, "margin_fwd_kernel", margin_fwd_kernel, 1, CAPS_REDUCE_THREADS, len, labels, n, k, mp, loss);
}

void cuda_margin_backward(const CudaBackend *cu, const float *len, const int *labels, int n, int k,
                          MarginParams mp, const float *dloss, float *dlen)
{
    launch_1d(cu, "margin_bwd_kernel", margin_bwd_kernel, (long)n * k, len, labels, n, k, mp, dloss, dlen);
}

void cuda_caps_mask_forward(const CudaBackend *cu, const float *v, const int *select, float *y, int n, int k,
                            int d)
{
    launch_1d(cu, "caps_mask_fwd_kernel", caps_mask_fwd_kernel, (long)n * k * d, v, select, y, n, k, d);
}

void cuda_caps_mask_backward(const CudaBackend *cu, const float *dy, const int *select, float *dv, int n, int k,
                             int d)
{
    launch_1d(cu, "caps_mask_bwd_kernel", caps_mask_bwd_kernel, (long)n * d, dy, select, dv, n, k, d);
}

void cuda_mse_forward(const CudaBackend *cu, const float *p, const float *t, long n, float *loss)
{
    launch(cu, "mse_fwd_kernel", mse_fwd_kernel, 1, CAPS_REDUCE_THREADS, p, t, n, loss);
}

void cuda_mse_backward(const CudaBackend *cu, const float *p, const float *t, const float *dloss, float *dp,
                       float *dt, long n)
{
    if (!dp && !dt) return;
    launch_1d(cu, "mse_bwd_kernel", mse_bwd_kernel, n, p, t, dloss, dp, dt, n);
}

}  // extern "C"
