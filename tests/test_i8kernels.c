/* W8A8 kernels (runtime/cpu/i8linear.h): the per-token quantization against its
 * definition (compressed-tensors' symmetric int8: scale = max|x| / 127.5, round half to
 * even, clamp to [-128, 127]), a static per-tensor scale (values beyond its range
 * clamped), every SIMD quantizer this CPU runs against the scalar one bit for bit (NaN,
 * inf, exact ties, tails), the packed weight layout (unpacked back to the rows), and
 * every kernel this CPU runs against int64 dot products bit for bit (codes -128
 * included, widths that need padding, 1 to QF_CPU_I8_TOKENS tokens, row ranges that cut
 * the 16-row blocks, a wider output stride whose gap stays untouched). The AVX-512 VNNI
 * kernels run only where the CPU has them; the test says when it could not. */
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

/* Every quantizer this CPU runs against the definition, bit for bit: lengths around the
 * vector widths, NaN / inf / ties / signed zeros, clipping static scales, zero tokens. */
static void test_quantizers(void) {
    qf_cpu_i8_quantizer *const qs[] = {qf_cpu_i8_quantize_ref, qf_cpu_i8_quantize_avx2,
                                        qf_cpu_i8_quantize_avx512};
    const int64_t lens[] = {1, 7, 8, 9, 15, 16, 17, 63, 64, 150, 1000};
    const int level = qf_cpu_i8_level();
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        const int64_t in = lens[li], kp = (in + QF_CPU_I8_BLOCK - 1) / QF_CPU_I8_BLOCK * QF_CPU_I8_BLOCK;
        float *x = malloc((size_t)in * sizeof(float));
        int8_t *qr = malloc((size_t)kp), *qv = malloc((size_t)kp);
        for (int variant = 0; variant < 6; variant++) {
            for (int64_t i = 0; i < in; i++) x[i] = ((float)(next() >> 8) / 16777216.0f - 0.5f) * 8.0f;
            if (variant == 1) x[in - 1] = NAN, x[0] = -0.0f;
            if (variant == 2) x[in / 2] = -INFINITY;
            if (variant == 3) /* exact ties of the grid 1/127.5 x 2: k + 0.5 steps */
                for (int64_t i = 0; i < in; i++) x[i] = ((float)(int)(i % 255) - 127.0f + 0.5f) / 63.75f;
            if (variant == 4) memset(x, 0, (size_t)in * sizeof(float));
            const float st = variant == 5 ? 1.0f / 127.5f : 0.0f; /* static: |x| > 1 clips */
            const float sr = qs[0](x, in, kp, st, qr);
            for (int lv = 1; lv <= level; lv++) {
                memset(qv, 0x55, (size_t)kp);
                const float sv = qs[lv](x, in, kp, st, qv);
                CHECK_MSG(memcmp(&sr, &sv, sizeof sr) == 0 && memcmp(qr, qv, (size_t)kp) == 0,
                          "quantizer level %d, %lld columns, variant %d: differs from the reference",
                          lv, (long long)in, variant);
            }
        }
        free(x), free(qr), free(qv);
    }
}

/* y of nt tokens by the int64 definition. */
static void definition(const int8_t *w, const float *sc, const int8_t *q, const float *xs,
                       int nt, int64_t out, int64_t in, int64_t kp, float *y) {
    for (int t = 0; t < nt; t++)
        for (int64_t o = 0; o < out; o++) {
            int64_t acc = 0;
            for (int64_t i = 0; i < in; i++) acc += (int64_t)q[t * kp + i] * w[o * in + i];
            y[t * out + o] = (float)acc * (xs[t] * sc[o]);
        }
}

static void test_kernels(int64_t out, int64_t in) {
    int8_t *w = malloc((size_t)(out * in));
    float *sc = malloc((size_t)out * sizeof(float));
    float *x = malloc((size_t)(QF_CPU_I8_TOKENS * 2 * in) * sizeof(float));
    for (int64_t k = 0; k < out * in; k++) w[k] = (int8_t)(next() >> 24);
    w[0] = -128, w[1] = 127;
    for (int64_t o = 0; o < out; o++) sc[o] = 1e-3f * (1.0f + (float)(o % 7));
    for (int64_t i = 0; i < QF_CPU_I8_TOKENS * 2 * in; i++)
        x[i] = (float)(next() >> 8) / 16777216.0f - 0.5f;
    x[0] = -3.0f; /* codes -128 in the token too */
    qf_cpu_i8linear l;
    CHECK_OK(qf_cpu_i8linear_init(&l, w, sc, 0.0f, out, in));
    /* the packing keeps every code */
    int8_t *rows = malloc((size_t)(out * l.kp));
    qf_cpu_i8linear_unpack(&l, rows);
    int bad = 0;
    for (int64_t o = 0; o < out; o++)
        for (int64_t i = 0; i < l.kp; i++) bad += rows[o * l.kp + i] != (i < in ? w[o * in + i] : 0);
    CHECK_MSG(bad == 0, "unpack: %d codes differ", bad);
    free(rows);

    enum { NT = QF_CPU_I8_TOKENS };
    int8_t *q = aligned_alloc(64, (size_t)(NT * l.kp));
    float xs[NT];
    for (int t = 0; t < NT; t++) xs[t] = qf_cpu_i8_quantize_ref(x + t * in, in, l.kp, 0.0f, q + t * l.kp);
    const int64_t ldy = out + 5; /* a wider row stride: the gap stays untouched */
    float *yd = malloc((size_t)(NT * out) * sizeof(float));
    float *y = malloc((size_t)(NT * ldy) * sizeof(float));
    definition(w, sc, q, xs, NT, out, in, l.kp, yd);
    qf_cpu_i8_kernel *const ks[] = {qf_cpu_i8_rows_ref, qf_cpu_i8_rows_avx2, qf_cpu_i8_rows_avx512vnni};
    /* row ranges: all, a thread's share of whole blocks, ranges cutting blocks */
    const int64_t ranges[][2] = {{0, out}, {0, out < 16 ? out : 16}, {3, out - 2}, {out / 2, out}};
    for (int lv = 0; lv <= qf_cpu_i8_level(); lv++)
        for (int nt = 1; nt <= NT; nt++)
            for (size_t ri = 0; ri < sizeof ranges / sizeof ranges[0]; ri++) {
                const int64_t r0 = ranges[ri][0], r1 = ranges[ri][1];
                if (r0 >= r1) continue;
                for (int64_t i = 0; i < NT * ldy; i++) y[i] = -7.0f;
                ks[lv](&l, q, xs, nt, y, ldy, r0, r1);
                bad = 0;
                for (int t = 0; t < NT; t++)
                    for (int64_t o = 0; o < ldy; o++) {
                        const int in_range = t < nt && o >= r0 && o < r1;
                        bad += y[t * ldy + o] != (in_range ? yd[t * out + o] : -7.0f);
                    }
                CHECK_MSG(bad == 0, "kernel level %d (%lld x %lld), %d tokens, rows [%lld, %lld): %d "
                          "entries differ from the definition", lv, (long long)out, (long long)in,
                          nt, (long long)r0, (long long)r1, bad);
            }

    /* 2 x NT - 3 tokens (a full and a partial token block) through the threaded entry
     * point, in two row shares */
    const int64_t m = 2 * NT - 3;
    float *ym = malloc((size_t)(m * out) * sizeof(float)), *ydm = malloc((size_t)(m * out) * sizeof(float));
    int8_t *qm = malloc((size_t)(m * l.kp));
    float xsm[2 * NT];
    for (int64_t t = 0; t < m; t++)
        xsm[t] = qf_cpu_i8_quantize_ref(x + t * in, in, l.kp, 0.0f, qm + t * l.kp);
    definition(w, sc, qm, xsm, (int)m, out, in, l.kp, ydm);
    void *scr = malloc((size_t)qf_cpu_i8linear_scratch_bytes(&l));
    qf_cpu_i8linear_rows(&l, x, m, ym, 0, out / 2, scr);
    qf_cpu_i8linear_rows(&l, x, m, ym, out / 2, out, scr);
    bad = 0;
    for (int64_t i = 0; i < m * out; i++) bad += ym[i] != ydm[i];
    CHECK_MSG(bad == 0, "entry point: %d of %lld outputs differ", bad, (long long)(m * out));
    /* a static activation scale: the tokens on the fixed grid of 2 / 127.5 (x[0] = -3
     * clipped) */
    qf_cpu_i8linear ls;
    CHECK_OK(qf_cpu_i8linear_init(&ls, w, sc, 2.0f / 127.5f, out, in));
    CHECK(ls.in_scale == 2.0f / 127.5f);
    qf_cpu_i8linear_rows(&ls, x, m, ym, 0, out, scr);
    for (int64_t t = 0; t < m; t++) {
        qf_cpu_i8_quantize(x + t * in, in, l.kp, ls.in_scale, qm + t * l.kp);
        xsm[t] = ls.in_scale;
    }
    definition(w, sc, qm, xsm, (int)m, out, in, l.kp, ydm);
    bad = 0;
    for (int64_t i = 0; i < m * out; i++) bad += ym[i] != ydm[i];
    CHECK_MSG(bad == 0, "static scale: %d outputs differ", bad);
    qf_cpu_i8linear_free(&ls);
    CHECK(qf_cpu_i8linear_init(&ls, w, sc, -1.0f, out, in) == QF_STATUS_INVALID_ARG);
    CHECK(qf_cpu_i8linear_init(&ls, w, sc, INFINITY, out, in) == QF_STATUS_INVALID_ARG);
    CHECK(qf_cpu_i8linear_init(&ls, w, sc, NAN, out, in) == QF_STATUS_INVALID_ARG);
    CHECK(qf_cpu_i8linear_init(&ls, w, sc, 0.0f, out, QF_CPU_I8_MAX_IN + 1) == QF_STATUS_INVALID_ARG);
    free(scr), free(ym), free(ydm), free(qm), free(q), free(y), free(yd), free(w), free(sc), free(x);
    qf_cpu_i8linear_free(&l);
}

int main(void) {
    test_quantize();
    test_quantizers();
    test_kernels(37, 150);
    test_kernels(64, 64);
    test_kernels(5, 1000);
    test_kernels(80, 576);
    const int level = qf_cpu_i8_level();
    printf("int8 kernels checked: ref%s%s\n", level >= 1 ? ", avx2" : "",
           level >= 2 ? ", avx512vnni" : " (this CPU has no AVX-512 VNNI: that kernel not run)");
    TEST_END();
}
