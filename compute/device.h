/* Which compute devices this process can use. The CPU always; CUDA GPUs
 * when the CUDA backend was built and the driver reports devices. */
#ifndef SWEEPRUN_DEVICE_H
#define SWEEPRUN_DEVICE_H

/* Number of usable CUDA devices (0 without the CUDA build or a GPU). When 0,
 * why holds a one-line reason. */
int device_cuda_count(char *why, int why_size);
/* Name of CUDA device i ("NVIDIA H100 80GB HBM3"), "" if unknown. */
void device_cuda_name(int i, char *name, int size);
/* Short description of the CPU for run files and benchmarks. */
void device_cpu_name(char *name, int size);

#endif
