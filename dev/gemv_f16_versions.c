/* F16 GEMV playground: numbered AVX-512 versions against the library kernel and the scalar
 * reference, on the SmolLM2 decode shapes (weights rotated over copies larger than L3).
 * Build: gcc -O2 -std=c11 -D_GNU_SOURCE -I. dev/gemv_f16_versions.c build-fwd/libqforge.a \
 *          $(pkg-config --libs openblas libzstd libcjson libpcre2-8 libutf8proc lapacke) -lpthread -lm */
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/dtype.h"
#include "runtime/cpu/kernels.h"

#define LOAD16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))

/* v1: one row at a time, 4 accumulators (k multiple of 64 assumed here). */
__attribute__((target("avx512f"))) static void v1(const uint16_t *w, const float *x, float *y,
                                                  int64_t rows, int64_t k) {
    for (int64_t r = 0; r < rows; r++) {
        const uint16_t *wr = w + r * k;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t i = 0; i < k; i += 64) {
            a0 = _mm512_fmadd_ps(LOAD16(wr + i), _mm512_loadu_ps(x + i), a0);
            a1 = _mm512_fmadd_ps(LOAD16(wr + i + 16), _mm512_loadu_ps(x + i + 16), a1);
            a2 = _mm512_fmadd_ps(LOAD16(wr + i + 32), _mm512_loadu_ps(x + i + 32), a2);
            a3 = _mm512_fmadd_ps(LOAD16(wr + i + 48), _mm512_loadu_ps(x + i + 48), a3);
        }
        y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
    }
}

/* v2: the library's 4 rows x 2 accumulators plus a software prefetch 4 rows ahead. */
__attribute__((target("avx512f"))) static void v2(const uint16_t *w, const float *x, float *y,
                                                  int64_t rows, int64_t k) {
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        const uint16_t *w0 = w + r * k, *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        __m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int64_t i = 0; i < k; i += 32) {
            _mm_prefetch((const char *)(w0 + 4 * k + i), _MM_HINT_T0);
            _mm_prefetch((const char *)(w0 + 5 * k + i), _MM_HINT_T0);
            _mm_prefetch((const char *)(w0 + 6 * k + i), _MM_HINT_T0);
            _mm_prefetch((const char *)(w0 + 7 * k + i), _MM_HINT_T0);
            __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);
            a0 = _mm512_fmadd_ps(LOAD16(w0 + i), x0, a0);
            a1 = _mm512_fmadd_ps(LOAD16(w1 + i), x0, a1);
            a2 = _mm512_fmadd_ps(LOAD16(w2 + i), x0, a2);
            a3 = _mm512_fmadd_ps(LOAD16(w3 + i), x0, a3);
            b0 = _mm512_fmadd_ps(LOAD16(w0 + i + 16), x1, b0);
            b1 = _mm512_fmadd_ps(LOAD16(w1 + i + 16), x1, b1);
            b2 = _mm512_fmadd_ps(LOAD16(w2 + i + 16), x1, b2);
            b3 = _mm512_fmadd_ps(LOAD16(w3 + i + 16), x1, b3);
        }
        y[r] = _mm512_reduce_add_ps(_mm512_add_ps(a0, b0));
        y[r + 1] = _mm512_reduce_add_ps(_mm512_add_ps(a1, b1));
        y[r + 2] = _mm512_reduce_add_ps(_mm512_add_ps(a2, b2));
        y[r + 3] = _mm512_reduce_add_ps(_mm512_add_ps(a3, b3));
    }
}

/* v3: 8 rows, one accumulator each. */
__attribute__((target("avx512f"))) static void v3(const uint16_t *w, const float *x, float *y,
                                                  int64_t rows, int64_t k) {
    for (int64_t r = 0; r + 8 <= rows; r += 8) {
        const uint16_t *w0 = w + r * k;
        __m512 a[8];
        for (int j = 0; j < 8; j++) a[j] = _mm512_setzero_ps();
        for (int64_t i = 0; i < k; i += 16) {
            __m512 x0 = _mm512_loadu_ps(x + i);
            for (int j = 0; j < 8; j++) a[j] = _mm512_fmadd_ps(LOAD16(w0 + j * k + i), x0, a[j]);
        }
        for (int j = 0; j < 8; j++) y[r + j] = _mm512_reduce_add_ps(a[j]);
    }
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef void (*fn)(const uint16_t *, const float *, float *, int64_t, int64_t);

int main(void) {
    const int64_t shapes[][2] = {{1536, 576}, {576, 1536}, {49152, 576}};
    const char *names[] = {"library", "v1", "v2", "v3"};
    fn fns[] = {qf_cpu_gemv_f16, v1, v2, v3};
    for (size_t s = 0; s < 3; s++) {
        const int64_t rows = shapes[s][0], k = shapes[s][1];
        const int nc = s == 2 ? 4 : 64;
        uint16_t *w = malloc((size_t)(rows * k * nc) * 2);
        float *x = malloc((size_t)k * 4), *y = malloc((size_t)rows * 4), *yr = malloc((size_t)rows * 4);
        for (int64_t i = 0; i < rows * k * nc; i++) w[i] = qf_fp32_to_fp16((float)((i * 37) % 101) / 101.0f - 0.5f);
        for (int64_t i = 0; i < k; i++) x[i] = (float)(i % 7) - 3.0f;
        qf_cpu_gemv_f16_ref(w, x, yr, rows, k);
        for (int f = 0; f < 4; f++) {
            fns[f](w, x, y, rows, k);
            double err = 0;
            for (int64_t r = 0; r < rows; r++) err = fmax(err, fabs(y[r] - yr[r]));
            double t0 = now();
            int iters = 0;
            while (now() - t0 < 0.4) {
                fns[f](w + (size_t)(iters % nc) * rows * k, x, y, rows, k);
                iters++;
            }
            printf("(%5lld, %4lld) %-8s %.2f GB/s  (max err vs ref %.2g)\n", (long long)rows,
                   (long long)k, names[f], iters * rows * k * 2 / (now() - t0) / 1e9, err);
        }
        free(w), free(x), free(y), free(yr);
    }
    return 0;
}
