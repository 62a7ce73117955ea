/* W8A8 kernels (runtime/cpu/i8linear.h): the per-token quantization against its
 * definition (compressed-tensors' symmetric int8: scale = max|x| / 127.5, round half to
 * even, clamp to [-128, 127]), a static per-tensor scale (values beyond its range
 * clamped), the scalar kernel against int64 dot products, and every
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
    const float s = qf_cpu_i8_token_scale(x, N);
    CHECK(s == 9.0f / 127.5f);
    /* the token's own scale, then a static one that clips (|x| > 1) */
    const float scales[2] = {s, 1.0f / 127.5f};
    for (int k = 0; k < 2; k++) {
        qf_cpu_i8_quantize(x, N, KP, scales[k], q);
        int bad = 0, clipped = 0;
        for (int i = 0; i < N; i++) {
            double v = nearbyint((double)(x[i] / scales[k])); /* default: half to even */
            clipped += v < -128 || v > 127;
            v = v < -128 ? -128 : (v > 127 ? 127 : v);
            bad += q[i] != (int8_t)v;
        }
        for (int i = N; i < KP; i++) bad += q[i] != 0;
        CHECK_MSG(bad == 0, "scale %d: %d codes differ from the definition", k, bad);
        CHECK(k == 0 ? clipped == 0 : clipped > 10);
    }
    float z[N] = {0};
    CHECK(qf_cpu_i8_token_scale(z, N) == 0.0f);
    q[0] = 5;
    qf_cpu_i8_quantize(z, N, KP, 0.0f, q);
    CHECK(q[0] == 0);
    z[3] = NAN; /* a NaN input gets a defined code, not an undefined cast */
    qf_cpu_i8_quantize(z, N, KP, 1.0f, q);
    CHECK(q[3] == -128 && q[2] == 0);
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
    CHECK_OK(qf_cpu_i8linear_init(&l, w, sc, 0.0f, out, in));
    int8_t *q = aligned_alloc(64, (size_t)l.kp);
    const float xs = qf_cpu_i8_token_scale(x, in);
    qf_cpu_i8_quantize(x, in, l.kp, xs, q);
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
    /* a static activation scale: the same tokens on the fixed grid of 2 / 127.5 (x[0] = -3
     * clipped), through the entry point, against ref on codes quantized by hand */
    qf_cpu_i8linear ls;
    CHECK_OK(qf_cpu_i8linear_init(&ls, w, sc, 2.0f / 127.5f, out, in));
    CHECK(ls.in_scale == 2.0f / 127.5f);
    qf_cpu_i8linear_rows(&ls, x2, 2, y2, 0, out, scr);
    qf_cpu_i8_quantize(x2 + in, in, l.kp, ls.in_scale, q);
    qf_cpu_i8_rows_ref(&ls, q, ls.in_scale, yr, 0, out);
    bad = 0;
    for (int64_t o = 0; o < out; o++) bad += y2[out + o] != yr[o];
    CHECK_MSG(bad == 0, "static scale: %d rows differ", bad);
    qf_cpu_i8linear_free(&ls);
    CHECK(qf_cpu_i8linear_init(&ls, w, sc, -1.0f, out, in) == QF_STATUS_INVALID_ARG);
    CHECK(qf_cpu_i8linear_init(&ls, w, sc, INFINITY, out, in) == QF_STATUS_INVALID_ARG);
    CHECK(qf_cpu_i8linear_init(&ls, w, sc, NAN, out, in) == QF_STATUS_INVALID_ARG);
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
