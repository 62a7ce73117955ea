/* The W4 layout (w4_layout.h) dequantized to fp16 for the prefill GEMM: one thread per
 * 32-bit word of 8 codes, which becomes one 16-byte store of 8 fp16 weights in the packed
 * column order. Memory-bound: 0.5 byte read and 2 written per weight (plus the group's
 * scale / zero pair, cached). Each weight is scale * (q - zero) in fp32 (exact: an fp16
 * scale times an integer of at most 4 bits) rounded once to fp16, as the reference. */
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/w4_deq.cuh"

/* words: out * wpr; wpr words per row, wpg per group. */
static __global__ void qf_w4_dequant_kernel(const uint32_t *__restrict__ qw,
                                            const uint32_t *__restrict__ sz,
                                            uint4 *__restrict__ wh, int64_t words, int64_t wpr,
                                            int64_t wpg, int64_t n_groups) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < words;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t o = i / wpr, g = (i - o * wpr) / wpg;
        float s, z;
        qf_w4_deq_sz(__ldg(sz + o * n_groups + g), &s, &z);
        wh[i] = qf_w4_deq_word(__ldcs(qw + i), s, z);
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
