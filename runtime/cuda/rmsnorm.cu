/* RMSNorm on the device, qf_cpu_rmsnorm_ref's formula: one block a row, the sum of squares
 * per thread (fp32 FMA), then across the block by warp shuffles; IEEE division and square
 * root (no fast math), so only the order of the sum differs from the CPU. */
#include "runtime/cuda/cuda_check.h"

#define QF_RMSNORM_THREADS 256

static __global__ void qf_rmsnorm_kernel(const float *x, const float *w, float *y, int64_t n,
                                         float eps) {
    __shared__ float part[QF_RMSNORM_THREADS / 32];
    const float *xr = x + blockIdx.x * n;
    float *yr = y + blockIdx.x * n;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += QF_RMSNORM_THREADS) ss = fmaf(xr[i], xr[i], ss);
    for (int off = 16; off > 0; off >>= 1) ss += __shfl_xor_sync(0xFFFFFFFFu, ss, off);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = ss;
    __syncthreads();
    ss = 0.0f;
    for (int k = 0; k < QF_RMSNORM_THREADS / 32; k++) ss += part[k];
    const float r = 1.0f / sqrtf(ss / (float)n + eps);
    for (int64_t i = threadIdx.x; i < n; i += QF_RMSNORM_THREADS) yr[i] = w[i] * (xr[i] * r);
}

extern "C" qf_status qf_cuda_rmsnorm(const float *x, const float *w, float *y, int64_t m,
                                     int64_t n, float eps, void *stream) {
    QF_RETURN_IF(m < 0 || m > 0x7FFFFFFF || n < 1, QF_STATUS_INVALID_ARG,
                 "RMSNorm: %lld rows of %lld", (long long)m, (long long)n);
    if (m == 0) return QF_STATUS_OK;
    qf_rmsnorm_kernel<<<(unsigned)m, QF_RMSNORM_THREADS, 0, (cudaStream_t)stream>>>(x, w, y, n,
                                                                                    eps);
    QF_CUDA_LAUNCHED("RMSNorm kernel");
    return QF_STATUS_OK;
}
