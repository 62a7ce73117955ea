/* KV cache appends on the device (layouts in attention_host.h): fp32 k, v of m tokens to
 * the fp16 cache (__float2half_rn: nearest even, as qf_cpu's qf_fp32_to_fp16) or the int8
 * cache (one warp per (token, kv head): the max by shuffles, then qf_cuda_kv_append_i8_ref's
 * exact arithmetic), bit-identical to the references in attention_ref.c. */
#include <cuda_fp16.h>

#include "runtime/cuda/cuda_check.h"

static __global__ void qf_kv_append_f16_kernel(const float *__restrict__ k,
                                               const float *__restrict__ v, int64_t kv_stride,
                                               int64_t m, int64_t p0, int64_t n_kv, int64_t cap,
                                               int64_t d, uint16_t *kc, uint16_t *vc) {
    const int64_t n = m * n_kv * d;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t t = i / (n_kv * d), h = i / d % n_kv, e = i % d;
        const int64_t src = t * kv_stride + h * d + e, dst = (h * cap + p0 + t) * d + e;
        kc[dst] = __half_as_ushort(__float2half_rn(k[src]));
        vc[dst] = __half_as_ushort(__float2half_rn(v[src]));
    }
}

/* Row x of d floats (d = 32 * PER) to codes and scale; all lanes of the warp take part. */
template <int PER>
static __device__ void qf_quant_row_i8(const float *__restrict__ x, int8_t *codes,
                                       float *scale) {
    const int lane = threadIdx.x & 31;
    float xs[PER], amax = 0.0f;
    for (int j = 0; j < PER; j++) {
        xs[j] = x[lane + 32 * j];
        amax = fmaxf(amax, fabsf(xs[j]));
    }
    for (int off = 16; off > 0; off >>= 1)
        amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, off));
    float s = amax / 127.0f;
    if (!(s > 0.0f) || isinf(s)) s = 1.0f;
    for (int j = 0; j < PER; j++)
        codes[lane + 32 * j] = (int8_t)fminf(fmaxf(rintf(xs[j] / s), -127.0f), 127.0f);
    if (lane == 0) *scale = s;
}

template <int D>
static __global__ void qf_kv_append_i8_kernel(const float *__restrict__ k,
                                              const float *__restrict__ v, int64_t kv_stride,
                                              int64_t m, int64_t p0, int64_t n_kv, int64_t cap,
                                              qf_cuda_kv_i8 c) {
    const int64_t row = blockIdx.x * (int64_t)(blockDim.x / 32) + threadIdx.x / 32;
    if (row >= m * n_kv) return; /* whole warps leave together */
    const int64_t t = row / n_kv, h = row % n_kv, dst = h * cap + p0 + t;
    const int64_t src = t * kv_stride + h * D;
    qf_quant_row_i8<D / 32>(k + src, c.k + dst * D, c.ks + dst);
    qf_quant_row_i8<D / 32>(v + src, c.v + dst * D, c.vs + dst);
}

static unsigned qf_kv_blocks(int64_t n, int64_t per_block) {
    const int64_t b = (n + per_block - 1) / per_block;
    return (unsigned)(b < 65536 ? b : 65536);
}

extern "C" qf_status qf_cuda_kv_append_f16(const qf_cuda_attn *a, const float *k, const float *v,
                                           int64_t kv_stride, int64_t m, int64_t p0,
                                           uint16_t *kc, uint16_t *vc, void *stream) {
    QF_FORWARD(qf_cuda_attn_check(a, p0, m, "KV append (fp16)"));
    QF_RETURN_IF(kv_stride < a->n_kv * a->head_dim, QF_STATUS_INVALID_ARG,
                 "KV append (fp16): token stride %lld < %lld kv heads x %lld",
                 (long long)kv_stride, (long long)a->n_kv, (long long)a->head_dim);
    if (m == 0) return QF_STATUS_OK;
    qf_kv_append_f16_kernel<<<qf_kv_blocks(m * a->n_kv * a->head_dim, 256), 256, 0,
                              (cudaStream_t)stream>>>(k, v, kv_stride, m, p0, a->n_kv, a->cap,
                                                      a->head_dim, kc, vc);
    QF_CUDA_LAUNCHED("KV append (fp16) kernel");
    return QF_STATUS_OK;
}

extern "C" qf_status qf_cuda_kv_append_i8(const qf_cuda_attn *a, const float *k, const float *v,
                                          int64_t kv_stride, int64_t m, int64_t p0,
                                          const qf_cuda_kv_i8 *c, void *stream) {
    QF_FORWARD(qf_cuda_attn_check(a, p0, m, "KV append (int8)"));
    QF_RETURN_IF(kv_stride < a->n_kv * a->head_dim, QF_STATUS_INVALID_ARG,
                 "KV append (int8): token stride %lld < %lld kv heads x %lld",
                 (long long)kv_stride, (long long)a->n_kv, (long long)a->head_dim);
    QF_RETURN_IF((m * a->n_kv + 7) / 8 > 0x7FFFFFFF, QF_STATUS_INVALID_ARG,
                 "KV append (int8): %lld rows in one call", (long long)(m * a->n_kv));
    if (m == 0) return QF_STATUS_OK;
    const unsigned blocks = (unsigned)((m * a->n_kv + 7) / 8); /* 8 warps, a row each */
    if (a->head_dim == 64)
        qf_kv_append_i8_kernel<64><<<blocks, 256, 0, (cudaStream_t)stream>>>(
            k, v, kv_stride, m, p0, a->n_kv, a->cap, *c);
    else
        qf_kv_append_i8_kernel<128><<<blocks, 256, 0, (cudaStream_t)stream>>>(
            k, v, kv_stride, m, p0, a->n_kv, a->cap, *c);
    QF_CUDA_LAUNCHED("KV append (int8) kernel");
    return QF_STATUS_OK;
}
