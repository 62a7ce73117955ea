/* AVX2 W8A8 kernels (i8linear.h). The GEMM: a packed block's 4 columns x 16 rows
 * (64 bytes) widen to four int16 vectors; each token's 4 codes, widened and broadcast,
 * meet them in _mm256_madd_epi16 (exact int32 pair sums); two tokens at a time keep the
 * 8 accumulators, 4 weight vectors and the token in the 16 registers; the pair sums of a
 * row are added once at the end. The quantizer: max|x| and round(x / scale) 8 lanes at a
 * time, the tail in scalar code, the same bits as the definition. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "runtime/cpu/i8linear.h"

#define QF_AVX2 __attribute__((target("avx2")))
#define QF_AVX2_INLINE QF_AVX2 static inline __attribute__((always_inline))
#define QF_AVX2_PREFETCH 2048 /* bytes ahead in a block: one stream, little parallelism */

QF_AVX2 float qf_cpu_i8_quantize_avx2(const float *x, int64_t in, int64_t kp, float in_scale,
                                      int8_t *q) {
    float s = in_scale;
    int64_t i = 0;
    if (!(s > 0.0f)) {
        const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
        __m256 mx = _mm256_setzero_ps();
        for (; i + 8 <= in; i += 8) mx = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), abs), mx);
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        float m = _mm_cvtss_f32(h);
        for (; i < in; i++) {
            const float a = fabsf(x[i]);
            m = a > m ? a : m;
        }
        s = m / 127.5f;
    }
    if (!(s > 0.0f)) {
        memset(q, 0, (size_t)kp);
        return s;
    }
    const __m256 vs = _mm256_set1_ps(s), lo = _mm256_set1_ps(-128.0f), hi = _mm256_set1_ps(127.0f);
    for (i = 0; i + 8 <= in; i += 8) {
        __m256 r = _mm256_div_ps(_mm256_loadu_ps(x + i), vs);
        r = _mm256_round_ps(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m256i c = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(r, lo), hi));
        const __m128i h16 = _mm_packs_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
        _mm_storel_epi64((__m128i *)(q + i), _mm_packs_epi16(h16, h16));
    }
    for (; i < in; i++) q[i] = qf_cpu_i8_code(x[i], s);
    memset(q + in, 0, (size_t)(kp - in));
    return s;
}

/* Rows o0 .. o0 + 7 of one token from two accumulators (row r's pair sums in 64-bit
 * lane r: acc_a rows 0-3, acc_b rows 4-7). */
QF_AVX2_INLINE __m256i qf_avx2_rows8(__m256i a, __m256i b) {
    return _mm256_permute4x64_epi64(_mm256_hadd_epi32(a, b), 0xd8);
}

QF_AVX2_INLINE void qf_avx2_store(const qf_cpu_i8linear *l, __m256i acc, float xs, int64_t o0,
                                  float *y, int64_t r0, int64_t r1) {
    const __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc),
                                   _mm256_mul_ps(_mm256_set1_ps(xs), _mm256_loadu_ps(l->scale + o0)));
    if (o0 >= r0 && o0 + 8 <= r1) {
        _mm256_storeu_ps(y + o0, v);
        return;
    }
    float tmp[8];
    _mm256_storeu_ps(tmp, v);
    for (int64_t o = o0 < r0 ? r0 : o0; o < o0 + 8 && o < r1; o++) y[o] = tmp[o - o0];
}

/* Block b (16 rows) x nt (1 or 2) tokens; nt is a constant where called. */
QF_AVX2_INLINE void qf_avx2_tile(const qf_cpu_i8linear *l, const int8_t *q, const float *xs,
                                 const int nt, int64_t b, float *y, int64_t ldy, int64_t r0,
                                 int64_t r1) {
    const int64_t kp = l->kp;
    const int8_t *w = l->w + b * QF_CPU_I8_ROWS * kp;
    __m256i acc[2][4];
    #pragma GCC unroll 8
    for (int t = 0; t < nt; t++)
        #pragma GCC unroll 8
        for (int j = 0; j < 4; j++) acc[t][j] = _mm256_setzero_si256();
    for (int64_t k = 0; k < kp; k += 4) {
        const int8_t *wk = w + k * QF_CPU_I8_ROWS;
        _mm_prefetch((const char *)(wk + QF_AVX2_PREFETCH), _MM_HINT_T0);
        __m256i wv[4];
        #pragma GCC unroll 8
        for (int j = 0; j < 4; j++)
            wv[j] = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(wk + 16 * j)));
        #pragma GCC unroll 8
        for (int t = 0; t < nt; t++) {
            int32_t x4;
            memcpy(&x4, q + t * kp + k, 4);
            const __m256i xv = _mm256_broadcastq_epi64(_mm_cvtepi8_epi16(_mm_cvtsi32_si128(x4)));
            #pragma GCC unroll 8
            for (int j = 0; j < 4; j++)
                acc[t][j] = _mm256_add_epi32(acc[t][j], _mm256_madd_epi16(wv[j], xv));
        }
    }
    const int64_t o0 = b * QF_CPU_I8_ROWS;
    #pragma GCC unroll 8
    for (int t = 0; t < nt; t++) {
        qf_avx2_store(l, qf_avx2_rows8(acc[t][0], acc[t][1]), xs[t], o0, y + t * ldy, r0, r1);
        qf_avx2_store(l, qf_avx2_rows8(acc[t][2], acc[t][3]), xs[t], o0 + 8, y + t * ldy, r0, r1);
    }
}

QF_AVX2 void qf_cpu_i8_rows_avx2(const qf_cpu_i8linear *l, const int8_t *q, const float *xs,
                                 int nt, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    const int64_t b1 = (r1 + QF_CPU_I8_ROWS - 1) / QF_CPU_I8_ROWS;
    for (int64_t b = r0 / QF_CPU_I8_ROWS; b < b1; b++) {
        int t = 0;
        for (; t + 2 <= nt; t += 2) qf_avx2_tile(l, q + t * l->kp, xs + t, 2, b, y + t * ldy, ldy, r0, r1);
        if (t < nt) qf_avx2_tile(l, q + t * l->kp, xs + t, 1, b, y + t * ldy, ldy, r0, r1);
    }
}
