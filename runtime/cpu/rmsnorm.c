/* RMSNorm as transformers' LlamaRMSNorm computes it in float32:
 * y = w * (x * rsqrt(mean(x^2) + eps)). The reference sums squares in order; the fast
 * version lets the compiler vectorize the sum (omp simd), which only reorders it. */
#include <math.h>

#include "runtime/cpu/kernels.h"

void qf_cpu_rmsnorm_ref(const float *x, const float *w, float *y, int64_t m, int64_t n,
                        float eps) {
    for (int64_t t = 0; t < m; t++) {
        const float *xr = x + t * n;
        float *yr = y + t * n;
        float ss = 0.0f;
        for (int64_t i = 0; i < n; i++) ss += xr[i] * xr[i];
        const float r = 1.0f / sqrtf(ss / (float)n + eps);
        for (int64_t i = 0; i < n; i++) yr[i] = w[i] * (xr[i] * r);
    }
}

void qf_cpu_rmsnorm(const float *x, const float *w, float *y, int64_t m, int64_t n, float eps) {
    for (int64_t t = 0; t < m; t++) {
        const float *xr = x + t * n;
        float *yr = y + t * n;
        float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
        for (int64_t i = 0; i < n; i++) ss += xr[i] * xr[i];
        const float r = 1.0f / sqrtf(ss / (float)n + eps);
#pragma omp simd
        for (int64_t i = 0; i < n; i++) yr[i] = w[i] * (xr[i] * r);
    }
}
