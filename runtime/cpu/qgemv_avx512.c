/* AVX-512 quantized GEMV (runtime/cpu/qlinear.h layout): each 32-column block is unpacked
 * into two vectors of 16 int32 codes, converted to float and multiplied with the prepared
 * activations; one vector accumulator per group is scaled into the row's total, the
 * zero-point term is subtracted once per row. One specialised loop per bit width. */
#include <immintrin.h>
#include <string.h>

#include "runtime/cpu/qlinear.h"

#define QF_AVX512 __attribute__((target("avx512f,avx512bw"), always_inline)) static inline

/* Codes of columns 0..15 (*lo) and 16..31 (*hi) of the block at b. */
QF_AVX512 void qf_qgemv512_unpack(const uint8_t *b, int bits, __m512i *lo, __m512i *hi) {
    if (bits == 8) {
        *lo = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)b));
        *hi = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(b + 16)));
    } else if (bits == 4) {
        const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)b));
        *lo = _mm512_and_si512(v, _mm512_set1_epi32(15));
        *hi = _mm512_srli_epi32(v, 4);
    } else {
        int64_t w;
        memcpy(&w, b, 8);
        const __m512i v = _mm512_cvtepu8_epi32(_mm_set1_epi64x(w));
        const __m512i three = _mm512_set1_epi32(3);
        const __m512i s_lo = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
        const __m512i s_hi = _mm512_add_epi32(s_lo, _mm512_set1_epi32(4));
        *lo = _mm512_and_si512(_mm512_srlv_epi32(v, s_lo), three);
        *hi = _mm512_and_si512(_mm512_srlv_epi32(v, s_hi), three);
        if (bits == 3) {
            int32_t m;
            memcpy(&m, b + 8, 4);
            const __m512i vm = _mm512_set1_epi32(m), one = _mm512_set1_epi32(1);
            const __m512i lanes =
                _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            const __m512i h_lo = _mm512_and_si512(_mm512_srlv_epi32(vm, lanes), one);
            const __m512i h_hi = _mm512_and_si512(
                _mm512_srlv_epi32(vm, _mm512_add_epi32(lanes, _mm512_set1_epi32(16))), one);
            *lo = _mm512_or_si512(*lo, _mm512_slli_epi32(h_lo, 2));
            *hi = _mm512_or_si512(*hi, _mm512_slli_epi32(h_hi, 2));
        }
    }
}

QF_AVX512 void qf_qgemv512_rows(const qf_cpu_qlinear *l, const float *xp, const float *xs,
                                float *y, int64_t r0, int64_t r1, int bits) {
    const int64_t G = l->n_groups;
    const size_t bb = (size_t)bits * 4;
    for (int64_t o = r0; o < r1; o++) {
        const uint8_t *b = l->codes + (size_t)o * l->row_bytes;
        const float *s = l->scales + o * G;
        const uint8_t *z = l->zeros + o * G;
        __m512 tot = _mm512_setzero_ps();
        float zt = 0.0f;
        for (int64_t g = 0; g < G; g++) {
            __m512 a0 = _mm512_setzero_ps(), a1 = a0;
            for (int64_t c = l->gstart[g]; c < l->gstart[g + 1]; c += QF_CPU_QBLOCK, b += bb) {
                __m512i lo, hi;
                qf_qgemv512_unpack(b, bits, &lo, &hi);
                a0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo), _mm512_loadu_ps(xp + c), a0);
                a1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(hi), _mm512_loadu_ps(xp + c + 16), a1);
            }
            tot = _mm512_fmadd_ps(_mm512_set1_ps(s[g]), _mm512_add_ps(a0, a1), tot);
            zt += s[g] * (float)z[g] * xs[g];
        }
        y[o] = _mm512_reduce_add_ps(tot) - zt;
    }
}

__attribute__((target("avx512f,avx512bw"))) void
qf_cpu_qgemv_avx512(const qf_cpu_qlinear *l, const float *xp, const float *xs, float *y,
                    int64_t r0, int64_t r1) {
    switch (l->bits) {
    case 8: qf_qgemv512_rows(l, xp, xs, y, r0, r1, 8); break;
    case 4: qf_qgemv512_rows(l, xp, xs, y, r0, r1, 4); break;
    case 3: qf_qgemv512_rows(l, xp, xs, y, r0, r1, 3); break;
    default: qf_qgemv512_rows(l, xp, xs, y, r0, r1, 2); break;
    }
}
