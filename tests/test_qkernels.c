/* Quantized CPU linears vs the canonical dequantization (qf_qweight_dequant_ref) and a
 * naive double-precision matmul, on random qf_qweights: bits 2/3/4/8, group sizes
 * 32/64/128/per-channel, with and without an act-order g_idx, asymmetric and symmetric,
 * input widths that are not a multiple of the group or of 32, output widths that are not a
 * multiple of 16.
 *  - repacking: every code read back from the packed layout equals the qf_qweight's, and
 *    qf_cpu_qlinear_dequant_rows is bit-identical to qf_qweight_dequant_ref;
 *  - GEMV (reference and every SIMD level the CPU has) vs the naive matmul:
 *    |y - y_naive| <= 1e-5 * mag, mag = sum_i s (q_i + z) |x_i| over the row (the sizes of
 *    the terms of both formulations: float32 sums of at most a few thousand terms are off
 *    by ~sqrt(k) * 2^-24 of it, so 1e-5 leaves a wide margin while one wrong code, scale
 *    or zero point moves y by ~1/k of mag or more, far over it);
 *  - the linear rows (m = 1, 2: GEMV; m = 5, 37: dequantized tiles + sgemm), through
 *    qf_cpu_linear_forward with a bias, vs the naive matmul, the same tolerance;
 *  - bad qweights (a code past 2^bits - 1) are refused. */
#include <stdint.h>

#include "core/qweight.h"
#include "runtime/cpu/kernels.h"
#include "runtime/cpu/linear.h"
#include "runtime/cpu/qlinear.h"
#include "tests/test.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static float frand(void) { return (float)((next() >> 40) * (1.0 / (1 << 23)) - 1.0); }

/* A random (out, in) weight; act-order g_idx = group of each column's rank in a random
 * permutation (as GPTQ's desc_act writes it). */
static qf_qweight make_qweight(int bits, int sym, int64_t out, int64_t in, int64_t gs,
                               int act) {
    qf_qweight w;
    CHECK_OK(qf_qweight_init(&w, bits, sym, out, in, gs, act));
    const int maxq = (1 << bits) - 1;
    for (int64_t k = 0; k < out * in; k++) w.q[k] = (uint8_t)(next() % (uint64_t)(maxq + 1));
    for (int64_t k = 0; k < w.n_groups * out; k++) {
        w.scales[k] = 0.01f + 0.1f * (frand() + 1.0f);
        w.zeros[k] = sym ? (uint8_t)(1 << (bits - 1)) : (uint8_t)(next() % (uint64_t)(maxq + 1));
    }
    if (act) {
        int64_t *perm = malloc((size_t)in * sizeof *perm);
        for (int64_t i = 0; i < in; i++) perm[i] = i;
        for (int64_t i = in - 1; i > 0; i--) {
            const int64_t j = (int64_t)(next() % (uint64_t)(i + 1)), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        for (int64_t r = 0; r < in; r++) w.g_idx[perm[r]] = (int32_t)(r / w.group_size);
        free(perm);
    }
    return w;
}

/* y (m, out) = x W^T + bias in double, and mag (m, out) = sum_i s (q + z) |x_i|. */
static void naive(const qf_qweight *w, const float *wd, const float *bias, const float *x,
                  int64_t m, double *y, double *mag) {
    for (int64_t t = 0; t < m; t++)
        for (int64_t o = 0; o < w->out; o++) {
            double s = bias ? bias[o] : 0.0, a = bias ? fabs(bias[o]) : 0.0;
            for (int64_t i = 0; i < w->in; i++) {
                const int64_t g = w->g_idx ? w->g_idx[i] : i / w->group_size;
                const size_t p = (size_t)(g * w->out + o);
                s += (double)wd[o * w->in + i] * x[t * w->in + i];
                a += (double)w->scales[p] * (w->q[o * w->in + i] + w->zeros[p]) *
                     fabs(x[t * w->in + i]);
            }
            y[t * w->out + o] = s;
            mag[t * w->out + o] = a;
        }
}

static double worst_gemv[3], worst_rows;

static void check_case(int bits, int sym, int64_t out, int64_t in, int64_t gs, int act) {
    qf_qweight w = make_qweight(bits, sym, out, in, gs, act);
    qf_cpu_qlinear ql;
    CHECK_OK(qf_cpu_qlinear_init(&ql, &w, "test"));
    char what[128];
    snprintf(what, sizeof what, "bits %d sym %d (%lld, %lld) gs %lld act %d", bits, sym,
             (long long)out, (long long)in, (long long)gs, act);
    /* every code read back */
    int bad = 0;
    for (int64_t o = 0; o < out; o++)
        for (int64_t c = 0; c < ql.kp; c++) {
            const int64_t i = ql.src ? ql.src[c] : c;
            const int want = i >= 0 ? w.q[o * in + i] : 0;
            bad += qf_cpu_qlinear_code(&ql, o, c) != want;
        }
    CHECK_MSG(bad == 0, "%s: %d codes differ", what, bad);
    CHECK_MSG(ql.kp % QF_CPU_QBLOCK == 0 && ql.kp >= in, "%s: kp %lld", what, (long long)ql.kp);
    /* dequantization bit-identical to the reference */
    float *wd = malloc((size_t)(out * in) * sizeof *wd), *wq = malloc((size_t)(out * in) * 4);
    qf_qweight_dequant_ref(&w, wd);
    qf_cpu_qlinear_dequant_rows(&ql, 0, out, wq);
    CHECK_MSG(memcmp(wd, wq, (size_t)(out * in) * 4) == 0, "%s: dequant_rows differs", what);
    /* GEMV at each level */
    const int64_t M = 37;
    float *x = malloc((size_t)(M * in) * 4), *bias = malloc((size_t)out * 4);
    for (int64_t k = 0; k < M * in; k++) x[k] = frand() * 2.0f;
    for (int64_t o = 0; o < out; o++) bias[o] = frand();
    double *yn = malloc((size_t)(M * out) * 8), *mag = malloc((size_t)(M * out) * 8);
    naive(&w, wd, NULL, x, 1, yn, mag);
    float *xp = malloc((size_t)(ql.kp + ql.n_groups) * 4), *y = malloc((size_t)(M * out) * 4);
    qf_cpu_qlinear_prep(&ql, x, xp, xp + ql.kp);
    for (int level = 0; level <= qf_cpu_simd_level() && level < 3; level++) {
        for (int64_t o = 0; o < out; o++) y[o] = NAN;
        /* two calls over row ranges that split the output */
        qf_cpu_qgemv_at(level, &ql, xp, xp + ql.kp, y, 0, out / 3);
        qf_cpu_qgemv_at(level, &ql, xp, xp + ql.kp, y, out / 3, out);
        for (int64_t o = 0; o < out; o++) {
            const double err = fabs(y[o] - yn[o]);
            if (err / mag[o] > worst_gemv[level]) worst_gemv[level] = err / mag[o];
            CHECK_MSG(err <= 1e-5 * mag[o], "%s level %d row %lld: %.9g vs %.9g", what, level,
                      (long long)o, y[o], yn[o]);
        }
    }
    /* linear rows through qf_cpu_linear, with a bias, two threads' shares */
    qf_cpu_linear lin = {.dtype = QF_DTYPE_F32, .out = out, .in = in, .qw = &ql, .bias = bias};
    float *scratch = malloc((size_t)qf_cpu_qlinear_scratch(&ql) * 4);
    const int64_t ms[] = {1, 2, 5, M};
    for (size_t k = 0; k < sizeof ms / sizeof ms[0]; k++) {
        const int64_t m = ms[k];
        naive(&w, wd, bias, x, m, yn, mag);
        for (int ith = 0; ith < 2; ith++) qf_cpu_linear_forward(&lin, x, m, y, ith, 2, scratch);
        for (int64_t e = 0; e < m * out; e++) {
            const double err = fabs(y[e] - yn[e]);
            if (err / mag[e] > worst_rows) worst_rows = err / mag[e];
            CHECK_MSG(err <= 1e-5 * mag[e], "%s m %lld elem %lld: %.9g vs %.9g", what,
                      (long long)m, (long long)e, y[e], yn[e]);
        }
    }
    free(scratch), free(xp), free(y), free(yn), free(mag), free(x), free(bias), free(wd), free(wq);
    qf_cpu_qlinear_free(&ql);
    qf_qweight_free(&w);
}

static void test_bad(void) {
    qf_qweight w = make_qweight(4, 0, 3, 40, 32, 0);
    w.q[5] = 16;
    qf_cpu_qlinear ql;
    CHECK_FAILS(qf_cpu_qlinear_init(&ql, &w, "bad.weight"), QF_STATUS_FORMAT, "bad.weight");
    CHECK(ql.codes == NULL);
    qf_qweight_free(&w);
}

int main(void) {
    static const int64_t shapes[][2] = {{1, 1},  {3, 31},  {5, 100}, {17, 96},
                                        {7, 257}, {33, 160}, {64, 576}, {20, 1536}};
    static const int bitss[] = {2, 3, 4, 8};
    static const int64_t groups[] = {32, 64, 128, -1};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t b = 0; b < 4; b++)
            for (size_t g = 0; g < 4; g++)
                for (int act = 0; act < 2; act++)
                    check_case(bitss[b], (int)((s + g) % 2), shapes[s][0], shapes[s][1],
                               groups[g], act);
    test_bad();
    for (int level = 0; level <= qf_cpu_simd_level() && level < 3; level++)
        printf("qgemv level %d: worst |y - naive| / mag = %.3g\n", level, worst_gemv[level]);
    printf("linear rows (m = 1, 2, 5, 37): worst |y - naive| / mag = %.3g\n", worst_rows);
    TEST_END();
}
