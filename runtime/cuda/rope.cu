/* RoPE on the device: qf_cpu_rope_apply's rotate_half with the same cos/sin tables and the
 * same four products, rounded one by one (__fmul_rn & co. forbid FMA contraction), so the
 * result is bit-identical to the CPU's. One thread per rotated pair. */
#include "runtime/cuda/cuda_check.h"

static __global__ void qf_rope_kernel(float *x, int64_t m, int64_t stride, int64_t heads,
                                      int64_t half, const float *__restrict__ cos_t,
                                      const float *__restrict__ sin_t) {
    const int64_t per_token = heads * half;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < m * per_token;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t t = i / per_token, h = (i % per_token) / half, j = i % half;
        float *xh = x + t * stride + h * 2 * half;
        const float c = cos_t[t * half + j], s = sin_t[t * half + j];
        const float x1 = xh[j], x2 = xh[j + half];
        xh[j] = __fsub_rn(__fmul_rn(x1, c), __fmul_rn(x2, s));
        xh[j + half] = __fadd_rn(__fmul_rn(x2, c), __fmul_rn(x1, s));
    }
}

extern "C" qf_status qf_cuda_rope_apply(float *x, int64_t m, int64_t stride, int64_t heads,
                                        int64_t half, const float *cos_t, const float *sin_t,
                                        void *stream) {
    QF_RETURN_IF(m < 0 || heads < 0 || half < 1 || stride < heads * 2 * half,
                 QF_STATUS_INVALID_ARG, "RoPE: m %lld, stride %lld < %lld heads x 2 x %lld",
                 (long long)m, (long long)stride, (long long)heads, (long long)half);
    const int64_t n = m * heads * half, threads = 256;
    if (n == 0) return QF_STATUS_OK;
    const int64_t blocks = (n + threads - 1) / threads < 65536 ? (n + threads - 1) / threads
                                                              : 65536;
    qf_rope_kernel<<<(unsigned)blocks, (unsigned)threads, 0, (cudaStream_t)stream>>>(
        x, m, stride, heads, half, cos_t, sin_t);
    QF_CUDA_LAUNCHED("RoPE kernel");
    return QF_STATUS_OK;
}
