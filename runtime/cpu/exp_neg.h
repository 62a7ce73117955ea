/* e^x for the softmax's arguments (x <= 0), in plain C that the compiler vectorises in a
 * loop: shared by the runtime's attention (runtime/cpu/attention.c) and the calibration
 * pipeline's (pipeline/layer_forward.c). */
#ifndef QF_CPU_EXP_NEG_H
#define QF_CPU_EXP_NEG_H

#include <stdint.h>
#include <string.h>

/* e^x for x <= 0 (softmax arguments), vectorisable: x = n ln2 + r with |r| <= ln2/2 (ln2 in
 * two parts), e^r by its degree-6 Taylor polynomial (truncation < 1.3e-7 relative), 2^n
 * through the exponent bits. Arguments below -87 give e^-87 (~1.6e-38) instead of less;
 * weighed against the row maximum's e^0 = 1 that is nothing. */
static inline float qf_cpu_exp_neg(float x) {
    x = x < -87.0f ? -87.0f : x;
    const float n = __builtin_rintf(x * 1.44269504088896341f);
    const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
    const float p =
        1.0f + r * (1.0f + r * (0.5f + r * (1.66666667e-1f +
                                            r * (4.16666667e-2f +
                                                 r * (8.33333333e-3f + r * 1.38888889e-3f)))));
    const int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

#endif
