/* Causal self-attention over the KV cache, with GQA/MQA head sharing and the Mistral
 * sliding window (key j visible from position p iff j <= p and p - j < window, as
 * transformers' sliding_window_overlay). The reference materialises one query's scores
 * and does a plain softmax; the block version walks the keys in blocks with an online
 * (running max) softmax, so memory stays O(block), never O(n^2). */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "runtime/cpu/exp_neg.h"
#include "runtime/cpu/kernels.h"

/* First key visible from position p. */
static int64_t qf_cpu_attn_first_key(const qf_cpu_attn *a, int64_t p) {
    return (a->window > 0 && p - a->window + 1 > 0) ? p - a->window + 1 : 0;
}

/* Rows (query, head) of a task from which Q K^T and P V go through sgemm. */
#define QF_CPU_ATTN_GEMM_ROWS 16

/* Where key position j of kv head h keeps element i. */
static size_t qf_cpu_attn_kidx(const qf_cpu_attn *a, int64_t h, int64_t j, int64_t i) {
    const int64_t d = a->head_dim;
    return (size_t)(h * a->cap * d + (j / QF_CPU_ATTN_KEYS) * d * QF_CPU_ATTN_KEYS +
                    i * QF_CPU_ATTN_KEYS + j % QF_CPU_ATTN_KEYS);
}

void qf_cpu_attention_store(const qf_cpu_attn *a, float *kc, float *vc, int64_t kv_head,
                            int64_t pos, const float *k, const float *v) {
    const int64_t d = a->head_dim;
    for (int64_t i = 0; i < d; i++) kc[qf_cpu_attn_kidx(a, kv_head, pos, i)] = k[i];
    memcpy(vc + (kv_head * a->cap + pos) * d, v, (size_t)d * sizeof *v);
}

void qf_cpu_attention_ref(const qf_cpu_attn *a, const float *q, int64_t m, int64_t p0,
                          const float *kc, const float *vc, float *out, float *scores) {
    const int64_t d = a->head_dim, group = a->n_heads / a->n_kv;
    for (int64_t t = 0; t < m; t++) {
        const int64_t p = p0 + t, lo = qf_cpu_attn_first_key(a, p);
        for (int64_t h = 0; h < a->n_heads; h++) {
            const float *qh = q + (t * a->n_heads + h) * d;
            const float *vh = vc + (h / group) * a->cap * d;
            float mx = -INFINITY;
            for (int64_t j = lo; j <= p; j++) {
                float s = 0.0f;
                for (int64_t i = 0; i < d; i++)
                    s += qh[i] * kc[qf_cpu_attn_kidx(a, h / group, j, i)];
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
    const size_t d = (size_t)a->head_dim;
    /* acc, max, sum; queries gathered; scores (rows, KB) */
    return rows * (d + 2) + rows * d + rows * QF_CPU_ATTN_KEYS;
}

/* Adds the keys in [k_lo, k_hi) that each row sees to the rows' running softmax state:
 * acc (rows, d) unnormalised output, run_max and run_sum (rows); row r is (token
 * t0 + r / nq, head h0 + r % nq). Written once in plain C and compiled three times below
 * (AVX-512, AVX2+FMA, baseline x86-64) by inlining it into functions with those targets;
 * the loops are vectorised for each (scores across keys against the transposed key
 * block, the exponentials, the value updates across head_dim). s holds KB floats. */
static inline __attribute__((always_inline)) void
qf_cpu_attention_accum(const qf_cpu_attn *a, const float *q, int64_t p0, int64_t t0, int64_t t1,
                       int64_t h0, int64_t h1, int64_t k_lo, int64_t k_hi, const float *kc,
                       const float *vc, float *acc, float *run_max, float *run_sum, float *s) {
    enum { KB = QF_CPU_ATTN_KEYS };
    const int64_t d = a->head_dim, nq = h1 - h0, rows = (t1 - t0) * nq;
    const int64_t kv_head = h0 / (a->n_heads / a->n_kv);
    const float *vh = vc + kv_head * a->cap * d;
    const int64_t f0 = qf_cpu_attn_first_key(a, p0 + t0), first = f0 > k_lo ? f0 : k_lo;
    const int64_t last = p0 + t1 - 1 < k_hi - 1 ? p0 + t1 - 1 : k_hi - 1;
    /* whole cache blocks; scores outside a row's keys are computed and not used */
    for (int64_t kb = first - first % KB; kb <= last; kb += KB) {
        const int64_t nk = last - kb + 1 < KB ? last - kb + 1 : KB;
        const float *kt = kc + qf_cpu_attn_kidx(a, kv_head, kb, 0); /* (d, KB) */
        for (int64_t r = 0; r < rows; r++) {
            const int64_t t = t0 + r / nq, h = h0 + r % nq, p = p0 + t;
            /* keys of this row within the block: [lo, hi) relative to kb */
            int64_t f = qf_cpu_attn_first_key(a, p);
            f = f > k_lo ? f : k_lo;
            const int64_t lo = f > kb ? f - kb : 0, hi = p - kb + 1 < nk ? p - kb + 1 : nk;
            if (lo >= hi) continue;
            const float *qh = q + (t * a->n_heads + h) * d;
            /* vectorised across keys; four rows of kt per pass over s (s is stored once
             * per four multiply-adds, not after each) */
#pragma omp simd
            for (int64_t j = 0; j < KB; j++) s[j] = 0.0f;
            int64_t i = 0;
            for (; i + 4 <= d; i += 4) {
                const float q0 = qh[i], q1 = qh[i + 1], q2 = qh[i + 2], q3 = qh[i + 3];
                const float *k0 = kt + i * KB, *k1 = k0 + KB, *k2 = k1 + KB, *k3 = k2 + KB;
#pragma omp simd
                for (int64_t j = 0; j < KB; j++)
                    s[j] += q0 * k0[j] + q1 * k1[j] + q2 * k2[j] + q3 * k3[j];
            }
            for (; i < d; i++) {
                const float qi = qh[i], *ki = kt + i * KB;
#pragma omp simd
                for (int64_t j = 0; j < KB; j++) s[j] += qi * ki[j];
            }
            float mx = run_max[r];
            for (int64_t j = lo; j < hi; j++) {
                s[j] *= a->scale;
                mx = s[j] > mx ? s[j] : mx;
            }
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int64_t j = lo; j < hi; j++) {
                s[j] = qf_cpu_exp_neg(s[j] - mx);
                sum += s[j];
            }
            const float corr = qf_cpu_exp_neg(run_max[r] - mx); /* ~0 on the first block */
            /* vectorised across head_dim; four values per pass over the accumulator */
            float *ar = acc + r * d;
#pragma omp simd
            for (int64_t e = 0; e < d; e++) ar[e] *= corr;
            int64_t j = lo;
            for (; j + 4 <= hi; j += 4) {
                const float s0 = s[j], s1 = s[j + 1], s2 = s[j + 2], s3 = s[j + 3];
                const float *v0 = vh + (kb + j) * d, *v1 = v0 + d, *v2 = v1 + d, *v3 = v2 + d;
#pragma omp simd
                for (int64_t e = 0; e < d; e++)
                    ar[e] += s0 * v0[e] + s1 * v1[e] + s2 * v2[e] + s3 * v3[e];
            }
            for (; j < hi; j++) {
                const float sj = s[j], *vj = vh + (kb + j) * d;
#pragma omp simd
                for (int64_t e = 0; e < d; e++) ar[e] += sj * vj[e];
            }
            run_max[r] = mx;
            run_sum[r] = run_sum[r] * corr + sum;
        }
    }
}

static void qf_cpu_attention_start(int64_t rows, int64_t d, float *acc, float *run_max,
                                   float *run_sum) {
    memset(acc, 0, (size_t)(rows * d) * sizeof *acc);
    for (int64_t r = 0; r < rows; r++) {
        run_max[r] = -INFINITY;
        run_sum[r] = 0.0f;
    }
}

/* out rows (token, head) = acc / run_sum. */
static void qf_cpu_attention_finish(const qf_cpu_attn *a, int64_t t0, int64_t t1, int64_t h0,
                                    int64_t h1, const float *acc, const float *run_sum,
                                    float *out) {
    const int64_t d = a->head_dim, nq = h1 - h0;
    for (int64_t r = 0; r < (t1 - t0) * nq; r++) {
        float *oh = out + ((t0 + r / nq) * a->n_heads + h0 + r % nq) * d;
        const float inv = 1.0f / run_sum[r], *ar = acc + r * d;
        for (int64_t i = 0; i < d; i++) oh[i] = ar[i] * inv;
    }
}

/* The same for many rows (prefill): Q K^T and P V of a whole key block as two
 * single-threaded sgemm calls (whole blocks, masked entries given probability 0), the
 * softmax between them vectorised; ~10% faster SmolLM2 prefill at 2048 tokens. */
static inline __attribute__((always_inline)) void
qf_cpu_attention_gemm(const qf_cpu_attn *a, const float *q, int64_t p0, int64_t t0, int64_t t1,
                      int64_t h0, int64_t h1, const float *kc, const float *vc, float *out,
                      float *scratch) {
    enum { KB = QF_CPU_ATTN_KEYS };
    const int64_t d = a->head_dim, nq = h1 - h0, rows = (t1 - t0) * nq;
    const int64_t kv_head = h0 / (a->n_heads / a->n_kv);
    float *acc = scratch;            /* (rows, d) unnormalised output; row = (token, head) */
    float *run_max = acc + rows * d; /* (rows) */
    float *run_sum = run_max + rows; /* (rows) */
    float *qs = run_sum + rows;      /* (rows, d) the queries, contiguous */
    float *s = qs + rows * d;        /* (rows, KB) scores, then probabilities */
    qf_cpu_attention_start(rows, d, acc, run_max, run_sum);
    for (int64_t r = 0; r < rows; r++)
        memcpy(qs + r * d, q + ((t0 + r / nq) * a->n_heads + h0 + r % nq) * d,
               (size_t)d * sizeof *qs);
    const float *vh = vc + kv_head * a->cap * d;
    const int64_t first = qf_cpu_attn_first_key(a, p0 + t0), last = p0 + t1 - 1;
    for (int64_t kb = first - first % KB; kb <= last; kb += KB) {
        const int64_t nk = last - kb + 1 < KB ? last - kb + 1 : KB;
        const float *kt = kc + qf_cpu_attn_kidx(a, kv_head, kb, 0); /* (d, KB) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, KB, (int)d, a->scale,
                    qs, (int)d, kt, KB, 0.0f, s, KB);
        for (int64_t r = 0; r < rows; r++) {
            const int64_t p = p0 + t0 + r / nq;
            const int64_t f = qf_cpu_attn_first_key(a, p), lo = f > kb ? f - kb : 0;
            const int64_t hi = p - kb + 1 < nk ? p - kb + 1 : nk;
            float *sr = s + r * KB, *ar = acc + r * d;
            float mx = run_max[r];
            for (int64_t j = lo; j < hi; j++) mx = sr[j] > mx ? sr[j] : mx;
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int64_t j = 0; j < nk; j++) {
                sr[j] = j >= lo && j < hi ? qf_cpu_exp_neg(sr[j] - mx) : 0.0f;
                sum += sr[j];
            }
            const float corr = lo < hi ? qf_cpu_exp_neg(run_max[r] - mx) : 1.0f;
#pragma omp simd
            for (int64_t e = 0; e < d; e++) ar[e] *= corr;
            run_max[r] = mx;
            run_sum[r] = run_sum[r] * corr + sum;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)d, (int)nk, 1.0f,
                    s, KB, vh + kb * d, (int)d, 1.0f, acc, (int)d);
    }
    qf_cpu_attention_finish(a, t0, t1, h0, h1, acc, run_sum, out);
}

/* One task: sgemm for many rows (prefill), the vector loops for few (decode). */
static inline __attribute__((always_inline)) void
qf_cpu_attention_task(const qf_cpu_attn *a, const float *q, int64_t p0, int64_t t0, int64_t t1,
                      int64_t h0, int64_t h1, const float *kc, const float *vc, float *out,
                      float *scratch) {
    const int64_t rows = (t1 - t0) * (h1 - h0), d = a->head_dim;
    if (rows >= QF_CPU_ATTN_GEMM_ROWS) {
        qf_cpu_attention_gemm(a, q, p0, t0, t1, h0, h1, kc, vc, out, scratch);
        return;
    }
    float *acc = scratch, *run_max = acc + rows * d, *run_sum = run_max + rows;
    qf_cpu_attention_start(rows, d, acc, run_max, run_sum);
    qf_cpu_attention_accum(a, q, p0, t0, t1, h0, h1, 0, p0 + t1, kc, vc, acc, run_max, run_sum,
                           run_sum + rows);
    qf_cpu_attention_finish(a, t0, t1, h0, h1, acc, run_sum, out);
}

__attribute__((target("avx512f,avx2,fma"))) static void
qf_cpu_attention_avx512(const qf_cpu_attn *a, const float *q, int64_t p0, int64_t t0, int64_t t1,
                        int64_t h0, int64_t h1, const float *kc, const float *vc, float *out,
                        float *scratch) {
    qf_cpu_attention_task(a, q, p0, t0, t1, h0, h1, kc, vc, out, scratch);
}

__attribute__((target("avx2,fma"))) static void
qf_cpu_attention_avx2(const qf_cpu_attn *a, const float *q, int64_t p0, int64_t t0, int64_t t1,
                      int64_t h0, int64_t h1, const float *kc, const float *vc, float *out,
                      float *scratch) {
    qf_cpu_attention_task(a, q, p0, t0, t1, h0, h1, kc, vc, out, scratch);
}

/* One query token at position p, heads h0..h1-1, keys [k_lo, k_hi): the state of
 * qf_cpu_attention_partial. */
static inline __attribute__((always_inline)) void
qf_cpu_attention_part(const qf_cpu_attn *a, const float *q, int64_t p, int64_t h0, int64_t h1,
                      int64_t k_lo, int64_t k_hi, const float *kc, const float *vc, float *acc,
                      float *run_max, float *run_sum, float *scratch) {
    qf_cpu_attention_start(h1 - h0, a->head_dim, acc, run_max, run_sum);
    qf_cpu_attention_accum(a, q, p, 0, 1, h0, h1, k_lo, k_hi, kc, vc, acc, run_max, run_sum,
                           scratch);
}

__attribute__((target("avx512f,avx2,fma"))) static void
qf_cpu_attention_part_avx512(const qf_cpu_attn *a, const float *q, int64_t p, int64_t h0,
                             int64_t h1, int64_t k_lo, int64_t k_hi, const float *kc,
                             const float *vc, float *acc, float *run_max, float *run_sum,
                             float *scratch) {
    qf_cpu_attention_part(a, q, p, h0, h1, k_lo, k_hi, kc, vc, acc, run_max, run_sum, scratch);
}

__attribute__((target("avx2,fma"))) static void
qf_cpu_attention_part_avx2(const qf_cpu_attn *a, const float *q, int64_t p, int64_t h0,
                           int64_t h1, int64_t k_lo, int64_t k_hi, const float *kc,
                           const float *vc, float *acc, float *run_max, float *run_sum,
                           float *scratch) {
    qf_cpu_attention_part(a, q, p, h0, h1, k_lo, k_hi, kc, vc, acc, run_max, run_sum, scratch);
}

void qf_cpu_attention_partial_at(int level, const qf_cpu_attn *a, const float *q, int64_t p,
                                 int64_t h0, int64_t h1, int64_t k_lo, int64_t k_hi,
                                 const float *kc, const float *vc, float *acc, float *run_max,
                                 float *run_sum, float *scratch) {
    switch (level) {
    case 2:
        qf_cpu_attention_part_avx512(a, q, p, h0, h1, k_lo, k_hi, kc, vc, acc, run_max, run_sum,
                                     scratch);
        break;
    case 1:
        qf_cpu_attention_part_avx2(a, q, p, h0, h1, k_lo, k_hi, kc, vc, acc, run_max, run_sum,
                                   scratch);
        break;
    default:
        qf_cpu_attention_part(a, q, p, h0, h1, k_lo, k_hi, kc, vc, acc, run_max, run_sum,
                              scratch);
        break;
    }
}

void qf_cpu_attention_partial(const qf_cpu_attn *a, const float *q, int64_t p, int64_t h0,
                              int64_t h1, int64_t k_lo, int64_t k_hi, const float *kc,
                              const float *vc, float *acc, float *run_max, float *run_sum,
                              float *scratch) {
    qf_cpu_attention_partial_at(qf_cpu_simd_level(), a, q, p, h0, h1, k_lo, k_hi, kc, vc, acc,
                                run_max, run_sum, scratch);
}

void qf_cpu_attention_merge(int64_t parts, int64_t rows, int64_t d, const float *acc,
                            const float *run_max, const float *run_sum, float *out) {
    for (int64_t r = 0; r < rows; r++) {
        float mx = -INFINITY;
        for (int64_t k = 0; k < parts; k++)
            mx = run_max[k * rows + r] > mx ? run_max[k * rows + r] : mx;
        float *o = out + r * d, sum = 0.0f;
        for (int64_t i = 0; i < d; i++) o[i] = 0.0f;
        for (int64_t k = 0; k < parts; k++) {
            if (run_sum[k * rows + r] == 0.0f) continue; /* no keys in this part */
            const float w = expf(run_max[k * rows + r] - mx), *ak = acc + (k * rows + r) * d;
            sum += run_sum[k * rows + r] * w;
            for (int64_t i = 0; i < d; i++) o[i] += ak[i] * w;
        }
        for (int64_t i = 0; i < d; i++) o[i] /= sum;
    }
}

void qf_cpu_attention_block_at(int level, const qf_cpu_attn *a, const float *q, int64_t p0,
                               int64_t t0, int64_t t1, int64_t h0, int64_t h1, const float *kc,
                               const float *vc, float *out, float *scratch) {
    switch (level) {
    case 2: qf_cpu_attention_avx512(a, q, p0, t0, t1, h0, h1, kc, vc, out, scratch); break;
    case 1: qf_cpu_attention_avx2(a, q, p0, t0, t1, h0, h1, kc, vc, out, scratch); break;
    default: qf_cpu_attention_task(a, q, p0, t0, t1, h0, h1, kc, vc, out, scratch); break;
    }
}

void qf_cpu_attention_block(const qf_cpu_attn *a, const float *q, int64_t p0, int64_t t0,
                            int64_t t1, int64_t h0, int64_t h1, const float *kc, const float *vc,
                            float *out, float *scratch) {
    qf_cpu_attention_block_at(qf_cpu_simd_level(), a, q, p0, t0, t1, h0, h1, kc, vc, out,
                              scratch);
}
