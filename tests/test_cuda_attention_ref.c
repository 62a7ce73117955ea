/* The CUDA attention's host side on the CPU (built and run with or without CUDA): the shape
 * check, the decode split plan and its ranges, the cache append references, and the
 * double references (runtime/cuda/attention_ref.c) against the CPU runtime's own
 * attention (qf_cpu_attention_ref) on the same values, so the semantics (GQA mapping,
 * causal mask, sliding window, scale) are the runtime's:
 *  - on the fp16-rounded keys / values: within ca_tol32 (the CPU's fp32 error);
 *  - on the unrounded fp32 ones: within ca_tol16 / ca_tol8 + ca_tol32 (the cost of the
 *    fp16 / int8 cache);
 *  - the split ranges run through qf_cpu_attention_partial + qf_cpu_attention_merge (the
 *    runtime's split decode) give its attention within ca_tol32: they cover every key once.
 * Tolerances: tests/test_cuda_attention_util.h. */
#include <math.h>
#include <stdint.h>

#include "core/dtype.h"
#include "runtime/cpu/kernels.h"
#include "runtime/cuda/attention_host.h"
#include "tests/test.h"
#include "tests/test_cuda_attention_util.h"

static void check_shape_check(void) {
    qf_cuda_attn a = {9, 3, 64, 100, 0, 0.125f};
    CHECK_OK(qf_cuda_attn_check(&a, 0, 100, "t"));
    CHECK_OK(qf_cuda_attn_check(&a, 99, 1, "t"));
    CHECK_FAILS(qf_cuda_attn_check(&a, 99, 2, "t"), QF_STATUS_INVALID_ARG, "cache of 100");
    CHECK_FAILS(qf_cuda_attn_check(&a, -1, 1, "t"), QF_STATUS_INVALID_ARG, "position -1");
    a.head_dim = 96;
    CHECK_FAILS(qf_cuda_attn_check(&a, 0, 1, "t"), QF_STATUS_INVALID_ARG, "head_dim 96");
    a.head_dim = 128;
    a.n_kv = 4;
    CHECK_FAILS(qf_cuda_attn_check(&a, 0, 1, "t"), QF_STATUS_INVALID_ARG, "9 query heads");
    a.n_kv = 3;
    a.window = -1;
    CHECK_FAILS(qf_cuda_attn_check(&a, 0, 1, "t"), QF_STATUS_INVALID_ARG, "window -1");
}

/* Every split of [first, p] into ranges: in order, contiguous, tile-aligned inside,
 * covering exactly the visible keys, none empty while there are enough tiles. */
static void check_splits(void) {
    static const int64_t windows[] = {0, 1, 50, 64, 200};
    static const int64_t ps[] = {0, 1, 63, 64, 65, 127, 128, 1000, 4095, 70000};
    static const int64_t splits[] = {1, 2, 3, 7, 64, 100, QF_CUDA_ATTN_MAX_SPLITS};
    for (size_t w = 0; w < sizeof windows / sizeof *windows; w++)
        for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) {
            const int64_t p = ps[i], first = qf_cuda_attn_first_key(windows[w], p);
            const int64_t tiles = p / 64 - first / 64 + 1;
            for (size_t k = 0; k < sizeof splits / sizeof *splits; k++) {
                const int64_t n = splits[k];
                int64_t prev = first, empty = 0;
                for (int64_t s = 0; s < n; s++) {
                    int64_t lo, hi;
                    qf_cuda_attn_split_range(windows[w], p, n, s, &lo, &hi);
                    CHECK_MSG(lo == prev && hi >= lo, "window %lld p %lld split %lld/%lld",
                              (long long)windows[w], (long long)p, (long long)s, (long long)n);
                    if (lo > first && lo < hi) CHECK(lo % QF_CUDA_ATTN_KEYS == 0);
                    empty += lo == hi;
                    prev = hi;
                }
                CHECK_MSG(prev == p + 1, "window %lld p %lld: ranges end at %lld",
                          (long long)windows[w], (long long)p, (long long)prev);
                CHECK(empty == (n > tiles ? n - tiles : 0));
            }
            /* the plan: within [1, tiles], enough blocks for 2 per multiprocessor */
            static const qf_cuda_attn shapes[] = {{9, 3, 64, 1 << 20, 0, 0.125f},
                                                  {32, 32, 128, 1 << 20, 0, 0.088f},
                                                  {64, 2, 128, 1 << 20, 0, 0.088f}};
            for (size_t sh = 0; sh < 3; sh++) {
                qf_cuda_attn a = shapes[sh];
                a.window = windows[w];
                const int64_t group = a.n_heads / a.n_kv, chunks = (group + 7) / 8;
                for (int64_t n_sm = 1; n_sm <= 264; n_sm += 131) {
                    const int64_t s = qf_cuda_attn_splits(&a, p, n_sm);
                    CHECK(s >= 1 && s <= tiles && s <= QF_CUDA_ATTN_MAX_SPLITS);
                    CHECK(s == tiles || s == QF_CUDA_ATTN_MAX_SPLITS ||
                          s * a.n_kv * chunks >= 2 * n_sm);
                }
            }
        }
    const qf_cuda_attn a = {32, 8, 128, 4096, 0, 0.088f};
    CHECK(qf_cuda_attn_work_floats(&a, 5) == (size_t)5 * 32 * 130);
}

/* The int8 append: codes within [-127, 127], the largest |x| at +-127, every value
 * within 0.501 scale; an all-zero row gets scale 1 and zero codes. And the fp16 append at
 * a token stride wider than the kv heads. */
static void check_appends(void) {
    const qf_cuda_attn a = {8, 2, 64, 10, 0, 0.125f};
    const int64_t d = 64, m = 3, p0 = 4, stride = 2 * d + 7;
    float *k = calloc((size_t)(m * stride), sizeof *k);
    float *v = calloc((size_t)(m * stride), sizeof *v);
    ca_fill(k, m * stride, 3.0f);
    ca_fill(v, m * stride, 0.01f);
    for (int64_t i = 0; i < d; i++) v[stride + d + i] = 0.0f; /* token 1, kv head 1 */
    int8_t kq[2 * 10 * 64], vq[2 * 10 * 64];
    float ks[20], vs[20];
    const qf_cuda_kv_i8 c = {kq, vq, ks, vs};
    qf_cuda_kv_append_i8_ref(&a, k, v, stride, m, p0, &c);
    uint16_t kc[2 * 10 * 64], vc[2 * 10 * 64];
    qf_cuda_kv_append_f16_ref(&a, k, v, stride, m, p0, kc, vc);
    for (int64_t t = 0; t < m; t++)
        for (int64_t h = 0; h < 2; h++) {
            const int64_t row = h * a.cap + p0 + t;
            for (int which = 0; which < 2; which++) {
                const float *x = (which ? v : k) + t * stride + h * d;
                const int8_t *q = (which ? vq : kq) + row * d;
                const float s = (which ? vs : ks)[row];
                const uint16_t *f = (which ? vc : kc) + row * d;
                float amax = 0.0f;
                int cmax = 0;
                for (int64_t i = 0; i < d; i++) {
                    amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
                    cmax = abs(q[i]) > cmax ? abs(q[i]) : cmax;
                    CHECK(q[i] >= -127 && q[i] <= 127);
                    CHECK(fabs((double)q[i] * s - x[i]) <= 0.501 * s);
                    CHECK(f[i] == qf_fp32_to_fp16(x[i]));
                }
                CHECK(s > 0.0f && isfinite(s));
                if (amax > 0.0f) CHECK(cmax == 127 && s == amax / 127.0f);
                else CHECK(cmax == 0 && s == 1.0f);
            }
        }
    free(k);
    free(v);
}

/* One shape: random k, v of positions 0..p0+m-1 and queries at p0..p0+m-1 through every
 * comparison of the header comment. */
static void check_vs_runtime(int64_t nh, int64_t nkv, int64_t d, int64_t m, int64_t p0,
                             int64_t window) {
    const int64_t n = p0 + m, cap = (n + 63) / 64 * 64, group = nh / nkv;
    const qf_cpu_attn ca = {nh, nkv, d, cap, window, (float)(1.0 / sqrt((double)d))};
    const qf_cuda_attn ga = {nh, nkv, d, cap, window, ca.scale};
    float *k = malloc((size_t)(n * nkv * d) * 4), *v = malloc((size_t)(n * nkv * d) * 4);
    float *k16 = malloc((size_t)(n * nkv * d) * 4), *v16 = malloc((size_t)(n * nkv * d) * 4);
    float *q = malloc((size_t)(m * nh * d) * 4);
    ca_fill(k, n * nkv * d, 1.0f);
    ca_fill(v, n * nkv * d, 1.0f);
    ca_fill(q, m * nh * d, 1.0f);
    uint16_t *kc = malloc((size_t)(nkv * cap * d) * 2), *vc = malloc((size_t)(nkv * cap * d) * 2);
    qf_cuda_kv_i8 c8 = {malloc((size_t)(nkv * cap * d)), malloc((size_t)(nkv * cap * d)),
                        malloc((size_t)(nkv * cap) * 4), malloc((size_t)(nkv * cap) * 4)};
    qf_cuda_kv_append_f16_ref(&ga, k, v, nkv * d, n, 0, kc, vc);
    qf_cuda_kv_append_i8_ref(&ga, k, v, nkv * d, n, 0, &c8);
    for (int64_t i = 0; i < n * nkv * d; i++) {
        k16[i] = qf_fp16_to_fp32(qf_fp32_to_fp16(k[i]));
        v16[i] = qf_fp16_to_fp32(qf_fp32_to_fp16(v[i]));
    }
    /* the runtime's caches: of the fp32 values and of the fp16-rounded ones */
    float *kcpu = calloc((size_t)(nkv * cap * d), 4), *vcpu = calloc((size_t)(nkv * cap * d), 4);
    float *k16cpu = calloc((size_t)(nkv * cap * d), 4);
    float *v16cpu = calloc((size_t)(nkv * cap * d), 4);
    for (int64_t t = 0; t < n; t++)
        for (int64_t h = 0; h < nkv; h++) {
            const int64_t o = (t * nkv + h) * d;
            qf_cpu_attention_store(&ca, kcpu, vcpu, h, t, k + o, v + o);
            qf_cpu_attention_store(&ca, k16cpu, v16cpu, h, t, k16 + o, v16 + o);
        }
    float *scores = malloc((size_t)n * 4), *out = malloc((size_t)(m * nh * d) * 4);
    float *out16 = malloc((size_t)(m * nh * d) * 4);
    double *ref = malloc((size_t)(m * nh * d) * 8), *ref8 = malloc((size_t)(m * nh * d) * 8);
    qf_cpu_attention_ref(&ca, q, m, p0, kcpu, vcpu, out, scores);
    qf_cpu_attention_ref(&ca, q, m, p0, k16cpu, v16cpu, out16, scores);
    CHECK_OK(qf_cuda_attention_ref(&ga, q, m, p0, kc, vc, ref));
    CHECK_OK(qf_cuda_attention_i8_ref(&ga, q, m, p0, &c8, ref8));
    int bad = 0;
    for (int64_t t = 0; t < m; t++)
        for (int64_t h = 0; h < nh; h++) {
            const int64_t keys = p0 + t + 1 - qf_cuda_attn_first_key(window, p0 + t);
            const double qn = ca_qnorm(q + (t * nh + h) * d, d, ca.scale);
            /* |k|, |v| < 1 and so are their fp16 / int8 versions */
            const double t32 = ca_tol32(d, keys, 0, qn, 1.0);
            for (int64_t i = 0; i < d; i++) {
                const int64_t x = (t * nh + h) * d + i;
                bad += fabs(ref[x] - out16[x]) > t32;
                bad += fabs(ref[x] - out[x]) > ca_tol16(qn, qn, 1.0) + t32;
                bad += fabs(ref8[x] - out[x]) > ca_tol8(qn, 1.0) + t32;
            }
        }
    CHECK_MSG(bad == 0, "%lld/%lld heads, d %lld, m %lld at %lld, window %lld: %d bad",
              (long long)nh, (long long)nkv, (long long)d, (long long)m, (long long)p0,
              (long long)window, bad);
    /* decode of the last token through the split ranges and the runtime's merge */
    const int64_t p = n - 1, splits[] = {1, 2, 3, 5, 40};
    float *acc = malloc((size_t)(40 * group * d) * 4), *mx = malloc((size_t)(40 * group) * 4);
    float *sm = malloc((size_t)(40 * group) * 4), *o = malloc((size_t)(group * d) * 4);
    float scratch[QF_CPU_ATTN_KEYS];
    for (size_t si = 0; si < sizeof splits / sizeof *splits; si++)
        for (int64_t kvh = 0; kvh < nkv; kvh++) {
            const int64_t ns = splits[si];
            for (int64_t s = 0; s < ns; s++) {
                int64_t lo, hi;
                qf_cuda_attn_split_range(window, p, ns, s, &lo, &hi);
                qf_cpu_attention_partial(&ca, q + (m - 1) * nh * d, p, kvh * group,
                                         (kvh + 1) * group, lo, hi, kcpu, vcpu,
                                         acc + s * group * d, mx + s * group, sm + s * group,
                                         scratch);
            }
            qf_cpu_attention_merge(ns, group, d, acc, mx, sm, o);
            int sbad = 0;
            for (int64_t g = 0; g < group; g++) {
                const int64_t h = kvh * group + g, keys = p + 1 - qf_cuda_attn_first_key(window, p);
                const double qn = ca_qnorm(q + ((m - 1) * nh + h) * d, d, ca.scale);
                for (int64_t i = 0; i < d; i++)
                    sbad += fabs(o[g * d + i] - out[((m - 1) * nh + h) * d + i]) >
                            2.0 * ca_tol32(d, keys, ns, qn, 1.0);
            }
            CHECK_MSG(sbad == 0, "split decode at %lld, %lld ranges, kv head %lld: %d bad",
                      (long long)p, (long long)ns, (long long)kvh, sbad);
        }
    free(acc), free(mx), free(sm), free(o);
    free(k), free(v), free(k16), free(v16), free(q), free(kc), free(vc);
    free(c8.k), free(c8.v), free(c8.ks), free(c8.vs);
    free(kcpu), free(vcpu), free(k16cpu), free(v16cpu);
    free(scores), free(out), free(out16), free(ref), free(ref8);
}

int main(void) {
    check_shape_check();
    check_splits();
    check_appends();
    check_vs_runtime(9, 3, 64, 7, 0, 0);
    check_vs_runtime(9, 3, 64, 70, 130, 0);
    check_vs_runtime(9, 3, 64, 70, 130, 50);
    check_vs_runtime(8, 2, 128, 1, 300, 0);
    check_vs_runtime(8, 2, 128, 33, 100, 64);
    check_vs_runtime(4, 4, 64, 64, 0, 1);
    TEST_END();
}
