/* GEMV playground: GB/s of the F16 GEMV versions (ref, AVX2, AVX-512) on the SmolLM2
 * shapes, one thread; weights larger than the caches so each call streams from DRAM.
 * Build: gcc -O2 -std=c11 -D_GNU_SOURCE -I. dev/gemv_f16_bench.c build-fwd/libqforge.a \
 *          $(pkg-config --libs openblas libzstd libcjson libpcre2-8 libutf8proc lapacke) -lpthread -lm */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "runtime/cpu/kernels.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef void (*fn)(const uint16_t *, const float *, float *, int64_t, int64_t);

int main(void) {
    const int64_t shapes[][2] = {{1536, 576}, {576, 1536}, {576, 576}, {49152, 576}};
    const int copies = 64; /* rotate over 64 matrices: > L3 */
    const char *names[] = {"ref", "avx2", "avx512"};
    fn fns[] = {qf_cpu_gemv_f16_ref, qf_cpu_gemv_f16_avx2, qf_cpu_gemv_f16_avx512};
    for (size_t s = 0; s < 4; s++) {
        const int64_t rows = shapes[s][0], k = shapes[s][1];
        const int nc = s == 3 ? 4 : copies;
        uint16_t *w = malloc((size_t)(rows * k * nc) * 2);
        float *x = malloc((size_t)k * 4), *y = malloc((size_t)rows * 4);
        for (int64_t i = 0; i < rows * k * nc; i++) w[i] = (uint16_t)(0x3000 + (i * 31) % 2048);
        for (int64_t i = 0; i < k; i++) x[i] = 0.5f;
        for (int f = 1; f < 3; f++) {
            double t0 = now();
            int iters = 0;
            while (now() - t0 < 0.5) {
                fns[f](w + (size_t)(iters % nc) * rows * k, x, y, rows, k);
                iters++;
            }
            double dt = now() - t0;
            printf("(%5lld, %4lld) %-6s %.2f GB/s\n", (long long)rows, (long long)k, names[f],
                   iters * rows * k * 2 / dt / 1e9);
        }
        free(w), free(x), free(y);
    }
    return 0;
}
