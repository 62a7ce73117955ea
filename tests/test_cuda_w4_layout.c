/* The CUDA W4 layout on the CPU (runs everywhere, GPU or not, CUDA built or not): random
 * 4-bit qf_qweights (group sizes 32 / 64 / 100 / 128 / per-channel / 4, no g_idx, GPTQ
 * act-order g_idx, random uneven g_idx; in not a multiple of 8 or of the group size;
 * symmetric and asymmetric) repacked with qf_cuda_w4_init, then:
 *  - columns: every input column exactly once in perm, in its own group's run, in the
 *    original order within the run (stable); gp a multiple of 32 holding every group;
 *  - codes, scales, zeros read back equal the qf_qweight's (padding codes 0);
 *  - qf_cuda_w4_pair_bits, the kernel's decode, gives (1024 + q) pairs of the right
 *    columns as fp16;
 *  - qf_cuda_w4_prep_ref: the gather + fp16 conversion;
 *  - qf_cuda_w4_gemv_ref vs qf_qweight_dequant_ref + a double matvec: with fp16 scales
 *    the dequantized weights are the same numbers, so only double sum order and the final
 *    float rounding differ (1e-9 mag + 2^-24 |y|); with arbitrary scales the layout
 *    rounds each to fp16 (relative 2^-11), so |dy| <= 2^-11 mag;
 *  - an emulation of the GPU kernel's arithmetic (fp16 products and sums of 4, fp32
 *    accumulation) stays within the tolerance test_cuda_kernels.c states for the kernel,
 *    and does not overflow at |x| = 65504;
 *  - qf_cuda_w4_gemm_ref (the fused prefill GEMM's reference) against the double matvec,
 *    within the fp16 roundings of x 2^-6 and of the weights;
 *  - qf_cuda_w4_dequant_ref (fp16 scales): every packed column's weight is the fp16 of
 *    qf_qweight_dequant_ref's (exact in fp32, so one rounding on both sides; padding:
 *    code 0 of its group); dequant_ok is set, and cleared from a scale of 15 * 65504 / 15
 *    ... i.e. where scale * 15 overflows fp16 (4367.0 passes, 4368.0 does not);
 *  - refusals: 3-bit weights, scales that are 0 or inf in fp16, invalid codes. */
#include <math.h>
#include <stdint.h>

#include "core/dtype.h"
#include "core/qweight.h"
#include "runtime/cuda/w4_layout.h"
#include "tests/test.h"
#include "tests/test_cuda_util.h"

static int64_t group_of(const qf_qweight *w, int64_t i) {
    return w->g_idx ? w->g_idx[i] : i / w->group_size;
}

static void check_columns(const qf_qweight *w, const qf_cuda_w4 *l) {
    CHECK(l->gp % QF_CUDA_W4_CHUNK == 0 && l->gp > 0 && l->kp == l->n_groups * l->gp);
    char *seen = calloc((size_t)w->in, 1);
    int ok = 1;
    for (int64_t c = 0; c < l->kp; c++) {
        const int32_t i = l->perm[c];
        if (i < 0) continue;
        ok &= i < w->in && !seen[i] && group_of(w, i) == c / l->gp;
        if (i < w->in) seen[i] = 1;
        /* stable: the previous real column of the same run is an earlier input column */
        for (int64_t p = c - 1; p >= c / l->gp * l->gp; p--)
            if (l->perm[p] >= 0) {
                ok &= l->perm[p] < i;
                break;
            }
    }
    for (int64_t i = 0; i < w->in; i++) ok &= seen[i];
    CHECK_MSG(ok, "perm of (%lld, %lld) g%lld", (long long)w->out, (long long)w->in,
              (long long)w->group_size);
    free(seen);
}

static void check_codes(const qf_qweight *w, const qf_cuda_w4 *l) {
    int bad = 0;
    for (int64_t o = 0; o < w->out; o++) {
        for (int64_t c = 0; c < l->kp; c++) {
            const int want = l->perm[c] < 0 ? 0 : w->q[o * w->in + l->perm[c]];
            bad += qf_cuda_w4_code(l, o, c) != want;
        }
        for (int64_t j = 0; j < l->kp / 8; j++)
            for (int k = 0; k < 4; k++) {
                const uint32_t b = qf_cuda_w4_pair_bits(l->qw[o * (l->kp / 8) + j], k);
                bad += qf_fp16_to_fp32((uint16_t)b) !=
                       1024.0f + qf_cuda_w4_code(l, o, 8 * j + 2 * k);
                bad += qf_fp16_to_fp32((uint16_t)(b >> 16)) !=
                       1024.0f + qf_cuda_w4_code(l, o, 8 * j + 2 * k + 1);
            }
        for (int64_t g = 0; g < w->n_groups; g++) {
            const uint16_t *sz = l->sz + (o * w->n_groups + g) * 2;
            const size_t k = (size_t)(g * w->out + o);
            bad += sz[0] != qf_fp32_to_fp16(w->scales[k]);
            bad += qf_fp16_to_fp32(sz[1]) != 1024.0f + w->zeros[k];
        }
    }
    CHECK_MSG(bad == 0, "%d codes / pairs / scales / zeros differ", bad);
}

/* One fp16 rounding (nearest even, subnormals, overflow to inf) of an exact double. */
static double r16(double v) {
    if (v == 0.0 || !isfinite(v)) return v;
    int e;
    frexp(v, &e);
    const int q = e - 11 < -24 ? -24 : e - 11; /* the ulp's exponent */
    const double r = ldexp(nearbyint(ldexp(v, -q)), q);
    return fabs(r) > 65504.0 ? copysign(INFINITY, v) : r;
}

/* The GPU kernel's arithmetic for token t, row o, from the prepared xh: per 32-bit word
 * two lanes (even / odd columns) of fp16 HMUL + 3 HFMA, each lane then times the
 * group's scale * 2^XSHIFT added in fp32 (the order of words differs from the GPU's
 * lanes, which only changes fp32 rounding). */
static float emulate_row(const qf_cuda_w4 *l, const uint16_t *xh, int64_t o) {
    float acc = 0.0f;
    for (int64_t j = 0; j < l->kp / 8; j++) {
        const uint16_t *sz = l->sz + (o * l->n_groups + j * 8 / l->gp) * 2;
        const float s = qf_fp16_to_fp32(sz[0]) * (float)(1 << QF_CUDA_W4_XSHIFT);
        const double zm = qf_fp16_to_fp32(sz[1]);
        for (int lane = 0; lane < 2; lane++) {
            double p = 0.0;
            for (int k = 0; k < 4; k++) {
                const uint32_t b = qf_cuda_w4_pair_bits(l->qw[o * (l->kp / 8) + j], k);
                const double d = qf_fp16_to_fp32((uint16_t)(b >> (16 * lane))) - zm;
                p = r16(d * qf_fp16_to_fp32(xh[8 * j + 2 * k + lane]) + p);
            }
            acc = fmaf((float)p, s, acc);
        }
    }
    return acc;
}

static double worst_emul;

static void check_dequant(const qf_qweight *w, const qf_cuda_w4 *l) {
    float *wd = malloc((size_t)(w->out * w->in) * sizeof *wd);
    uint16_t *wh = malloc((size_t)(l->out * l->kp) * sizeof *wh);
    qf_qweight_dequant_ref(w, wd);
    qf_cuda_w4_dequant_ref(l, wh);
    int bad = 0;
    for (int64_t o = 0; o < w->out; o++)
        for (int64_t c = 0; c < l->kp; c++) {
            const int64_t i = l->perm[c], g = c / l->gp; /* packed group g = layout group */
            const int64_t k = g * w->out + o;
            const float want =
                i >= 0 ? wd[o * w->in + i] : w->scales[k] * (float)(0 - (int)w->zeros[k]);
            bad += wh[o * l->kp + c] != qf_fp32_to_fp16(want);
        }
    CHECK_MSG(bad == 0, "%d dequantized weights differ (%lld x %lld)", bad, (long long)w->out,
              (long long)w->in);
    CHECK(l->dequant_ok);
    free(wd);
    free(wh);
}

/* qf_cuda_w4_gemm_ref (the fused GEMM's exact value from fp16 xh and wh) vs the double
 * matvec of x and the dequantized weights wd: xh = fp16(x 2^-6) and wh = fp16(wd) are
 * each within 2^-11 relative (or 2^-25 absolute below fp16's normal range, times 2^6 |wh|
 * in y), so |dy| <= (2^-10 + 2^-22) mag + 2^-19 sum |wh|; a column taken from the wrong
 * place moves y by a whole product. */
static void check_gemm_ref(const qf_cuda_w4 *l, const float *x, const float *wd,
                           const uint16_t *xh, int64_t m) {
    uint16_t *wh = malloc((size_t)(l->out * l->kp) * sizeof *wh);
    double *y = malloc((size_t)l->out * sizeof *y), *mag = malloc((size_t)l->out * sizeof *mag);
    qf_cuda_w4_dequant_ref(l, wh);
    for (int64_t t = 0; t < m; t++) {
        qf_cuda_w4_gemm_ref(l, xh, wh, t, y, mag);
        for (int64_t o = 0; o < l->out; o++) {
            double yn = 0.0, wsum = 0.0;
            for (int64_t i = 0; i < l->in; i++) yn += (double)wd[o * l->in + i] * x[t * l->in + i];
            for (int64_t c = 0; c < l->kp; c++) wsum += fabs(qf_fp16_to_fp32(wh[o * l->kp + c]));
            const double tol = (ldexp(1.0, -10) + ldexp(1.0, -22)) * mag[o] + ldexp(wsum, -19);
            CHECK_NEAR(y[o], yn, tol);
        }
    }
    free(wh);
    free(y);
    free(mag);
}

static void check_case(int sym, int64_t out, int64_t in, int64_t gs, int order) {
    for (int fp16_scales = 1; fp16_scales >= 0; fp16_scales--) {
        qf_qweight w = cu_make_qweight(sym, out, in, gs, order, fp16_scales);
        qf_cuda_w4 l;
        CHECK_OK(qf_cuda_w4_init(&l, &w, "t"));
        if (!l.qw) {
            qf_qweight_free(&w);
            return;
        }
        check_columns(&w, &l);
        check_codes(&w, &l);
        if (fp16_scales) check_dequant(&w, &l);

        const int64_t m = 3;
        float *x = malloc((size_t)(m * in) * sizeof *x);
        float *y = malloc((size_t)(m * out) * sizeof *y);
        float *wd = malloc((size_t)(out * in) * sizeof *wd);
        double *mag = malloc((size_t)(m * out) * sizeof *mag);
        uint16_t *xh = malloc((size_t)(m * l.kp) * sizeof *xh);
        for (int64_t k = 0; k < m * in; k++) x[k] = 4.0f * cu_frand();
        x[0] = 1e-4f; /* an fp16 subnormal after the 2^-6 scaling */
        qf_cuda_w4_gemv_ref(&l, x, m, y);
        qf_qweight_dequant_ref(&w, wd);
        cu_mag(&l, x, m, mag);
        const double smax = cu_smax(&l);
        qf_cuda_w4_prep_ref(&l, x, m, xh);
        int bad_prep = 0;
        for (int64_t t = 0; t < m; t++)
            for (int64_t c = 0; c < l.kp; c++) {
                const int32_t i = l.perm[c];
                bad_prep += xh[t * l.kp + c] !=
                            (i < 0 ? 0 : qf_fp32_to_fp16(x[t * in + i] / 64.0f));
            }
        CHECK_MSG(bad_prep == 0, "%d prepared activations differ", bad_prep);
        for (int64_t t = 0; t < m; t++)
            for (int64_t o = 0; o < out; o++) {
                double yn = 0.0;
                for (int64_t i = 0; i < in; i++) yn += (double)wd[o * in + i] * x[t * in + i];
                const double mg = mag[t * out + o];
                const double tol = fp16_scales ? 1e-9 * mg + ldexp(1.0, -24) * fabs(yn)
                                               : ldexp(1.0, -11) * mg * (1 + 1e-6) +
                                                     ldexp(1.0, -24) * fabs(yn);
                CHECK_NEAR(y[t * out + o], yn, tol);
                const double ye = emulate_row(&l, xh + t * l.kp, o);
                const double tk = cu_kernel_tol(&l, smax, mg, y[t * out + o]);
                CHECK_NEAR(ye, y[t * out + o], tk);
                if (fabs(ye - y[t * out + o]) / tk > worst_emul)
                    worst_emul = fabs(ye - y[t * out + o]) / tk;
            }
        if (fp16_scales) check_gemm_ref(&l, x, wd, xh, m);
        free(x);
        free(y);
        free(wd);
        free(mag);
        free(xh);
        qf_cuda_w4_free(&l);
        qf_qweight_free(&w);
    }
}

/* |x| = 65504 everywhere, |q - z| = 15: the largest fp16 partial sums the kernel makes. */
static void check_no_overflow(void) {
    qf_qweight w;
    CHECK_OK(qf_qweight_init(&w, 4, 0, 2, 64, 32, 0));
    for (int64_t k = 0; k < 2 * 64; k++) w.q[k] = k < 64 ? 15 : 0;
    for (int64_t k = 0; k < 2 * 2; k++) {
        w.scales[k] = 1.0f;
        w.zeros[k] = k % 2 ? 15 : 0; /* row 0: q - z = 15; row 1: q - z = -15 */
    }
    qf_cuda_w4 l;
    CHECK_OK(qf_cuda_w4_init(&l, &w, "big"));
    float x[64], y[2];
    uint16_t xh[64];
    for (int i = 0; i < 64; i++) x[i] = 65504.0f;
    qf_cuda_w4_prep_ref(&l, x, 1, xh);
    qf_cuda_w4_gemv_ref(&l, x, 1, y);
    for (int o = 0; o < 2; o++) {
        const float ye = emulate_row(&l, xh, o);
        const double tol = cu_kernel_tol(&l, 1.0, 64 * 15 * 65504.0, y[o]);
        CHECK_MSG(isfinite(ye) && fabs(ye - y[o]) <= tol, "row %d: %g vs %g", o, (double)ye,
                  (double)y[o]);
    }
    qf_cuda_w4_free(&l);
    qf_qweight_free(&w);
}

static void check_refusals(void) {
    qf_qweight w;
    qf_cuda_w4 l;
    CHECK_OK(qf_qweight_init(&w, 3, 0, 4, 64, 32, 0));
    for (int k = 0; k < 8; k++) w.scales[k] = 1.0f;
    CHECK_FAILS(qf_cuda_w4_init(&l, &w, "w3"), QF_STATUS_UNSUPPORTED, "4-bit");
    qf_qweight_free(&w);
    w = cu_make_qweight(0, 4, 64, 32, CU_ORDER_PLAIN, 1);
    w.scales[5] = 1e-9f;
    CHECK_FAILS(qf_cuda_w4_init(&l, &w, "tiny"), QF_STATUS_INVALID_ARG, "fp16");
    w.scales[5] = 1e6f;
    CHECK_FAILS(qf_cuda_w4_init(&l, &w, "huge"), QF_STATUS_INVALID_ARG, "(group 1, row 1)");
    w.scales[5] = 4364.0f; /* an fp16 (steps of 4 here); 15 * 4364 = 65460: finite */
    CHECK_OK(qf_cuda_w4_init(&l, &w, "large"));
    CHECK(l.dequant_ok);
    qf_cuda_w4_free(&l);
    w.scales[5] = 4368.0f; /* the next fp16; 65520 rounds to inf; the GEMV path holds it */
    CHECK_OK(qf_cuda_w4_init(&l, &w, "larger"));
    CHECK(!l.dequant_ok);
    qf_cuda_w4_free(&l);
    w.scales[5] = 1.0f;
    w.q[3] = 16;
    CHECK_FAILS(qf_cuda_w4_init(&l, &w, "bad code"), QF_STATUS_FORMAT, "bad code");
    CHECK(l.qw == NULL && l.perm == NULL);
    qf_cuda_w4_free(&l);
    qf_cuda_w4_free(NULL);
    qf_qweight_free(&w);
}

int main(void) {
    static const struct {
        int64_t out, in, gs;
    } shapes[] = {{16, 256, 128}, {5, 300, 64}, {7, 300, 100}, {3, 77, 0},
                  {9, 1000, 128}, {4, 96, 32},  {2, 13, 4}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int order = CU_ORDER_PLAIN; order <= CU_ORDER_RANDOM; order++)
            for (int sym = 0; sym < 2; sym++)
                check_case(sym, shapes[s].out, shapes[s].in, shapes[s].gs, order);
    check_no_overflow();
    check_refusals();
    printf("emulated kernel: worst |error| / tolerance %.3g\n", worst_emul);
    TEST_END();
}
