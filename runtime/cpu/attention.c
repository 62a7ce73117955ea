/* Causal self-attention over the KV cache, with GQA/MQA head sharing and the Mistral
 * sliding window (key j visible from position p iff j <= p and p - j < window, as
 * transformers' sliding_window_overlay). The reference materialises one query's scores
 * and does a plain softmax; the block version walks the keys in blocks with an online
 * (running max) softmax, so memory stays O(block), never O(n^2). */
#include <math.h>
#include <string.h>

#include "runtime/cpu/kernels.h"

/* First key visible from position p. */
static int64_t qf_cpu_attn_first_key(const qf_cpu_attn *a, int64_t p) {
    return (a->window > 0 && p - a->window + 1 > 0) ? p - a->window + 1 : 0;
}

void qf_cpu_attention_ref(const qf_cpu_attn *a, const float *q, int64_t m, int64_t p0,
                          const float *kc, const float *vc, float *out, float *scores) {
    const int64_t d = a->head_dim, group = a->n_heads / a->n_kv;
    for (int64_t t = 0; t < m; t++) {
        const int64_t p = p0 + t, lo = qf_cpu_attn_first_key(a, p);
        for (int64_t h = 0; h < a->n_heads; h++) {
            const float *qh = q + (t * a->n_heads + h) * d;
            const float *kh = kc + (h / group) * a->cap * d, *vh = vc + (h / group) * a->cap * d;
            float mx = -INFINITY;
            for (int64_t j = lo; j <= p; j++) {
                float s = 0.0f;
                for (int64_t i = 0; i < d; i++) s += qh[i] * kh[j * d + i];
                scores[j] = s * a->scale;
                if (scores[j] > mx) mx = scores[j];
            }
            float sum = 0.0f;
            for (int64_t j = lo; j <= p; j++) {
                scores[j] = expf(scores[j] - mx);
                sum += scores[j];
            }
            float *oh = out + (t * a->n_heads + h) * d;
            for (int64_t i = 0; i < d; i++) {
                float acc = 0.0f;
                for (int64_t j = lo; j <= p; j++) acc += (scores[j] / sum) * vh[j * d + i];
                oh[i] = acc;
            }
        }
    }
}

size_t qf_cpu_attention_scratch(const qf_cpu_attn *a) {
    const size_t rows = (size_t)QF_CPU_ATTN_QUERIES * (size_t)(a->n_heads / a->n_kv);
    return rows * ((size_t)a->head_dim + 2) + QF_CPU_ATTN_KEYS;
}

static inline float qf_cpu_dot(const float *x, const float *y, int64_t n) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) s += x[i] * y[i];
    return s;
}

/* acc = acc * c + p * v */
static inline void qf_cpu_axpby(float *acc, float c, float p, const float *v, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) acc[i] = acc[i] * c + p * v[i];
}

/* Cloned for AVX-512, AVX2+FMA and baseline x86-64, picked at load time (ifunc); the dot
 * products and updates above are inlined into each clone and vectorised for it. */
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void
qf_cpu_attention_block(const qf_cpu_attn *a, const float *q, int64_t p0, int64_t t0, int64_t t1,
                       int64_t kv_head, const float *kc, const float *vc, float *out,
                       float *scratch) {
    const int64_t d = a->head_dim, group = a->n_heads / a->n_kv, rows = (t1 - t0) * group;
    float *acc = scratch;               /* (rows, d) unnormalised output */
    float *run_max = acc + rows * d;     /* (rows) */
    float *run_sum = run_max + rows;     /* (rows) */
    float *s = run_sum + rows;           /* (QF_CPU_ATTN_KEYS) scores of one row */
    memset(acc, 0, (size_t)(rows * d) * sizeof *acc);
    for (int64_t r = 0; r < rows; r++) {
        run_max[r] = -INFINITY;
        run_sum[r] = 0.0f;
    }
    const float *kh = kc + kv_head * a->cap * d, *vh = vc + kv_head * a->cap * d;
    const int64_t first = qf_cpu_attn_first_key(a, p0 + t0), last = p0 + t1 - 1;
    for (int64_t kb = first; kb <= last; kb += QF_CPU_ATTN_KEYS) {
        const int64_t ke = kb + QF_CPU_ATTN_KEYS - 1 < last ? kb + QF_CPU_ATTN_KEYS - 1 : last;
        for (int64_t r = 0; r < rows; r++) {
            const int64_t t = t0 + r / group, h = kv_head * group + r % group, p = p0 + t;
            const int64_t lo = qf_cpu_attn_first_key(a, p) > kb ? qf_cpu_attn_first_key(a, p) : kb;
            const int64_t hi = p < ke ? p : ke;
            if (lo > hi) continue;
            const float *qh = q + (t * a->n_heads + h) * d;
            float mx = run_max[r];
            for (int64_t j = lo; j <= hi; j++) {
                s[j - lo] = qf_cpu_dot(qh, kh + j * d, d) * a->scale;
                if (s[j - lo] > mx) mx = s[j - lo];
            }
            const float corr = expf(run_max[r] - mx); /* 0 on the first block (-inf) */
            float *ar = acc + r * d, sum = run_sum[r] * corr;
            for (int64_t j = lo; j <= hi; j++) {
                const float e = expf(s[j - lo] - mx);
                sum += e;
                qf_cpu_axpby(ar, j == lo ? corr : 1.0f, e, vh + j * d, d);
            }
            run_max[r] = mx;
            run_sum[r] = sum;
        }
    }
    for (int64_t r = 0; r < rows; r++) {
        const int64_t t = t0 + r / group, h = kv_head * group + r % group;
        float *oh = out + (t * a->n_heads + h) * d;
        const float inv = 1.0f / run_sum[r], *ar = acc + r * d;
        for (int64_t i = 0; i < d; i++) oh[i] = ar[i] * inv;
    }
}
