/* Shared by the calibration-layer, fold and attention tests (test_layer_gemms.c,
 * test_cuda_qlayer.c, test_cuda_awq.c, test_layer_fold.c, test_cuda_attention_util.h):
 * a xorshift generator, buffers of uniform floats, and the closeness
 * check they state their tolerances in. */
#ifndef QF_TEST_RANDOM_H
#define QF_TEST_RANDOM_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "tests/test.h"

static uint64_t qf_test_rng = 0x9E3779B97F4A7C15ull;

/* uniform in [-1, 1) */
static inline float qf_test_frand(void) {
    qf_test_rng ^= qf_test_rng << 13;
    qf_test_rng ^= qf_test_rng >> 7;
    qf_test_rng ^= qf_test_rng << 17;
    return (float)((qf_test_rng >> 40) * (1.0 / (1 << 23)) - 1.0);
}

/* n floats base + amp * uniform[-1, 1) (malloc'ed). */
static inline float *qf_test_rnd(int64_t n, float amp, float base) {
    float *p = malloc((size_t)n * sizeof *p);
    for (int64_t i = 0; p && i < n; i++) p[i] = base + amp * qf_test_frand();
    return p;
}

/* Checks max |a - b| <= tol * max |b| over n values. */
static inline void qf_test_close(const char *what, const float *a, const float *b, int64_t n,
                                 double tol) {
    double diff = 0.0, mag = 0.0;
    for (int64_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)a[i] - (double)b[i]));
        mag = fmax(mag, fabs((double)b[i]));
    }
    CHECK_MSG(diff <= tol * mag, "%s: max |got - want| %.3g, %.3g of max |want| %.3g (tol %.1g)",
              what, diff, diff / mag, mag, tol);
}

#endif
