/* Quantized GEMV playground: time per decode token of all SmolLM2-135M layer linears
 * (30 x q, k, v, o, gate, up, down) at 4-bit g128 (and the other bit widths), per SIMD
 * level, one thread; the F16 GEMV on the same shapes for comparison. The weights of all
 * 30 layers are distinct, so each token streams them from DRAM like the runtime does.
 * Build: gcc -O2 -std=c11 -D_GNU_SOURCE -I. dev/qgemv_bench.c runtime/cpu/qlinear*.c \
 *          runtime/cpu/qgemv_*.c runtime/cpu/linear.c runtime/cpu/gemv_f16.c \
 *          runtime/cpu/f16.c core/qweight.c core/status.c core/dtype.c \
 *          $(pkg-config --libs openblas) -lm */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "runtime/cpu/kernels.h"
#include "runtime/cpu/qlinear.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define LAYERS 30
#define NLIN 7

int main(int argc, char **argv) {
    const int64_t shapes[NLIN][2] = {{576, 576},  {192, 576},  {192, 576}, {576, 576},
                                     {1536, 576}, {1536, 576}, {576, 1536}};
    const int bits = argc > 1 ? atoi(argv[1]) : 4;
    const int64_t gs = argc > 2 ? atoll(argv[2]) : 128;
    static qf_cpu_qlinear ql[LAYERS][NLIN];
    static uint16_t *wh[LAYERS][NLIN];
    uint64_t r = 1;
    size_t qbytes = 0, hbytes = 0, nweights = 0;
    for (int l = 0; l < LAYERS; l++)
        for (int j = 0; j < NLIN; j++) {
            const int64_t out = shapes[j][0], in = shapes[j][1];
            qf_qweight w;
            if (qf_qweight_init(&w, bits, 0, out, in, gs, 0) != QF_STATUS_OK) return 1;
            for (int64_t k = 0; k < out * in; k++) w.q[k] = (uint8_t)((r = r * 6364136223846793005ull + 1) >> 60) % (1 << bits);
            for (int64_t k = 0; k < w.n_groups * out; k++) w.scales[k] = 0.01f, w.zeros[k] = 3;
            if (qf_cpu_qlinear_init(&ql[l][j], &w, "bench") != QF_STATUS_OK) return 1;
            qf_qweight_free(&w);
            qbytes += qf_cpu_qlinear_bytes(&ql[l][j]);
            wh[l][j] = malloc((size_t)(out * in) * 2);
            for (int64_t k = 0; k < out * in; k++) wh[l][j][k] = (uint16_t)(0x3000 + k % 1000);
            hbytes += (size_t)(out * in) * 2;
            nweights += (size_t)(out * in);
        }
    float x[1536], xp[1536 + 64], xs[64], y[1536];
    for (int i = 0; i < 1536; i++) x[i] = 0.001f * (float)(i % 37);
    printf("bits %d group %lld: %.1f MB packed (%.3f bits/weight), %.1f MB F16\n", bits,
           (long long)gs, qbytes / 1e6, qbytes * 8.0 / nweights, hbytes / 1e6);
    for (int level = 0; level <= qf_cpu_simd_level(); level++) {
        double best = 1e9;
        for (int rep = 0; rep < 5; rep++) {
            const double t0 = now();
            for (int l = 0; l < LAYERS; l++)
                for (int j = 0; j < NLIN; j++) {
                    qf_cpu_qlinear_prep(&ql[l][j], x, xp, xs);
                    qf_cpu_qgemv_at(level, &ql[l][j], xp, xs, y, 0, shapes[j][0]);
                }
            const double dt = now() - t0;
            best = dt < best ? dt : best;
        }
        printf("  q level %d: %.3f ms/token  %.1f GB/s  %.2f Gweights/s\n", level, best * 1e3,
               qbytes / best / 1e9, nweights / best / 1e9);
    }
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        const double t0 = now();
        for (int l = 0; l < LAYERS; l++)
            for (int j = 0; j < NLIN; j++)
                qf_cpu_gemv_f16(wh[l][j], x, y, shapes[j][0], shapes[j][1]);
        const double dt = now() - t0;
        best = dt < best ? dt : best;
    }
    printf("  f16 gemv: %.3f ms/token  %.1f GB/s\n", best * 1e3, hbytes / best / 1e9);
    return 0;
}
