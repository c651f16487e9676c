/* Lets per-element math be shared verbatim by the CPU code and CUDA kernels. */
#ifndef SWEEPRUN_HOSTDEVICE_H
#define SWEEPRUN_HOSTDEVICE_H
#ifdef __CUDACC__
#define HD static inline __host__ __device__
#else
#define HD static inline
#endif
#endif
