/* W8A8 kernels (runtime/cpu/i8linear.h): the per-token quantization against its
 * definition (compressed-tensors' symmetric int8: scale = max|x| / 127.5, round half to
 * even, clamp to [-128, 127]), the scalar kernel against int64 dot products, and every
 * SIMD kernel this CPU runs against the scalar one bit for bit (codes -128 included,
 * widths that need padding, partial row ranges). The AVX-512 VNNI kernel runs only where
 * the CPU has it; the test says when it could not. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/cpu/i8linear.h"
#include "test.h"

static uint32_t rng = 99u;
static uint32_t next(void) { return rng = rng * 1664525u + 1013904223u; }

static void test_quantize(void) {
    enum { N = 150, KP = 192 };
    float x[N];
    for (int i = 0; i < N; i++) x[i] = ((float)(next() >> 8) / 16777216.0f - 0.5f) * 4.0f;
    x[17] = -9.0f; /* the max: about -127.5 steps, clamped / rounded to the edge */
    int8_t q[KP];
    float s = 0.0f;
    qf_cpu_i8_quantize(x, N, KP, q, &s);
    CHECK(s == 9.0f / 127.5f);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        double v = nearbyint((double)(x[i] / s)); /* default rounding: half to even */
        v = v < -128 ? -128 : (v > 127 ? 127 : v);
        bad += q[i] != (int8_t)v;
    }
    for (int i = N; i < KP; i++) bad += q[i] != 0;
    CHECK_MSG(bad == 0, "%d codes differ from the definition", bad);
    float z[N] = {0};
    qf_cpu_i8_quantize(z, N, KP, q, &s);
    CHECK(s == 0.0f && q[0] == 0);
}

static void test_kernels(int64_t out, int64_t in) {
    int8_t *w = malloc((size_t)(out * in));
    float *sc = malloc((size_t)out * sizeof(float)), *x = malloc((size_t)in * sizeof(float));
    for (int64_t k = 0; k < out * in; k++) w[k] = (int8_t)(next() >> 24);
    w[0] = -128, w[1] = 127;
    for (int64_t o = 0; o < out; o++) sc[o] = 1e-3f * (1.0f + (float)(o % 7));
    for (int64_t i = 0; i < in; i++) x[i] = (float)(next() >> 8) / 16777216.0f - 0.5f;
    x[0] = -3.0f; /* codes -128 in the token too */
    qf_cpu_i8linear l;
    CHECK_OK(qf_cpu_i8linear_init(&l, w, sc, out, in));
    int8_t *q = aligned_alloc(64, (size_t)l.kp);
    float xs = 0.0f;
    qf_cpu_i8_quantize(x, in, l.kp, q, &xs);
    float *yr = calloc((size_t)out, sizeof(float)), *ys = calloc((size_t)out, sizeof(float));
    qf_cpu_i8_rows_ref(&l, q, xs, yr, 0, out);
    int bad = 0;
    for (int64_t o = 0; o < out; o++) {
        int64_t acc = 0;
        for (int64_t i = 0; i < in; i++) acc += (int64_t)q[i] * w[o * in + i];
        bad += yr[o] != (float)acc * (xs * sc[o]);
    }
    CHECK_MSG(bad == 0, "ref: %d rows differ from the int64 definition", bad);
    const int level = qf_cpu_i8_level();
    if (level >= 1) {
        qf_cpu_i8_rows_avx2(&l, q, xs, ys, 0, out);
        bad = 0;
        for (int64_t o = 0; o < out; o++) bad += ys[o] != yr[o];
        CHECK_MSG(bad == 0, "avx2 (%lld x %lld): %d rows differ", (long long)out, (long long)in, bad);
        if (out > 8) { /* a partial range: rows outside it untouched */
            for (int64_t o = 0; o < out; o++) ys[o] = -1.0f;
            qf_cpu_i8_rows_avx2(&l, q, xs, ys, 3, out - 2);
            CHECK(ys[2] == -1.0f && ys[3] == yr[3] && ys[out - 3] == yr[out - 3] &&
                  ys[out - 2] == -1.0f);
        }
    }
    if (level >= 2) {
        qf_cpu_i8_rows_avx512vnni(&l, q, xs, ys, 0, out);
        bad = 0;
        for (int64_t o = 0; o < out; o++) bad += ys[o] != yr[o];
        CHECK_MSG(bad == 0, "avx512vnni: %d rows differ", bad);
    }
    /* two tokens through the threaded entry point */
    float *x2 = malloc((size_t)(2 * in) * sizeof(float)), *y2 = calloc((size_t)(2 * out), sizeof(float));
    for (int64_t i = 0; i < in; i++) x2[i] = x[i], x2[in + i] = -0.5f * x[i];
    void *scr = malloc((size_t)qf_cpu_i8linear_scratch_bytes(&l));
    qf_cpu_i8linear_rows(&l, x2, 2, y2, 0, out, scr);
    bad = 0;
    for (int64_t o = 0; o < out; o++) bad += y2[o] != yr[o];
    CHECK(bad == 0);
    free(scr), free(x2), free(y2), free(q), free(yr), free(ys), free(w), free(sc), free(x);
    qf_cpu_i8linear_free(&l);
}

int main(void) {
    test_quantize();
    test_kernels(37, 150);
    test_kernels(64, 64);
    test_kernels(5, 1000);
    const int level = qf_cpu_i8_level();
    printf("int8 kernels checked: ref%s%s\n", level >= 1 ? ", avx2" : "",
           level >= 2 ? ", avx512vnni" : " (this CPU has no AVX-512 VNNI: that kernel not run)");
    TEST_END();
}
