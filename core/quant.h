/* Round-to-nearest (RTN) quantization on a uniform integer grid: the per-group scale /
 * zero point search shared by RTN and GPTQ, and whole-matrix RTN into a qf_qweight.
 * Grid as in GPTQ's quant.py: asymmetric scale = (max - min) / maxq over the range
 * extended to include 0, zero = round(-min / scale); symmetric max = max(|min|, max),
 * zero = 2^(bits-1). A constant / all-zero group gets a safe, finite, non-zero scale.
 * Optional MSE search (GPTQ's `mse` option): shrink the range by factors
 * 1 - k / grid (k < maxshrink * grid) and keep the one with the least |w - q(w)|^norm. */
#ifndef QF_QUANT_H
#define QF_QUANT_H

#include <math.h>
#include <stdint.h>

#include "core/qweight.h"
#include "core/status.h"

typedef struct qf_quant_params {
    int bits;           /* 2, 3, 4 or 8 */
    int sym;            /* symmetric grid */
    int64_t group_size; /* <= 0: per-channel */
    int mse;            /* 1: MSE-optimal clipping grid search */
    int scale_f32;      /* 0 (default): scales rounded to fp16 before coding, as stored
                           by GPTQ / AWQ; 1: kept in f32 (formats with f32 scales) */
    int zero_min;       /* asymmetric: smallest zero point allowed (0 or 1). GPTQ v1
                           checkpoints store zero - 1, so they need 1: a group whose
                           rounded zero would be 0 (all weights >= about -scale/2) gets
                           zero 1 and scale max / (2^bits - 2), which still covers it */
} qf_quant_params;

/* Scale and zero point for each of `rows` rows over `cols` values: row r is
 * w[r * ld .. r * ld + cols). scale (rows), zero (rows). */
void qf_quant_find_params(const float *w, int64_t rows, int64_t cols, int64_t ld,
                          const qf_quant_params *p, float *scale, uint8_t *zero);

/* x rounded to the nearest integer, halves to even (torch.round), in the default
 * rounding mode: adding and subtracting 2^23 leaves no fraction bits. |x| >= 2^23 is
 * already an integer; NaN stays NaN. Portable (clang 14 lacks __builtin_roundevenf) and
 * no libm call in the quantizers' inner loops. */
static inline float qf_round_even(float x) {
    float a = fabsf(x);
    if (!(a < 0x1p23f)) return x;
    return copysignf((a + 0x1p23f) - 0x1p23f, x);
}

/* The code of x: clamp(round(x / scale) + zero, 0, 2^bits - 1) (round half to even, as
 * torch.round). */
static inline uint8_t qf_quant_code(float x, float scale, int zero, int maxq) {
    float r = qf_round_even(x / scale) + (float)zero;
    r = r < 0.0f ? 0.0f : (r > (float)maxq ? (float)maxq : r);
    return (uint8_t)r;
}

/* RTN of w (out, in) into dst (initialised here; free with qf_qweight_free). */
qf_status qf_quant_rtn(const float *w, int64_t out, int64_t in, const qf_quant_params *p,
                       qf_qweight *dst);
/* The first half of qf_quant_rtn: checks that w is finite and initialises dst. */
qf_status qf_quant_rtn_check(const float *w, int64_t out, int64_t in, const qf_quant_params *p,
                             qf_qweight *dst);
/* The second: rows [o0, o1) of the RTN into dst as qf_quant_rtn_check left it; row ranges
 * are independent, so threads may fill disjoint ones. */
void qf_quant_rtn_rows(const float *w, int64_t in, const qf_quant_params *p, qf_qweight *dst,
                       int64_t o0, int64_t o1);

#endif
