/* F16 weight matrix x F32 vector, the decode-time linear layer (memory bound: the F16
 * weights are streamed once per token). Scalar reference, AVX2+F16C+FMA and AVX-512
 * versions; qf_cpu_gemv_f16 dispatches on the CPU found at run time. */
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

/* Four rows at a time share each load of x; two accumulators per row hide FMA latency. */
__attribute__((target("avx2,fma,f16c"))) void qf_cpu_gemv_f16_avx2(const uint16_t *w,
                                                                    const float *x, float *y,
                                                                    int64_t rows, int64_t k) {
    const int64_t k16 = k & ~(int64_t)15, k8 = k & ~(int64_t)7;
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        const uint16_t *w0 = w + r * k, *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        int64_t i = 0;
        for (; i < k16; i += 16) {
            __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
            a0 = _mm256_fmadd_ps(QF_CPU_LOAD8(w0 + i), x0, a0);
            a1 = _mm256_fmadd_ps(QF_CPU_LOAD8(w1 + i), x0, a1);
            a2 = _mm256_fmadd_ps(QF_CPU_LOAD8(w2 + i), x0, a2);
            a3 = _mm256_fmadd_ps(QF_CPU_LOAD8(w3 + i), x0, a3);
            b0 = _mm256_fmadd_ps(QF_CPU_LOAD8(w0 + i + 8), x1, b0);
            b1 = _mm256_fmadd_ps(QF_CPU_LOAD8(w1 + i + 8), x1, b1);
            b2 = _mm256_fmadd_ps(QF_CPU_LOAD8(w2 + i + 8), x1, b2);
            b3 = _mm256_fmadd_ps(QF_CPU_LOAD8(w3 + i + 8), x1, b3);
        }
        for (; i < k8; i += 8) {
            __m256 x0 = _mm256_loadu_ps(x + i);
            a0 = _mm256_fmadd_ps(QF_CPU_LOAD8(w0 + i), x0, a0);
            a1 = _mm256_fmadd_ps(QF_CPU_LOAD8(w1 + i), x0, a1);
            a2 = _mm256_fmadd_ps(QF_CPU_LOAD8(w2 + i), x0, a2);
            a3 = _mm256_fmadd_ps(QF_CPU_LOAD8(w3 + i), x0, a3);
        }
        y[r] = qf_cpu_hsum256(_mm256_add_ps(a0, b0)) + qf_cpu_gemv_tail(w0, x, k8, k);
        y[r + 1] = qf_cpu_hsum256(_mm256_add_ps(a1, b1)) + qf_cpu_gemv_tail(w1, x, k8, k);
        y[r + 2] = qf_cpu_hsum256(_mm256_add_ps(a2, b2)) + qf_cpu_gemv_tail(w2, x, k8, k);
        y[r + 3] = qf_cpu_hsum256(_mm256_add_ps(a3, b3)) + qf_cpu_gemv_tail(w3, x, k8, k);
    }
    for (; r < rows; r++) {
        const uint16_t *w0 = w + r * k;
        __m256 a0 = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i < k8; i += 8) a0 = _mm256_fmadd_ps(QF_CPU_LOAD8(w0 + i), _mm256_loadu_ps(x + i), a0);
        y[r] = qf_cpu_hsum256(a0) + qf_cpu_gemv_tail(w0, x, k8, k);
    }
}

#define QF_CPU_LOAD16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))

__attribute__((target("avx512f"))) void qf_cpu_gemv_f16_avx512(const uint16_t *w,
                                                               const float *x, float *y,
                                                               int64_t rows, int64_t k) {
    const int64_t k32 = k & ~(int64_t)31, k16 = k & ~(int64_t)15;
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        const uint16_t *w0 = w + r * k, *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        __m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        int64_t i = 0;
        for (; i < k32; i += 32) {
            __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);
            a0 = _mm512_fmadd_ps(QF_CPU_LOAD16(w0 + i), x0, a0);
            a1 = _mm512_fmadd_ps(QF_CPU_LOAD16(w1 + i), x0, a1);
            a2 = _mm512_fmadd_ps(QF_CPU_LOAD16(w2 + i), x0, a2);
            a3 = _mm512_fmadd_ps(QF_CPU_LOAD16(w3 + i), x0, a3);
            b0 = _mm512_fmadd_ps(QF_CPU_LOAD16(w0 + i + 16), x1, b0);
            b1 = _mm512_fmadd_ps(QF_CPU_LOAD16(w1 + i + 16), x1, b1);
            b2 = _mm512_fmadd_ps(QF_CPU_LOAD16(w2 + i + 16), x1, b2);
            b3 = _mm512_fmadd_ps(QF_CPU_LOAD16(w3 + i + 16), x1, b3);
        }
        for (; i < k16; i += 16) {
            __m512 x0 = _mm512_loadu_ps(x + i);
            a0 = _mm512_fmadd_ps(QF_CPU_LOAD16(w0 + i), x0, a0);
            a1 = _mm512_fmadd_ps(QF_CPU_LOAD16(w1 + i), x0, a1);
            a2 = _mm512_fmadd_ps(QF_CPU_LOAD16(w2 + i), x0, a2);
            a3 = _mm512_fmadd_ps(QF_CPU_LOAD16(w3 + i), x0, a3);
        }
        y[r] = _mm512_reduce_add_ps(_mm512_add_ps(a0, b0)) + qf_cpu_gemv_tail(w0, x, k16, k);
        y[r + 1] = _mm512_reduce_add_ps(_mm512_add_ps(a1, b1)) + qf_cpu_gemv_tail(w1, x, k16, k);
        y[r + 2] = _mm512_reduce_add_ps(_mm512_add_ps(a2, b2)) + qf_cpu_gemv_tail(w2, x, k16, k);
        y[r + 3] = _mm512_reduce_add_ps(_mm512_add_ps(a3, b3)) + qf_cpu_gemv_tail(w3, x, k16, k);
    }
    for (; r < rows; r++) {
        const uint16_t *w0 = w + r * k;
        __m512 a0 = _mm512_setzero_ps();
        int64_t i = 0;
        for (; i < k16; i += 16)
            a0 = _mm512_fmadd_ps(QF_CPU_LOAD16(w0 + i), _mm512_loadu_ps(x + i), a0);
        y[r] = _mm512_reduce_add_ps(a0) + qf_cpu_gemv_tail(w0, x, k16, k);
    }
}

void qf_cpu_gemv_f16(const uint16_t *w, const float *x, float *y, int64_t rows, int64_t k) {
    switch (qf_cpu_simd_level()) {
    case 2: qf_cpu_gemv_f16_avx512(w, x, y, rows, k); break;
    case 1: qf_cpu_gemv_f16_avx2(w, x, y, rows, k); break;
    default: qf_cpu_gemv_f16_ref(w, x, y, rows, k); break;
    }
}
