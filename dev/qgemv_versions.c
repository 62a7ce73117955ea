/* Quantized GEMV playground (4-bit, AVX-512): numbered versions against the library
 * kernel on the 30 layer linears of SmolLM2-135M at g128 (distinct weights per layer, as
 * a decode token streams them), one thread, checked against the scalar reference.
 *   v0  the library's qf_cpu_qgemv_avx512 (zero-extend, and/shift, cvtdq2ps, fma)
 *   v1  "16 + q" floats built in place: each 16-byte block broadcast to the four 128-bit
 *       lanes, bytes stored transposed (byte 4d+L = columns 4L+d | 4L+d+16 << 4) so one
 *       vprolvd + one vpternlogd per 16 codes replaces the widening and the conversion
 *   v2  v0 with two rows at a time
 *   v3  not exact: activations rounded per 32-column block to int8 (scale max|x| / 127,
 *       like llama.cpp's Q8_0), integer dot products with AVX-512 VNNI (vpdpbusd, 64
 *       codes per instruction; the two blocks of a pair interleaved by 16 columns to
 *       match the nibble unpacking), one conversion + multiply by the block scales per
 *       pair. Its time includes rounding the activations of every linear.
 * Build: gcc -O2 -std=c11 -D_GNU_SOURCE -I. dev/qgemv_versions.c runtime/cpu/qlinear*.c \
 *          runtime/cpu/qgemv_*.c runtime/cpu/linear.c runtime/cpu/gemv_f16.c \
 *          runtime/cpu/f16.c core/qweight.c core/status.c core/dtype.c \
 *          $(pkg-config --libs openblas) -lm */
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/cpu/kernels.h"
#include "runtime/cpu/qlinear.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* v1 layout: the library's 4-bit blocks with bytes transposed. */
static uint8_t *transpose_blocks(const qf_cpu_qlinear *l) {
    const size_t n = (size_t)l->out * l->row_bytes;
    uint8_t *t = malloc(n);
    for (size_t b = 0; b < n; b += 16)
        for (int c = 0; c < 16; c++) t[b + 4 * (c % 4) + c / 4] = l->codes[b + c];
    return t;
}

__attribute__((target("avx512f"))) static void v1(const qf_cpu_qlinear *l, const uint8_t *codes,
                                                  const float *xp, const float *xs, float *y,
                                                  int64_t r0, int64_t r1) {
    const int64_t G = l->n_groups;
    const __m512i rot_lo = _mm512_setr_epi32(19, 19, 19, 19, 11, 11, 11, 11, 3, 3, 3, 3, 27, 27, 27, 27);
    const __m512i rot_hi = _mm512_setr_epi32(15, 15, 15, 15, 7, 7, 7, 7, 31, 31, 31, 31, 23, 23, 23, 23);
    const __m512i mask = _mm512_set1_epi32(0x00780000), base = _mm512_set1_epi32(0x41800000);
    for (int64_t o = r0; o < r1; o++) {
        const uint8_t *b = codes + (size_t)o * l->row_bytes;
        const float *s = l->scales + o * G;
        const uint8_t *z = l->zeros + o * G;
        __m512 tot = _mm512_setzero_ps();
        float zt = 0.0f;
        for (int64_t g = 0; g < G; g++) {
            __m512 a0 = _mm512_setzero_ps(), a1 = a0;
            for (int64_t c = l->gstart[g]; c < l->gstart[g + 1]; c += 32, b += 16) {
                const __m512i v = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)b));
                const __m512i lo = _mm512_ternarylogic_epi32(_mm512_rolv_epi32(v, rot_lo), mask, base, 0xEA);
                const __m512i hi = _mm512_ternarylogic_epi32(_mm512_rolv_epi32(v, rot_hi), mask, base, 0xEA);
                a0 = _mm512_fmadd_ps(_mm512_castsi512_ps(lo), _mm512_loadu_ps(xp + c), a0);
                a1 = _mm512_fmadd_ps(_mm512_castsi512_ps(hi), _mm512_loadu_ps(xp + c + 16), a1);
            }
            tot = _mm512_fmadd_ps(_mm512_set1_ps(s[g]), _mm512_add_ps(a0, a1), tot);
            zt += s[g] * (16.0f + (float)z[g]) * xs[g];
        }
        y[o] = _mm512_reduce_add_ps(tot) - zt;
    }
}

__attribute__((target("avx512f"))) static void v2(const qf_cpu_qlinear *l, const uint8_t *codes,
                                                  const float *xp, const float *xs, float *y,
                                                  int64_t r0, int64_t r1) {
    const int64_t G = l->n_groups;
    const __m512i f = _mm512_set1_epi32(15);
    int64_t o = r0;
    for (; o + 2 <= r1; o += 2) {
        const uint8_t *b0 = codes + (size_t)o * l->row_bytes, *b1 = b0 + l->row_bytes;
        __m512 t0 = _mm512_setzero_ps(), t1 = t0;
        float z0 = 0.0f, z1 = 0.0f;
        for (int64_t g = 0; g < G; g++) {
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, c0 = a0, c1 = a0;
            for (int64_t c = l->gstart[g]; c < l->gstart[g + 1]; c += 32, b0 += 16, b1 += 16) {
                const __m512 x0 = _mm512_loadu_ps(xp + c), x1 = _mm512_loadu_ps(xp + c + 16);
                const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)b0));
                const __m512i w = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)b1));
                a0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(v, f)), x0, a0);
                a1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(v, 4)), x1, a1);
                c0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(w, f)), x0, c0);
                c1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(w, 4)), x1, c1);
            }
            const float s0 = l->scales[o * G + g], s1 = l->scales[(o + 1) * G + g];
            t0 = _mm512_fmadd_ps(_mm512_set1_ps(s0), _mm512_add_ps(a0, a1), t0);
            t1 = _mm512_fmadd_ps(_mm512_set1_ps(s1), _mm512_add_ps(c0, c1), t1);
            z0 += s0 * (float)l->zeros[o * G + g] * xs[g];
            z1 += s1 * (float)l->zeros[(o + 1) * G + g] * xs[g];
        }
        y[o] = _mm512_reduce_add_ps(t0) - z0;
        y[o + 1] = _mm512_reduce_add_ps(t1) - z1;
    }
    if (o < r1) qf_cpu_qgemv_avx512(l, xp, xs, y, o, r1);
}

/* ---- v3: int8 activations + VNNI --------------------------------------------------- */
typedef struct q8act {
    int8_t *x8;               /* (kp) in the pair-interleaved order of q8_pos */
    float *dexp, *dblk, *xs8; /* (kp / 4) lane scales, (kp / 32) block scales, (G) sums */
} q8act;

/* Position in x8 of column j (< 32) of the block at padded column c, whose group's run
 * starts at g0 and ends at g1. */
static int64_t qf_q8_pos(int64_t c, int64_t g0, int64_t g1, int j) {
    const int64_t k = (c - g0) / QF_CPU_QBLOCK;
    if (k % 2 == 0 && c + QF_CPU_QBLOCK >= g1) return c + j; /* odd last block */
    const int64_t pair = c - (k % 2) * QF_CPU_QBLOCK;
    return pair + (k % 2) * 16 + (j < 16 ? j : 32 + j - 16);
}

static void prep_q8(const qf_cpu_qlinear *l, const float *xp, const q8act *a) {
    for (int64_t g = 0; g < l->n_groups; g++) {
        const int64_t g0 = l->gstart[g], g1 = l->gstart[g + 1];
        float sum = 0.0f;
        for (int64_t c = g0; c < g1; c += QF_CPU_QBLOCK) {
            const float *xb = xp + c;
            float amax = 0.0f;
            for (int j = 0; j < QF_CPU_QBLOCK; j++) amax = fmaxf(amax, fabsf(xb[j]));
            const float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
            int8_t q[QF_CPU_QBLOCK];
            int isum = 0;
            for (int j = 0; j < QF_CPU_QBLOCK; j++) {
                q[j] = (int8_t)__builtin_roundevenf(xb[j] * id);
                isum += q[j];
            }
            /* halves [0, 16) and [16, 32) go to lo and hi (qf_q8_pos, per block) */
            const int64_t lo = qf_q8_pos(c, g0, g1, 0), hi = qf_q8_pos(c, g0, g1, 16);
            for (int j = 0; j < 16; j++) {
                a->x8[lo + j] = q[j];
                a->x8[hi + j] = q[16 + j];
            }
            for (int j = 0; j < 4; j++) a->dexp[lo / 4 + j] = a->dexp[hi / 4 + j] = d;
            a->dblk[c / QF_CPU_QBLOCK] = d;
            sum += d * (float)isum;
        }
        a->xs8[g] = sum;
    }
}

#define QF_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

QF_VNNI static void v3(const qf_cpu_qlinear *l, const q8act *a, float *y, int64_t r0,
                       int64_t r1) {
    const int64_t G = l->n_groups;
    const __m256i nib = _mm256_set1_epi8(15);
    for (int64_t o = r0; o < r1; o++) {
        const uint8_t *b = l->codes + (size_t)o * l->row_bytes;
        const float *s = l->scales + o * G;
        const uint8_t *z = l->zeros + o * G;
        __m512 tot = _mm512_setzero_ps();
        float zt = 0.0f;
        for (int64_t g = 0; g < G; g++) {
            int64_t c = l->gstart[g];
            const int64_t g1 = l->gstart[g + 1];
            __m512 acc = _mm512_setzero_ps();
            for (; c + 2 * QF_CPU_QBLOCK <= g1; c += 2 * QF_CPU_QBLOCK, b += 32) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)b);
                const __m256i lo = _mm256_and_si256(v, nib);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nib);
                const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
                const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q,
                                                        _mm512_loadu_si512(a->x8 + c));
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_loadu_ps(a->dexp + c / 4),
                                      acc);
            }
            if (c < g1) { /* the group's odd last block */
                const __m128i v = _mm_loadu_si128((const __m128i *)b);
                const __m128i n = _mm256_castsi256_si128(nib);
                const __m256i q = _mm256_inserti128_si256(
                    _mm256_castsi128_si256(_mm_and_si128(v, n)),
                    _mm_and_si128(_mm_srli_epi16(v, 4), n), 1);
                const __m256i dot = _mm256_dpbusd_epi32(
                    _mm256_setzero_si256(), q, _mm256_loadu_si256((const __m256i *)(a->x8 + c)));
                const __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(dot),
                                               _mm256_loadu_ps(a->dexp + c / 4));
                acc = _mm512_add_ps(acc, _mm512_zextps256_ps512(f));
                b += 16;
            }
            tot = _mm512_fmadd_ps(_mm512_set1_ps(s[g]), acc, tot);
            zt += s[g] * (float)z[g] * a->xs8[g];
        }
        y[o] = _mm512_reduce_add_ps(tot) - zt;
    }
}

#define LAYERS 30
#define NLIN 7

int main(void) {
    const int64_t shapes[NLIN][2] = {{576, 576},  {192, 576},  {192, 576}, {576, 576},
                                     {1536, 576}, {1536, 576}, {576, 1536}};
    static qf_cpu_qlinear ql[LAYERS][NLIN];
    static uint8_t *tr[LAYERS][NLIN];
    uint64_t r = 1;
    for (int l = 0; l < LAYERS; l++)
        for (int j = 0; j < NLIN; j++) {
            qf_qweight w;
            if (qf_qweight_init(&w, 4, 0, shapes[j][0], shapes[j][1], 128, 0)) return 1;
            for (int64_t k = 0; k < w.out * w.in; k++) w.q[k] = (uint8_t)((r = r * 6364136223846793005ull + 1) >> 60);
            for (int64_t k = 0; k < w.n_groups * w.out; k++)
                w.scales[k] = 0.01f + (float)((r = r * 6364136223846793005ull + 1) >> 58) * 1e-3f,
                w.zeros[k] = (uint8_t)(r >> 40) % 16;
            if (qf_cpu_qlinear_init(&ql[l][j], &w, "bench")) return 1;
            qf_qweight_free(&w);
            tr[l][j] = transpose_blocks(&ql[l][j]);
        }
    float x[1536], xp[1600], xs[64], y[1536], yr[1536];
    for (int i = 0; i < 1536; i++) x[i] = sinf((float)i);
    static int8_t x8[1600];
    static float dexp[400], dblk[64], xs8[64];
    const q8act a = {x8, dexp, dblk, xs8};
    for (int v = 0; v < 4; v++) {
        double worst = 0.0, best = 1e9;
        for (int rep = 0; rep < 7; rep++) {
            const double t0 = now();
            for (int l = 0; l < LAYERS; l++)
                for (int j = 0; j < NLIN; j++) {
                    const qf_cpu_qlinear *q = &ql[l][j];
                    qf_cpu_qlinear_prep(q, x, xp, xs);
                    if (v == 0) qf_cpu_qgemv_avx512(q, xp, xs, y, 0, q->out);
                    else if (v == 1) v1(q, tr[l][j], xp, xs, y, 0, q->out);
                    else if (v == 2) v2(q, q->codes, xp, xs, y, 0, q->out);
                    else {
                        prep_q8(q, xp, &a);
                        v3(q, &a, y, 0, q->out);
                    }
                    if (rep == 0 && l == 0) {
                        qf_cpu_qgemv_ref(q, xp, xs, yr, 0, q->out);
                        double big = 0.0, err = 0.0;
                        for (int64_t o = 0; o < q->out; o++)
                            big = fmax(big, fabs(yr[o])), err = fmax(err, fabs(y[o] - yr[o]));
                        worst = fmax(worst, err / big);
                    }
                }
            best = fmin(best, now() - t0);
        }
        printf("v%d: %.3f ms/token (30 layers), max |y - ref| / max |ref| %.2g\n", v, best * 1e3, worst);
    }
    return 0;
}
