/* AVX2+FMA quantized GEMV (runtime/cpu/qlinear.h layout): a tile's 16 rows as two halves
 * of 8 rows, one 8-lane vector each; each half of a 16-byte column slot is widened to 8
 * int32 codes (one to four columns per slot by bit width), converted to float and
 * multiplied with the broadcast activation of its column. Per group the accumulators are
 * scaled by the rows' scales after subtracting zero point x group sum; no horizontal
 * sums. One specialised loop per bit width. */
#include <immintrin.h>

#include "runtime/cpu/qlinear.h"

#define QF_AVX2 __attribute__((target("avx2,fma"), always_inline)) static inline

QF_AVX2 __m256i qf_qgemv256_slot(const uint8_t *p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
}

QF_AVX2 __m256 qf_qgemv256_fma(__m256i q, float x, __m256 acc) {
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(q), _mm256_set1_ps(x), acc);
}

/* acc += codes q0 (rows 0..7) and q1 (rows 8..15) x the column's activation x. */
#define QF_QGEMV256_FMA2(q0, q1, x, a0, a1)                                 \
    do {                                                                     \
        const __m256 xv_ = _mm256_set1_ps(x);                                \
        a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q0), xv_, a0);               \
        a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q1), xv_, a1);               \
    } while (0)

/* Bit 2 of column col's codes for 8 rows, from the rows' 32-bit masks. */
QF_AVX2 __m256i qf_qgemv256_high(__m256i masks, int col) {
    const __m256i bit = _mm256_and_si256(_mm256_srl_epi32(masks, _mm_cvtsi32_si128(col)),
                                         _mm256_set1_epi32(1));
    return _mm256_slli_epi32(bit, 2);
}

/* Sum over the 32 columns of the block at b of code x xp for the tile's two halves of 8
 * rows (bytes 0..7 and 8..15 of each slot): acc[0..1] rows 0..7, acc[2..3] rows 8..15. */
QF_AVX2 void qf_qgemv256_block(const uint8_t *b, const float *x, int bits, __m256 acc[4]) {
    if (bits == 8) {
        for (int j = 0; j < 32; j += 2) {
            QF_QGEMV256_FMA2(qf_qgemv256_slot(b + 16 * j), qf_qgemv256_slot(b + 16 * j + 8),
                             x[j], acc[0], acc[2]);
            QF_QGEMV256_FMA2(qf_qgemv256_slot(b + 16 * j + 16),
                             qf_qgemv256_slot(b + 16 * j + 24), x[j + 1], acc[1], acc[3]);
        }
    } else if (bits == 4) {
        const __m256i f = _mm256_set1_epi32(15);
        for (int j = 0; j < 16; j++) {
            const __m256i v0 = qf_qgemv256_slot(b + 16 * j), v1 = qf_qgemv256_slot(b + 16 * j + 8);
            QF_QGEMV256_FMA2(_mm256_and_si256(v0, f), _mm256_and_si256(v1, f), x[j], acc[0],
                             acc[2]);
            QF_QGEMV256_FMA2(_mm256_srli_epi32(v0, 4), _mm256_srli_epi32(v1, 4), x[j + 16],
                             acc[1], acc[3]);
        }
    } else {
        const __m256i three = _mm256_set1_epi32(3);
        const __m256i m0 = bits == 3 ? _mm256_loadu_si256((const __m256i *)(b + 128))
                                     : _mm256_setzero_si256();
        const __m256i m1 = bits == 3 ? _mm256_loadu_si256((const __m256i *)(b + 160)) : m0;
        for (int j = 0; j < 8; j++) {
            const __m256i v0 = qf_qgemv256_slot(b + 16 * j), v1 = qf_qgemv256_slot(b + 16 * j + 8);
            for (int k = 0; k < 4; k++) { /* columns j, j+8, j+16, j+24 */
                __m256i q0 = _mm256_and_si256(_mm256_srli_epi32(v0, 2 * k), three);
                __m256i q1 = _mm256_and_si256(_mm256_srli_epi32(v1, 2 * k), three);
                if (bits == 3) {
                    q0 = _mm256_or_si256(q0, qf_qgemv256_high(m0, j + 8 * k));
                    q1 = _mm256_or_si256(q1, qf_qgemv256_high(m1, j + 8 * k));
                }
                if (k % 2) QF_QGEMV256_FMA2(q0, q1, x[j + 8 * k], acc[1], acc[3]);
                else QF_QGEMV256_FMA2(q0, q1, x[j + 8 * k], acc[0], acc[2]);
            }
        }
    }
}

QF_AVX2 void qf_qgemv256_rows(const qf_cpu_qlinear *l, const float *xp, const float *xs,
                              float *y, int64_t r0, int64_t r1, int bits) {
    const int64_t G = l->n_groups;
    const size_t bb = (size_t)bits * 64;
    for (int64_t t = r0 / QF_CPU_QTILE; t * QF_CPU_QTILE < r1; t++) {
        const uint8_t *b = l->codes + (size_t)t * l->tile_bytes;
        __m256 tot0 = _mm256_setzero_ps(), tot1 = tot0;
        for (int64_t g = 0; g < G; g++) {
            __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                             _mm256_setzero_ps()};
            for (int64_t c = l->gstart[g]; c < l->gstart[g + 1]; c += QF_CPU_QBLOCK, b += bb)
                qf_qgemv256_block(b, xp + c, bits, acc);
            const int64_t k = (t * G + g) * QF_CPU_QTILE;
            const __m256 xg = _mm256_set1_ps(xs[g]);
            const __m256 z0 = _mm256_cvtepi32_ps(qf_qgemv256_slot(l->zeros + k));
            const __m256 z1 = _mm256_cvtepi32_ps(qf_qgemv256_slot(l->zeros + k + 8));
            tot0 = _mm256_fmadd_ps(_mm256_loadu_ps(l->scales + k),
                                   _mm256_fnmadd_ps(z0, xg, _mm256_add_ps(acc[0], acc[1])), tot0);
            tot1 = _mm256_fmadd_ps(_mm256_loadu_ps(l->scales + k + 8),
                                   _mm256_fnmadd_ps(z1, xg, _mm256_add_ps(acc[2], acc[3])), tot1);
        }
        float part[QF_CPU_QTILE];
        _mm256_storeu_ps(part, tot0);
        _mm256_storeu_ps(part + 8, tot1);
        const int64_t o0 = t * QF_CPU_QTILE;
        for (int64_t o = o0 > r0 ? o0 : r0; o < r1 && o < o0 + QF_CPU_QTILE; o++)
            y[o] = part[o - o0];
    }
}

__attribute__((target("avx2,fma"))) void qf_cpu_qgemv_avx2(const qf_cpu_qlinear *l,
                                                           const float *xp, const float *xs,
                                                           float *y, int64_t r0, int64_t r1) {
    switch (l->bits) {
    case 8: qf_qgemv256_rows(l, xp, xs, y, r0, r1, 8); break;
    case 4: qf_qgemv256_rows(l, xp, xs, y, r0, r1, 4); break;
    case 3: qf_qgemv256_rows(l, xp, xs, y, r0, r1, 3); break;
    default: qf_qgemv256_rows(l, xp, xs, y, r0, r1, 2); break;
    }
}
