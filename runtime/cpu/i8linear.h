/* W8A8 linear layers on the CPU (SmoothQuant's scheme, compressed-tensors
 * "int-quantized"): int8 weights with one F32 scale per output row, activations
 * quantized symmetrically at run time, q = clamp(round_half_even(x / scale), -128, 127),
 * with scale = max|x| / 127.5 per token (dynamic) or one calibrated scale per linear
 * (static per-tensor), as compressed-tensors does; and
 * y[o] = float(sum_i qx[i] qw[o, i]) * (x_scale * w_scale[o]) with exact int32 sums:
 * a real integer path, not dequantize-to-float. Rows are stored padded with zeros to a
 * multiple of QF_CPU_I8_BLOCK columns. Kernels: scalar _ref, AVX2 (int8 -> int16,
 * madd to int32) and AVX-512 VNNI (vpdpbusd on x + 128, minus 128 x the row sums),
 * dispatched at run time; all give the same bits. */
#ifndef QF_CPU_I8LINEAR_H
#define QF_CPU_I8LINEAR_H

#include <stdint.h>

#include "core/quant.h"
#include "core/status.h"

#define QF_CPU_I8_BLOCK 64

typedef struct qf_cpu_i8linear {
    int64_t out, in, kp; /* kp: in rounded up to QF_CPU_I8_BLOCK */
    int8_t *w;           /* (out, kp) */
    float *scale;        /* (out) */
    int32_t *wsum;       /* (out) sum of each row's codes (VNNI offset correction) */
    float in_scale;      /* > 0: static per-tensor activation scale; 0: per token */
} qf_cpu_i8linear;

/* Copies w (out, in) int8 and scale (out) into l; in_scale: static activation scale
 * (> 0, finite) or 0 for per-token dynamic activations. */
qf_status qf_cpu_i8linear_init(qf_cpu_i8linear *l, const int8_t *w, const float *scale,
                               float in_scale, int64_t out, int64_t in);
void qf_cpu_i8linear_free(qf_cpu_i8linear *l);

/* The code of v on the grid of scale (> 0). */
static inline int8_t qf_cpu_i8_code(float v, float scale) {
    float r = qf_round_even(v / scale);
    r = r > 127.0f ? 127.0f : r;
    return (int8_t)(r >= -128.0f ? r : -128.0f); /* NaN: -128, never an undefined cast */
}
/* The per-token dynamic scale of x (in): max|x| / 127.5. */
float qf_cpu_i8_token_scale(const float *x, int64_t in);
/* q (kp, padding 0) of x (in) on the grid of scale (0: all codes 0). */
void qf_cpu_i8_quantize(const float *x, int64_t in, int64_t kp, float scale, int8_t *q);

/* y[o] for o in [r0, r1) from a quantized token (q, xs). */
void qf_cpu_i8_rows_ref(const qf_cpu_i8linear *l, const int8_t *q, float xs, float *y,
                        int64_t r0, int64_t r1);
void qf_cpu_i8_rows_avx2(const qf_cpu_i8linear *l, const int8_t *q, float xs, float *y,
                         int64_t r0, int64_t r1);
void qf_cpu_i8_rows_avx512vnni(const qf_cpu_i8linear *l, const int8_t *q, float xs, float *y,
                               int64_t r0, int64_t r1);
/* 2 = AVX-512 VNNI, 1 = AVX2, 0 = reference (what qf_cpu_i8_rows uses here). */
int qf_cpu_i8_level(void);
void qf_cpu_i8_rows(const qf_cpu_i8linear *l, const int8_t *q, float xs, float *y, int64_t r0,
                    int64_t r1);

/* Bytes of per-thread scratch for qf_cpu_i8linear_forward_rows. */
int64_t qf_cpu_i8linear_scratch_bytes(const qf_cpu_i8linear *l);
/* y[:, r0..r1) for m tokens x (m, in); scratch: qf_cpu_i8linear_scratch_bytes. */
void qf_cpu_i8linear_rows(const qf_cpu_i8linear *l, const float *x, int64_t m, float *y,
                          int64_t r0, int64_t r1, void *scratch);

#endif
