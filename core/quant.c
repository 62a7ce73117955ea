/* Round-to-nearest quantization: the per-row grid search of GPTQ's quant.py
 * (find_params, with its optional MSE shrink search) and whole-matrix RTN. */
#include "core/quant.h"

#include <float.h>
#include <math.h>
#include <stdint.h>

#include "core/dtype.h"

/* quant.py's MSE search constants */
#define QUANT_MSE_NORM 2.4f
#define QUANT_MSE_GRID 100
#define QUANT_MSE_MAXSHRINK 0.8f

#define QUANT_FP16_MIN 5.9604645e-8f /* smallest positive fp16 (subnormal 2^-24) */
#define QUANT_FP16_MAX 65504.0f

/* The scale as stored: fp16-rounded unless scale_f32; always finite and > 0. */
static float quant_safe_scale(float s, int scale_f32) {
    if (isnan(s)) s = 1.0f;
    if (scale_f32) return s < FLT_MIN ? FLT_MIN : (s > FLT_MAX ? FLT_MAX : s);
    s = s < QUANT_FP16_MIN ? QUANT_FP16_MIN : (s > QUANT_FP16_MAX ? QUANT_FP16_MAX : s);
    return qf_fp16_to_fp32(qf_fp32_to_fp16(s));
}

/* sum |x - dequant(q(x))|^norm over one row, in order; given up (the partial sum
 * returned) once it is no longer below `bound`: a float sum of non-negative terms never
 * decreases, so such a candidate cannot win the caller's `err < best` and the search picks
 * what the full sums would (NaN / inf included) at a fraction of the powf calls. */
static float quant_row_error(const float *x, int64_t n, float scale, int zero, int maxq,
                             float bound) {
    float err = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        float d = scale * (float)((int)qf_quant_code(x[j], scale, zero, maxq) - zero) - x[j];
        err += powf(fabsf(d), QUANT_MSE_NORM);
        if ((j & 15) == 15 && !(err < bound)) return err;
    }
    return err;
}

/* zero_min: a zero point below it is raised to it, the scale widened so that the top of
 * the range, xmax = (maxq - z) * s, stays representable (the bottom, xmin > -s / 2 when
 * the zero rounded to 0, is then covered too) */
static void quant_lift_zero(const qf_quant_params *p, int maxq, float xmax, float *s, int *z) {
    if (p->sym || *z >= p->zero_min) return;
    *z = p->zero_min;
    *s = xmax / (float)(maxq - p->zero_min);
}

static void quant_row_params(const float *x, int64_t n, const qf_quant_params *p, float *scale,
                             uint8_t *zero) {
    int maxq = (1 << p->bits) - 1;
    float xmin = 0.0f, xmax = 0.0f; /* the range always includes 0 */
#pragma omp simd reduction(min : xmin) reduction(max : xmax)
    for (int64_t j = 0; j < n; j++) { /* ternaries, not fminf / fmaxf: the same result
                                         (NaN ignored) without a libm call per element */
        xmin = x[j] < xmin ? x[j] : xmin;
        xmax = x[j] > xmax ? x[j] : xmax;
    }
    if (p->sym) {
        xmax = fmaxf(-xmin, xmax);
        if (xmin < 0.0f) xmin = -xmax;
    }
    if (xmin == 0.0f && xmax == 0.0f) {
        xmin = -1.0f;
        xmax = 1.0f;
    }
    int sym_zero = (maxq + 1) / 2;
    float s = (xmax - xmin) / (float)maxq;
    int z = p->sym ? sym_zero : (int)qf_round_even(-xmin / s);
    quant_lift_zero(p, maxq, xmax, &s, &z);
    float best_s = quant_safe_scale(s, p->scale_f32);
    int best_z = z < 0 ? 0 : (z > maxq ? maxq : z);
    if (p->mse) {
        float best = INFINITY;
        int steps = (int)(QUANT_MSE_MAXSHRINK * QUANT_MSE_GRID);
        for (int k = 0; k < steps; k++) {
            float f = 1.0f - (float)k / (float)QUANT_MSE_GRID;
            float lo = f * xmin, hi = f * xmax;
            float s1 = (hi - lo) / (float)maxq;
            int z1 = p->sym ? sym_zero : (int)qf_round_even(-lo / s1);
            quant_lift_zero(p, maxq, hi, &s1, &z1);
            z1 = z1 < 0 ? 0 : (z1 > maxq ? maxq : z1);
            float s1q = quant_safe_scale(s1, p->scale_f32);
            float err = quant_row_error(x, n, s1q, z1, maxq, best);
            if (err < best) {
                best = err;
                best_s = s1q;
                best_z = z1;
            }
        }
    }
    *scale = best_s;
    *zero = (uint8_t)best_z;
}

void qf_quant_find_params(const float *w, int64_t rows, int64_t cols, int64_t ld,
                          const qf_quant_params *p, float *scale, uint8_t *zero) {
    for (int64_t r = 0; r < rows; r++)
        quant_row_params(w + (size_t)r * (size_t)ld, cols, p, &scale[r], &zero[r]);
}

void qf_quant_rtn_rows(const float *w, int64_t in, const qf_quant_params *p, qf_qweight *dst,
                       int64_t o0, int64_t o1) {
    const int maxq = (1 << p->bits) - 1;
    const int64_t g = dst->group_size, out = dst->out;
    for (int64_t gi = 0; gi < dst->n_groups && o0 < o1; gi++) {
        const int64_t c0 = gi * g, nc = in - c0 < g ? in - c0 : g;
        float *sc = dst->scales + (size_t)gi * (size_t)out; // (out)
        uint8_t *zp = dst->zeros + (size_t)gi * (size_t)out;
        qf_quant_find_params(w + (size_t)o0 * (size_t)in + (size_t)c0, o1 - o0, nc, in, p,
                             sc + o0, zp + o0);
        for (int64_t o = o0; o < o1; o++) {
            const float *row = w + (size_t)o * (size_t)in + (size_t)c0;
            uint8_t *q = dst->q + (size_t)o * (size_t)in + (size_t)c0;
            for (int64_t j = 0; j < nc; j++) q[j] = qf_quant_code(row[j], sc[o], zp[o], maxq);
        }
    }
}

qf_status qf_quant_rtn_check(const float *w, int64_t out, int64_t in, const qf_quant_params *p,
                             qf_qweight *dst) {
    QF_FORWARD(qf_qweight_init(dst, p->bits, p->sym, out, in, p->group_size, 0));
    size_t n = (size_t)out * (size_t)in;
    for (size_t k = 0; k < n; k++)
        if (!isfinite(w[k])) {
            qf_qweight_free(dst);
            return qf_error_set(QF_STATUS_INVALID_ARG,
                                "rtn: weight (%zu, %zu) = %g is not finite", k / (size_t)in,
                                k % (size_t)in, (double)w[k]);
        }
    return QF_STATUS_OK;
}

qf_status qf_quant_rtn(const float *w, int64_t out, int64_t in, const qf_quant_params *p,
                       qf_qweight *dst) {
    QF_FORWARD(qf_quant_rtn_check(w, out, in, p, dst));
    qf_quant_rtn_rows(w, in, p, dst, 0, out);
    return QF_STATUS_OK;
}
