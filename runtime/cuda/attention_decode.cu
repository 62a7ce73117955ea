/* Decode attention on the device (flash-decoding): one query token at position p over the
 * KV cache (fp16 or int8), split over the keys so that short batches still fill the GPU.
 *
 * Grid (ranges, kv heads, head chunks): a block takes up to 8 query heads of one kv head's
 * group (so the group shares every K/V tile it loads) and one key range of
 * qf_cuda_attn_split_range (whole 64-key tiles). Per tile: K and V in shared memory as
 * stored (fp16 / int8 codes, key rows padded so the per-key dot products are free of bank
 * conflicts), scores one (head, key) per thread, online softmax one warp per head (running
 * max and sum in fp32), then O += P V with each thread owning up to 4 (head, column)
 * outputs in registers. int8: the key scale multiplies the dot product, the value scale
 * the probability. Each block writes its unnormalised state (acc, max, sum; max in log2
 * units, as the queries are pre-multiplied by scale * log2(e)) to the workspace; a second
 * kernel combines the ranges per head (qf_cpu_attention_merge's formula). */
#include <cuda_fp16.h>

#include "runtime/cuda/cuda_check.h"

#define QF_DC_BK QF_CUDA_ATTN_KEYS
#define QF_DC_H QF_CUDA_ATTN_HEADS

static __device__ __forceinline__ float qf_dc_f(__half x) { return __half2float(x); }
static __device__ __forceinline__ float qf_dc_f(int8_t x) { return (float)x; }

/* sum_e q[e] k[e], k a shared key row (4-byte aligned). */
static __device__ __forceinline__ float qf_dc_dot(const float *q, const __half *k, int d) {
    float s = 0.0f;
    for (int e = 0; e < d; e += 2) {
        const float2 kf = __half22float2(*reinterpret_cast<const __half2 *>(k + e));
        s = fmaf(q[e], kf.x, s);
        s = fmaf(q[e + 1], kf.y, s);
    }
    return s;
}

static __device__ __forceinline__ float qf_dc_dot(const float *q, const int8_t *k, int d) {
    float s = 0.0f;
    for (int e = 0; e < d; e += 4) {
        const char4 c = *reinterpret_cast<const char4 *>(k + e);
        s = fmaf(q[e], (float)c.x, s);
        s = fmaf(q[e + 1], (float)c.y, s);
        s = fmaf(q[e + 2], (float)c.z, s);
        s = fmaf(q[e + 3], (float)c.w, s);
    }
    return s;
}

/* Rows [kb, kb + BK) of a (cap, D) cache head into shared rows of `stride` elements, 16
 * bytes per load; rows outside [lo, hi) become zeros. */
template <int D, typename T>
static __device__ void qf_dc_load(const T *__restrict__ src, int64_t kb, int64_t lo, int64_t hi,
                                  T *dst, int stride) {
    constexpr int VEC = 16 / (int)sizeof(T);
    for (int idx = threadIdx.x; idx < QF_DC_BK * D / VEC; idx += blockDim.x) {
        const int c = idx / (D / VEC), e0 = idx % (D / VEC) * VEC;
        uint4 x = make_uint4(0, 0, 0, 0);
        if (kb + c >= lo && kb + c < hi)
            x = *reinterpret_cast<const uint4 *>(src + (kb + c) * D + e0);
        uint32_t *d32 = reinterpret_cast<uint32_t *>(dst + c * stride + e0);
        d32[0] = x.x;
        d32[1] = x.y;
        d32[2] = x.z;
        d32[3] = x.w;
    }
}

/* ks, vs: the int8 cache's scales, NULL for fp16. */
template <int D, typename T>
static __global__ void __launch_bounds__(256)
    qf_attn_decode_kernel(const float *__restrict__ q, int64_t p, int64_t n_heads, int64_t group,
                          int64_t cap, int64_t window, float scale2, const T *__restrict__ kc,
                          const T *__restrict__ vc, const float *__restrict__ ks,
                          const float *__restrict__ vs, float *__restrict__ w_acc,
                          float *__restrict__ w_max, float *__restrict__ w_sum) {
    constexpr int KS = D + 4 / (int)sizeof(T); /* odd word stride: conflict-free key rows */
    constexpr int OPT = QF_DC_H * D / 256;     /* outputs per thread */
    __shared__ __align__(16) T k_t[QF_DC_BK * KS];
    __shared__ __align__(16) T v_t[QF_DC_BK * D];
    __shared__ float q_s[QF_DC_H * D], s_s[QF_DC_H * QF_DC_BK];
    __shared__ float ksc[QF_DC_BK], vsc[QF_DC_BK], corr_s[QF_DC_H];
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int64_t split = blockIdx.x, kvh = blockIdx.y, h0 = kvh * group + blockIdx.z * QF_DC_H;
    const int nh = (int)(group - blockIdx.z * QF_DC_H < QF_DC_H ? group - blockIdx.z * QF_DC_H
                                                                : QF_DC_H);
    int64_t lo, hi;
    qf_cuda_attn_split_range(window, p, gridDim.x, split, &lo, &hi);
    for (int idx = tid; idx < nh * D; idx += 256) q_s[idx] = q[h0 * D + idx] * scale2;
    const T *kh = kc + kvh * cap * D, *vh = vc + kvh * cap * D;

    float o[OPT], run_max = -INFINITY, run_sum = 0.0f; /* run_*: warp w's head */
    for (int k = 0; k < OPT; k++) o[k] = 0.0f;
    for (int64_t kb = lo / QF_DC_BK * QF_DC_BK; kb < hi; kb += QF_DC_BK) {
        __syncthreads(); /* the previous tile is consumed (first time: q_s is written) */
        qf_dc_load<D>(kh, kb, lo, hi, k_t, KS);
        qf_dc_load<D>(vh, kb, lo, hi, v_t, D);
        if (tid < QF_DC_BK) {
            const bool in = kb + tid >= lo && kb + tid < hi;
            ksc[tid] = ks && in ? ks[kvh * cap + kb + tid] : 1.0f;
            vsc[tid] = vs && in ? vs[kvh * cap + kb + tid] : 1.0f;
        }
        __syncthreads();
        for (int idx = tid; idx < nh * QF_DC_BK; idx += 256) {
            const int g = idx / QF_DC_BK, c = idx % QF_DC_BK;
            const float dot = qf_dc_dot(q_s + g * D, k_t + c * KS, D) * ksc[c];
            s_s[idx] = kb + c >= lo && kb + c < hi ? dot : -INFINITY;
        }
        __syncthreads();
        if (warp < nh) {
            float *sw = s_s + warp * QF_DC_BK;
            const float x0 = sw[lane], x1 = sw[lane + 32];
            float mx = fmaxf(run_max, fmaxf(x0, x1));
            for (int off = 16; off > 0; off >>= 1)
                mx = fmaxf(mx, __shfl_xor_sync(0xFFFFFFFFu, mx, off));
            const float ref = mx == -INFINITY ? 0.0f : mx;
            const float corr = exp2f(run_max - ref);
            const float e0 = exp2f(x0 - ref), e1 = exp2f(x1 - ref);
            float sum = e0 + e1;
            for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, off);
            run_sum = fmaf(run_sum, corr, sum);
            run_max = mx;
            sw[lane] = e0 * vsc[lane];
            sw[lane + 32] = e1 * vsc[lane + 32];
            if (lane == 0) corr_s[warp] = corr;
        }
        __syncthreads();
        for (int k = 0; k < OPT; k++) {
            const int idx = tid + 256 * k, g = idx / D, col = idx % D;
            if (g >= nh) continue;
            const float *sg = s_s + g * QF_DC_BK;
            float acc = o[k] * corr_s[g];
            for (int c = 0; c < QF_DC_BK; c++) acc = fmaf(sg[c], qf_dc_f(v_t[c * D + col]), acc);
            o[k] = acc;
        }
    }
    const int64_t base = split * n_heads + h0;
    for (int k = 0; k < OPT; k++) {
        const int idx = tid + 256 * k, g = idx / D;
        if (g < nh) w_acc[(base + g) * D + idx % D] = o[k];
    }
    if (warp < nh && lane == 0) {
        w_max[base + warp] = run_max;
        w_sum[base + warp] = run_sum;
    }
}

/* out (n_heads, D) from the ranges' states; one block of D threads per head. */
static __global__ void qf_attn_combine_kernel(int64_t splits, int64_t n_heads, int d,
                                              const float *__restrict__ w_acc,
                                              const float *__restrict__ w_max,
                                              const float *__restrict__ w_sum, float *out) {
    const int64_t h = blockIdx.x;
    const int col = threadIdx.x;
    float mx = -INFINITY;
    for (int64_t s = 0; s < splits; s++)
        if (w_sum[s * n_heads + h] > 0.0f) mx = fmaxf(mx, w_max[s * n_heads + h]);
    float num = 0.0f, den = 0.0f;
    for (int64_t s = 0; s < splits; s++) {
        const float l = w_sum[s * n_heads + h];
        if (!(l > 0.0f)) continue; /* no keys in this range */
        const float w = exp2f(w_max[s * n_heads + h] - mx);
        den = fmaf(l, w, den);
        num = fmaf(w_acc[(s * n_heads + h) * d + col], w, num);
    }
    out[h * d + col] = num / den;
}

template <int D, typename T>
static qf_status qf_attn_decode_launch(const qf_cuda_attn *a, const float *q, int64_t p,
                                       const T *kc, const T *vc, const float *ks,
                                       const float *vs, int64_t splits, float *work, float *out,
                                       cudaStream_t stream) {
    const int64_t group = a->n_heads / a->n_kv;
    const dim3 grid((unsigned)splits, (unsigned)a->n_kv,
                    (unsigned)((group + QF_DC_H - 1) / QF_DC_H));
    const float scale2 = (float)((double)a->scale * 1.4426950408889634);
    float *w_acc = work, *w_max = work + splits * a->n_heads * D;
    float *w_sum = w_max + splits * a->n_heads;
    qf_attn_decode_kernel<D, T><<<grid, 256, 0, stream>>>(q, p, a->n_heads, group, a->cap,
                                                          a->window, scale2, kc, vc, ks, vs,
                                                          w_acc, w_max, w_sum);
    QF_CUDA_LAUNCHED("decode attention kernel");
    qf_attn_combine_kernel<<<(unsigned)a->n_heads, D, 0, stream>>>(splits, a->n_heads, D, w_acc,
                                                                    w_max, w_sum, out);
    QF_CUDA_LAUNCHED("decode attention combine kernel");
    return QF_STATUS_OK;
}

static qf_status qf_attn_decode_check(const qf_cuda_attn *a, int64_t p, int64_t splits,
                                      const void *kc, const void *vc, const char *what) {
    QF_FORWARD(qf_cuda_attn_check(a, p, 1, what));
    QF_RETURN_IF(splits < 1 || splits > QF_CUDA_ATTN_MAX_SPLITS, QF_STATUS_INVALID_ARG,
                 "%s: %lld key ranges (1..%d)", what, (long long)splits,
                 QF_CUDA_ATTN_MAX_SPLITS);
    QF_RETURN_IF(a->n_heads > 0x7FFFFFFF, QF_STATUS_INVALID_ARG, "%s: %lld heads", what,
                 (long long)a->n_heads);
    QF_RETURN_IF(((uintptr_t)kc | (uintptr_t)vc) % 16 != 0, QF_STATUS_INVALID_ARG,
                 "%s: KV cache not 16-byte aligned", what);
    return QF_STATUS_OK;
}

extern "C" qf_status qf_cuda_attention_decode(const qf_cuda_attn *a, const float *q, int64_t p,
                                              const uint16_t *kc, const uint16_t *vc,
                                              int64_t splits, float *work, float *out,
                                              void *stream) {
    QF_FORWARD(qf_attn_decode_check(a, p, splits, kc, vc, "decode attention (fp16)"));
    const __half *k = reinterpret_cast<const __half *>(kc);
    const __half *v = reinterpret_cast<const __half *>(vc);
    if (a->head_dim == 64)
        return qf_attn_decode_launch<64>(a, q, p, k, v, NULL, NULL, splits, work, out,
                                         (cudaStream_t)stream);
    return qf_attn_decode_launch<128>(a, q, p, k, v, NULL, NULL, splits, work, out,
                                      (cudaStream_t)stream);
}

extern "C" qf_status qf_cuda_attention_decode_i8(const qf_cuda_attn *a, const float *q,
                                                 int64_t p, const qf_cuda_kv_i8 *c,
                                                 int64_t splits, float *work, float *out,
                                                 void *stream) {
    QF_FORWARD(qf_attn_decode_check(a, p, splits, c->k, c->v, "decode attention (int8)"));
    const int8_t *k = c->k, *v = c->v;
    if (a->head_dim == 64)
        return qf_attn_decode_launch<64>(a, q, p, k, v, c->ks, c->vs, splits, work, out,
                                         (cudaStream_t)stream);
    return qf_attn_decode_launch<128>(a, q, p, k, v, c->ks, c->vs, splits, work, out,
                                      (cudaStream_t)stream);
}

extern "C" qf_status qf_cuda_sm_count(int64_t *n) {
    int dev = 0, sms = 0;
    *n = 0;
    QF_CUDA_TRY(cudaGetDevice(&dev), "cudaGetDevice");
    QF_CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev),
                "multiprocessor count");
    *n = sms;
    return QF_STATUS_OK;
}
