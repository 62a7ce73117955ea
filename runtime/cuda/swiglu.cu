/* SwiGLU on the device: gate = gate / (1 + exp(-gate)) * up, qf_cpu_swiglu's expression
 * with CUDA's expf (<= 2 ulp; no fast math) and IEEE division. */
#include "runtime/cuda/cuda_check.h"

static __global__ void qf_swiglu_kernel(float *gate, const float *__restrict__ up, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const float g = gate[i];
        gate[i] = __fmul_rn(g / (1.0f + expf(-g)), up[i]);
    }
}

extern "C" qf_status qf_cuda_swiglu(float *gate, const float *up, int64_t n, void *stream) {
    QF_RETURN_IF(n < 0, QF_STATUS_INVALID_ARG, "SwiGLU: n %lld", (long long)n);
    if (n == 0) return QF_STATUS_OK;
    const int64_t threads = 256;
    const int64_t blocks = (n + threads - 1) / threads < 65536 ? (n + threads - 1) / threads
                                                              : 65536;
    qf_swiglu_kernel<<<(unsigned)blocks, (unsigned)threads, 0, (cudaStream_t)stream>>>(gate, up,
                                                                                       n);
    QF_CUDA_LAUNCHED("SwiGLU kernel");
    return QF_STATUS_OK;
}
