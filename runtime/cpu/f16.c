/* F16 <-> F32 conversion of rows (F16 -> F32: weight tiles for the prefill GEMMs, F16
 * embedding rows; F32 -> F16: weights at load time): scalar references, AVX2+F16C and
 * AVX-512 versions chosen at run time. */
#include <immintrin.h>

#include "core/dtype.h"
#include "runtime/cpu/kernels.h"

void qf_cpu_f16_to_f32_ref(const uint16_t *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = qf_fp16_to_fp32(src[i]);
}

__attribute__((target("avx2,f16c"))) void qf_cpu_f16_to_f32_avx2(const uint16_t *src,
                                                                  float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++) dst[i] = qf_fp16_to_fp32(src[i]);
}

__attribute__((target("avx512f"))) void qf_cpu_f16_to_f32_avx512(const uint16_t *src,
                                                                 float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i,
                         _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + i))));
    for (; i < n; i++) dst[i] = qf_fp16_to_fp32(src[i]);
}

void qf_cpu_f16_to_f32(const uint16_t *src, float *dst, int64_t n) {
    switch (qf_cpu_simd_level()) {
    case 2: qf_cpu_f16_to_f32_avx512(src, dst, n); break;
    case 1: qf_cpu_f16_to_f32_avx2(src, dst, n); break;
    default: qf_cpu_f16_to_f32_ref(src, dst, n); break;
    }
}

void qf_cpu_f32_to_f16_ref(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = qf_fp32_to_fp16(src[i]);
}

__attribute__((target("avx2,f16c"))) void qf_cpu_f32_to_f16_avx2(const float *src,
                                                                  uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) dst[i] = qf_fp32_to_fp16(src[i]);
}

__attribute__((target("avx512f"))) void qf_cpu_f32_to_f16_avx512(const float *src,
                                                                 uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) dst[i] = qf_fp32_to_fp16(src[i]);
}

void qf_cpu_f32_to_f16(const float *src, uint16_t *dst, int64_t n) {
    switch (qf_cpu_simd_level()) {
    case 2: qf_cpu_f32_to_f16_avx512(src, dst, n); break;
    case 1: qf_cpu_f32_to_f16_avx2(src, dst, n); break;
    default: qf_cpu_f32_to_f16_ref(src, dst, n); break;
    }
}
