/* The causal softmax of the GPU calibration attention, qf_layer_softmax_rows's arithmetic
 * (pipeline/layer_forward.c) on the device: row r of `rows` score rows of length seqlen is
 * query position t = r % seqlen (rows are heads x positions) and sees keys lo(t)..t
 * (lo: the sliding window's first key, 0 without one); e = expf(s - max) over those keys
 * (where the CPU has qf_cpu_exp_neg, within 1.3e-7 relative of it),
 * then each e times 1 / sum(e); every other key gets 0. One block a row; the max and the
 * sum are reduced across the block (only their order differs from the CPU's loop). */
#include <math.h>

#include "pipeline/cuda/layer_cuda.h"
#include "runtime/cuda/cuda_check.h"

#define QF_SOFTMAX_THREADS 256

/* v reduced across the block with op (0: max, 1: sum); every thread gets the result. */
static __device__ float qf_block_reduce(float v, int op, float *part) {
    for (int off = 16; off > 0; off >>= 1) {
        const float o = __shfl_xor_sync(0xFFFFFFFFu, v, off);
        v = op ? v + o : fmaxf(v, o);
    }
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
    __syncthreads();
    float r = part[0];
    for (int k = 1; k < QF_SOFTMAX_THREADS / 32; k++) r = op ? r + part[k] : fmaxf(r, part[k]);
    __syncthreads(); /* part is reused by the next reduction */
    return r;
}

static __global__ void qf_causal_softmax_kernel(float *scores, int64_t seqlen, int64_t window) {
    __shared__ float part[QF_SOFTMAX_THREADS / 32];
    float *s = scores + (int64_t)blockIdx.x * seqlen;
    const int64_t t = (int64_t)blockIdx.x % seqlen;
    const int64_t lo = (window > 0 && t - window + 1 > 0) ? t - window + 1 : 0;
    float mx = -INFINITY;
    for (int64_t j = lo + threadIdx.x; j <= t; j += QF_SOFTMAX_THREADS) mx = fmaxf(mx, s[j]);
    mx = qf_block_reduce(mx, 0, part);
    float sum = 0.0f;
    for (int64_t j = lo + threadIdx.x; j <= t; j += QF_SOFTMAX_THREADS) {
        const float e = expf(s[j] - mx);
        s[j] = e;
        sum += e;
    }
    const float inv = 1.0f / qf_block_reduce(sum, 1, part);
    for (int64_t j = threadIdx.x; j < seqlen; j += QF_SOFTMAX_THREADS)
        s[j] = (j >= lo && j <= t) ? s[j] * inv : 0.0f;
}

extern "C" qf_status qf_cuda_causal_softmax(float *scores, int64_t rows, int64_t seqlen,
                                            int64_t window, void *stream) {
    QF_RETURN_IF(rows < 0 || rows > 0x7FFFFFFF || seqlen < 1 || rows % seqlen || window < 0,
                 QF_STATUS_INVALID_ARG, "causal softmax: %lld rows of %lld (window %lld)",
                 (long long)rows, (long long)seqlen, (long long)window);
    if (rows == 0) return QF_STATUS_OK;
    qf_causal_softmax_kernel<<<(unsigned)rows, QF_SOFTMAX_THREADS, 0, (cudaStream_t)stream>>>(
        scores, seqlen, window);
    QF_CUDA_LAUNCHED("causal softmax kernel");
    return QF_STATUS_OK;
}
