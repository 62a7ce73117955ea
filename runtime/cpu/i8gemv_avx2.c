/* AVX2 W8A8 rows (i8linear.h): 16 int8 of the token and of a row widened to int16,
 * _mm256_madd_epi16 to 8 int32 lanes, four rows per pass sharing the token's widened
 * codes; exact int32 sums, then one horizontal sum per row. */
#include <immintrin.h>

#include "runtime/cpu/i8linear.h"

#define QF_AVX2 __attribute__((target("avx2")))

QF_AVX2 static int32_t qf_i8_hsum(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

QF_AVX2 static __m256i qf_i8_widen(const int8_t *p) {
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
}

QF_AVX2 void qf_cpu_i8_rows_avx2(const qf_cpu_i8linear *l, const int8_t *q, float xs, float *y,
                                 int64_t r0, int64_t r1) {
    const int64_t kp = l->kp;
    int64_t o = r0;
    for (; o + 4 <= r1; o += 4) {
        const int8_t *w0 = l->w + o * kp, *w1 = w0 + kp, *w2 = w1 + kp, *w3 = w2 + kp;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t i = 0; i < kp; i += 16) {
            const __m256i xv = qf_i8_widen(q + i);
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(xv, qf_i8_widen(w0 + i)));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(xv, qf_i8_widen(w1 + i)));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(xv, qf_i8_widen(w2 + i)));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(xv, qf_i8_widen(w3 + i)));
        }
        y[o] = (float)qf_i8_hsum(a0) * (xs * l->scale[o]);
        y[o + 1] = (float)qf_i8_hsum(a1) * (xs * l->scale[o + 1]);
        y[o + 2] = (float)qf_i8_hsum(a2) * (xs * l->scale[o + 2]);
        y[o + 3] = (float)qf_i8_hsum(a3) * (xs * l->scale[o + 3]);
    }
    for (; o < r1; o++) {
        const int8_t *w = l->w + o * kp;
        __m256i a = _mm256_setzero_si256();
        for (int64_t i = 0; i < kp; i += 16)
            a = _mm256_add_epi32(a, _mm256_madd_epi16(qf_i8_widen(q + i), qf_i8_widen(w + i)));
        y[o] = (float)qf_i8_hsum(a) * (xs * l->scale[o]);
    }
}
