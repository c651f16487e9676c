// GPU twin of ops_depthwise.c. Forward: one thread per output with the
// CPU's dw_output (depthwise_math.h). Backward: gathers, each gradient
// element summing its contributions in the order in which the CPU's
// per-plane scatter adds them (outputs row-major; for dw and db, images
// first), so no atomics and the CPU's order of additions.
#include "common.cuh"
#include "depthwise_math.h"

__global__ void depthwise_fwd_kernel(DwGeom g, const float *x, const float *w, const float *b, float *y)
{
    long out_plane = (long)g.oh * g.ow, in_plane = (long)g.h * g.w, filt = (long)g.kh * g.kw;
    GRID_STRIDE(t, (long)g.n * g.c * out_plane) {
        long p = t / out_plane;
        int o = (int)(t % out_plane), ch = (int)(p % g.c);
        y[t] = dw_output(&g, x + p * in_plane, w + ch * filt, b ? b[ch] : 0.0f, o / g.ow, o % g.ow);
    }
}

// dx[n,c,ih,iw] += sum over the outputs (r, q) whose window holds it, in
// row-major order, of w[c, tap] dy[n,c,r,q].
__global__ void depthwise_dx_kernel(DwGeom g, const float *w, const float *dy, float *dx)
{
    long out_plane = (long)g.oh * g.ow, in_plane = (long)g.h * g.w, filt = (long)g.kh * g.kw;
    GRID_STRIDE(t, (long)g.n * g.c * in_plane) {
        long p = t / in_plane;
        int pos = (int)(t % in_plane), ih = pos / g.w, iw = pos % g.w, ch = (int)(p % g.c);
        int r0, r1, q0, q1;
        dw_covering(ih, g.kh, g.stride, g.pad, g.oh, &r0, &r1);
        dw_covering(iw, g.kw, g.stride, g.pad, g.ow, &q0, &q1);
        const float *wc = w + ch * filt, *dp = dy + p * out_plane;
        float acc = dx[t];
        for (int r = r0; r <= r1; r++)
            for (int q = q0; q <= q1; q++) {
                int i = ih - (r * g.stride - g.pad), j = iw - (q * g.stride - g.pad);
                acc += wc[i * g.kw + j] * dp[r * g.ow + q];
            }
        dx[t] = acc;
    }
}

// dw[c, i, j] += sum over images, then outputs (row-major), of
// x[n, c, tap position] dy[n, c, r, q].
__global__ void depthwise_dw_kernel(DwGeom g, const float *x, const float *dy, float *dw)
{
    long out_plane = (long)g.oh * g.ow, in_plane = (long)g.h * g.w, filt = (long)g.kh * g.kw;
    GRID_STRIDE(t, (long)g.c * filt) {
        int ch = (int)(t / filt), tap = (int)(t % filt), i = tap / g.kw, j = tap % g.kw;
        float acc = dw[t];
        for (int n = 0; n < g.n; n++) {
            long p = (long)n * g.c + ch;
            const float *xp = x + p * in_plane, *dp = dy + p * out_plane;
            for (int r = 0; r < g.oh; r++) {
                int ih = r * g.stride - g.pad + i;
                if (ih < 0 || ih >= g.h) continue;
                for (int q = 0; q < g.ow; q++) {
                    int iw = q * g.stride - g.pad + j;
                    if (iw >= 0 && iw < g.w) acc += xp[ih * g.w + iw] * dp[r * g.ow + q];
                }
            }
        }
        dw[t] = acc;
    }
}

// db[c] += sum over images, then outputs, of dy[n, c, r, q].
__global__ void depthwise_db_kernel(DwGeom g, const float *dy, float *db)
{
    long out_plane = (long)g.oh * g.ow;
    GRID_STRIDE(ch, (long)g.c) {
        float acc = db[ch];
        for (int n = 0; n < g.n; n++) {
            const float *dp = dy + ((long)n * g.c + ch) * out_plane;
            for (long o = 0; o < out_plane; o++) acc += dp[o];
        }
        db[ch] = acc;
    }
}

extern "C" {

void cuda_depthwise_forward(const CudaBackend *cu, DwGeom g, const float *x, const float *w, const float *b,
                            float *y)
{
    long n = (long)g.n * g.c * g.oh * g.ow;
    launch_1d(cu, "depthwise_fwd_kernel", depthwise_fwd_kernel, n, g, x, w, b, y);
}

void cuda_depthwise_backward(const CudaBackend *cu, DwGeom g, const float *x, const float *w, const float *dy,
                             float *dx, float *dw, float *db)
{
    long in = (long)g.n * g.c * g.h * g.w, taps = (long)g.c * g.kh * g.kw;
    if (dx && in > 0) {
        launch_1d(cu, "depthwise_dx_kernel", depthwise_dx_kernel, in, g, w, dy, dx);
    }
    if (dw && taps > 0) {
        launch_1d(cu, "depthwise_dw_kernel", depthwise_dw_kernel, taps, g, x, dy, dw);
    }
    if (db && g.c > 0) {
        launch_1d(cu, "depthwise_db_kernel", depthwise_db_kernel, g.c, g, dy, db);
    }
}

}  // extern "C"
