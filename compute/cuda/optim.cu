// GPU twin of optim.c: the step's scalars from (t, lr) in device memory,
// then the element-wise SGD / Adam / AdamW updates with optim_math.h's
// formulas (the same float operations as the CPU loop).
#include "common.cuh"

__global__ void optim_scalars_kernel(OptimHyper h, CudaOptimDevice *dev)
{
    long long t = dev->t + 1;
    dev->t = t;
    dev->s = optim_scalars(&h, dev->lr, t);
}

__global__ void sgd_kernel(float *p, const float *g, float *buf, long n, float wd, int nesterov,
                           const CudaOptimDevice *dev)
{
    OptimScalars s = dev->s;
    GRID_STRIDE(i, n) sgd_element(&p[i], g[i], &buf[i], wd, nesterov, &s);
}

__global__ void adam_kernel(float *p, const float *g, float *m, float *v, long n, float wd, int decoupled,
                            const CudaOptimDevice *dev)
{
    OptimScalars s = dev->s;
    GRID_STRIDE(i, n) adam_element(&p[i], g[i], &m[i], &v[i], wd, decoupled, &s);
}

extern "C" {

void cuda_optim_scalars(const CudaBackend *cu, const OptimHyper *h, CudaOptimDevice *dev)
{
    launch(cu, "optim_scalars_kernel", optim_scalars_kernel, 1, 1, *h, dev);
}

void cuda_sgd_update(const CudaBackend *cu, float *p, const float *g, float *buf, long n, float wd, int nesterov,
                     const CudaOptimDevice *dev)
{
    launch_1d(cu, "sgd_kernel", sgd_kernel, n, p, g, buf, n, wd, nesterov, dev);
}

void cuda_adam_update(const CudaBackend *cu, float *p, const float *g, float *m, float *v, long n, float wd,
                      int decoupled, const CudaOptimDevice *dev)
{
    launch_1d(cu, "adam_kernel", adam_kernel, n, p, g, m, v, n, wd, decoupled, dev);
}

}  // extern "C"
