/* AVX2+FMA quantized GEMV (runtime/cpu/qlinear.h layout): each 32-column block is unpacked
 * into four vectors of 8 int32 codes, converted to float and multiplied with the prepared
 * activations; one vector accumulator per group is scaled into the row's total, the
 * zero-point term is subtracted once per row. One specialised loop per bit width. */
#include <immintrin.h>
#include <string.h>

#include "runtime/cpu/qlinear.h"

#define QF_AVX2 __attribute__((target("avx2,fma"), always_inline)) static inline

static inline __attribute__((target("avx2"), always_inline)) __m256i qf_qgemv256_bytes(
    const uint8_t *p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
}

/* Codes of columns 8k..8k+7 into q[k], k = 0..3, of the block at b. */
QF_AVX2 void qf_qgemv256_unpack(const uint8_t *b, int bits, __m256i q[4]) {
    if (bits == 8) {
        for (int k = 0; k < 4; k++) q[k] = qf_qgemv256_bytes(b + 8 * k);
    } else if (bits == 4) {
        const __m256i v0 = qf_qgemv256_bytes(b), v1 = qf_qgemv256_bytes(b + 8);
        const __m256i f = _mm256_set1_epi32(15);
        q[0] = _mm256_and_si256(v0, f);
        q[1] = _mm256_and_si256(v1, f);
        q[2] = _mm256_srli_epi32(v0, 4);
        q[3] = _mm256_srli_epi32(v1, 4);
    } else {
        const __m256i v = qf_qgemv256_bytes(b), three = _mm256_set1_epi32(3);
        q[0] = _mm256_and_si256(v, three);
        q[1] = _mm256_and_si256(_mm256_srli_epi32(v, 2), three);
        q[2] = _mm256_and_si256(_mm256_srli_epi32(v, 4), three);
        q[3] = _mm256_srli_epi32(v, 6);
        if (bits == 3) {
            int32_t m;
            memcpy(&m, b + 8, 4);
            const __m256i vm = _mm256_set1_epi32(m), one = _mm256_set1_epi32(1);
            __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            for (int k = 0; k < 4; k++) {
                const __m256i h = _mm256_and_si256(_mm256_srlv_epi32(vm, lanes), one);
                q[k] = _mm256_or_si256(q[k], _mm256_slli_epi32(h, 2));
                lanes = _mm256_add_epi32(lanes, _mm256_set1_epi32(8));
            }
        }
    }
}

static inline __attribute__((target("avx2,fma"), always_inline)) float qf_qgemv256_hsum(
    __m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

QF_AVX2 void qf_qgemv256_rows(const qf_cpu_qlinear *l, const float *xp, const float *xs,
                              float *y, int64_t r0, int64_t r1, int bits) {
    const int64_t G = l->n_groups;
    const size_t bb = (size_t)bits * 4;
    for (int64_t o = r0; o < r1; o++) {
        const uint8_t *b = l->codes + (size_t)o * l->row_bytes;
        const float *s = l->scales + o * G;
        const uint8_t *z = l->zeros + o * G;
        __m256 tot = _mm256_setzero_ps();
        float zt = 0.0f;
        for (int64_t g = 0; g < G; g++) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0;
            for (int64_t c = l->gstart[g]; c < l->gstart[g + 1]; c += QF_CPU_QBLOCK, b += bb) {
                __m256i q[4];
                qf_qgemv256_unpack(b, bits, q);
                a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q[0]), _mm256_loadu_ps(xp + c), a0);
                a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q[1]), _mm256_loadu_ps(xp + c + 8), a1);
                a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q[2]), _mm256_loadu_ps(xp + c + 16), a0);
                a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q[3]), _mm256_loadu_ps(xp + c + 24), a1);
            }
            tot = _mm256_fmadd_ps(_mm256_set1_ps(s[g]), _mm256_add_ps(a0, a1), tot);
            zt += s[g] * (float)z[g] * xs[g];
        }
        y[o] = qf_qgemv256_hsum(tot) - zt;
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
