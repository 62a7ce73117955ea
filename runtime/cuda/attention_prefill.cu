/* Prefill attention on the device (flash-attention style, SIMT fp32): m queries at
 * positions p0..p0+m-1 against the fp16 KV cache, causal (+ sliding window), GQA.
 *
 * A block (256 threads as 16 x 16) takes 64 rows of one kv head, row = (token, query head
 * of the group) in token-major order, so the heads of a group share every K/V tile it
 * loads. It walks the keys its rows see in tiles of 64 positions: K (transposed) and V of
 * the tile in shared memory as fp16, S = Q K^T with each thread owning 4 rows x 4 keys,
 * the online softmax per row (running max and sum in fp32, reduced across the 16 threads
 * of a row by shuffles), P through shared memory, O += P V with each thread owning 4 rows x
 * head_dim / 16 columns in registers. Q is kept in shared memory pre-multiplied by
 * scale * log2(e), so exp2f serves for e^x. Keys past the block's last position are
 * zeroed as they load (the cache there may hold anything), masked ones get probability
 * 0. Everything after the fp16 cache is fp32 (FMA; IEEE exp2f and division). */
#include <cuda_fp16.h>

#include "runtime/cuda/cuda_check.h"

#define QF_PF_BR QF_CUDA_ATTN_ROWS
#define QF_PF_BK QF_CUDA_ATTN_KEYS
#define QF_PF_QS (QF_PF_BR + 4) /* row strides (floats / halves) of the shared tiles */
#define QF_PF_PS (QF_PF_BR + 4)
#define QF_PF_KS (QF_PF_BK + 2)

static size_t qf_pf_smem(int d) {
    return ((size_t)d * QF_PF_QS + (size_t)QF_PF_BK * QF_PF_PS) * sizeof(float) +
           ((size_t)QF_PF_BK * d + (size_t)d * QF_PF_KS) * sizeof(__half);
}

template <int D>
static __global__ void __launch_bounds__(256)
    qf_attn_prefill_kernel(const float *__restrict__ q, int64_t m, int64_t p0, int64_t n_heads,
                           int64_t group, int64_t cap, int64_t window, float scale2,
                           const __half *__restrict__ kc, const __half *__restrict__ vc,
                           float *__restrict__ out) {
    extern __shared__ __align__(16) unsigned char qf_pf_shared[];
    float *qt = reinterpret_cast<float *>(qf_pf_shared); /* (D, QS) queries, transposed */
    float *pt = qt + D * QF_PF_QS;                         /* (BK, PS) probabilities, transposed */
    __half *vs = reinterpret_cast<__half *>(pt + QF_PF_BK * QF_PF_PS); /* (BK, D) values */
    __half *kt = vs + QF_PF_BK * D; /* (D, KS) keys, transposed */
    constexpr int DC = D / 16; /* output columns per thread */
    const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    const int64_t kvh = blockIdx.y, rows = m * group;
    const int64_t rb = (int64_t)(gridDim.x - 1 - blockIdx.x) * QF_PF_BR; /* longest first */

    for (int idx = tid; idx < QF_PF_BR * D; idx += 256) {
        const int r = idx / D, e = idx % D;
        const int64_t row = rb + r;
        float x = 0.0f;
        if (row < rows)
            x = q[((row / group) * n_heads + kvh * group + row % group) * D + e] * scale2;
        qt[e * QF_PF_QS + r] = x;
    }
    int64_t last[4], first[4]; /* keys visible to this thread's rows (none past the end) */
    for (int i = 0; i < 4; i++) {
        const int64_t row = rb + ty * 4 + i;
        last[i] = row < rows ? p0 + row / group : -1;
        first[i] = row < rows ? qf_cuda_attn_first_key(window, last[i]) : 0;
    }
    const int64_t row_end = rb + QF_PF_BR < rows ? rb + QF_PF_BR : rows;
    const int64_t k_first = qf_cuda_attn_first_key(window, p0 + rb / group);
    const int64_t k_last = p0 + (row_end - 1) / group;
    const __half *kh = kc + kvh * cap * D, *vh = vc + kvh * cap * D;

    float o[4][DC], run_max[4], run_sum[4];
    for (int i = 0; i < 4; i++) {
        run_max[i] = -INFINITY;
        run_sum[i] = 0.0f;
        for (int j = 0; j < DC; j++) o[i][j] = 0.0f;
    }
    for (int64_t kb = k_first / QF_PF_BK * QF_PF_BK; kb <= k_last; kb += QF_PF_BK) {
        __syncthreads(); /* the previous tile is consumed (first time: qt is written) */
        for (int idx = tid; idx < QF_PF_BK * D / 8; idx += 256) {
            const int c = idx / (D / 8), e0 = idx % (D / 8) * 8;
            uint4 kx = make_uint4(0, 0, 0, 0), vx = make_uint4(0, 0, 0, 0);
            if (kb + c <= k_last) {
                kx = *reinterpret_cast<const uint4 *>(kh + (kb + c) * D + e0);
                vx = *reinterpret_cast<const uint4 *>(vh + (kb + c) * D + e0);
            }
            *reinterpret_cast<uint4 *>(vs + c * D + e0) = vx;
            const __half *k8 = reinterpret_cast<const __half *>(&kx);
            for (int j = 0; j < 8; j++) kt[(e0 + j) * QF_PF_KS + c] = k8[j];
        }
        __syncthreads();
        float s[4][4];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) s[i][j] = 0.0f;
        for (int e = 0; e < D; e++) {
            const float4 qv = *reinterpret_cast<const float4 *>(qt + e * QF_PF_QS + ty * 4);
            const float qr[4] = {qv.x, qv.y, qv.z, qv.w};
            float kf[4];
            for (int j = 0; j < 4; j++) kf[j] = __half2float(kt[e * QF_PF_KS + tx + 16 * j]);
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) s[i][j] = fmaf(qr[i], kf[j], s[i][j]);
        }
        for (int i = 0; i < 4; i++) {
            float mx = run_max[i];
            for (int j = 0; j < 4; j++) {
                const int64_t pos = kb + tx + 16 * j;
                if (pos > last[i] || pos < first[i]) s[i][j] = -INFINITY;
                mx = fmaxf(mx, s[i][j]);
            }
            for (int off = 8; off > 0; off >>= 1)
                mx = fmaxf(mx, __shfl_xor_sync(0xFFFFFFFFu, mx, off));
            const float ref = mx == -INFINITY ? 0.0f : mx; /* no key yet: all weights 0 */
            const float corr = exp2f(run_max[i] - ref);
            float sum = 0.0f;
            for (int j = 0; j < 4; j++) {
                s[i][j] = exp2f(s[i][j] - ref);
                sum += s[i][j];
            }
            for (int off = 8; off > 0; off >>= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, off);
            run_sum[i] = fmaf(run_sum[i], corr, sum);
            run_max[i] = mx;
            for (int j = 0; j < DC; j++) o[i][j] *= corr;
            for (int j = 0; j < 4; j++) pt[(tx + 16 * j) * QF_PF_PS + ty * 4 + i] = s[i][j];
        }
        __syncthreads();
        for (int c = 0; c < QF_PF_BK; c++) {
            const float4 pv = *reinterpret_cast<const float4 *>(pt + c * QF_PF_PS + ty * 4);
            const float pr[4] = {pv.x, pv.y, pv.z, pv.w};
            float vf[DC];
            for (int j = 0; j < DC; j++) vf[j] = __half2float(vs[c * D + tx + 16 * j]);
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < DC; j++) o[i][j] = fmaf(pr[i], vf[j], o[i][j]);
        }
    }
    for (int i = 0; i < 4; i++) {
        const int64_t row = rb + ty * 4 + i;
        if (row >= rows) continue;
        float *orow = out + ((row / group) * n_heads + kvh * group + row % group) * D;
        for (int j = 0; j < DC; j++) orow[tx + 16 * j] = o[i][j] / run_sum[i];
    }
}

template <int D>
static qf_status qf_attn_prefill_launch(const qf_cuda_attn *a, const float *q, int64_t m,
                                        int64_t p0, const uint16_t *kc, const uint16_t *vc,
                                        float *out, cudaStream_t stream) {
    const size_t smem = qf_pf_smem(D);
    QF_CUDA_TRY(cudaFuncSetAttribute(qf_attn_prefill_kernel<D>,
                                     cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem),
                "prefill attention: shared memory");
    const int64_t group = a->n_heads / a->n_kv;
    const int64_t blocks = (m * group + QF_PF_BR - 1) / QF_PF_BR;
    QF_RETURN_IF(blocks > 0x7FFFFFFF, QF_STATUS_INVALID_ARG,
                 "prefill attention: %lld row blocks", (long long)blocks);
    const float scale2 = (float)((double)a->scale * 1.4426950408889634);
    const dim3 grid((unsigned)blocks, (unsigned)a->n_kv);
    qf_attn_prefill_kernel<D><<<grid, 256, smem, stream>>>(
        q, m, p0, a->n_heads, group, a->cap, a->window, scale2,
        reinterpret_cast<const __half *>(kc), reinterpret_cast<const __half *>(vc), out);
    QF_CUDA_LAUNCHED("prefill attention kernel");
    return QF_STATUS_OK;
}

extern "C" qf_status qf_cuda_attention_prefill(const qf_cuda_attn *a, const float *q, int64_t m,
                                               int64_t p0, const uint16_t *kc,
                                               const uint16_t *vc, float *out, void *stream) {
    QF_FORWARD(qf_cuda_attn_check(a, p0, m, "prefill attention"));
    QF_RETURN_IF(((uintptr_t)kc | (uintptr_t)vc) % 16 != 0, QF_STATUS_INVALID_ARG,
                 "prefill attention: KV cache not 16-byte aligned");
    if (m == 0) return QF_STATUS_OK;
    if (a->head_dim == 64)
        return qf_attn_prefill_launch<64>(a, q, m, p0, kc, vc, out, (cudaStream_t)stream);
    return qf_attn_prefill_launch<128>(a, q, m, p0, kc, vc, out, (cudaStream_t)stream);
}
