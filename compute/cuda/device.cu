// CUDA device discovery (device.h): how many usable GPUs, their names.
#include <cstdio>
#include <cuda_runtime.h>

extern "C" {
#include "device.h"

int device_cuda_count(char *why, int why_size)
{
    int n = 0;
    cudaError_t rc = cudaGetDeviceCount(&n);
    if (rc != cudaSuccess) {
        snprintf(why, why_size, "no usable CUDA device: %s", cudaGetErrorString(rc));
        return 0;
    }
    if (n == 0) snprintf(why, why_size, "no CUDA device found");
    return n;
}

void device_cuda_name(int i, char *name, int size)
{
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, i) == cudaSuccess) snprintf(name, size, "%s", prop.name);
    else snprintf(name, size, "%s", "");
}
}
