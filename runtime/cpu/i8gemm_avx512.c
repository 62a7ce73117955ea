/* AVX-512 W8A8 kernels (i8linear.h). The GEMM: vpdpbusd multiplies unsigned by signed
 * bytes, so each token's 4 codes are broadcast and offset by +128 (u8) and 128 x the row
 * sums are subtracted at the end; one 64-byte load of a packed block feeds 16 rows, and
 * two blocks x up to 8 tokens accumulate in 16 registers. The quantizer: max|x| and
 * round(x / scale) 16 lanes at a time (vdivps is IEEE division, vrndscaleps rounds half
 * to even, max before min sends NaN to -128 as the scalar code does). */
#include <immintrin.h>
#include <string.h>

#include "runtime/cpu/i8linear.h"

#define QF_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define QF_VNNI_INLINE QF_VNNI static inline __attribute__((always_inline))
#define QF_VNNI_PREFETCH 2048 /* bytes ahead in a block */

QF_VNNI_INLINE __mmask16 qf_vnni_tail(int64_t left) {
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
}

QF_VNNI float qf_cpu_i8_quantize_avx512(const float *x, int64_t in, int64_t kp,
                                        float in_scale, int8_t *q) {
    float s = in_scale;
    if (!(s > 0.0f)) {
        __m512 mx = _mm512_setzero_ps();
        for (int64_t i = 0; i < in; i += 16)
            mx = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(qf_vnni_tail(in - i), x + i)),
                               mx);
        s = _mm512_reduce_max_ps(mx) / 127.5f;
    }
    if (!(s > 0.0f)) {
        memset(q, 0, (size_t)kp);
        return s;
    }
    const __m512 vs = _mm512_set1_ps(s), lo = _mm512_set1_ps(-128.0f),
                 hi = _mm512_set1_ps(127.0f);
    for (int64_t i = 0; i < in; i += 16) {
        const __mmask16 m = qf_vnni_tail(in - i);
        __m512 r = _mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), vs);
        r = _mm512_roundscale_ps(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        r = _mm512_min_ps(_mm512_max_ps(r, lo), hi);
        _mm_mask_storeu_epi8(q + i, m, _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(r)));
    }
    memset(q + in, 0, (size_t)(kp - in));
    return s;
}

/* nb (1 or 2) row blocks from block b x nt tokens; nb and nt are constants where called. */
QF_VNNI_INLINE void qf_vnni_tile(const qf_cpu_i8linear *l, const int8_t *q, const float *xs,
                                 const int nt, const int nb, int64_t b, float *y, int64_t ldy,
                                 int64_t r0, int64_t r1) {
    const int64_t kp = l->kp, bs = QF_CPU_I8_ROWS * kp;
    const int8_t *w = l->w + b * bs;
    const __m512i off = _mm512_set1_epi8((char)0x80);
    __m512i acc[QF_CPU_I8_TOKENS][2];
    #pragma GCC unroll 8
    for (int t = 0; t < nt; t++) acc[t][0] = acc[t][1] = _mm512_setzero_si512();
    for (int64_t k = 0; k < kp; k += 4) {
        _mm_prefetch((const char *)(w + k * QF_CPU_I8_ROWS + QF_VNNI_PREFETCH), _MM_HINT_T0);
        if (nb > 1) _mm_prefetch((const char *)(w + bs + k * QF_CPU_I8_ROWS + QF_VNNI_PREFETCH), _MM_HINT_T0);
        const __m512i w0 = _mm512_load_si512(w + k * QF_CPU_I8_ROWS);
        const __m512i w1 = nb > 1 ? _mm512_load_si512(w + bs + k * QF_CPU_I8_ROWS) : w0;
        #pragma GCC unroll 8
        for (int t = 0; t < nt; t++) {
            int32_t x4;
            memcpy(&x4, q + t * kp + k, 4);
            const __m512i xu = _mm512_xor_si512(_mm512_set1_epi32(x4), off); /* x + 128 */
            acc[t][0] = _mm512_dpbusd_epi32(acc[t][0], xu, w0);
            if (nb > 1) acc[t][1] = _mm512_dpbusd_epi32(acc[t][1], xu, w1);
        }
    }
    #pragma GCC unroll 8
    for (int j = 0; j < nb; j++) {
        const int64_t o0 = (b + j) * QF_CPU_I8_ROWS;
        const int64_t lo = r0 > o0 ? r0 - o0 : 0, hi = r1 - o0 < 16 ? r1 - o0 : 16;
        const __mmask16 m = (__mmask16)(qf_vnni_tail(hi) & ~qf_vnni_tail(lo));
        const __m512i corr = _mm512_slli_epi32(_mm512_loadu_si512(l->wsum + o0), 7);
        const __m512 sc = _mm512_loadu_ps(l->scale + o0);
        #pragma GCC unroll 8
        for (int t = 0; t < nt; t++) {
            const __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[t][j], corr));
            _mm512_mask_storeu_ps(y + t * ldy + o0, m,
                                  _mm512_mul_ps(v, _mm512_mul_ps(_mm512_set1_ps(xs[t]), sc)));
        }
    }
}

#define QF_VNNI_TOKENS(NB)                                                                \
    switch (nt) {                                                                         \
    case 1: qf_vnni_tile(l, q, xs, 1, NB, b, y, ldy, r0, r1); break;                      \
    case 2: qf_vnni_tile(l, q, xs, 2, NB, b, y, ldy, r0, r1); break;                      \
    case 3: qf_vnni_tile(l, q, xs, 3, NB, b, y, ldy, r0, r1); break;                      \
    case 4: qf_vnni_tile(l, q, xs, 4, NB, b, y, ldy, r0, r1); break;                      \
    case 5: qf_vnni_tile(l, q, xs, 5, NB, b, y, ldy, r0, r1); break;                      \
    case 6: qf_vnni_tile(l, q, xs, 6, NB, b, y, ldy, r0, r1); break;                      \
    case 7: qf_vnni_tile(l, q, xs, 7, NB, b, y, ldy, r0, r1); break;                      \
    default: qf_vnni_tile(l, q, xs, 8, NB, b, y, ldy, r0, r1); break;                     \
    }

QF_VNNI void qf_cpu_i8_rows_avx512vnni(const qf_cpu_i8linear *l, const int8_t *q,
                                       const float *xs, int nt, float *y, int64_t ldy,
                                       int64_t r0, int64_t r1) {
    const int64_t b1 = (r1 + QF_CPU_I8_ROWS - 1) / QF_CPU_I8_ROWS;
    int64_t b = r0 / QF_CPU_I8_ROWS;
    for (; b + 2 <= b1; b += 2) QF_VNNI_TOKENS(2)
    if (b < b1) QF_VNNI_TOKENS(1)
}
