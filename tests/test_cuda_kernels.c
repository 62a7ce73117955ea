/* Every CUDA kernel against its CPU reference, on a GPU; without one it prints
 * "CUDA kernels: SKIPPED (no GPU: <reason>)" and exits 77 (ctest: skipped).
 *
 * W4 prep: bit-identical to qf_cuda_w4_prep_ref (both scale by 2^-6 exactly and round
 * to fp16 to nearest even).
 *
 * W4 GEMV vs qf_cuda_w4_gemv_ref (double) for m = 1..8 tokens (1 and 8 on the large
 * shapes), on small shapes like test_cuda_w4_layout.c's plus 4096 x 4096, 4096 x 11008
 * and 11008 x 4096 (g128), three kinds of input:
 *  - one-hot x (8 columns a call; every column of the small shapes, the first and last 8
 *    of the large ones): y is one column of W, s (q - z), and every operation of the
 *    kernel is exact on it: bit-identical;
 *  - x = j / 8, j in [-8, 8]: the fp16 stage is exact (x 2^-6 = j / 512, products
 *    (q - z) j / 512 and sums of 4 of them are integers < 2^11 times 2^-9), so only the
 *    fp32 accumulation rounds: |dy| <= cu_fp32_tol = (n_lane + 1) 2^-24 mag, with
 *    n_lane = 8 ceil(kp / 1024) + 5 additions one after another per lane and
 *    mag = sum s |q - z| |x| (cu_mag); a wrong code, zero, scale or activation moves y by
 *    ~mag / (2.5 k) or more, far over that for the small shapes;
 *  - x uniform in [-4, 4): the fp16 stage rounds. With u = 2^-11: x -> fp16 is off by
 *    u |x| (normal range), each product and each of the 3 fused adds of a 4-term chain by
 *    u of a partial sum, so a chain is off by <= ((1 + u)(1 + gamma_4) - 1) sum |terms|
 *    <= 5.1 u sum |terms|, i.e. 5.1 u mag in all. Below the fp16 normal range the
 *    roundings are absolute instead, <= 2^-25 each: one for x (times 64 s |q - z| <=
 *    15 * 64 s in y) and one in the chain (times 64 s) per column, so <= kp smax 2^-15
 *    in all. The half -> float conversions are exact; the fp32 part is cu_fp32_tol.
 *    Total: cu_kernel_tol = 5.1 u mag + kp smax 2^-15 + cu_fp32_tol, a worst case (the
 *    observed error is printed as a fraction of it); test_cuda_w4_layout.c checks the
 *    bound on a CPU emulation of the kernel's arithmetic.
 *
 * The candidate decode GEMV layouts (qf_cuda_w4_gemv_variant, same arithmetic per chunk):
 * each against the reference on every shape, m = 1, random and exact-fp16 x, under the
 * same bounds.
 *
 * W4 fused prefill GEMM (qf_cuda_w4_gemm, m = 1 .. 128) vs qf_cuda_w4_gemm_ref: see
 * check_gemm for its bound.
 *
 * W4 dequantization (the prefill path's fp16 weight): bit-identical to
 * qf_cuda_w4_dequant_ref on every shape above (one exact fp32 product, one rounding to
 * nearest even on both sides); a layout whose dequant_ok is 0 is refused.
 *
 * W8A8 (qf_cuda_i8_linear) vs the CPU's integer path (qf_cpu_i8linear_rows, itself
 * checked against its scalar reference by test_i8kernels): the per-token codes and scales
 * and y bit-identical (same rounding, exact int32 sums), also with y accumulated and with
 * a static activation scale; a token of zeros (scale 0) and a 100x token included.
 *
 * RMSNorm vs qf_cpu_rmsnorm_ref: only the sum of squares' order differs; both sums of n
 * non-negative terms are within gamma_n ~ n 2^-24 of the exact one, the square root
 * halves that, division / sqrt / 2 products add a few 2^-24 on each side:
 * |dy| <= (n + 10) 2^-24 |y|. Also in place (y == x).
 * RoPE vs qf_cpu_rope_apply: bit-identical (same table entries, same four rounded
 * products, no FMA on either side), on a fused q+k buffer whose v heads must stay put.
 * SwiGLU vs qf_cpu_swiglu: CUDA expf is within 2 ulp, glibc's within 1; through 1 + e,
 * the division and the product (each rounded on both sides): |dy| <= 11 2^-24 |y| <
 * 1e-6 |y| (+1e-40 near the subnormal range), including exp overflow at gate = -100. */
#include <math.h>
#include <stdint.h>

#include <cublas_v2.h>

#include "core/dtype.h"
#include "runtime/cpu/i8linear.h"
#include "runtime/cpu/kernels.h"
#include "runtime/cuda/cuda_kernels.h"
#include "tests/test.h"
#include "tests/test_cuda_util.h"

static double worst_random, worst_exact;

static void *dev_alloc(size_t bytes) {
    void *p = NULL;
    CHECK_OK(qf_cuda_malloc(&p, bytes, "test buffer"));
    return p;
}

/* Runs prep + GEMV (variant < 0: qf_cuda_w4_gemv, else that candidate layout, m = 1) on
 * x (m, in) and checks xh bit-exactly and y against the reference with tolerance kind 0:
 * bit-identical, 1: cu_fp32_tol, 2: cu_kernel_tol. */
static void run_gemv_v(const qf_cuda_w4 *l, const qf_cuda_w4_dev *d, const float *x, int64_t m,
                       int kind, float *dx, uint16_t *dxh, float *dy, int variant) {
    const int64_t out = l->out, in = l->in, kp = l->kp;
    uint16_t *xh = malloc((size_t)(m * kp) * 2), *xh_ref = malloc((size_t)(m * kp) * 2);
    float *y = malloc((size_t)(m * out) * 4), *y_ref = malloc((size_t)(m * out) * 4);
    double *mag = malloc((size_t)(m * out) * sizeof *mag);
    CHECK_OK(qf_cuda_upload(dx, x, (size_t)(m * in) * 4));
    CHECK_OK(qf_cuda_w4_prep(d, dx, m, dxh, NULL));
    if (variant < 0) CHECK_OK(qf_cuda_w4_gemv(d, dxh, m, dy, NULL));
    else CHECK_OK(qf_cuda_w4_gemv_variant(d, dxh, dy, variant, NULL));
    CHECK_OK(qf_cuda_sync());
    CHECK_OK(qf_cuda_download(xh, dxh, (size_t)(m * kp) * 2));
    CHECK_OK(qf_cuda_download(y, dy, (size_t)(m * out) * 4));
    qf_cuda_w4_prep_ref(l, x, m, xh_ref);
    CHECK_MSG(memcmp(xh, xh_ref, (size_t)(m * kp) * 2) == 0, "prep (%lld, %lld) m %lld",
              (long long)out, (long long)in, (long long)m);
    qf_cuda_w4_gemv_ref(l, x, m, y_ref);
    if (kind) cu_mag(l, x, m, mag);
    const double smax = kind == 2 ? cu_smax(l) : 0.0;
    /* a variant's lane sums end in a sequential sum of its warps' partials: that many more
     * fp32 additions in the longest chain (its lanes' own chains are no longer) */
    const qf_cuda_w4_variant *vt;
    qf_cuda_w4_variants(&vt);
    const double extra = kind && variant >= 0 ? vt[variant].warps * ldexp(1.0, -24) : 0.0;
    int bad = 0;
    for (int64_t k = 0; k < m * out; k++) {
        const double tol = (extra > 0.0 ? extra * mag[k] : 0.0) + (kind == 0 ? 0.0
                           : kind == 1 ? cu_fp32_tol(l, mag[k], y_ref[k])
                                       : cu_kernel_tol(l, smax, mag[k], y_ref[k]));
        const double err = fabs((double)y[k] - y_ref[k]);
        if (!(err <= tol) && bad++ < 5)
            fprintf(stderr, "GEMV %d (%lld, %lld) m %lld kind %d: y[%lld] = %.9g vs %.9g (tol %g)\n",
                    variant, (long long)out, (long long)in, (long long)m, kind, (long long)k,
                    (double)y[k], (double)y_ref[k], tol);
        if (kind == 1 && tol > 0 && err / tol > worst_exact) worst_exact = err / tol;
        if (kind == 2 && tol > 0 && err / tol > worst_random) worst_random = err / tol;
    }
    CHECK_MSG(bad == 0, "%d of %lld outputs out of tolerance", bad, (long long)(m * out));
    free(xh);
    free(xh_ref);
    free(y);
    free(y_ref);
    free(mag);
}

static void check_dequant(const qf_cuda_w4 *l, const qf_cuda_w4_dev *d) {
    const size_t n = (size_t)(l->out * l->kp);
    uint16_t *dwh = dev_alloc(n * 2), *wh = malloc(n * 2), *ref = malloc(n * 2);
    CHECK_OK(qf_cuda_w4_dequant(d, dwh, NULL));
    CHECK_OK(qf_cuda_sync());
    CHECK_OK(qf_cuda_download(wh, dwh, n * 2));
    qf_cuda_w4_dequant_ref(l, ref);
    size_t bad = 0;
    for (size_t k = 0; k < n; k++) bad += wh[k] != ref[k];
    CHECK_MSG(bad == 0, "W4 dequant (%lld, %lld): %zu of %zu weights differ", (long long)l->out,
              (long long)l->in, bad, n);
    qf_cuda_w4_dev off = *d;
    off.dequant_ok = 0;
    CHECK_FAILS(qf_cuda_w4_dequant(&off, dwh, NULL), QF_STATUS_INVALID_ARG, "overflows fp16");
    qf_cuda_free(dwh);
    free(wh);
    free(ref);
}

static double worst_gemm;

/* The fused prefill GEMM (qf_cuda_w4_gemm) vs qf_cuda_w4_gemm_ref, x uniform in [-4, 4),
 * alone and accumulated into y0: both operands are the exact fp16 values of the reference,
 * only the fp32 sums round; tolerance twice the IEEE bound (kp + 2) 2^-24 mag (tensor
 * cores may truncate where IEEE rounds) plus 2^-24 |y| for the add to y0. Tokens checked:
 * all of a small weight's, the first and last 4 of a large one's. */
static void check_gemm(const qf_cuda_w4 *l, const qf_cuda_w4_dev *d, int64_t m) {
    const int64_t in = l->in, out = l->out, kp = l->kp;
    float *x = malloc((size_t)(m * in) * 4), *y = malloc((size_t)(m * out) * 4);
    float *y0 = malloc((size_t)(m * out) * 4);
    uint16_t *xh = malloc((size_t)(m * kp) * 2), *wh = malloc((size_t)(out * kp) * 2);
    double *yr = malloc((size_t)out * 8), *mag = malloc((size_t)out * 8);
    for (int64_t k = 0; k < m * in; k++) x[k] = 4.0f * cu_frand();
    for (int64_t k = 0; k < m * out; k++) y0[k] = cu_frand();
    float *dx = dev_alloc((size_t)(m * in) * 4), *dy = dev_alloc((size_t)(m * out) * 4);
    uint16_t *dxh = dev_alloc((size_t)(m * kp) * 2);
    CHECK_OK(qf_cuda_upload(dx, x, (size_t)(m * in) * 4));
    CHECK_OK(qf_cuda_w4_prep(d, dx, m, dxh, NULL));
    qf_cuda_w4_prep_ref(l, x, m, xh);
    qf_cuda_w4_dequant_ref(l, wh);
    const int big = out * in > 1000000;
    for (int acc = 0; acc < 2; acc++) {
        CHECK_OK(qf_cuda_upload(dy, y0, (size_t)(m * out) * 4));
        CHECK_OK(qf_cuda_w4_gemm(d, dxh, m, dy, acc, NULL));
        CHECK_OK(qf_cuda_sync());
        CHECK_OK(qf_cuda_download(y, dy, (size_t)(m * out) * 4));
        int bad = 0;
        for (int64_t t = 0; t < m; t++) {
            if (big && t >= 4 && t < m - 4) continue;
            qf_cuda_w4_gemm_ref(l, xh, wh, t, yr, mag);
            for (int64_t o = 0; o < out; o++) {
                const double want = (acc ? (double)y0[t * out + o] : 0.0) + yr[o];
                const double tol = 2.0 * (double)(kp + 2) * ldexp(mag[o], -24) +
                                   ldexp(fabs(want), -24);
                const double err = fabs((double)y[t * out + o] - want);
                if (tol > 0 && err / tol > worst_gemm) worst_gemm = err / tol;
                if (!(err <= tol) && bad++ < 5)
                    fprintf(stderr, "W4 GEMM (%lld, %lld) m %lld acc %d: y[%lld, %lld] = %.9g vs "
                            "%.9g (tol %g)\n", (long long)out, (long long)in, (long long)m, acc,
                            (long long)t, (long long)o, (double)y[t * out + o], want, tol);
            }
        }
        CHECK_MSG(bad == 0, "W4 GEMM (%lld, %lld) m %lld acc %d: %d outputs out of tolerance",
                  (long long)out, (long long)in, (long long)m, acc, bad);
    }
    qf_cuda_w4_dev off = *d;
    off.dequant_ok = 0;
    CHECK_FAILS(qf_cuda_w4_gemm(&off, dxh, m, dy, 0, NULL), QF_STATUS_INVALID_ARG,
                "overflows fp16");
    qf_cuda_free(dx);
    qf_cuda_free(dy);
    qf_cuda_free(dxh);
    free(x), free(y), free(y0), free(xh), free(wh), free(yr), free(mag);
}

static void run_gemv(const qf_cuda_w4 *l, const qf_cuda_w4_dev *d, const float *x, int64_t m,
                     int kind, float *dx, uint16_t *dxh, float *dy) {
    run_gemv_v(l, d, x, m, kind, dx, dxh, dy, -1);
    const qf_cuda_w4_variant *v;
    const int nv = qf_cuda_w4_variants(&v);
    for (int i = 0; m == 1 && i < nv; i++) run_gemv_v(l, d, x, m, kind, dx, dxh, dy, i);
}

static void check_w4(int sym, int64_t out, int64_t in, int64_t gs, int order) {
    qf_qweight w = cu_make_qweight(sym, out, in, gs, order, 1);
    qf_cuda_w4 l;
    qf_cuda_w4_dev d;
    CHECK_OK(qf_cuda_w4_init(&l, &w, "t"));
    CHECK_OK(qf_cuda_w4_upload(&d, &l));
    check_dequant(&l, &d);
    static const int64_t gemm_m[] = {1, 17, 64, 100, 128};
    for (size_t i = 0; i < sizeof gemm_m / sizeof *gemm_m; i++)
        if (!(out * in > 1000000) || gemm_m[i] == 17 || gemm_m[i] == 128)
            check_gemm(&l, &d, gemm_m[i]);
    const int64_t M = QF_CUDA_W4_MAX_M;
    float *dx = dev_alloc((size_t)(M * in) * 4), *dy = dev_alloc((size_t)(M * out) * 4);
    uint16_t *dxh = dev_alloc((size_t)(M * l.kp) * 2);
    float *x = malloc((size_t)(M * in) * 4);
    const int big = out * in > 1000000;
    for (int64_t m = 1; m <= M; m++) {
        if (big && m != 1 && m != M) continue; /* the CPU references take seconds */
        for (int64_t k = 0; k < m * in; k++) x[k] = 4.0f * cu_frand();
        run_gemv(&l, &d, x, m, 2, dx, dxh, dy);
        for (int64_t k = 0; k < m * in; k++) x[k] = (float)((int)(cu_next() % 17) - 8) / 8.0f;
        run_gemv(&l, &d, x, m, 1, dx, dxh, dy);
    }
    /* one-hot columns, 8 a call: all of a small weight's, else the first and last 8 */
    const int64_t n_cols = in <= 320 ? in : 16;
    for (int64_t c0 = 0; c0 < n_cols; c0 += M) {
        const int64_t m = n_cols - c0 < M ? n_cols - c0 : M;
        memset(x, 0, (size_t)(m * in) * 4);
        for (int64_t t = 0; t < m; t++) {
            const int64_t c = c0 + t;
            x[t * in + (in <= 320 || c < 8 ? c : in - 16 + c)] = 1.0f;
        }
        run_gemv(&l, &d, x, m, 0, dx, dxh, dy);
    }
    free(x);
    qf_cuda_free(dx);
    qf_cuda_free(dy);
    qf_cuda_free(dxh);
    qf_cuda_w4_dev_free(&d);
    qf_cuda_w4_free(&l);
    qf_qweight_free(&w);
}

static void check_i8(cublasHandle_t h, int64_t out, int64_t in, int64_t m, float in_scale) {
    int8_t *w = malloc((size_t)(out * in));
    float *s = malloc((size_t)out * 4), *x = malloc((size_t)(m * in) * 4);
    for (int64_t k = 0; k < out * in; k++) w[k] = (int8_t)((int)(cu_next() % 255) - 127);
    for (int64_t o = 0; o < out; o++) s[o] = 0.001f + 0.01f * (cu_frand() + 1.0f);
    for (int64_t k = 0; k < m * in; k++) x[k] = 4.0f * cu_frand();
    for (int64_t i = 0; m > 1 && i < in; i++) x[in + i] *= 100.0f; /* token 1: 100x */
    if (m > 2) memset(x + 2 * in, 0, (size_t)in * 4);               /* token 2: zeros */
    qf_cpu_i8linear l;
    CHECK_OK(qf_cpu_i8linear_init(&l, w, s, in_scale, out, in));
    qf_cuda_i8_dev d;
    CHECK_OK(qf_cuda_i8_upload(&d, &l));
    qf_cuda_i8_work wk = {dev_alloc((size_t)(m * l.kp)), dev_alloc((size_t)m * 4),
                          dev_alloc((size_t)(m * out) * 4)};
    float *dx = dev_alloc((size_t)(m * in) * 4), *dy = dev_alloc((size_t)(m * out) * 4);
    float *y = malloc((size_t)(m * out) * 4), *yc = malloc((size_t)(m * out) * 4);
    float *base = malloc((size_t)(m * out) * 4), *xs = malloc((size_t)m * 4);
    int8_t *xq = malloc((size_t)(m * l.kp)), *xq_ref = malloc((size_t)l.kp);
    void *scratch = malloc((size_t)qf_cpu_i8linear_scratch_bytes(&l));
    qf_cpu_i8linear_rows(&l, x, m, yc, 0, out, scratch);
    CHECK_OK(qf_cuda_upload(dx, x, (size_t)(m * in) * 4));
    CHECK_OK(qf_cuda_i8_linear(h, &d, dx, m, dy, 0, &wk, NULL));
    CHECK_OK(qf_cuda_sync());
    CHECK_OK(qf_cuda_download(y, dy, (size_t)(m * out) * 4));
    CHECK_OK(qf_cuda_download(xq, wk.xq, (size_t)(m * l.kp)));
    CHECK_OK(qf_cuda_download(xs, wk.xs, (size_t)m * 4));
    int bad_q = 0;
    for (int64_t t = 0; t < m; t++) {
        const float sc = in_scale > 0.0f ? in_scale : qf_cpu_i8_token_scale(x + t * in, in);
        bad_q += memcmp(&sc, &xs[t], 4) != 0;
        qf_cpu_i8_quantize(x + t * in, in, l.kp, sc, xq_ref);
        bad_q += memcmp(xq_ref, xq + t * l.kp, (size_t)l.kp) != 0;
    }
    CHECK_MSG(bad_q == 0, "W8A8 (%lld, %lld) m %lld: %d tokens' codes or scales differ",
              (long long)out, (long long)in, (long long)m, bad_q);
    CHECK_MSG(memcmp(y, yc, (size_t)(m * out) * 4) == 0, "W8A8 (%lld, %lld) m %lld: y differs",
              (long long)out, (long long)in, (long long)m);
    for (int64_t k = 0; k < m * out; k++) base[k] = cu_frand();
    CHECK_OK(qf_cuda_upload(dy, base, (size_t)(m * out) * 4));
    CHECK_OK(qf_cuda_i8_linear(h, &d, dx, m, dy, 1, &wk, NULL));
    CHECK_OK(qf_cuda_sync());
    CHECK_OK(qf_cuda_download(y, dy, (size_t)(m * out) * 4));
    int bad_add = 0;
    for (int64_t k = 0; k < m * out; k++) {
        const float want = base[k] + yc[k];
        bad_add += memcmp(&want, &y[k], 4) != 0;
    }
    CHECK_MSG(bad_add == 0, "W8A8 accumulate: %d outputs differ", bad_add);
    qf_cuda_i8_dev_free(&d);
    qf_cpu_i8linear_free(&l);
    qf_cuda_free(wk.xq), qf_cuda_free(wk.xs), qf_cuda_free(wk.acc);
    qf_cuda_free(dx), qf_cuda_free(dy);
    free(w), free(s), free(x), free(y), free(yc), free(base), free(xs), free(xq), free(xq_ref);
    free(scratch);
}

static void check_rmsnorm(int64_t m, int64_t n) {
    const size_t bytes = (size_t)(m * n) * 4;
    float *x = malloc(bytes), *w = malloc((size_t)n * 4), *y = malloc(bytes);
    float *yr = malloc(bytes);
    for (int64_t k = 0; k < m * n; k++) x[k] = 3.0f * cu_frand();
    for (int64_t k = 0; k < n; k++) w[k] = 1.0f + 0.5f * cu_frand();
    float *dx = dev_alloc(bytes), *dw = dev_alloc((size_t)n * 4), *dy = dev_alloc(bytes);
    CHECK_OK(qf_cuda_upload(dx, x, bytes));
    CHECK_OK(qf_cuda_upload(dw, w, (size_t)n * 4));
    qf_cpu_rmsnorm_ref(x, w, yr, m, n, 1e-6f);
    for (int inplace = 0; inplace < 2; inplace++) {
        CHECK_OK(qf_cuda_rmsnorm(dx, dw, inplace ? dx : dy, m, n, 1e-6f, NULL));
        CHECK_OK(qf_cuda_download(y, inplace ? dx : dy, bytes));
        int bad = 0;
        for (int64_t k = 0; k < m * n; k++)
            bad += !(fabs((double)y[k] - yr[k]) <= (double)(n + 10) * ldexp(fabs(yr[k]), -24));
        CHECK_MSG(bad == 0, "RMSNorm (%lld, %lld) in place %d: %d differ", (long long)m,
                  (long long)n, inplace, bad);
    }
    free(x);
    free(w);
    free(y);
    free(yr);
    qf_cuda_free(dx);
    qf_cuda_free(dw);
    qf_cuda_free(dy);
}

static void check_rope(int64_t m, int64_t heads, int64_t half, int64_t stride, int64_t p0) {
    const size_t bytes = (size_t)(m * stride) * 4, tb = (size_t)(m * half) * 4;
    float *x = malloc(bytes), *xr = malloc(bytes), *inv = malloc((size_t)half * 4);
    float *ct = malloc(tb), *st = malloc(tb);
    for (int64_t k = 0; k < m * stride; k++) x[k] = xr[k] = 2.0f * cu_frand();
    for (int64_t i = 0; i < half; i++) inv[i] = 1.0f / powf(10000.0f, (float)i / (float)half);
    qf_cpu_rope_table(inv, half, 1.0f, p0, m, ct, st);
    qf_cpu_rope_apply(xr, m, stride, heads, half, ct, st);
    float *dx = dev_alloc(bytes), *dc = dev_alloc(tb), *ds = dev_alloc(tb);
    CHECK_OK(qf_cuda_upload(dx, x, bytes));
    CHECK_OK(qf_cuda_upload(dc, ct, tb));
    CHECK_OK(qf_cuda_upload(ds, st, tb));
    CHECK_OK(qf_cuda_rope_apply(dx, m, stride, heads, half, dc, ds, NULL));
    CHECK_OK(qf_cuda_download(x, dx, bytes));
    CHECK_MSG(memcmp(x, xr, bytes) == 0, "RoPE m %lld heads %lld half %lld not bit-identical",
              (long long)m, (long long)heads, (long long)half);
    free(x);
    free(xr);
    free(inv);
    free(ct);
    free(st);
    qf_cuda_free(dx);
    qf_cuda_free(dc);
    qf_cuda_free(ds);
}

static void check_swiglu(int64_t n) {
    const size_t bytes = (size_t)n * 4;
    float *g = malloc(bytes), *u = malloc(bytes), *y = malloc(bytes);
    for (int64_t k = 0; k < n; k++) {
        g[k] = 30.0f * cu_frand();
        u[k] = 3.0f * cu_frand();
    }
    g[0] = -100.0f; /* exp(100) = inf: -0 */
    g[1] = 100.0f;
    g[2] = -88.5f; /* exp(88.5) close to overflow */
    float *dg = dev_alloc(bytes), *du = dev_alloc(bytes);
    CHECK_OK(qf_cuda_upload(dg, g, bytes));
    CHECK_OK(qf_cuda_upload(du, u, bytes));
    CHECK_OK(qf_cuda_swiglu(dg, du, n, NULL));
    CHECK_OK(qf_cuda_download(y, dg, bytes));
    qf_cpu_swiglu(g, u, n);
    int bad = 0;
    for (int64_t k = 0; k < n; k++)
        bad += !(fabs((double)y[k] - g[k]) <= 1e-6 * fabs(g[k]) + 1e-40);
    CHECK_MSG(bad == 0, "SwiGLU n %lld: %d differ", (long long)n, bad);
    free(g);
    free(u);
    free(y);
    qf_cuda_free(dg);
    qf_cuda_free(du);
}

int main(void) {
    if (qf_cuda_device_check() != QF_STATUS_OK) {
        printf("CUDA kernels: SKIPPED (no GPU: %s)\n", qf_error_message());
        return 77;
    }
    static const struct {
        int64_t out, in, gs;
        int order;
    } shapes[] = {{37, 256, 128, CU_ORDER_PLAIN},  {16, 300, 64, CU_ORDER_ACT},
                  {7, 300, 100, CU_ORDER_RANDOM},  {9, 77, 0, CU_ORDER_PLAIN},
                  {2, 13, 4, CU_ORDER_ACT},        {130, 1000, 128, CU_ORDER_ACT},
                  {4096, 4096, 128, CU_ORDER_ACT}, {4096, 11008, 128, CU_ORDER_PLAIN},
                  {11008, 4096, 128, CU_ORDER_ACT}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        check_w4((int)(s % 2), shapes[s].out, shapes[s].in, shapes[s].gs, shapes[s].order);
    printf("W4 GEMV: worst |error| / tolerance: random x %.3g, exact-fp16 x %.3g\n",
           worst_random, worst_exact);
    printf("W4 GEMM: worst |error| / tolerance %.3g\n", worst_gemm);
    check_rmsnorm(4, 4096);
    check_rmsnorm(3, 1000);
    check_rmsnorm(2, 1);
    check_rope(5, 6, 64, 8 * 128, 1000); /* 4 q + 2 k heads rotated, 2 v heads kept */
    check_rope(3, 1, 32, 64, 0);
    check_swiglu(100003);
    cublasHandle_t h;
    CHECK(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
    check_i8(h, 96, 300, 5, 0.0f);
    check_i8(h, 64, 64, 1, 0.0f);
    check_i8(h, 128, 1000, 7, 0.05f); /* static per-tensor activation scale */
    check_i8(h, 4096, 4096, 3, 0.0f);
    cublasDestroy(h);
    TEST_END();
}
