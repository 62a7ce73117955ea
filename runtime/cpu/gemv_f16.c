/* F16 weight matrix x F32 vector, the decode-time linear layer (memory bound: the F16
 * weights are streamed once per token). Scalar reference, AVX2+F16C+FMA and AVX-512
 * versions; qf_cpu_gemv_f16 dispatches on the CPU found at run time. Timing playground:
 * dev/gemv_f16_versions.c. */
#include <cpuid.h>
#include <immintrin.h>
#include <stdatomic.h>

#include "core/dtype.h"
#include "runtime/cpu/kernels.h"

/* CPUID.1:ECX bit 29 (compilers disagree on whether __builtin_cpu_supports knows "f16c"). */
static int qf_cpu_has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

int qf_cpu_simd_level(void) {
    static _Atomic int cached = -1; /* threads racing on the first call store the same */
    int level = atomic_load_explicit(&cached, memory_order_relaxed);
    if (level < 0) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f")) level = 2;
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                 qf_cpu_has_f16c())
            level = 1;
        else level = 0;
        atomic_store_explicit(&cached, level, memory_order_relaxed);
    }
    return level;
}

void qf_cpu_gemv_f16_ref(const uint16_t *w, const float *x, float *y, int64_t rows, int64_t k) {
    for (int64_t r = 0; r < rows; r++) {
        const uint16_t *wr = w + r * k;
        float s = 0.0f;
        for (int64_t i = 0; i < k; i++) s += qf_fp16_to_fp32(wr[i]) * x[i];
        y[r] = s;
    }
}

/* The elements past the last full vector, in the reference's order. */
static float qf_cpu_gemv_tail(const uint16_t *wr, const float *x, int64_t i, int64_t k) {
    float s = 0.0f;
    for (; i < k; i++) s += qf_fp16_to_fp32(wr[i]) * x[i];
    return s;
}

__attribute__((target("avx2,fma,f16c"))) static float qf_cpu_hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define QF_CPU_LOAD8(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))

/* One row at a time with four independent accumulators: in dev/gemv_f16_versions.c this
 * streams ~1.5x faster than interleaving four rows (which splits the hardware prefetcher
 * over four streams). */
__attribute__((target("avx2,fma,f16c"))) void qf_cpu_gemv_f16_avx2(const uint16_t *w,
                                                                    const float *x, float *y,
                                                                    int64_t rows, int64_t k) {
    const int64_t k32 = k & ~(int64_t)31, k8 = k & ~(int64_t)7;
    for (int64_t r = 0; r < rows; r++) {
        const uint16_t *wr = w + r * k;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t i = 0;
        for (; i < k32; i += 32) {
            a0 = _mm256_fmadd_ps(QF_CPU_LOAD8(wr + i), _mm256_loadu_ps(x + i), a0);
            a1 = _mm256_fmadd_ps(QF_CPU_LOAD8(wr + i + 8), _mm256_loadu_ps(x + i + 8), a1);
            a2 = _mm256_fmadd_ps(QF_CPU_LOAD8(wr + i + 16), _mm256_loadu_ps(x + i + 16), a2);
            a3 = _mm256_fmadd_ps(QF_CPU_LOAD8(wr + i + 24), _mm256_loadu_ps(x + i + 24), a3);
        }
        for (; i < k8; i += 8)
            a0 = _mm256_fmadd_ps(QF_CPU_LOAD8(wr + i), _mm256_loadu_ps(x + i), a0);
        const __m256 sum = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
        y[r] = qf_cpu_hsum256(sum) + qf_cpu_gemv_tail(wr, x, k8, k);
    }
}

#define QF_CPU_LOAD16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))

__attribute__((target("avx512f"))) void qf_cpu_gemv_f16_avx512(const uint16_t *w,
                                                               const float *x, float *y,
                                                               int64_t rows, int64_t k) {
    const int64_t k64 = k & ~(int64_t)63, k16 = k & ~(int64_t)15;
    for (int64_t r = 0; r < rows; r++) {
        const uint16_t *wr = w + r * k;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t i = 0;
        for (; i < k64; i += 64) {
            a0 = _mm512_fmadd_ps(QF_CPU_LOAD16(wr + i), _mm512_loadu_ps(x + i), a0);
            a1 = _mm512_fmadd_ps(QF_CPU_LOAD16(wr + i + 16), _mm512_loadu_ps(x + i + 16), a1);
            a2 = _mm512_fmadd_ps(QF_CPU_LOAD16(wr + i + 32), _mm512_loadu_ps(x + i + 32), a2);
            a3 = _mm512_fmadd_ps(QF_CPU_LOAD16(wr + i + 48), _mm512_loadu_ps(x + i + 48), a3);
        }
        for (; i < k16; i += 16)
            a0 = _mm512_fmadd_ps(QF_CPU_LOAD16(wr + i), _mm512_loadu_ps(x + i), a0);
        const __m512 sum = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
        y[r] = _mm512_reduce_add_ps(sum) + qf_cpu_gemv_tail(wr, x, k16, k);
    }
}

void qf_cpu_gemv_f16(const uint16_t *w, const float *x, float *y, int64_t rows, int64_t k) {
    switch (qf_cpu_simd_level()) {
    case 2: qf_cpu_gemv_f16_avx512(w, x, y, rows, k); break;
    case 1: qf_cpu_gemv_f16_avx2(w, x, y, rows, k); break;
    default: qf_cpu_gemv_f16_ref(w, x, y, rows, k); break;
    }
}
