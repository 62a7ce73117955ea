/* AVX-512 quantized GEMV (runtime/cpu/qlinear.h layout): one 16-lane vector holds a tile's
 * 16 rows; each 16-byte column slot is widened to 16 int32 codes (one to four columns per
 * slot by bit width), converted to float and multiplied with the broadcast activation of
 * its column. Per group the accumulators are scaled by the 16 rows' scales after
 * subtracting zero point x group sum; no horizontal sums. One specialised loop per bit
 * width. */
#include <immintrin.h>

#include "runtime/cpu/qlinear.h"

#define QF_AVX512 __attribute__((target("avx512f"), always_inline)) static inline

QF_AVX512 __m512i qf_qgemv512_slot(const uint8_t *p) {
    return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
}

QF_AVX512 __m512 qf_qgemv512_fma(__m512i q, float x, __m512 acc) {
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(x), acc);
}

/* Bit 2 of column col's codes for the 16 rows, from the rows' 32-bit masks. */
QF_AVX512 __m512i qf_qgemv512_high(__m512i masks, int col) {
    const __m512i bit = _mm512_and_si512(_mm512_srl_epi32(masks, _mm_cvtsi32_si128(col)),
                                         _mm512_set1_epi32(1));
    return _mm512_slli_epi32(bit, 2);
}

/* Sum over the 32 columns of the block at b of code x xp for the 16 rows, into acc[4]. */
QF_AVX512 void qf_qgemv512_block(const uint8_t *b, const float *x, int bits, __m512 acc[4]) {
    if (bits == 8) {
        for (int j = 0; j < 16; j += 2) {
            acc[0] = qf_qgemv512_fma(qf_qgemv512_slot(b + 16 * j), x[j], acc[0]);
            acc[1] = qf_qgemv512_fma(qf_qgemv512_slot(b + 16 * (j + 1)), x[j + 1], acc[1]);
            acc[2] = qf_qgemv512_fma(qf_qgemv512_slot(b + 16 * (j + 16)), x[j + 16], acc[2]);
            acc[3] = qf_qgemv512_fma(qf_qgemv512_slot(b + 16 * (j + 17)), x[j + 17], acc[3]);
        }
    } else if (bits == 4) {
        const __m512i f = _mm512_set1_epi32(15);
        for (int j = 0; j < 16; j += 2) {
            const __m512i v0 = qf_qgemv512_slot(b + 16 * j), v1 = qf_qgemv512_slot(b + 16 * j + 16);
            acc[0] = qf_qgemv512_fma(_mm512_and_si512(v0, f), x[j], acc[0]);
            acc[1] = qf_qgemv512_fma(_mm512_and_si512(v1, f), x[j + 1], acc[1]);
            acc[2] = qf_qgemv512_fma(_mm512_srli_epi32(v0, 4), x[j + 16], acc[2]);
            acc[3] = qf_qgemv512_fma(_mm512_srli_epi32(v1, 4), x[j + 17], acc[3]);
        }
    } else {
        const __m512i three = _mm512_set1_epi32(3);
        const __m512i masks = bits == 3 ? _mm512_loadu_si512(b + 128) : _mm512_setzero_si512();
        for (int j = 0; j < 8; j++) {
            const __m512i v = qf_qgemv512_slot(b + 16 * j);
            __m512i q0 = _mm512_and_si512(v, three);
            __m512i q1 = _mm512_and_si512(_mm512_srli_epi32(v, 2), three);
            __m512i q2 = _mm512_and_si512(_mm512_srli_epi32(v, 4), three);
            __m512i q3 = _mm512_srli_epi32(v, 6);
            if (bits == 3) {
                q0 = _mm512_or_si512(q0, qf_qgemv512_high(masks, j));
                q1 = _mm512_or_si512(q1, qf_qgemv512_high(masks, j + 8));
                q2 = _mm512_or_si512(q2, qf_qgemv512_high(masks, j + 16));
                q3 = _mm512_or_si512(q3, qf_qgemv512_high(masks, j + 24));
            }
            acc[0] = qf_qgemv512_fma(q0, x[j], acc[0]);
            acc[1] = qf_qgemv512_fma(q1, x[j + 8], acc[1]);
            acc[2] = qf_qgemv512_fma(q2, x[j + 16], acc[2]);
            acc[3] = qf_qgemv512_fma(q3, x[j + 24], acc[3]);
        }
    }
}

QF_AVX512 void qf_qgemv512_rows(const qf_cpu_qlinear *l, const float *xp, const float *xs,
                                float *y, int64_t r0, int64_t r1, int bits) {
    const int64_t G = l->n_groups;
    const size_t bb = (size_t)bits * 64;
    for (int64_t t = r0 / QF_CPU_QTILE; t * QF_CPU_QTILE < r1; t++) {
        const uint8_t *b = l->codes + (size_t)t * l->tile_bytes;
        __m512 tot = _mm512_setzero_ps();
        for (int64_t g = 0; g < G; g++) {
            __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                             _mm512_setzero_ps()};
            for (int64_t c = l->gstart[g]; c < l->gstart[g + 1]; c += QF_CPU_QBLOCK, b += bb)
                qf_qgemv512_block(b, xp + c, bits, acc);
            const __m512 sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]),
                                             _mm512_add_ps(acc[2], acc[3]));
            const int64_t k = (t * G + g) * QF_CPU_QTILE;
            const __m512 z = _mm512_cvtepi32_ps(
                _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(l->zeros + k))));
            tot = _mm512_fmadd_ps(_mm512_loadu_ps(l->scales + k),
                                  _mm512_fnmadd_ps(z, _mm512_set1_ps(xs[g]), sum), tot);
        }
        const int64_t o0 = t * QF_CPU_QTILE;
        if (o0 >= r0 && o0 + QF_CPU_QTILE <= r1) {
            _mm512_storeu_ps(y + o0, tot);
        } else {
            float part[QF_CPU_QTILE];
            _mm512_storeu_ps(part, tot);
            for (int64_t o = o0 > r0 ? o0 : r0; o < r1 && o < o0 + QF_CPU_QTILE; o++)
                y[o] = part[o - o0];
        }
    }
}

__attribute__((target("avx512f"))) void qf_cpu_qgemv_avx512(const qf_cpu_qlinear *l,
                                                            const float *xp, const float *xs,
                                                            float *y, int64_t r0, int64_t r1) {
    switch (l->bits) {
    case 8: qf_qgemv512_rows(l, xp, xs, y, r0, r1, 8); break;
    case 4: qf_qgemv512_rows(l, xp, xs, y, r0, r1, 4); break;
    case 3: qf_qgemv512_rows(l, xp, xs, y, r0, r1, 3); break;
    default: qf_qgemv512_rows(l, xp, xs, y, r0, r1, 2); break;
    }
}
