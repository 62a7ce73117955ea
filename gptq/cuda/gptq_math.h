/* The scalar arithmetic of the GPU GPTQ, written once for the CUDA kernels (device) and
 * for the CPU test that checks it against core/quant.c (host): the per-row grid search
 * of quant_row_params (min/max, optional MSE shrink search, fp16 scale rounding, zero
 * lifting), the code of one weight and GPTQ's scaled error. Every operation rounds as
 * the CPU's C does (contraction off): on the device through __f*_rn intrinsics, which
 * nvcc never fuses into FMAs. Only powf (MSE search) differs between the two sides. */
#ifndef QF_GPTQ_CUDA_MATH_H
#define QF_GPTQ_CUDA_MATH_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define QF_GCU_FN __host__ __device__ static inline
#else
#define QF_GCU_FN static inline
#include "core/quant.h" /* qf_round_even */
#endif

#ifdef __CUDA_ARCH__
#define QF_GCU_ADD(a, b) __fadd_rn((a), (b))
#define QF_GCU_SUB(a, b) __fsub_rn((a), (b))
#define QF_GCU_MUL(a, b) __fmul_rn((a), (b))
#define QF_GCU_DIV(a, b) __fdiv_rn((a), (b))
#else
#define QF_GCU_ADD(a, b) ((a) + (b))
#define QF_GCU_SUB(a, b) ((a) - (b))
#define QF_GCU_MUL(a, b) ((a) * (b))
#define QF_GCU_DIV(a, b) ((a) / (b))
#endif
#ifdef __CUDACC__
#define QF_GCU_RINT(x) rintf(x) /* round half to even, exact */
#else
#define QF_GCU_RINT(x) qf_round_even(x)
#endif

/* quant.py's MSE search constants (core/quant.c) */
#define QF_GCU_MSE_NORM 2.4f
#define QF_GCU_MSE_GRID 100
#define QF_GCU_MSE_MAXSHRINK 0.8f
#define QF_GCU_FP16_MIN 5.9604645e-8f /* 2^-24 */
#define QF_GCU_FP16_MAX 65504.0f

/* The grid options the kernels need (from qf_quant_params). */
typedef struct qf_gcu_grid {
    int bits, sym, mse, scale_f32, zero_min;
} qf_gcu_grid;

/* s in [2^-24, 65504] rounded to the nearest fp16 value, ties to even (what
 * qf_fp16_to_fp32(qf_fp32_to_fp16(s)) gives there). */
QF_GCU_FN float qf_gcu_fp16_round(float s) {
    if (s < 0x1p-14f) return QF_GCU_MUL(QF_GCU_RINT(QF_GCU_MUL(s, 0x1p24f)), 0x1p-24f);
    uint32_t u;
    memcpy(&u, &s, 4);
    u = (u + 0xFFFu + ((u >> 13) & 1u)) & ~0x1FFFu; /* drop 13 of 23 mantissa bits, RNE */
    memcpy(&s, &u, 4);
    return s;
}

/* quant_safe_scale: finite, > 0, fp16-rounded unless scale_f32 */
QF_GCU_FN float qf_gcu_safe_scale(float s, int scale_f32) {
    if (s != s) s = 1.0f;
    if (scale_f32) return s < FLT_MIN ? FLT_MIN : (s > FLT_MAX ? FLT_MAX : s);
    s = s < QF_GCU_FP16_MIN ? QF_GCU_FP16_MIN : (s > QF_GCU_FP16_MAX ? QF_GCU_FP16_MAX : s);
    return qf_gcu_fp16_round(s);
}

/* qf_quant_code: clamp(round(x / scale) + zero, 0, maxq) */
QF_GCU_FN int qf_gcu_code(float x, float scale, int zero, int maxq) {
    float r = QF_GCU_ADD(QF_GCU_RINT(QF_GCU_DIV(x, scale)), (float)zero);
    r = r < 0.0f ? 0.0f : (r > (float)maxq ? (float)maxq : r);
    return (int)r;
}

/* GPTQ's scaled error of one column: (x - scale (q - zero)) * dinv */
QF_GCU_FN float qf_gcu_error(float x, float scale, int q, int zero, float dinv) {
    return QF_GCU_MUL(QF_GCU_SUB(x, QF_GCU_MUL(scale, (float)(q - zero))), dinv);
}

/* quant_lift_zero */
QF_GCU_FN void qf_gcu_lift_zero(const qf_gcu_grid *g, int maxq, float xmax, float *s, int *z) {
    if (g->sym || *z >= g->zero_min) return;
    *z = g->zero_min;
    *s = QF_GCU_DIV(xmax, (float)(maxq - g->zero_min));
}

/* quant_row_error: sum |scale (q - zero) - x|^2.4 in order */
QF_GCU_FN float qf_gcu_row_error(const float *x, int64_t n, float scale, int zero, int maxq) {
    float err = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        const int q = qf_gcu_code(x[j], scale, zero, maxq);
        float d = QF_GCU_SUB(QF_GCU_MUL(scale, (float)(q - zero)), x[j]);
        err = QF_GCU_ADD(err, powf(fabsf(d), QF_GCU_MSE_NORM));
    }
    return err;
}

/* quant_row_params: scale and zero of the n values x[0..n) */
QF_GCU_FN void qf_gcu_row_params(const float *x, int64_t n, const qf_gcu_grid *g, float *scale,
                                 int *zero) {
    const int maxq = (1 << g->bits) - 1, sym_zero = (maxq + 1) / 2;
    float xmin = 0.0f, xmax = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        xmin = x[j] < xmin ? x[j] : xmin;
        xmax = x[j] > xmax ? x[j] : xmax;
    }
    if (g->sym) {
        xmax = -xmin > xmax ? -xmin : xmax; /* fmaxf of two finite values */
        if (xmin < 0.0f) xmin = -xmax;
    }
    if (xmin == 0.0f && xmax == 0.0f) {
        xmin = -1.0f;
        xmax = 1.0f;
    }
    float s = QF_GCU_DIV(QF_GCU_SUB(xmax, xmin), (float)maxq);
    int z = g->sym ? sym_zero : (int)QF_GCU_RINT(QF_GCU_DIV(-xmin, s));
    qf_gcu_lift_zero(g, maxq, xmax, &s, &z);
    float best_s = qf_gcu_safe_scale(s, g->scale_f32);
    int best_z = z < 0 ? 0 : (z > maxq ? maxq : z);
    if (g->mse) {
        float best = INFINITY;
        const int steps = (int)(QF_GCU_MSE_MAXSHRINK * QF_GCU_MSE_GRID);
        for (int k = 0; k < steps; k++) {
            float f = QF_GCU_SUB(1.0f, QF_GCU_DIV((float)k, (float)QF_GCU_MSE_GRID));
            float lo = QF_GCU_MUL(f, xmin), hi = QF_GCU_MUL(f, xmax);
            float s1 = QF_GCU_DIV(QF_GCU_SUB(hi, lo), (float)maxq);
            int z1 = g->sym ? sym_zero : (int)QF_GCU_RINT(QF_GCU_DIV(-lo, s1));
            qf_gcu_lift_zero(g, maxq, hi, &s1, &z1);
            z1 = z1 < 0 ? 0 : (z1 > maxq ? maxq : z1);
            float s1q = qf_gcu_safe_scale(s1, g->scale_f32);
            float err = qf_gcu_row_error(x, n, s1q, z1, maxq);
            if (err < best) {
                best = err;
                best_s = s1q;
                best_z = z1;
            }
        }
    }
    *scale = best_s;
    *zero = best_z;
}

/* AWQ's fake quantization of one row's group of n weights (pipeline/cuda/awq_cuda.cu):
 * d = Q(src * s) / s with RTN on grid g (mse off; s NULL = ones), each step rounded as
 * awq/scales.c's qf_awq_fake_quant (scale, quant_row_params, code, qf_qweight's
 * dequantization s (q - z), unscale). d must not alias src. */
QF_GCU_FN void qf_gcu_fake_quant_group(const float *src, const float *s, int64_t n,
                                       const qf_gcu_grid *g, float *d) {
    for (int64_t j = 0; j < n; j++) d[j] = s ? QF_GCU_MUL(src[j], s[j]) : src[j];
    float scale;
    int zero;
    qf_gcu_row_params(d, n, g, &scale, &zero);
    const int maxq = (1 << g->bits) - 1;
    for (int64_t j = 0; j < n; j++) {
        const float v = QF_GCU_MUL(scale, (float)(qf_gcu_code(d[j], scale, zero, maxq) - zero));
        d[j] = s ? QF_GCU_DIV(v, s[j]) : v;
    }
}

#endif
