// GPU twin of ops_dense.c's non-GEMM arithmetic (the products are cuBLAS,
// through bk_gemm): bias rows and bias gradients, also used by ops_gecco.c.
#include "common.cuh"

__global__ void fill_rows_kernel(float *y, const float *row, long rows, long cols)
{
    GRID_STRIDE(i, rows * cols) y[i] = row[i % cols];
}

__global__ void add_rows_kernel(float *y, const float *row, long rows, long cols)
{
    GRID_STRIDE(i, rows * cols) y[i] += row[i % cols];
}

// One thread per column, rows in order: the CPU's summation order exactly
// (ops_dense.c adds row after row into the gradient), so the bias gradient
// matches the CPU bit for bit given the same dy. Columns are adjacent in
// memory, so a warp reads consecutive floats.
__global__ void col_sums_float_kernel(const float *x, long rows, long cols, float *out)
{
    GRID_STRIDE(j, cols) {
        float acc = out[j];
        for (long r = 0; r < rows; r++) acc += x[r * cols + j];
        out[j] = acc;
    }
}

__global__ void col_sums_double_kernel(const float *x, long rows, long cols, float *out)
{
    GRID_STRIDE(j, cols) {
        double acc = 0;
        for (long r = 0; r < rows; r++) acc += x[r * cols + j];
        out[j] += (float)acc;
    }
}

extern "C" {

void cuda_fill_rows(const CudaBackend *cu, float *y, const float *row, long rows, long cols)
{
    if (rows * cols <= 0) return;
    fill_rows_kernel<<<grid_for(rows * cols), THREADS, 0, stream_of(cu)>>>(y, row, rows, cols);
    LAUNCH_CHECK("fill_rows");
}

void cuda_add_rows(const CudaBackend *cu, float *y, const float *row, long rows, long cols)
{
    if (rows * cols <= 0) return;
    add_rows_kernel<<<grid_for(rows * cols), THREADS, 0, stream_of(cu)>>>(y, row, rows, cols);
    LAUNCH_CHECK("add_rows");
}

void cuda_col_sums_float(const CudaBackend *cu, const float *x, long rows, long cols, float *out)
{
    if (cols <= 0) return;
    col_sums_float_kernel<<<grid_for(cols), THREADS, 0, stream_of(cu)>>>(x, rows, cols, out);
    LAUNCH_CHECK("col_sums_float");
}

void cuda_col_sums_double(const CudaBackend *cu, const float *x, long rows, long cols, float *out)
{
    if (cols <= 0) return;
    col_sums_double_kernel<<<grid_for(cols), THREADS, 0, stream_of(cu)>>>(x, rows, cols, out);
    LAUNCH_CHECK("col_sums_double");
}

}  // extern "C"
