/* The small glue kernels of the GPU forward pass (runtime/cuda/forward.cu): embedding
 * gather, row adds (residual, bias) and the fp32 -> fp16 conversion of activations
 * before a cuBLAS fp16 GEMM. Each is the elementwise definition stated in cuda_kernels.h
 * (exact: a copy / an IEEE add / a round to nearest even); tests/test_cuda_forward.c
 * covers them through the whole forward against the CPU runtime. */
#include <cuda_fp16.h>

#include "runtime/cuda/cuda_check.h"

#define QF_FWK_THREADS 256
#define QF_FWK_MAX_BLOCKS 65536

static unsigned qf_fwk_blocks(int64_t n) {
    const int64_t b = (n + QF_FWK_THREADS - 1) / QF_FWK_THREADS;
    return (unsigned)(b < QF_FWK_MAX_BLOCKS ? b : QF_FWK_MAX_BLOCKS);
}

static __global__ void qf_embed_f16_kernel(const uint16_t *__restrict__ table,
                                           const int32_t *__restrict__ tok, int64_t m,
                                           int64_t hid, float *__restrict__ x) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < m * hid;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t t = i / hid, c = i % hid;
        x[i] = __half2float(__ushort_as_half(table[(int64_t)tok[t] * hid + c]));
    }
}

static __global__ void qf_embed_f32_kernel(const float *__restrict__ table,
                                           const int32_t *__restrict__ tok, int64_t m,
                                           int64_t hid, float *__restrict__ x) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < m * hid;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t t = i / hid, c = i % hid;
        x[i] = table[(int64_t)tok[t] * hid + c];
    }
}

extern "C" qf_status qf_cuda_embed(const void *table, int f16, const int32_t *tok, int64_t m,
                                   int64_t hid, float *x, void *stream) {
    QF_RETURN_IF(m < 0 || hid <= 0, QF_STATUS_INVALID_ARG, "embedding gather: m %lld, hidden %lld",
                 (long long)m, (long long)hid);
    if (m == 0) return QF_STATUS_OK;
    if (f16)
        qf_embed_f16_kernel<<<qf_fwk_blocks(m * hid), QF_FWK_THREADS, 0, (cudaStream_t)stream>>>(
            (const uint16_t *)table, tok, m, hid, x);
    else
        qf_embed_f32_kernel<<<qf_fwk_blocks(m * hid), QF_FWK_THREADS, 0, (cudaStream_t)stream>>>(
            (const float *)table, tok, m, hid, x);
    QF_CUDA_LAUNCHED("embedding gather kernel");
    return QF_STATUS_OK;
}

static __global__ void qf_add_rows_kernel(float *y, const float *__restrict__ x, int64_t m,
                                          int64_t n, int64_t x_stride) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < m * n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t t = i / n, c = i % n;
        y[i] = __fadd_rn(y[i], x[t * x_stride + c]);
    }
}

extern "C" qf_status qf_cuda_add_rows(float *y, const float *x, int64_t m, int64_t n,
                                      int64_t x_stride, void *stream) {
    QF_RETURN_IF(m < 0 || n < 0 || x_stride < 0, QF_STATUS_INVALID_ARG,
                 "row add: m %lld, n %lld, stride %lld", (long long)m, (long long)n,
                 (long long)x_stride);
    if (m == 0 || n == 0) return QF_STATUS_OK;
    qf_add_rows_kernel<<<qf_fwk_blocks(m * n), QF_FWK_THREADS, 0, (cudaStream_t)stream>>>(
        y, x, m, n, x_stride);
    QF_CUDA_LAUNCHED("row add kernel");
    return QF_STATUS_OK;
}

static __global__ void qf_to_f16_kernel(const float *__restrict__ x, uint16_t *__restrict__ y,
                                        int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        y[i] = __half_as_ushort(__float2half_rn(x[i]));
}

extern "C" qf_status qf_cuda_f32_to_f16(const float *x, uint16_t *y, int64_t n, void *stream) {
    QF_RETURN_IF(n < 0, QF_STATUS_INVALID_ARG, "fp32 -> fp16: n %lld", (long long)n);
    if (n == 0) return QF_STATUS_OK;
    qf_to_f16_kernel<<<qf_fwk_blocks(n), QF_FWK_THREADS, 0, (cudaStream_t)stream>>>(x, y, n);
    QF_CUDA_LAUNCHED("fp32 -> fp16 kernel");
    return QF_STATUS_OK;
}
