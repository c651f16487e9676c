/* A tensor is a view: fp32, row-major (NCHW for images), living in memory
 * owned by someone else (the model's flat buffers or the step arena). */
#ifndef SWEEPRUN_TENSOR_H
#define SWEEPRUN_TENSOR_H

#define TENSOR_MAX_DIMS 4

typedef struct Tensor {
    float *data;
    float *grad;   /* same shape as data; NULL when no gradient flows here */
    int ndim;
    int dims[TENSOR_MAX_DIMS];
    long numel;
} Tensor;

static inline long tensor_numel_of(int ndim, const int *dims)
{
    long n = 1;
    for (int i = 0; i < ndim; i++) n *= dims[i];
    return n;
}

/* Size of everything after the first dimension (features per sample). */
static inline long tensor_row_size(const Tensor *t)
{
    return t->ndim > 0 ? t->numel / t->dims[0] : 1;
}

#endif
