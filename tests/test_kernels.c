/* CPU kernels vs their scalar references on random data (sizes with tails that are not a
 * multiple of the vector width):
 *  - F16->F32 conversion: bit-exact (the hardware conversion is exact); F32->F16 bit-exact
 *    (both round to nearest even);
 *  - F16 GEMV (AVX2, AVX-512 where the CPU has them): |y - y_ref| <= 1e-5 * sum_i |w_i x_i|.
 *    Both are float32 sums of k products in different orders; the rounding error of such
 *    a sum is about sqrt(k) * 2^-24 * sum|w x| (~2e-6 of it for k = 1000), so 1e-5 leaves a
 *    5x margin while one wrong or missing product (~1/k of the sum) is 100x over it;
 *  - RMSNorm: relative 1e-6 (only the order of the sum of squares differs);
 *  - RoPE tables vs direct computation: bit-exact;
 *  - blocked online-softmax attention (each SIMD level the CPU has) vs the full-softmax
 *    reference, with GQA, MQA and a sliding window, queries at an offset into the cache:
 *    1e-5 absolute (outputs are convex combinations of values in [-1, 1]; float32 sums in
 *    another order and a polynomial exp within ~2e-7 relative of expf); also the decode
 *    split (partial states over key ranges, one of them empty, merged);
 *  - the F16 linear's prefill path with exactly the scratch qf_cpu_linear_scratch gives for
 *    a wider layer of the same model (4096 inside 11008 once overflowed it: the tile is not
 *    monotone in the width): a canary after the buffer stays, y within the GEMV bound;
 *  - the thread pool's status runner: the lowest failing thread's status and message. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/dtype.h"
#include "runtime/cpu/kernels.h"
#include "runtime/cpu/linear.h"
#include "runtime/cpu/pool.h"
#include "tests/test.h"

static uint64_t rng = 88172645463325252ull;

static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / (1 << 23)) - 1.0);
}

typedef void (*gemv_fn)(const uint16_t *, const float *, float *, int64_t, int64_t);

static void test_gemv(const char *name, gemv_fn fn) {
    static const int64_t sizes[][2] = {{1, 1},   {3, 7},    {4, 16},   {5, 31},  {7, 33},
                                       {16, 64}, {9, 100},  {13, 257}, {64, 576}, {33, 1536},
                                       {6, 1000}};
    double worst = 0.0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const int64_t rows = sizes[s][0], k = sizes[s][1];
        uint16_t *w = malloc((size_t)(rows * k) * sizeof *w);
        float *x = malloc((size_t)k * sizeof *x), *y = malloc((size_t)rows * sizeof *y);
        float *yr = malloc((size_t)rows * sizeof *yr);
        for (int64_t i = 0; i < rows * k; i++) w[i] = qf_fp32_to_fp16(frand());
        for (int64_t i = 0; i < k; i++) x[i] = frand() * 4.0f;
        qf_cpu_gemv_f16_ref(w, x, yr, rows, k);
        fn(w, x, y, rows, k);
        for (int64_t r = 0; r < rows; r++) {
            double mag = 0.0;
            for (int64_t i = 0; i < k; i++)
                mag += fabs((double)qf_fp16_to_fp32(w[r * k + i]) * x[i]);
            const double err = fabs((double)y[r] - yr[r]);
            if (mag > 0 && err / mag > worst) worst = err / mag;
            CHECK_MSG(err <= 1e-5 * mag, "%s rows %lld k %lld row %lld: %.9g vs ref %.9g", name,
                      (long long)rows, (long long)k, (long long)r, y[r], yr[r]);
        }
        free(w), free(x), free(y), free(yr);
    }
    printf("gemv_f16 %s: worst |y - ref| / sum|w x| = %.3g\n", name, worst);
}

typedef void (*conv_fn)(const uint16_t *, float *, int64_t);

static void test_f16_to_f32(const char *name, conv_fn fn) {
    for (int64_t n = 0; n < 70; n += 3) {
        uint16_t src[70] = {0};
        float a[70], b[70];
        for (int64_t i = 0; i < n; i++) src[i] = (uint16_t)(rng = rng * 6364136223846793005ull + 1);
        for (int64_t i = 0; i < n; i++)
            if ((src[i] & 0x7c00) == 0x7c00) src[i] &= 0xbfff; /* no inf/NaN */
        qf_cpu_f16_to_f32_ref(src, a, n);
        fn(src, b, n);
        CHECK_MSG(memcmp(a, b, (size_t)n * sizeof *a) == 0, "%s n %lld", name, (long long)n);
    }
}

typedef void (*conv16_fn)(const float *, uint16_t *, int64_t);

/* F32 -> F16: bit-exact against qf_fp32_to_fp16 (round to nearest even) on values spread
 * over the F16 range, halfway cases, subnormals, overflow to inf and signed zeros. */
static void test_f32_to_f16(const char *name, conv16_fn fn) {
    float src[203];
    uint16_t a[203], b[203];
    for (int i = 0; i < 203; i++) src[i] = frand() * powf(2.0f, (float)(i % 40 - 26));
    src[0] = 65520.0f;                          /* rounds to inf */
    src[1] = -0.0f;
    src[2] = 1.0f + 1.0f / 2048.0f;             /* halfway: to even */
    src[3] = 1.0f + 3.0f / 2048.0f;             /* halfway: up */
    src[4] = 5.96046448e-08f;                   /* smallest subnormal */
    src[5] = 1e-9f;                             /* underflows to zero */
    src[6] = INFINITY;
    for (int64_t n = 0; n <= 203; n += 29) {
        qf_cpu_f32_to_f16_ref(src, a, n);
        fn(src, b, n);
        CHECK_MSG(memcmp(a, b, (size_t)n * sizeof *a) == 0, "%s n %lld", name, (long long)n);
    }
}

static void test_rmsnorm(void) {
    const int64_t m = 3, n = 77;
    float x[3 * 77], w[77], y[3 * 77], yr[3 * 77];
    for (int64_t i = 0; i < m * n; i++) x[i] = frand() * 3.0f;
    for (int64_t i = 0; i < n; i++) w[i] = 1.0f + frand() * 0.2f;
    qf_cpu_rmsnorm_ref(x, w, yr, m, n, 1e-5f);
    qf_cpu_rmsnorm(x, w, y, m, n, 1e-5f);
    for (int64_t i = 0; i < m * n; i++) CHECK_NEAR(y[i], yr[i], 1e-6 * fabs(yr[i]) + 1e-7);
}

static void test_rope(void) {
    const int64_t m = 5, heads = 3, half = 8, p0 = 37;
    float inv[8], x[5 * 3 * 16], xr[5 * 3 * 16], c[5 * 8], s[5 * 8];
    for (int64_t i = 0; i < half; i++) inv[i] = powf(10000.0f, -(float)i / (float)half);
    for (int64_t i = 0; i < m * heads * 2 * half; i++) x[i] = xr[i] = frand();
    qf_cpu_rope_table(inv, half, 1.25f, p0, m, c, s);
    qf_cpu_rope_apply(x, m, heads * 2 * half, heads, half, c, s);
    qf_cpu_rope_apply_ref(xr, m, heads * 2 * half, heads, half, inv, 1.25f, p0);
    CHECK(memcmp(x, xr, sizeof x) == 0);
    /* heads 1..2 of 3 (a thread's share): head 0 untouched */
    memcpy(xr, x, sizeof x);
    qf_cpu_rope_apply(x + 2 * half, m, heads * 2 * half, 2, half, c, s);
    for (int64_t t = 0; t < m; t++)
        CHECK(memcmp(x + t * heads * 2 * half, xr + t * heads * 2 * half,
                     2 * half * sizeof(float)) == 0);
    qf_cpu_rope_apply_ref(xr + 2 * half, m, heads * 2 * half, 2, half, inv, 1.25f, p0);
    CHECK(memcmp(x, xr, sizeof x) == 0);
}

static void test_attention_case(int64_t n_heads, int64_t n_kv, int64_t d, int64_t window,
                                int64_t p0, int64_t m) {
    const int64_t cap = (p0 + m + QF_CPU_ATTN_KEYS) / QF_CPU_ATTN_KEYS * QF_CPU_ATTN_KEYS;
    qf_cpu_attn a = {.n_heads = n_heads, .n_kv = n_kv, .head_dim = d, .cap = cap,
                     .window = window, .scale = 1.0f / sqrtf((float)d)};
    const size_t qn = (size_t)(m * n_heads * d), cn = (size_t)(n_kv * cap * d);
    float *q = malloc(qn * sizeof *q), *kc = calloc(cn, sizeof *kc), *vc = calloc(cn, sizeof *vc);
    float *out = malloc(qn * sizeof *out), *ref = malloc(qn * sizeof *ref);
    float *scores = malloc((size_t)cap * sizeof *scores);
    float *scratch = malloc(qf_cpu_attention_scratch(&a) * sizeof *scratch);
    for (size_t i = 0; i < qn; i++) q[i] = frand() * 3.0f;
    for (int64_t h = 0; h < n_kv; h++)
        for (int64_t p = 0; p < p0 + m; p++) {
            float k[64], v[64];
            for (int64_t i = 0; i < d; i++) k[i] = frand(), v[i] = frand();
            qf_cpu_attention_store(&a, kc, vc, h, p, k, v);
        }
    qf_cpu_attention_ref(&a, q, m, p0, kc, vc, ref, scores);
    /* every SIMD level; tasks of whole kv groups (as the runtime runs them) and of single
     * query heads */
    for (int level = 0; level <= qf_cpu_simd_level(); level++)
        for (int64_t per = n_heads / n_kv; per >= 1; per = per > 1 ? 1 : 0) {
            memset(out, 0xff, qn * sizeof *out);
            for (int64_t h0 = 0; h0 < n_heads; h0 += per)
                for (int64_t t0 = 0; t0 < m; t0 += QF_CPU_ATTN_QUERIES) {
                    const int64_t t1 =
                        t0 + QF_CPU_ATTN_QUERIES < m ? t0 + QF_CPU_ATTN_QUERIES : m;
                    qf_cpu_attention_block_at(level, &a, q, p0, t0, t1, h0, h0 + per, kc, vc,
                                              out, scratch);
                }
            double worst = 0.0;
            for (size_t i = 0; i < qn; i++)
                worst = isnan(out[i]) ? INFINITY : fmax(worst, fabs((double)out[i] - ref[i]));
            CHECK_MSG(worst <= 1e-5,
                      "attention level %d heads/task %lld heads %lld kv %lld d %lld window %lld "
                      "p0 %lld m %lld: max diff %.3g",
                      level, (long long)per, (long long)n_heads, (long long)n_kv, (long long)d,
                      (long long)window, (long long)p0, (long long)m, worst);
        }
    /* the decode split: the last token's keys in 3 parts (one empty), merged */
    const int64_t p = p0 + m - 1, group = n_heads / n_kv;
    const int64_t cuts[4] = {0, p / 3, p / 3, p + 1};
    float *acc = malloc((size_t)(3 * group * d) * sizeof *acc);
    float *mx = malloc((size_t)(3 * group) * sizeof *mx), *sm = malloc((size_t)(3 * group) * 4);
    float *merged = malloc((size_t)(group * d) * sizeof *merged);
    for (int level = 0; level <= qf_cpu_simd_level(); level++) {
        double worst = 0.0;
        for (int64_t g = 0; g < n_kv; g++) {
            for (int k = 0; k < 3; k++)
                qf_cpu_attention_partial_at(level, &a, q + (m - 1) * n_heads * d, p, g * group,
                                            (g + 1) * group, cuts[k], cuts[k + 1], kc, vc,
                                            acc + k * group * d, mx + k * group, sm + k * group,
                                            scratch);
            qf_cpu_attention_merge(3, group, d, acc, mx, sm, merged);
            const float *want = ref + ((m - 1) * n_heads + g * group) * d;
            for (int64_t i = 0; i < group * d; i++)
                worst = isnan(merged[i]) ? INFINITY
                                         : fmax(worst, fabs((double)merged[i] - want[i]));
        }
        CHECK_MSG(worst <= 1e-5, "attention split level %d heads %lld kv %lld window %lld p %lld: "
                  "max diff %.3g", level, (long long)n_heads, (long long)n_kv, (long long)window,
                  (long long)p, worst);
    }
    free(acc), free(mx), free(sm), free(merged);
    free(q), free(kc), free(vc), free(out), free(ref), free(scores), free(scratch);
}

static void test_attention(void) {
    test_attention_case(4, 2, 8, 0, 0, 1);
    test_attention_case(4, 2, 8, 0, 0, 150);   /* several key and query blocks */
    test_attention_case(4, 1, 16, 0, 70, 33);  /* MQA, queries after a cached prefix */
    test_attention_case(6, 3, 64, 0, 200, 1);  /* decode */
    test_attention_case(4, 2, 16, 24, 0, 150); /* sliding window < sequence */
    test_attention_case(4, 4, 12, 64, 100, 77); /* window = key block size, offset */
    test_attention_case(2, 2, 8, 1, 5, 20);    /* window of one: attends to itself only */
}

/* One F16 linear of width `in` (out rows, m tokens) run with the scratch sized for `widest`. */
static void test_linear_scratch(int64_t in, int64_t widest) {
    const int64_t out = 272, m = 3, canary = 64; /* a full tile of 256 rows, then 16 */
    const int64_t sf = qf_cpu_linear_scratch(widest);
    uint16_t *w = malloc((size_t)(out * in) * 2);
    float *x = malloc((size_t)(m * in) * 4), *y = malloc((size_t)(m * out) * 4);
    float *scratch = malloc((size_t)(sf + canary) * 4), *wf = malloc((size_t)in * 4);
    for (int64_t k = 0; k < out * in; k++) w[k] = qf_fp32_to_fp16(frand());
    for (int64_t k = 0; k < m * in; k++) x[k] = frand();
    for (int64_t k = 0; k < canary; k++) scratch[sf + k] = -7.0f;
    const qf_cpu_linear l = {.dtype = QF_DTYPE_F16, .out = out, .in = in, .w = w};
    qf_cpu_linear_rows(&l, x, m, y, 0, out, scratch);
    int64_t hit = 0, bad = 0;
    for (int64_t k = 0; k < canary; k++) hit += scratch[sf + k] != -7.0f;
    for (int64_t r = 0; r < out; r++) {
        for (int64_t i = 0; i < in; i++) wf[i] = qf_fp16_to_fp32(w[r * in + i]);
        for (int64_t t = 0; t < m; t++) {
            double ref = 0.0, mag = 0.0;
            for (int64_t i = 0; i < in; i++)
                ref += (double)wf[i] * x[t * in + i], mag += fabs((double)wf[i] * x[t * in + i]);
            bad += fabs(y[t * out + r] - ref) > 1e-5 * mag;
        }
    }
    CHECK_MSG(hit == 0, "linear in %lld, scratch for %lld: %lld canary floats overwritten",
              (long long)in, (long long)widest, (long long)hit);
    CHECK_MSG(bad == 0, "linear in %lld: %lld outputs off", (long long)in, (long long)bad);
    free(w), free(x), free(y), free(scratch), free(wf);
}

/* Thread ith fails with its own message when ith is in the failing set (bits). */
static qf_status pool_job(void *arg, int ith, int nth) {
    const unsigned fail = *(const unsigned *)arg;
    (void)nth;
    return fail >> ith & 1u ? qf_error_set(QF_STATUS_IO, "thread %d failed", ith) : QF_STATUS_OK;
}

/* qf_cpu_pool_run_status: the lowest failing thread's status and message reach the caller
 * (messages are per thread), success when none fails, no pool = one thread here. */
static void test_pool_status(void) {
    qf_cpu_pool *p = NULL;
    CHECK_OK(qf_cpu_pool_init(3, &p));
    unsigned fail = 0;
    CHECK(qf_cpu_pool_run_status(p, pool_job, &fail) == QF_STATUS_OK);
    fail = 1u << 2 | 1u << 1;
    CHECK(qf_cpu_pool_run_status(p, pool_job, &fail) == QF_STATUS_IO &&
          !strcmp(qf_error_message(), "thread 1 failed"));
    fail = 1u << 2;
    CHECK(qf_cpu_pool_run_status(p, pool_job, &fail) == QF_STATUS_IO &&
          !strcmp(qf_error_message(), "thread 2 failed"));
    qf_cpu_pool_free(p);
    fail = 1u;
    CHECK(qf_cpu_pool_run_status(NULL, pool_job, &fail) == QF_STATUS_IO &&
          !strcmp(qf_error_message(), "thread 0 failed"));
}

int main(void) {
    printf("SIMD level %d\n", qf_cpu_simd_level());
    test_pool_status();
    test_gemv("ref-vs-dispatch", qf_cpu_gemv_f16);
    test_f16_to_f32("dispatch", qf_cpu_f16_to_f32);
    test_f32_to_f16("dispatch", qf_cpu_f32_to_f16);
    if (qf_cpu_simd_level() >= 1) {
        test_gemv("avx2", qf_cpu_gemv_f16_avx2);
        test_f16_to_f32("avx2", qf_cpu_f16_to_f32_avx2);
        test_f32_to_f16("avx2", qf_cpu_f32_to_f16_avx2);
    } else {
        printf("no AVX2+FMA+F16C: AVX2 kernels not tested\n");
    }
    if (qf_cpu_simd_level() >= 2) {
        test_gemv("avx512", qf_cpu_gemv_f16_avx512);
        test_f16_to_f32("avx512", qf_cpu_f16_to_f32_avx512);
        test_f32_to_f16("avx512", qf_cpu_f32_to_f16_avx512);
    } else {
        printf("no AVX-512: AVX-512 kernels not tested\n");
    }
    test_rmsnorm();
    test_rope();
    test_attention();
    test_linear_scratch(4096, 11008); /* Llama-2-7B: hidden inside intermediate */
    test_linear_scratch(4096, 4352);
    test_linear_scratch(200, 1000);
    test_linear_scratch(11008, 11008);
    TEST_END();
}
