/* CPU kernels of the forward pass. Each SIMD kernel has a plain scalar `_ref` twin that is
 * the ground truth (tests/test_kernels.c compares them); the unsuffixed name picks the best
 * version for this CPU at run time (AVX-512, AVX2+F16C+FMA, else the reference). Kernels
 * are single-threaded: callers split the work (runtime/forward.c). */
#ifndef QF_CPU_KERNELS_H
#define QF_CPU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "runtime/arch.h"

/* ---- F16 <-> F32 conversion (runtime/cpu/f16.c) --------------------------------------- */
void qf_cpu_f16_to_f32_ref(const uint16_t *src, float *dst, int64_t n);
void qf_cpu_f16_to_f32_avx2(const uint16_t *src, float *dst, int64_t n);
void qf_cpu_f16_to_f32_avx512(const uint16_t *src, float *dst, int64_t n);
void qf_cpu_f16_to_f32(const uint16_t *src, float *dst, int64_t n);
/* F32 -> F16, round to nearest even (qf_fp32_to_fp16), for loading weights. */
void qf_cpu_f32_to_f16_ref(const float *src, uint16_t *dst, int64_t n);
void qf_cpu_f32_to_f16_avx2(const float *src, uint16_t *dst, int64_t n);
void qf_cpu_f32_to_f16_avx512(const float *src, uint16_t *dst, int64_t n);
void qf_cpu_f32_to_f16(const float *src, uint16_t *dst, int64_t n);

/* ---- F16 matrix x F32 vector (runtime/cpu/gemv_f16.c) -------------------------------- */
/* y[r] = sum_i w[r*k + i] * x[i] for r in [0, rows): w is (rows, k) F16, row-major. */
void qf_cpu_gemv_f16_ref(const uint16_t *w, const float *x, float *y, int64_t rows, int64_t k);
void qf_cpu_gemv_f16_avx2(const uint16_t *w, const float *x, float *y, int64_t rows, int64_t k);
void qf_cpu_gemv_f16_avx512(const uint16_t *w, const float *x, float *y, int64_t rows,
                            int64_t k);
void qf_cpu_gemv_f16(const uint16_t *w, const float *x, float *y, int64_t rows, int64_t k);

/* Which SIMD level the dispatching kernels use: 2 = AVX-512, 1 = AVX2, 0 = reference. */
int qf_cpu_simd_level(void);

/* ---- RMSNorm (runtime/cpu/rmsnorm.c) ------------------------------------------------- */
/* y = w * (x * rsqrt(mean(x^2) + eps)) for each of m rows of n (transformers' order). */
void qf_cpu_rmsnorm_ref(const float *x, const float *w, float *y, int64_t m, int64_t n,
                        float eps);
void qf_cpu_rmsnorm(const float *x, const float *w, float *y, int64_t m, int64_t n, float eps);

/* ---- RoPE (runtime/cpu/rope.c) ------------------------------------------------------- */
/* Inverse frequencies (head_dim/2) and the cos/sin multiplier for the config's scaling
 * type, computed as transformers' modeling_rope_utils does (float32 where it uses
 * float32). seq_len is the longest position + 1 of the current forward call: only
 * dynamic NTK scaling depends on it. */
void qf_cpu_rope_freqs(const qf_model_config *cfg, int64_t seq_len, float *inv_freq,
                       float *attn_factor);
/* cos/sin tables (m, half) for positions p0..p0+m-1: angle = float(inv_freq * pos). */
void qf_cpu_rope_table(const float *inv_freq, int64_t half, float attn_factor, int64_t p0,
                       int64_t m, float *cos_t, float *sin_t);
/* Rotates `heads` consecutive heads of 2*half floats in place for each of m tokens (token t
 * at x + t * stride), rotate_half convention (first half / second half of each head), with
 * the tables of qf_cpu_rope_table. */
void qf_cpu_rope_apply(float *x, int64_t m, int64_t stride, int64_t heads, int64_t half,
                       const float *cos_t, const float *sin_t);
/* Same result computing each angle's cos/sin directly (no tables). */
void qf_cpu_rope_apply_ref(float *x, int64_t m, int64_t stride, int64_t heads, int64_t half,
                           const float *inv_freq, float attn_factor, int64_t p0);

/* ---- attention (runtime/cpu/attention.c) --------------------------------------------- */
#define QF_CPU_ATTN_QUERIES 16
#define QF_CPU_ATTN_KEYS 64

typedef struct qf_cpu_attn {
    int64_t n_heads, n_kv, head_dim;
    int64_t cap;    /* positions per kv head in the caches, a multiple of QF_CPU_ATTN_KEYS */
    int64_t window; /* > 0: query at position p sees keys j with p - j < window */
    float scale;    /* applied to q.k (head_dim^-0.5) */
} qf_cpu_attn;

/* Cache layouts, per kv head: values (cap, head_dim); keys in blocks of
 * QF_CPU_ATTN_KEYS positions stored transposed, (cap / KEYS, head_dim, KEYS), so that the
 * attention reads a key block as it computes with it. This writes position pos. */
void qf_cpu_attention_store(const qf_cpu_attn *a, float *kc, float *vc, int64_t kv_head,
                            int64_t pos, const float *k, const float *v);

/* Causal attention of m queries at positions p0..p0+m-1.
 * q, out: (m, n_heads, head_dim); kc, vc: caches of n_kv heads holding positions
 * 0..p0+m-1. Query head h uses kv head h / (n_heads / n_kv). */
/* Reference: full softmax per query; scores holds p0+m floats. */
void qf_cpu_attention_ref(const qf_cpu_attn *a, const float *q, int64_t m, int64_t p0,
                          const float *kc, const float *vc, float *out, float *scores);

/* Memory-efficient version: online softmax over blocks of QF_CPU_ATTN_KEYS keys, for the
 * queries t0..t1-1 (t1 - t0 <= QF_CPU_ATTN_QUERIES) and query heads h0..h1-1, which must
 * share one kv head (the runtime passes whole groups; the tests also single heads).
 * scratch holds qf_cpu_attention_scratch(a) floats. Tasks of many rows use sgemm: call it
 * with OpenBLAS held to one thread, like the linears. */
size_t qf_cpu_attention_scratch(const qf_cpu_attn *a);
void qf_cpu_attention_block(const qf_cpu_attn *a, const float *q, int64_t p0, int64_t t0,
                            int64_t t1, int64_t h0, int64_t h1, const float *kc, const float *vc,
                            float *out, float *scratch);
/* The same compiled for a given SIMD level (qf_cpu_simd_level numbering; at most the
 * CPU's own), for the tests. */
void qf_cpu_attention_block_at(int level, const qf_cpu_attn *a, const float *q, int64_t p0,
                               int64_t t0, int64_t t1, int64_t h0, int64_t h1, const float *kc,
                               const float *vc, float *out, float *scratch);

/* Decode split over the keys: the softmax state (acc (rows, head_dim) unnormalised, max,
 * sum; rows = heads h0..h1-1 of one kv group) of the query token q (n_heads, head_dim) at
 * position p over the keys [k_lo, k_hi) it sees; an empty range leaves sum 0. scratch
 * holds QF_CPU_ATTN_KEYS floats. */
void qf_cpu_attention_partial(const qf_cpu_attn *a, const float *q, int64_t p, int64_t h0,
                              int64_t h1, int64_t k_lo, int64_t k_hi, const float *kc,
                              const float *vc, float *acc, float *run_max, float *run_sum,
                              float *scratch);
void qf_cpu_attention_partial_at(int level, const qf_cpu_attn *a, const float *q, int64_t p,
                                 int64_t h0, int64_t h1, int64_t k_lo, int64_t k_hi,
                                 const float *kc, const float *vc, float *acc, float *run_max,
                                 float *run_sum, float *scratch);
/* Combines `parts` states (acc (parts, rows, d), max and sum (parts, rows)) into the
 * normalised attention output (rows, d). */
void qf_cpu_attention_merge(int64_t parts, int64_t rows, int64_t d, const float *acc,
                            const float *run_max, const float *run_sum, float *out);

/* ---- SwiGLU (runtime/cpu/swiglu.c) ---------------------------------------------------- */
/* gate[i] = silu(gate[i]) * up[i], silu(x) = x / (1 + exp(-x)). Scalar: its own reference. */
void qf_cpu_swiglu(float *gate, const float *up, int64_t n);

#endif
