// GPU twin of ops_dense.c's non-GEMM arithmetic (the products are cuBLAS,
// through bk_gemm): bias rows and bias gradients, also used by ops_gecco.c.
#include "common.cuh"
#include "dense_math.h"

__global__ void fill_rows_kernel(float *y, const float *row, long rows, long cols)
{
    GRID_STRIDE(i, rows * cols) y[i] = row[i % cols];
}

__global__ void add_rows_kernel(float *y, const float *row, long rows, long cols)
{
    GRID_STRIDE(i, rows * cols) y[i] += row[i % cols];
}

// One thread per column, rows in order: the CPU's own column sums
// (dense_math.h), so the bias gradient matches the CPU bit for bit given
// the same dy. Columns are adjacent in memory, so a warp reads consecutive
// floats.
__global__ void col_sums_float_kernel(const float *x, long rows, long cols, float *out)
{
    GRID_STRIDE(j, cols) out[j] = col_sum_float(x, rows, cols, j, out[j]);
}

__global__ void col_sums_double_kernel(const float *x, long rows, long cols, float *out)
{
    GRID_STRIDE(j, cols) out[j] += col_sum_double(x, rows, cols, j);
}

extern "C" {

void cuda_fill_rows(const CudaBackend *cu, float *y, const float *row, long rows, long cols)
{
    launch_1d(cu, "fill_rows_kernel", fill_rows_kernel, rows * cols, y, row, rows, cols);
}

void cuda_add_rows(const CudaBackend *cu, float *y, const float *row, long rows, long cols)
{
    launch_1d(cu, "add_rows_kernel", add_rows_kernel, rows * cols, y, row, rows, cols);
}

void cuda_col_sums_float(const CudaBackend *cu, const float *x, long rows, long cols, float *out)
{
    launch_1d(cu, "col_sums_float_kernel", col_sums_float_kernel, cols, x, rows, cols, out);
}

void cuda_col_sums_double(const CudaBackend *cu, const float *x, long rows, long cols, float *out)
{
    launch_1d(cu, "col_sums_double_kernel", col_sums_double_kernel, cols, x, rows, cols, out);
}

}  // extern "C"
