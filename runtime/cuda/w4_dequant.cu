/* The W4 layout (w4_layout.h) dequantized to fp16 for the prefill GEMM: one thread per
 * 32-bit word of 8 codes, which becomes one 16-byte store of 8 fp16 weights in the packed
 * column order. Memory-bound: 0.5 byte read and 2 written per weight (plus the group's
 * scale / zero pair, cached). Each weight is scale * (q - zero) in fp32 (exact: an fp16
 * scale times an integer of at most 4 bits) rounded once to fp16, as the reference. */
#include <cuda_fp16.h>

#include "runtime/cuda/cuda_check.h"

static __device__ __forceinline__ uint32_t qf_w4_deq_pair(uint32_t word, int k, float s,
                                                          float z) {
    const float lo = (float)((word >> (4 * k)) & 15u), hi = (float)((word >> (16 + 4 * k)) & 15u);
    const __half a = __float2half_rn(s * (lo - z)), b = __float2half_rn(s * (hi - z));
    return (uint32_t)__half_as_ushort(a) | (uint32_t)__half_as_ushort(b) << 16;
}

/* words: out * wpr; wpr words per row, wpg per group. */
static __global__ void qf_w4_dequant_kernel(const uint32_t *__restrict__ qw,
                                            const uint32_t *__restrict__ sz,
                                            uint4 *__restrict__ wh, int64_t words, int64_t wpr,
                                            int64_t wpg, int64_t n_groups) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < words;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t o = i / wpr, g = (i - o * wpr) / wpg;
        const uint32_t p = __ldg(sz + o * n_groups + g);
        const float s = __half2float(__ushort_as_half((unsigned short)(p & 0xFFFFu)));
        const float z = __half2float(__ushort_as_half((unsigned short)(p >> 16))) - 1024.0f;
        const uint32_t w = __ldcs(qw + i);
        wh[i] = make_uint4(qf_w4_deq_pair(w, 0, s, z), qf_w4_deq_pair(w, 1, s, z),
                           qf_w4_deq_pair(w, 2, s, z), qf_w4_deq_pair(w, 3, s, z));
    }
}

extern "C" qf_status qf_cuda_w4_dequant(const qf_cuda_w4_dev *d, uint16_t *wh, void *stream) {
    QF_RETURN_IF(!d->qw || d->kp % QF_CUDA_W4_CHUNK || d->gp % QF_CUDA_W4_CHUNK ||
                     d->kp != d->n_groups * d->gp || d->out < 1,
                 QF_STATUS_INVALID_ARG, "W4 dequant: bad layout (out %lld, kp %lld, gp %lld)",
                 (long long)d->out, (long long)d->kp, (long long)d->gp);
    QF_RETURN_IF(!d->dequant_ok, QF_STATUS_INVALID_ARG,
                 "W4 dequant: a scale times 15 overflows fp16");
    QF_RETURN_IF((uintptr_t)wh % 16, QF_STATUS_INVALID_ARG, "W4 dequant: wh not 16-byte aligned");
    const int64_t words = d->out * (d->kp / 8), threads = 256;
    const int64_t blocks = (words + threads - 1) / threads < 65536
                               ? (words + threads - 1) / threads
                               : 65536;
    qf_w4_dequant_kernel<<<(unsigned)blocks, (unsigned)threads, 0, (cudaStream_t)stream>>>(
        d->qw, d->sz, (uint4 *)wh, words, d->kp / 8, d->gp / 8, d->n_groups);
    QF_CUDA_LAUNCHED("W4 dequant kernel");
    return QF_STATUS_OK;
}
