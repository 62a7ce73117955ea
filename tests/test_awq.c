/* Tests for awq/: the weight statistic and the scale candidates against llm-compressor
 * 0.14's AWQModifier (tests/fixtures/awq/, made by
 * tests/fixtures/scripts/make_awq_fixtures.py), plus what no reference pins directly:
 * the fake quantization is RTN of W diag(s) divided back, the search keeps the first
 * smallest finite loss and fails when none is finite, and the clip search picks, per row
 * and group, the clamp a brute-force evaluation of auto_clip's criterion picks. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "awq/awq.h"
#include "core/quant.h"
#include "test.h"

#define FIX QF_FIXTURES_DIR "/awq/"
#define IN 96

static float *load(const char *name, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, FIX "%s", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    float *buf = malloc(n * sizeof(float));
    size_t got = buf ? fread(buf, sizeof(float), n, f) : 0;
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != n || extra) {
        fprintf(stderr, "%s: expected %zu floats\n", path, n);
        exit(2);
    }
    return buf;
}

static float max_rel(const float *a, const float *b, int64_t n) {
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i] - b[i]) / fmaxf(fabsf(b[i]), 1e-30f));
    return m;
}

static void test_reference(void) {
    float *w0 = load("w0.f32", 24 * IN), *w1 = load("w1.f32", 40 * IN);
    float *x_mean = load("x_mean.f32", IN);
    const float *w[2] = {w0, w1};
    const int64_t out[2] = {24, 40};
    float wm[IN], s[IN];
    static const struct { const char *file; int64_t group; } means[] = {
        {"w_mean_g32.f32", 32}, {"w_mean_chan.f32", -1}};
    for (int k = 0; k < 2; k++) {
        float *ref = load(means[k].file, IN);
        CHECK_OK(qf_awq_weight_mean(w, out, 2, IN, means[k].group, wm));
        CHECK_MSG(max_rel(wm, ref, IN) < 1e-5f, "%s: max rel diff %g", means[k].file,
                  (double)max_rel(wm, ref, IN));
        free(ref);
    }
    CHECK_OK(qf_awq_weight_mean(w, out, 2, IN, 32, wm));
    /* grid index k: a = (k - 1) / 20 */
    static const struct { int k; const char *tag; } pts[] = {
        {1, "r00"}, {2, "r05"}, {8, "r35"}, {11, "r50"}, {20, "r95"}};
    qf_awq_options o = qf_awq_options_default();
    for (int duo = 0; duo < 2; duo++) {
        o.duo_scaling = duo;
        for (size_t p = 0; p < sizeof pts / sizeof *pts; p++) {
            char name[64];
            snprintf(name, sizeof name, "scales_%s_%s.f32", duo ? "duo" : "plain", pts[p].tag);
            float *ref = load(name, IN);
            qf_awq_scales(&o, pts[p].k, x_mean, wm, IN, s);
            CHECK_MSG(max_rel(s, ref, IN) < 2e-5f, "%s: max rel diff %g", name,
                      (double)max_rel(s, ref, IN));
            free(ref);
        }
    }
    /* candidate 0 is the identity */
    qf_awq_scales(&o, 0, x_mean, wm, IN, s);
    int ones = 1;
    for (int j = 0; j < IN; j++) ones &= s[j] == 1.0f;
    CHECK(ones);
    free(w0), free(w1), free(x_mean);
}

static void test_fake_quant(void) {
    enum { O = 6, I = 64 };
    float w[O * I], s[I], ws[O * I], a[O * I], b[O * I];
    for (int k = 0; k < O * I; k++) w[k] = sinf(0.37f * (float)k) * (1.0f + (float)(k % 7));
    for (int j = 0; j < I; j++) s[j] = 0.25f + 0.05f * (float)j;
    const qf_quant_params p = {4, 0, 32, 0, 0, 0};
    CHECK_OK(qf_awq_fake_quant(w, O, I, s, &p, a));
    for (int k = 0; k < O * I; k++) ws[k] = w[k] * s[k % I];
    qf_qweight q;
    CHECK_OK(qf_quant_rtn(ws, O, I, &p, &q));
    qf_qweight_dequant_ref(&q, b);
    qf_qweight_free(&q);
    int same = 1;
    for (int k = 0; k < O * I; k++) same &= a[k] == b[k] / s[k % I];
    CHECK(same);
    CHECK_OK(qf_awq_fake_quant(w, O, I, NULL, &p, a)); /* no scales: plain RTN */
    CHECK_OK(qf_quant_rtn(w, O, I, &p, &q));
    qf_qweight_dequant_ref(&q, b);
    qf_qweight_free(&q);
    same = 1;
    for (int k = 0; k < O * I; k++) same &= a[k] == b[k];
    CHECK(same);
}

/* loss(s) = |s - scales of candidate `target`|^2 (+ NaN for candidate `nan_at`) */
typedef struct loss_ctx {
    const qf_awq_options *o;
    const float *x_mean;
    int target, nan_at, calls;
} loss_ctx;

static qf_status loss_fn(void *user, const float *const *s, int n, double *loss) {
    loss_ctx *c = user;
    float t[8];
    qf_awq_scales(c->o, c->target, c->x_mean, NULL, 8, t);
    for (int k = 0; k < n; k++) {
        double l = 0.0;
        for (int j = 0; j < 8; j++) l += ((double)s[k][j] - t[j]) * ((double)s[k][j] - t[j]);
        loss[k] = (c->calls++ == c->nan_at) ? NAN : l;
    }
    return QF_STATUS_OK;
}

static void test_search(void) {
    qf_awq_options o = qf_awq_options_default();
    o.duo_scaling = 0;
    const float x_mean[8] = {0.1f, 0.5f, 1.0f, 2.0f, 4.0f, 8.0f, 0.01f, 3.0f};
    float best[8];
    qf_awq_search_result res;
    loss_ctx c = {&o, x_mean, 9, -1, 0};
    CHECK_OK(qf_awq_search(&o, x_mean, NULL, 8, loss_fn, &c, best, &res));
    CHECK(c.calls == o.n_grid + 1);
    CHECK(res.best == 9 && fabsf(res.ratio - 0.4f) < 1e-6f && res.loss == 0.0);
    CHECK(res.identity_loss > 0.0);
    /* the identity (k 0) and a = 0 (k 1) are the same scales: the first wins the tie */
    c = (loss_ctx){&o, x_mean, 1, -1, 0};
    CHECK_OK(qf_awq_search(&o, x_mean, NULL, 8, loss_fn, &c, best, &res));
    CHECK(res.best == 0 && res.ratio == 0.0f);
    /* a NaN loss is never chosen */
    c = (loss_ctx){&o, x_mean, 5, 5, 0};
    CHECK_OK(qf_awq_search(&o, x_mean, NULL, 8, loss_fn, &c, best, &res));
    CHECK(res.best != 5);
    o.n_grid = 0; /* only the identity, and its loss is NaN */
    c = (loss_ctx){&o, x_mean, 0, 0, 0};
    CHECK_FAILS(qf_awq_search(&o, x_mean, NULL, 8, loss_fn, &c, best, &res),
                QF_STATUS_INVALID_ARG, "finite");
}

/* auto_clip's error of one (row, group) for clamp m, in double. */
static double clip_err(const float *w, const float *x, int64_t t, int64_t in, int64_t c0,
                       int64_t cols, float m, const qf_quant_params *p) {
    float cw[64], dq[64];
    for (int64_t c = 0; c < cols; c++) {
        const float v = w[c0 + c];
        cw[c] = v < -m ? -m : (v > m ? m : v);
    }
    qf_quant_params pg = *p;
    pg.group_size = -1;
    qf_qweight q;
    if (qf_quant_rtn(cw, 1, cols, &pg, &q) != QF_STATUS_OK) return INFINITY;
    qf_qweight_dequant_ref(&q, dq);
    qf_qweight_free(&q);
    double err = 0.0;
    for (int64_t i = 0; i < t; i++) {
        double d = 0.0;
        for (int64_t c = 0; c < cols; c++) d += (double)x[i * in + c0 + c] * (dq[c] - w[c0 + c]);
        err += d * d;
    }
    return err;
}

static void test_clip(void) {
    enum { O = 12, I = 80, T = 50, G = 32 }; /* 3 groups, the last one short (16) */
    float *w = malloc(O * I * sizeof(float)), *x = malloc(T * I * sizeof(float));
    uint32_t r = 12345u;
    for (int k = 0; k < O * I; k++) {
        r = r * 1664525u + 1013904223u;
        w[k] = ((float)(r >> 8) / 16777216.0f - 0.5f) * ((k % 17) == 0 ? 6.0f : 1.0f);
    }
    for (int k = 0; k < T * I; k++) {
        r = r * 1664525u + 1013904223u;
        x[k] = ((float)(r >> 8) / 16777216.0f - 0.5f) * (1.0f + (float)(k % I) / 20.0f);
    }
    const qf_awq_options o = qf_awq_options_default();
    const qf_quant_params p = {3, 0, G, 0, 0, 0};
    const int ng = (I + G - 1) / G;
    float mv[O * 3];
    CHECK_OK(qf_awq_clip_search(&o, w, O, I, x, T, &p, mv));
    int worse = 0, shrunk = 0;
    for (int row = 0; row < O; row++)
        for (int g = 0; g < ng; g++) {
            const int64_t c0 = g * G, cols = c0 + G < I ? G : I - c0;
            float mx = 0.0f;
            for (int64_t c = 0; c < cols; c++) mx = fmaxf(mx, fabsf(w[row * I + c0 + c]));
            double best = INFINITY;
            for (int k = 0; k < 10; k++) /* 1 - k / 20, k < 0.5 * 20 */
                best = fmin(best, clip_err(w + row * I, x, T, I, c0, cols,
                                           mx * (1.0f - (float)k / 20.0f), &p));
            const double got = clip_err(w + row * I, x, T, I, c0, cols, mv[row * ng + g], &p);
            worse += got > best * (1.0 + 1e-4) + 1e-12;
            shrunk += mv[row * ng + g] < mx;
        }
    CHECK_MSG(worse == 0, "%d of %d groups got a clamp worse than the brute-force best", worse,
              O * ng);
    CHECK(shrunk > 0); /* at 3 bits clipping pays somewhere */
    float *wc = malloc(O * I * sizeof(float));
    for (int k = 0; k < O * I; k++) wc[k] = w[k];
    qf_awq_clip_apply(wc, O, I, G, mv);
    int ok = 1;
    for (int row = 0; row < O; row++)
        for (int c = 0; c < I; c++) {
            const float m = mv[row * ng + c / G], v = w[row * I + c];
            ok &= wc[row * I + c] == (v < -m ? -m : (v > m ? m : v));
        }
    CHECK(ok);
    free(w), free(x), free(wc);
}

int main(void) {
    test_reference();
    test_fake_quant();
    test_search();
    test_clip();
    TEST_END();
}
