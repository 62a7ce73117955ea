/* Shared by test_cuda_attention_ref.c (CPU) and test_cuda_attention.c (GPU): random
 * attention inputs and the tolerances the CUDA attention is held to.
 *
 * Tolerance of an fp32 kernel against the double reference on the same cache values
 * (ca_tol32), per output row (token, head) with n visible keys, u = 2^-24:
 *  - scores: a dot product of D fp32 FMAs plus the query's scaling by scale * log2(e) (its
 *    own rounding and the product's) and, for int8, the key scale: off by at most
 *    (D + 4) u A in natural-log units, A = scale * sum_e |q_e| * max|k| (>= scale *
 *    sum_e |q_e k_je| for every key j);
 *  - the weights 2^(s - max): the subtraction (<= u 2A), exp2f (<= 2 ulp = 4u), and per
 *    tile / key range a rescale factor of the same kind plus its product (one tile per 64
 *    keys + 2 partial ones, each range of a split decode once more): each weight is off
 *    by a factor e^+-delta, delta <= (D + 8 + 2 tiles + 2 splits) u A + (8 + 6 tiles + 6
 *    splits) u (int8: the value scale folded into the weight is in the +8);
 *  - output = sum_j w_j v_j / sum_j w_j: weights off by factors e^+-delta move it by
 *    <= 2 rho / (1 - rho) max|v|, rho = e^delta - 1 (ca_shift); the sums are recursive
 *    fp32 sums of n terms plus one rescale per tile / range and the final division:
 *    <= (2 n + 4 tiles + 4 splits + 8) u max|v| (numerator and denominator).
 * A worst case, far above the typical error (the tests print the worst ratio). A missing
 * or extra key moves an output by ~|v_j - out| / n, far over it for n up to a few hundred;
 * at 4k keys the split decode's boundary errors (a tile = 64 keys) still are.
 * ca_tol16 / ca_tol8 (CPU test): the fp16 / int8 cache against fp32 keys and values, the
 * same reasoning with the storage error instead of fp32's: fp16 rounds to nearest, <=
 * 2^-11 |x| (normal) + 2^-25 (subnormal); int8 <= 0.501 scale = 0.501 max|x| / 127 (half
 * a code, plus the division's rounding). */
#ifndef QF_TEST_CUDA_ATTENTION_UTIL_H
#define QF_TEST_CUDA_ATTENTION_UTIL_H

#include <math.h>
#include <stdint.h>

#include "tests/test_random.h"

/* n floats uniform in [-amp, amp) */
static inline void ca_fill(float *x, int64_t n, float amp) {
    for (int64_t i = 0; i < n; i++) x[i] = amp * qf_test_frand();
}

/* scale * sum_e |q_e|: times max|k| it bounds every |score| of the row. */
static inline double ca_qnorm(const float *q, int64_t d, double scale) {
    double s = 0.0;
    for (int64_t e = 0; e < d; e++) s += fabs(q[e]);
    return s * scale;
}

/* How far weights off by factors e^+-delta move a weighted mean of values within
 * +-vmax: each weight by a factor 1 + r, |r| <= rho = e^delta - 1, moves it by
 * sum_j w_j r_j (v_j - out') / sum_j w_j (1 + r_j) <= 2 rho / (1 - rho) vmax. */
static inline double ca_shift(double delta, double vmax) {
    const double rho = expm1(delta);
    return 2.0 * rho / (1.0 - rho) * vmax;
}

static inline double ca_tol32(int64_t d, int64_t n_keys, int64_t splits, double a, double vmax) {
    const double u = ldexp(1.0, -24), tiles = (double)n_keys / 64.0 + 2.0;
    const double delta = ((double)d + 8.0 + 2.0 * tiles + 2.0 * (double)splits) * u * a +
                         (8.0 + 6.0 * tiles + 6.0 * (double)splits) * u;
    return ca_shift(delta, vmax) +
           (2.0 * (double)n_keys + 4.0 * tiles + 4.0 * (double)splits + 8.0) * u * vmax;
}

/* fp16 cache vs fp32 keys and values (a = scale sum|q| max|k|, qn = scale sum|q|). */
static inline double ca_tol16(double a, double qn, double vmax) {
    const double delta = ldexp(1.0, -11) * a + ldexp(1.0, -25) * qn;
    return ca_shift(delta, vmax) + ldexp(1.0, -11) * vmax + ldexp(1.0, -25);
}

/* int8 cache vs fp32 keys and values. */
static inline double ca_tol8(double a, double vmax) {
    return ca_shift(0.501 / 127.0 * a, vmax) + 0.501 / 127.0 * vmax;
}

#endif
