/* Tests for core/qweight.c, core/quant.c (RTN) and gptq/ against llm-compressor 0.14 /
 * compressed-tensors 0.19 (tests/fixtures/quant/, made by
 * tests/fixtures/scripts/make_quant_fixtures.py), plus the properties no reference pins:
 * validation, safe scales, dead columns, damping, error vs RTN, determinism, act-order
 * g_idx with dynamic groups. */
#include <cjson/cJSON.h>
#include <stdint.h>

#include "core/qweight.h"
#include "core/quant.h"
#include "gptq/gptq.h"
#include "test.h"

#define FIX QF_FIXTURES_DIR "/quant/"

static void *load(const char *name, size_t want) {
    char path[1024];
    snprintf(path, sizeof path, FIX "%s", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    void *buf = malloc(want ? want : 1);
    size_t got = buf ? fread(buf, 1, want, f) : 0;
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != want || extra) {
        fprintf(stderr, "%s: expected %zu bytes\n", path, want);
        exit(2);
    }
    return buf;
}

static cJSON *load_manifest(void) {
    FILE *f = fopen(FIX "manifest.json", "rb");
    if (!f) exit(2);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    cJSON *m = cJSON_Parse(text);
    if (!m) exit(2);
    return m;
}

static int jint(const cJSON *o, const char *k) {
    return cJSON_GetObjectItemCaseSensitive(o, k)->valueint;
}
static const char *jstr(const cJSON *o, const char *k) {
    return cJSON_GetObjectItemCaseSensitive(o, k)->valuestring;
}

typedef struct fixture {
    int64_t out, in, rows;
    int dead;
    float *w, *x, *h;
} fixture;

/* Compares a quantized weight with one reference case; returns the code mismatches. */
static int64_t compare_case(const cJSON *c, const qf_qweight *q, const char *name) {
    int64_t ng = q->n_groups, out = q->out, in = q->in;
    uint8_t *codes = load(jstr(c, "codes"), (size_t)(out * in));
    float *scales = load(jstr(c, "scales"), (size_t)(ng * out) * 4);
    uint8_t *zeros = load(jstr(c, "zeros"), (size_t)(ng * out));
    int64_t bad_s = 0, bad_z = 0, bad_q = 0;
    for (int64_t k = 0; k < ng * out; k++) {
        /* f16 scales: the same half; f32: the reference divides in another order */
        if (fabsf(scales[k] - q->scales[k]) > 2e-7f * scales[k]) bad_s++;
        if (zeros[k] != q->zeros[k]) bad_z++;
    }
    for (int64_t k = 0; k < out * in; k++) bad_q += codes[k] != q->q[k];
    CHECK_MSG(bad_s == 0 && bad_z == 0, "%s: %lld scales, %lld zeros differ", name,
              (long long)bad_s, (long long)bad_z);
    printf("%-28s code mismatches %lld / %lld\n", name, (long long)bad_q, (long long)(out * in));
    free(codes);
    free(scales);
    free(zeros);
    return bad_q;
}

/* tr(D H D^T) / tr(W H W^T), D = w - q, in double from the full h (the definition) */
static double rel_error(const float *w, const float *q, int64_t out, int64_t in,
                        const float *h) {
    double num = 0.0, den = 0.0;
    for (int64_t o = 0; o < out; o++)
        for (int64_t i = 0; i < in; i++)
            for (int64_t j = 0; j < in; j++) {
                const double hij = h[i * in + j];
                const float *wr = w + o * in, *qr = q + o * in;
                num += ((double)wr[i] - qr[i]) * hij * ((double)wr[j] - qr[j]);
                den += (double)wr[i] * hij * wr[j];
            }
    return num / den;
}

/* the RTN error GPTQ reports is that of qf_quant_rtn with the same grid */
static void check_rtn_error(const fixture *fx, const qf_quant_params *p, double reported,
                            const char *name) {
    qf_qweight r;
    float *deq = malloc((size_t)(fx->out * fx->in) * sizeof(float));
    CHECK_OK(qf_quant_rtn(fx->w, fx->out, fx->in, p, &r));
    qf_qweight_dequant_ref(&r, deq);
    const double want = rel_error(fx->w, deq, fx->out, fx->in, fx->h);
    CHECK_MSG(fabs(reported - want) <= 1e-4 * want, "%s: rtn_error %g, qf_quant_rtn's %g", name,
              reported, want);
    qf_qweight_free(&r);
    free(deq);
}

static qf_quant_params case_params(const cJSON *c) {
    qf_quant_params p = {jint(c, "bits"), jint(c, "sym"), jint(c, "group_size"), jint(c, "mse"),
                         jint(c, "scale_f32"), 0};
    return p;
}

static void test_reference(const cJSON *m, const fixture *fx) {
    qf_gptq_hessian h = {fx->in, fx->rows, fx->h};
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(m, "cases")) {
        const char *name = jstr(c, "name");
        qf_qweight q;
        int64_t bad;
        if (!strcmp(jstr(c, "kind"), "rtn")) {
            qf_quant_params p = case_params(c);
            CHECK_OK(qf_quant_rtn(fx->w, fx->out, fx->in, &p, &q));
            bad = compare_case(c, &q, name);
            /* RTN: identical codes; MSE: the error sums may tie in another order */
            CHECK_MSG(bad == 0, "%s: %lld codes differ", name, (long long)bad);
        } else {
            qf_gptq_options o = qf_gptq_options_default();
            o.quant = case_params(c);
            o.desc_act = jint(c, "desc_act");
            o.static_groups = jint(c, "static_groups");
            o.damp_auto_increment = 0.0;
            qf_gptq_stats st;
            CHECK_OK(qf_gptq_quantize(fx->w, fx->out, fx->in, &h, &o, &q, &st));
            CHECK(q.g_idx == NULL);
            /* the column loop on 3 threads (rows split unevenly): the same bits */
            qf_gptq_options o3 = o;
            o3.n_threads = 3;
            qf_qweight q3;
            CHECK_OK(qf_gptq_quantize(fx->w, fx->out, fx->in, &h, &o3, &q3, NULL));
            const size_t ng = (size_t)(q.n_groups * q.out);
            CHECK_MSG(!memcmp(q.q, q3.q, (size_t)(q.out * q.in)) &&
                          !memcmp(q.scales, q3.scales, ng * sizeof(float)) &&
                          !memcmp(q.zeros, q3.zeros, ng),
                      "%s: 3 threads give other codes / parameters than 1", name);
            qf_qweight_free(&q3);
            bad = compare_case(c, &q, name);
            /* the reference works in f32 (Cholesky included), as we do, with other
             * summation orders: a code could differ where a propagated weight lands
             * within ~1e-5 of a rounding boundary (0 of 12288 per case observed); allow
             * 0.1% */
            CHECK_MSG(bad <= fx->out * fx->in / 1000, "%s: %lld codes differ", name,
                      (long long)bad);
            CHECK_MSG(st.gptq_error < st.rtn_error, "%s: gptq %g >= rtn %g", name,
                      st.gptq_error, st.rtn_error);
            CHECK_NEAR(st.damp_percent, 0.01, 1e-12);
            check_rtn_error(fx, &o.quant, st.rtn_error, name);
        }
        CHECK_OK(qf_qweight_validate(&q, name));
        qf_qweight_free(&q);
    }
}

static void test_hessian(const fixture *fx) {
    qf_gptq_hessian h;
    CHECK_OK(qf_gptq_hessian_init(&h, fx->in));
    int64_t split = 100; // two batches: the running mean
    CHECK_OK(qf_gptq_hessian_add(&h, fx->x, split));
    CHECK_OK(qf_gptq_hessian_add(&h, fx->x + split * fx->in, fx->rows - split));
    CHECK_OK(qf_gptq_hessian_add(&h, fx->x, 0));
    CHECK(h.count == fx->rows);
    double maxd = 0, maxh = 0; // the upper triangle is H (the lower is not maintained)
    for (int64_t i = 0; i < fx->in; i++)
        for (int64_t j = i; j < fx->in; j++) {
            maxd = fmax(maxd, fabs(h.h[i * fx->in + j] - fx->h[i * fx->in + j]));
            maxh = fmax(maxh, fabs(fx->h[i * fx->in + j]));
        }
    CHECK_MSG(maxd <= 1e-5 * maxh, "hessian max diff %g (max %g)", maxd, maxh);
    qf_gptq_hessian_free(&h);
    qf_gptq_hessian_free(&h);
    CHECK_FAILS(qf_gptq_hessian_init(&h, 0), QF_STATUS_INVALID_ARG, "width");
}

/* Row weights: all 1 = gptq.py's H; otherwise (2/rows) sum w_t x_t x_t^T, summed here in
 * double; bad weights refused. */
static void test_hessian_weighted(const fixture *fx) {
    const int64_t n = fx->in, m = fx->rows;
    float *w = malloc((size_t)m * sizeof *w);
    CHECK(w != NULL);
    if (!w) return;
    for (int pass = 0; pass < 3; pass++) { /* all 1; varied; one heavy row then all 1 */
        for (int64_t t = 0; t < m; t++) w[t] = pass == 1 ? (float)(t % 5) * 0.75f : 1.0f;
        if (pass) w[0] = 37.0f; /* a heavy first token, as --sink-weight makes */
        qf_gptq_hessian h;
        CHECK_OK(qf_gptq_hessian_init(&h, n));
        CHECK_OK(qf_gptq_hessian_add_weighted(&h, fx->x, 7, w));
        CHECK_OK(qf_gptq_hessian_add_weighted(&h, fx->x + 7 * n, m - 7, w + 7));
        CHECK(h.count == m);
        double maxd = 0, maxh = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i; j < n; j++) {
                double want = 0;
                for (int64_t t = 0; t < m; t++)
                    want += (double)w[t] * fx->x[t * n + i] * fx->x[t * n + j];
                want *= 2.0 / (double)m;
                if (pass == 0) CHECK_NEAR(want, fx->h[i * n + j], 1e-4 * fabs(want) + 1e-6);
                maxd = fmax(maxd, fabs(h.h[i * n + j] - want));
                maxh = fmax(maxh, fabs(want));
            }
        CHECK_MSG(maxd <= 2e-5 * maxh, "weighted hessian (pass %d) max diff %g (max %g)", pass,
                  maxd, maxh);
        const float bad[] = {-1.0f, NAN, INFINITY};
        for (int b = 0; b < 3; b++) {
            w[3] = bad[b];
            CHECK_FAILS(qf_gptq_hessian_add_weighted(&h, fx->x, 5, w), QF_STATUS_INVALID_ARG,
                        "weight");
        }
        CHECK(h.count == m); /* a refused batch adds nothing */
        qf_gptq_hessian_free(&h);
    }
    free(w);
}

/* dynamic groups (gptq.py's default), with and without act-order: no reference, so
 * properties: valid, g_idx a partition in act order, beats RTN, dead column exact,
 * deterministic bytes (also with the column loop on two threads) */
static void test_dynamic(const fixture *fx) {
    qf_gptq_hessian h = {fx->in, fx->rows, fx->h};
    for (int act = 0; act <= 1; act++) {
        qf_gptq_options o = qf_gptq_options_default();
        o.quant.group_size = 32;
        o.desc_act = act;
        qf_qweight a, b;
        qf_gptq_stats st;
        CHECK_OK(qf_gptq_quantize(fx->w, fx->out, fx->in, &h, &o, &a, &st));
        CHECK_OK(qf_qweight_validate(&a, "dynamic"));
        CHECK((a.g_idx != NULL) == act);
        CHECK_MSG(st.gptq_error < 0.8 * st.rtn_error, "act %d: gptq %g rtn %g", act,
                  st.gptq_error, st.rtn_error);
        if (a.g_idx) {
            int64_t count[64] = {0};
            for (int64_t i = 0; i < fx->in; i++) count[a.g_idx[i]]++;
            for (int64_t g = 0; g < a.n_groups; g++) CHECK(count[g] == 32);
            /* the heaviest input (largest diag H) is quantized first: group 0 */
            int64_t best = 0;
            for (int64_t i = 1; i < fx->in; i++)
                if (fx->h[i * fx->in + i] > fx->h[best * fx->in + best]) best = i;
            CHECK(a.g_idx[best] == 0);
        }
        float *deq = malloc((size_t)(fx->out * fx->in) * 4);
        qf_qweight_dequant_ref(&a, deq);
        int dead_ok = 1;
        for (int64_t r = 0; r < fx->out; r++) dead_ok &= deq[r * fx->in + fx->dead] == 0.0f;
        CHECK(dead_ok);
        free(deq);
        o.n_threads = 2; /* the same bytes again, the column loop on two threads */
        CHECK_OK(qf_gptq_quantize(fx->w, fx->out, fx->in, &h, &o, &b, NULL));
        CHECK(!memcmp(a.q, b.q, (size_t)(fx->out * fx->in)));
        CHECK(!memcmp(a.scales, b.scales, (size_t)(a.n_groups * fx->out) * 4));
        CHECK(!memcmp(a.zeros, b.zeros, (size_t)(a.n_groups * fx->out)));
        CHECK(!a.g_idx || !memcmp(a.g_idx, b.g_idx, (size_t)fx->in * 4));
        qf_qweight_free(&a);
        qf_qweight_free(&b);
    }
    /* per-channel: dynamic and static are the same thing */
    qf_gptq_options o = qf_gptq_options_default();
    o.quant.group_size = -1;
    o.desc_act = 1;
    qf_qweight a, b;
    CHECK_OK(qf_gptq_quantize(fx->w, fx->out, fx->in, &h, &o, &a, NULL));
    o.static_groups = 1;
    CHECK_OK(qf_gptq_quantize(fx->w, fx->out, fx->in, &h, &o, &b, NULL));
    CHECK(a.g_idx && a.g_idx[fx->in - 1] == 0 && !b.g_idx);
    CHECK(!memcmp(a.q, b.q, (size_t)(fx->out * fx->in)));
    qf_qweight_free(&a);
    qf_qweight_free(&b);
}

static void test_damping(void) {
    /* indefinite (eigenvalues 2.021, -0.021): needs damp > 2.1% of the mean diagonal */
    float hm[4] = {1.0f, 1.021f, 1.021f, 1.0f};
    float w[4] = {0.5f, -0.25f, 0.1f, 0.3f}; // (2, 2)
    qf_gptq_hessian h = {2, 10, hm};
    qf_gptq_options o = qf_gptq_options_default();
    o.quant.group_size = -1;
    qf_qweight q;
    qf_gptq_stats st;
    CHECK_OK(qf_gptq_quantize(w, 2, 2, &h, &o, &q, &st));
    CHECK_NEAR(st.damp_percent, 0.0225, 1e-9);
    qf_qweight_free(&q);
    o.damp_auto_increment = 0.0;
    CHECK_FAILS(qf_gptq_quantize(w, 2, 2, &h, &o, &q, &st), QF_STATUS_INVALID_ARG,
                "not positive definite");
    CHECK(q.q == NULL);
    float bad[4] = {1.0f, 3.0f, 3.0f, 1.0f}; // eigenvalue -2: no damping < 1 helps
    h.h = bad;
    o.damp_auto_increment = 0.0025;
    CHECK_FAILS(qf_gptq_quantize(w, 2, 2, &h, &o, &q, NULL), QF_STATUS_INVALID_ARG,
                "not positive definite");
    /* exactly singular (two equal inputs) is fine with the default 1% */
    float sing[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    h.h = sing;
    CHECK_OK(qf_gptq_quantize(w, 2, 2, &h, &o, &q, &st));
    CHECK_NEAR(st.damp_percent, 0.01, 1e-12);
    qf_qweight_free(&q);
    h.n = 3;
    CHECK_FAILS(qf_gptq_quantize(w, 2, 2, &h, &o, &q, NULL), QF_STATUS_INVALID_ARG, "width");
    h.n = 2;
    h.count = 0;
    CHECK_FAILS(qf_gptq_quantize(w, 2, 2, &h, &o, &q, NULL), QF_STATUS_INVALID_ARG,
                "no calibration");
}

static void test_rtn_edges(void) {
    /* (3, 8): an all-zero row, a constant row, a tiny-range row */
    float w[24] = {0};
    for (int i = 0; i < 8; i++) {
        w[8 + i] = 0.3f;
        w[16 + i] = 1e-12f * (float)(i - 3);
    }
    for (int sym = 0; sym <= 1; sym++)
        for (int f32 = 0; f32 <= 1; f32++)
            for (int mse = 0; mse <= 1; mse++) {
                qf_quant_params p = {4, sym, 4, mse, f32, 0};
                qf_qweight q;
                CHECK_OK(qf_quant_rtn(w, 3, 8, &p, &q));
                CHECK_OK(qf_qweight_validate(&q, "edges"));
                float deq[24];
                qf_qweight_dequant_ref(&q, deq);
                for (int i = 0; i < 8; i++) CHECK(deq[i] == 0.0f);
                /* asym: 0.3 is the top of the grid [0, 0.3] up to the fp16 scale */
                if (!sym && !mse) CHECK_NEAR(deq[8], 0.3, 1e-3);
                qf_qweight_free(&q);
            }
    /* zero_min 1 (GPTQ v1): a group that would get zero 0 gets zero 1 and a scale that
     * still reaches its maximum; the others are unchanged */
    const float pos[8] = {-0.001f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f}; // zero rounds to 0
    for (int bits = 2; bits <= 8; bits = bits == 4 ? 8 : bits + 1)
        for (int mse = 0; mse <= 1; mse++) {
            qf_quant_params p0 = {bits, 0, -1, mse, 1, 0}, p1 = p0;
            p1.zero_min = 1;
            qf_qweight q0, q1;
            CHECK_OK(qf_quant_rtn(pos, 1, 8, &p0, &q0));
            CHECK_OK(qf_quant_rtn(pos, 1, 8, &p1, &q1));
            CHECK_MSG(mse || q0.zeros[0] == 0, "bits %d: zero %d", bits, q0.zeros[0]);
            CHECK_MSG(q1.zeros[0] >= 1, "bits %d mse %d: zero %d", bits, mse, q1.zeros[0]);
            float deq[8];
            qf_qweight_dequant_ref(&q1, deq);
            const float step = q1.scales[0];
            for (int i = 0; i < 8 && !mse; i++) // no clipping: every value within half a step
                CHECK_MSG(fabsf(deq[i] - pos[i]) <= 0.5001f * step, "bits %d: %g -> %g", bits,
                          pos[i], deq[i]);
            qf_qweight_free(&q0), qf_qweight_free(&q1);
            CHECK_OK(qf_quant_rtn(w, 3, 8, &p1, &q1)); // rows 0 and 2 have zeros > 0 already
            CHECK_OK(qf_quant_rtn(w, 3, 8, &p0, &q0));
            for (int r = 0; r <= 2; r += 2)
                CHECK(q1.zeros[r] == q0.zeros[r] && q1.scales[r] == q0.scales[r]);
            qf_qweight_free(&q0), qf_qweight_free(&q1);
        }
    float nan_w[2] = {NAN, 1.0f};
    qf_quant_params p = {4, 0, -1, 0, 0, 0};
    qf_qweight q;
    CHECK_FAILS(qf_quant_rtn(nan_w, 1, 2, &p, &q), QF_STATUS_INVALID_ARG, "not finite");
    p.bits = 5;
    CHECK_FAILS(qf_quant_rtn(w, 3, 8, &p, &q), QF_STATUS_INVALID_ARG, "bits 5");
    /* codes: round half to even, clamped */
    CHECK(qf_quant_code(2.5f, 1.0f, 8, 15) == 10);
    CHECK(qf_quant_code(3.5f, 1.0f, 8, 15) == 12);
    CHECK(qf_quant_code(100.0f, 1.0f, 8, 15) == 15);
    CHECK(qf_quant_code(-100.0f, 1.0f, 8, 15) == 0);
}

static void test_qweight(void) {
    qf_qweight w;
    CHECK_OK(qf_qweight_init(&w, 4, 1, 2, 10, 4, 1));
    CHECK(w.n_groups == 3 && w.group_size == 4 && w.g_idx);
    for (int i = 0; i < 10; i++) w.g_idx[i] = i / 4;
    for (int k = 0; k < 6; k++) {
        w.scales[k] = 0.5f * (float)(k + 1);
        w.zeros[k] = 8;
    }
    for (int k = 0; k < 20; k++) w.q[k] = (uint8_t)(k % 16);
    CHECK_OK(qf_qweight_validate(&w, "t"));
    float d[20];
    qf_qweight_dequant_ref(&w, d);
    /* row 1, column 9: group 2, scale index 2*2+1 */
    CHECK(d[19] == w.scales[5] * (float)(w.q[19] - 8));
    w.q[3] = 16;
    CHECK_FAILS(qf_qweight_validate(&w, "layer.q"), QF_STATUS_FORMAT, "layer.q: code 16");
    w.q[3] = 0;
    w.zeros[1] = 7;
    CHECK_FAILS(qf_qweight_validate(&w, "t"), QF_STATUS_FORMAT, "symmetric zero point 7");
    w.sym = 0;
    CHECK_OK(qf_qweight_validate(&w, "t"));
    w.scales[2] = 0.0f;
    CHECK_FAILS(qf_qweight_validate(&w, "t"), QF_STATUS_FORMAT, "not finite and > 0");
    w.scales[2] = NAN;
    CHECK_FAILS(qf_qweight_validate(&w, "t"), QF_STATUS_FORMAT, "not finite and > 0");
    w.scales[2] = 1.0f;
    w.g_idx[4] = 3;
    CHECK_FAILS(qf_qweight_validate(&w, "t"), QF_STATUS_FORMAT, "g_idx[4] = 3");
    w.g_idx[4] = 1;
    w.n_groups = 2;
    CHECK_FAILS(qf_qweight_validate(&w, "t"), QF_STATUS_FORMAT, "n_groups");
    qf_qweight_free(&w);
    qf_qweight_free(&w);
    CHECK(w.q == NULL);
    CHECK_FAILS(qf_qweight_init(&w, 5, 0, 2, 2, -1, 0), QF_STATUS_INVALID_ARG, "bits 5");
    CHECK_FAILS(qf_qweight_init(&w, 4, 0, 0, 2, -1, 0), QF_STATUS_INVALID_ARG, "shape");
    CHECK_FAILS(qf_qweight_init(&w, 4, 0, INT64_MAX / 2, INT64_MAX / 2, -1, 0),
                QF_STATUS_NOMEM, "overflow");
    CHECK_OK(qf_qweight_init(&w, 8, 0, 3, 5, 64, 0));
    CHECK(w.group_size == 5 && w.n_groups == 1 && !w.g_idx);
    qf_qweight_free(&w);
}

/* Past 1024 output rows the reported errors are estimated on a strided subset: on 3000
 * rows of the fixture's weights (tiled) the estimate stays within 10% of the definition. */
static void test_error_estimate(const fixture *fx) {
    const int64_t out = 3000, in = fx->in;
    float *w = malloc((size_t)(out * in) * sizeof(float));
    float *deq = malloc((size_t)(out * in) * sizeof(float));
    for (int64_t o = 0; o < out; o++)
        for (int64_t i = 0; i < in; i++)
            w[o * in + i] = fx->w[(o % fx->out) * in + i] * (1.0f + 0.001f * (float)(o / fx->out));
    qf_gptq_hessian h = {in, fx->rows, fx->h};
    qf_gptq_options o = qf_gptq_options_default();
    qf_gptq_stats st;
    qf_qweight q;
    CHECK_OK(qf_gptq_quantize(w, out, in, &h, &o, &q, &st));
    qf_qweight_dequant_ref(&q, deq);
    const double want = rel_error(w, deq, out, in, fx->h);
    CHECK_MSG(fabs(st.gptq_error - want) <= 0.1 * want, "estimate %g, definition %g",
              st.gptq_error, want);
    qf_qweight_free(&q);
    free(w);
    free(deq);
}

int main(void) {
    cJSON *m = load_manifest();
    fixture fx;
    fx.out = jint(m, "out");
    fx.in = jint(m, "in");
    fx.rows = jint(m, "rows");
    fx.dead = jint(m, "dead_col");
    fx.w = load(jstr(m, "w"), (size_t)(fx.out * fx.in) * 4);
    fx.x = load(jstr(m, "x"), (size_t)(fx.rows * fx.in) * 4);
    fx.h = load(jstr(m, "h"), (size_t)(fx.in * fx.in) * 4);
    test_qweight();
    test_rtn_edges();
    test_hessian(&fx);
    test_hessian_weighted(&fx);
    test_reference(m, &fx);
    test_error_estimate(&fx);
    test_dynamic(&fx);
    test_damping();
    free(fx.w);
    free(fx.x);
    free(fx.h);
    cJSON_Delete(m);
    TEST_END();
}
