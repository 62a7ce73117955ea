/* The CUDA attention kernels against their CPU references, on a GPU; without one it prints
 * "CUDA attention: SKIPPED (no GPU: <reason>)" and exits 77 (ctest: skipped).
 *
 * Every case writes the caches with the append kernels in two calls (positions 0..p0-1,
 * then p0..n-1) into caches pre-filled with NaN (fp16 0x7E00; int8 scales NaN), whose
 * capacity is not a multiple of the 64-key tile, and checks them bit-identical to
 * qf_cuda_kv_append_f16_ref / _i8_ref (including the untouched NaN tail). Then:
 *  - prefill (fp16 cache) for m = 1, 7, 64, 300 queries at p0 = 0 and 45, window off and
 *    100, against qf_cuda_attention_ref (double);
 *  - decode (fp16 and int8 caches) at p = 0, 1, 63, 64, 300, 1000, 4095 (and window 100),
 *    in 1, 7, the planned (qf_cuda_attn_splits) and 1024 key ranges (most of them empty),
 *    against qf_cuda_attention_ref / qf_cuda_attention_i8_ref;
 * on 9/3 heads x 64 (SmolLM2), 32/32 x 128 (Llama-2-7B), 32/8 x 128 and 16/1 x 64 (a
 * group of 16: two decode head chunks). Each output within ca_tol32 of the reference
 * (derivation in tests/test_cuda_attention_util.h: fp32 arithmetic on the same cache
 * values; |q|, |k|, |v| < 1); the worst error / tolerance is printed. That the
 * references are the runtime's attention on these caches (and what fp16 / int8 storage
 * costs against fp32) is checked on the CPU by test_cuda_attention_ref.c. */
#include <math.h>
#include <stdint.h>

#include "core/dtype.h"
#include "runtime/cuda/cuda_kernels.h"
#include "tests/test.h"
#include "tests/test_cuda_attention_util.h"

static double worst_prefill, worst_decode, worst_decode_i8;
static int64_t n_sm;

static void *dev_alloc(size_t bytes) {
    void *p = NULL;
    CHECK_OK(qf_cuda_malloc(&p, bytes, "test buffer"));
    return p;
}

/* Caches of a holding positions 0..n-1 (host copies too) and the device k, v they came
 * from. */
typedef struct cache {
    int64_t n;
    float *k, *v;                /* host (n, n_kv, d) */
    uint16_t *kc, *vc;           /* host fp16 cache */
    qf_cuda_kv_i8 c8;            /* host int8 cache */
    uint16_t *dkc, *dvc;         /* device */
    qf_cuda_kv_i8 d8;            /* device */
} cache;

static cache make_cache(const qf_cuda_attn *a, int64_t n, int64_t p0) {
    cache c = {.n = n};
    const int64_t d = a->head_dim, row = a->n_kv * d, cells = a->n_kv * a->cap;
    c.k = malloc((size_t)(n * row) * 4);
    c.v = malloc((size_t)(n * row) * 4);
    ca_fill(c.k, n * row, 1.0f);
    ca_fill(c.v, n * row, 1.0f);
    c.kc = malloc((size_t)(cells * d) * 2);
    c.vc = malloc((size_t)(cells * d) * 2);
    c.c8 = (qf_cuda_kv_i8){malloc((size_t)(cells * d)), malloc((size_t)(cells * d)),
                           malloc((size_t)cells * 4), malloc((size_t)cells * 4)};
    for (int64_t i = 0; i < cells * d; i++) c.kc[i] = c.vc[i] = 0x7E00; /* NaN */
    memset(c.c8.k, 127, (size_t)(cells * d));
    memset(c.c8.v, 127, (size_t)(cells * d));
    for (int64_t i = 0; i < cells; i++) c.c8.ks[i] = c.c8.vs[i] = NAN;
    c.dkc = dev_alloc((size_t)(cells * d) * 2);
    c.dvc = dev_alloc((size_t)(cells * d) * 2);
    c.d8 = (qf_cuda_kv_i8){dev_alloc((size_t)(cells * d)), dev_alloc((size_t)(cells * d)),
                           dev_alloc((size_t)cells * 4), dev_alloc((size_t)cells * 4)};
    CHECK_OK(qf_cuda_upload(c.dkc, c.kc, (size_t)(cells * d) * 2));
    CHECK_OK(qf_cuda_upload(c.dvc, c.vc, (size_t)(cells * d) * 2));
    CHECK_OK(qf_cuda_upload(c.d8.k, c.c8.k, (size_t)(cells * d)));
    CHECK_OK(qf_cuda_upload(c.d8.v, c.c8.v, (size_t)(cells * d)));
    CHECK_OK(qf_cuda_upload(c.d8.ks, c.c8.ks, (size_t)cells * 4));
    CHECK_OK(qf_cuda_upload(c.d8.vs, c.c8.vs, (size_t)cells * 4));
    float *dk = dev_alloc((size_t)(n * row) * 4), *dv = dev_alloc((size_t)(n * row) * 4);
    CHECK_OK(qf_cuda_upload(dk, c.k, (size_t)(n * row) * 4));
    CHECK_OK(qf_cuda_upload(dv, c.v, (size_t)(n * row) * 4));
    CHECK_OK(qf_cuda_kv_append_f16(a, dk, dv, row, p0, 0, c.dkc, c.dvc, NULL));
    CHECK_OK(qf_cuda_kv_append_f16(a, dk + p0 * row, dv + p0 * row, row, n - p0, p0, c.dkc,
                                   c.dvc, NULL));
    CHECK_OK(qf_cuda_kv_append_i8(a, dk, dv, row, p0, 0, &c.d8, NULL));
    CHECK_OK(qf_cuda_kv_append_i8(a, dk + p0 * row, dv + p0 * row, row, n - p0, p0, &c.d8,
                                  NULL));
    CHECK_OK(qf_cuda_sync());
    qf_cuda_free(dk);
    qf_cuda_free(dv);
    qf_cuda_kv_append_f16_ref(a, c.k, c.v, row, n, 0, c.kc, c.vc);
    qf_cuda_kv_append_i8_ref(a, c.k, c.v, row, n, 0, &c.c8);
    /* the device caches bit-identical to the reference appends */
    uint16_t *h16 = malloc((size_t)(cells * d) * 2);
    int8_t *h8 = malloc((size_t)(cells * d));
    float *hs = malloc((size_t)cells * 4);
    CHECK_OK(qf_cuda_download(h16, c.dkc, (size_t)(cells * d) * 2));
    CHECK(memcmp(h16, c.kc, (size_t)(cells * d) * 2) == 0);
    CHECK_OK(qf_cuda_download(h16, c.dvc, (size_t)(cells * d) * 2));
    CHECK(memcmp(h16, c.vc, (size_t)(cells * d) * 2) == 0);
    CHECK_OK(qf_cuda_download(h8, c.d8.k, (size_t)(cells * d)));
    CHECK(memcmp(h8, c.c8.k, (size_t)(cells * d)) == 0);
    CHECK_OK(qf_cuda_download(h8, c.d8.v, (size_t)(cells * d)));
    CHECK(memcmp(h8, c.c8.v, (size_t)(cells * d)) == 0);
    CHECK_OK(qf_cuda_download(hs, c.d8.ks, (size_t)cells * 4));
    CHECK(memcmp(hs, c.c8.ks, (size_t)cells * 4) == 0);
    CHECK_OK(qf_cuda_download(hs, c.d8.vs, (size_t)cells * 4));
    CHECK(memcmp(hs, c.c8.vs, (size_t)cells * 4) == 0);
    free(h16);
    free(h8);
    free(hs);
    return c;
}

static void free_cache(cache *c) {
    free(c->k), free(c->v), free(c->kc), free(c->vc);
    free(c->c8.k), free(c->c8.v), free(c->c8.ks), free(c->c8.vs);
    qf_cuda_free(c->dkc), qf_cuda_free(c->dvc);
    qf_cuda_free(c->d8.k), qf_cuda_free(c->d8.v), qf_cuda_free(c->d8.ks), qf_cuda_free(c->d8.vs);
}

/* out (m, n_heads, d) against ref at positions p0..: every element within ca_tol32. */
static void compare(const qf_cuda_attn *a, const float *q, int64_t m, int64_t p0,
                    int64_t splits, const float *out, const double *ref, double *worst,
                    const char *what) {
    const int64_t d = a->head_dim;
    int bad = 0;
    for (int64_t t = 0; t < m; t++) {
        const int64_t keys = p0 + t + 1 - qf_cuda_attn_first_key(a->window, p0 + t);
        for (int64_t h = 0; h < a->n_heads; h++) {
            const int64_t r = (t * a->n_heads + h) * d;
            const double tol = ca_tol32(d, keys, splits, ca_qnorm(q + r, d, a->scale), 1.0);
            for (int64_t i = 0; i < d; i++) {
                const double err = fabs(out[r + i] - ref[r + i]);
                if (!(err <= tol) && bad++ < 3)
                    fprintf(stderr, "%s: token %lld head %lld [%lld]: %.9g vs %.9g (tol %.3g)\n",
                            what, (long long)t, (long long)h, (long long)i, out[r + i],
                            ref[r + i], tol);
                if (err / tol > *worst) *worst = err / tol;
            }
        }
    }
    CHECK_MSG(bad == 0, "%s: %lld/%lld heads x %lld, m %lld at %lld, window %lld, %lld ranges",
              what, (long long)a->n_heads, (long long)a->n_kv, (long long)d, (long long)m,
              (long long)p0, (long long)a->window, (long long)splits);
}

static void check_prefill(qf_cuda_attn a, int64_t m, int64_t p0) {
    a.cap = p0 + m + 5;
    cache c = make_cache(&a, p0 + m, p0);
    const int64_t nq = m * a.n_heads * a.head_dim;
    float *q = malloc((size_t)nq * 4), *out = malloc((size_t)nq * 4);
    double *ref = malloc((size_t)nq * 8);
    ca_fill(q, nq, 1.0f);
    float *dq = dev_alloc((size_t)nq * 4), *dout = dev_alloc((size_t)nq * 4);
    CHECK_OK(qf_cuda_upload(dq, q, (size_t)nq * 4));
    CHECK_OK(qf_cuda_attention_prefill(&a, dq, m, p0, c.dkc, c.dvc, dout, NULL));
    CHECK_OK(qf_cuda_sync());
    CHECK_OK(qf_cuda_download(out, dout, (size_t)nq * 4));
    CHECK_OK(qf_cuda_attention_ref(&a, q, m, p0, c.kc, c.vc, ref));
    compare(&a, q, m, p0, 0, out, ref, &worst_prefill, "prefill");
    qf_cuda_free(dq), qf_cuda_free(dout);
    free(q), free(out), free(ref);
    free_cache(&c);
}

static void check_decode(qf_cuda_attn a, int64_t p) {
    a.cap = p + 3;
    cache c = make_cache(&a, p + 1, p / 2);
    const int64_t nq = a.n_heads * a.head_dim;
    float *q = malloc((size_t)nq * 4), *out = malloc((size_t)nq * 4);
    double *ref = malloc((size_t)nq * 8), *ref8 = malloc((size_t)nq * 8);
    ca_fill(q, nq, 1.0f);
    float *dq = dev_alloc((size_t)nq * 4), *dout = dev_alloc((size_t)nq * 4);
    float *work = dev_alloc(qf_cuda_attn_work_floats(&a, QF_CUDA_ATTN_MAX_SPLITS) * 4);
    CHECK_OK(qf_cuda_upload(dq, q, (size_t)nq * 4));
    CHECK_OK(qf_cuda_attention_ref(&a, q, 1, p, c.kc, c.vc, ref));
    CHECK_OK(qf_cuda_attention_i8_ref(&a, q, 1, p, &c.c8, ref8));
    const int64_t splits[] = {1, 7, qf_cuda_attn_splits(&a, p, n_sm), QF_CUDA_ATTN_MAX_SPLITS};
    for (size_t s = 0; s < sizeof splits / sizeof *splits; s++) {
        CHECK_OK(qf_cuda_attention_decode(&a, dq, p, c.dkc, c.dvc, splits[s], work, dout, NULL));
        CHECK_OK(qf_cuda_sync());
        CHECK_OK(qf_cuda_download(out, dout, (size_t)nq * 4));
        compare(&a, q, 1, p, splits[s], out, ref, &worst_decode, "decode fp16");
        CHECK_OK(qf_cuda_attention_decode_i8(&a, dq, p, &c.d8, splits[s], work, dout, NULL));
        CHECK_OK(qf_cuda_sync());
        CHECK_OK(qf_cuda_download(out, dout, (size_t)nq * 4));
        compare(&a, q, 1, p, splits[s], out, ref8, &worst_decode_i8, "decode int8");
    }
    qf_cuda_free(dq), qf_cuda_free(dout), qf_cuda_free(work);
    free(q), free(out), free(ref), free(ref8);
    free_cache(&c);
}

int main(void) {
    if (qf_cuda_device_check() != QF_STATUS_OK) {
        printf("CUDA attention: SKIPPED (no GPU: %s)\n", qf_error_message());
        return 77;
    }
    CHECK_OK(qf_cuda_sm_count(&n_sm));
    static const int64_t shapes[][3] = {{9, 3, 64}, {32, 32, 128}, {32, 8, 128}, {16, 1, 64}};
    static const int64_t ms[] = {1, 7, 64, 300}, ps[] = {0, 1, 63, 64, 300, 1000, 4095};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        qf_cuda_attn a = {shapes[s][0], shapes[s][1], shapes[s][2], 0, 0,
                          (float)(1.0 / sqrt((double)shapes[s][2]))};
        const int windowed = s != 1; /* the window cases on all but the largest shape */
        for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
            for (int64_t p0 = 0; p0 <= 45; p0 += 45)
                for (a.window = 0; a.window <= (windowed ? 100 : 0); a.window += 100)
                    check_prefill(a, ms[i], p0);
        for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) {
            a.window = 0;
            check_decode(a, ps[i]);
            a.window = 100;
            if (windowed && ps[i] >= 300) check_decode(a, ps[i]);
        }
    }
    printf("CUDA attention: worst |error| / tolerance: prefill %.3g, decode fp16 %.3g, "
           "decode int8 %.3g\n",
           worst_prefill, worst_decode, worst_decode_i8);
    TEST_END();
}
