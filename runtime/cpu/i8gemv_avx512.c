/* AVX-512 VNNI W8A8 rows (i8linear.h): vpdpbusd multiplies unsigned by signed bytes, so
 * the token's codes are offset by +128 once (u8) and 128 x the row's code sum is
 * subtracted from each dot product; 64 columns per instruction, four rows per pass. */
#include <immintrin.h>

#include "runtime/cpu/i8linear.h"

#define QF_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

QF_VNNI void qf_cpu_i8_rows_avx512vnni(const qf_cpu_i8linear *l, const int8_t *q, float xs,
                                        float *y, int64_t r0, int64_t r1) {
    const int64_t kp = l->kp;
    const __m512i off = _mm512_set1_epi8((char)0x80);
    int64_t o = r0;
    for (; o + 4 <= r1; o += 4) {
        const int8_t *w0 = l->w + o * kp, *w1 = w0 + kp, *w2 = w1 + kp, *w3 = w2 + kp;
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t i = 0; i < kp; i += 64) {
            const __m512i xu = _mm512_xor_si512(_mm512_loadu_si512(q + i), off); /* x + 128 */
            a0 = _mm512_dpbusd_epi32(a0, xu, _mm512_loadu_si512(w0 + i));
            a1 = _mm512_dpbusd_epi32(a1, xu, _mm512_loadu_si512(w1 + i));
            a2 = _mm512_dpbusd_epi32(a2, xu, _mm512_loadu_si512(w2 + i));
            a3 = _mm512_dpbusd_epi32(a3, xu, _mm512_loadu_si512(w3 + i));
        }
        const __m512i acc[4] = {a0, a1, a2, a3};
        for (int r = 0; r < 4; r++)
            y[o + r] = (float)(_mm512_reduce_add_epi32(acc[r]) - 128 * l->wsum[o + r]) *
                       (xs * l->scale[o + r]);
    }
    for (; o < r1; o++) {
        const int8_t *w = l->w + o * kp;
        __m512i a = _mm512_setzero_si512();
        for (int64_t i = 0; i < kp; i += 64)
            a = _mm512_dpbusd_epi32(a, _mm512_xor_si512(_mm512_loadu_si512(q + i), off),
                                    _mm512_loadu_si512(w + i));
        y[o] = (float)(_mm512_reduce_add_epi32(a) - 128 * l->wsum[o]) * (xs * l->scale[o]);
    }
}
