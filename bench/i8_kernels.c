/* W8A8 CPU kernel speed (runtime/cpu/i8linear.h), one thread: every kernel level this
 * CPU has, on SmolLM2-135M's and Llama-2-7B's linear shapes, for 1 token (decode: GB/s
 * of int8 weights read) and QF_CPU_I8_TOKENS tokens (prefill: int8 GMAC/s), plus the
 * activation quantizer's ns per token. Usage: bench/i8_kernels.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"
#include "runtime/cpu/i8linear.h"

static uint32_t rng = 7u;
static uint32_t next(void) { return rng = rng * 1664525u + 1013904223u; }

/* Seconds per call of kernel k: the best of 5 runs of about 2 G multiply-adds each. */
static double time_kernel(qf_cpu_i8_kernel *k, const qf_cpu_i8linear *l, const int8_t *q,
                          const float *xs, int nt, float *y) {
    const double work = (double)l->op * (double)l->kp * nt;
    const int calls = (int)(2e9 / work) + 1;
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        const double t0 = qf_clock_seconds();
        for (int c = 0; c < calls; c++) k(l, q, xs, nt, y, l->out, 0, l->out);
        const double dt = (qf_clock_seconds() - t0) / calls;
        best = dt < best ? dt : best;
    }
    return best;
}

int main(void) {
    const int64_t shapes[][2] = {{576, 576}, {1536, 576}, {576, 1536}, {4096, 4096}, {11008, 4096}, {4096, 11008}};
    qf_cpu_i8_kernel *const ks[] = {qf_cpu_i8_rows_ref, qf_cpu_i8_rows_avx2, qf_cpu_i8_rows_avx512vnni};
    qf_cpu_i8_quantizer *const qs[] = {qf_cpu_i8_quantize_ref, qf_cpu_i8_quantize_avx2, qf_cpu_i8_quantize_avx512};
    const char *names[] = {"ref", "avx2", "avx512vnni"};
    const int level = qf_cpu_i8_level();
    printf("%-10s %13s %14s %16s %18s\n", "kernel", "out x in", "1 token GB/s", "8 tokens GMAC/s", "quantize ns/token");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t out = shapes[s][0], in = shapes[s][1];
        int8_t *w = malloc((size_t)(out * in));
        float *sc = malloc((size_t)out * sizeof(float));
        float *x = malloc((size_t)(QF_CPU_I8_TOKENS * in) * sizeof(float));
        float *y = malloc((size_t)(QF_CPU_I8_TOKENS * out) * sizeof(float));
        for (int64_t i = 0; i < out * in; i++) w[i] = (int8_t)(next() >> 24);
        for (int64_t o = 0; o < out; o++) sc[o] = 1e-3f;
        for (int64_t i = 0; i < QF_CPU_I8_TOKENS * in; i++) x[i] = (float)(next() >> 8) / 16777216.0f - 0.5f;
        qf_cpu_i8linear l;
        if (qf_cpu_i8linear_init(&l, w, sc, 0.0f, out, in) != QF_STATUS_OK) return 1;
        int8_t *q = aligned_alloc(64, (size_t)(QF_CPU_I8_TOKENS * l.kp));
        float xs[QF_CPU_I8_TOKENS];
        for (int lv = 1; lv <= level; lv++) {
            for (int t = 0; t < QF_CPU_I8_TOKENS; t++) xs[t] = qs[lv](x + t * in, in, l.kp, 0.0f, q + t * l.kp);
            const double t1 = time_kernel(ks[lv], &l, q, xs, 1, y);
            const double t8 = time_kernel(ks[lv], &l, q, xs, QF_CPU_I8_TOKENS, y);
            const int reps = 20000;
            const double t0 = qf_clock_seconds();
            for (int r = 0; r < reps; r++) qs[lv](x + (r % QF_CPU_I8_TOKENS) * in, in, l.kp, 0.0f, q);
            const double tq = (qf_clock_seconds() - t0) / reps;
            printf("%-10s %6lld x %5lld %14.1f %16.1f %18.0f\n", names[lv], (long long)out, (long long)in,
                   (double)(out * l.kp) / t1 / 1e9, (double)(out * in) * QF_CPU_I8_TOKENS / t8 / 1e9, tq * 1e9);
        }
        qf_cpu_i8linear_free(&l);
        free(q), free(w), free(sc), free(x), free(y);
    }
    return 0;
}
