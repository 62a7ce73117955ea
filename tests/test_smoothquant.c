/* Tests for smoothquant/: the smoothing factors against llm-compressor 0.14's
 * SmoothQuantModifier (tests/fixtures/smoothquant/, made by
 * tests/fixtures/scripts/make_smoothquant_fixtures.py: its activation input is 2 max|x|,
 * so its factors are 2^(2 alpha - 1) times ours, zero-weight channels 2 max|x| vs our
 * max|x|), and the running max |x| statistic. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "smoothquant/smoothquant.h"
#include "test.h"

#define FIX QF_FIXTURES_DIR "/smoothquant/"
#define IN 80

static float *load(const char *name, size_t n) {
    char path[512];
    snprintf(path, sizeof path, FIX "%s", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    float *b = malloc(n * sizeof *b);
    size_t got = b ? fread(b, sizeof *b, n, f) : 0;
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != n || extra) exit(2);
    return b;
}

static void test_reference(void) {
    float *w0 = load("w0.f32", 24 * IN), *w1 = load("w1.f32", 40 * IN);
    float *absmax = load("absmax.f32", IN), s[IN];
    const float *w[2] = {w0, w1};
    const int64_t out[2] = {24, 40};
    static const struct { float alpha; const char *file; } cases[] = {
        {0.0f, "scales_a000.f32"}, {0.5f, "scales_a050.f32"}, {0.8f, "scales_a080.f32"},
        {1.0f, "scales_a100.f32"}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        float *ref = load(cases[c].file, IN);
        CHECK_OK(qf_sq_scales(absmax, w, out, 2, IN, cases[c].alpha, s));
        const float k = powf(2.0f, 2.0f * cases[c].alpha - 1.0f);
        float worst = 0.0f;
        for (int j = 0; j < IN; j++) {
            float want = ref[j] / (j == 3 ? 2.0f : k); /* 3: zero weights */
            if (ref[j] == QF_SQ_MIN_SCALE) want = QF_SQ_MIN_SCALE; /* clamped on both sides */
            worst = fmaxf(worst, fabsf(s[j] - want) / want);
        }
        CHECK_MSG(worst < 2e-6f, "%s: max rel diff %g", cases[c].file, (double)worst);
        if (cases[c].alpha > 0.0f) CHECK(s[7] == QF_SQ_MIN_SCALE); /* dead channel */
        free(ref);
    }
    CHECK_FAILS(qf_sq_scales(absmax, w, out, 2, IN, 1.5f, s), QF_STATUS_INVALID_ARG, "alpha");
    free(w0), free(w1), free(absmax);
}

static void test_stat(void) {
    qf_sq_stat st;
    CHECK_OK(qf_sq_stat_init(&st, 3));
    const float a[6] = {1.0f, -4.0f, 0.5f, -2.0f, 3.0f, 0.0f}, b[3] = {0.1f, 0.2f, -7.0f};
    qf_sq_stat_add(&st, a, 2);
    qf_sq_stat_add(&st, b, 1);
    CHECK(st.absmax[0] == 2.0f && st.absmax[1] == 4.0f && st.absmax[2] == 7.0f);
    qf_sq_stat_free(&st);
}

int main(void) {
    test_reference();
    test_stat();
    TEST_END();
}
