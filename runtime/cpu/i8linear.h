/* W8A8 linear layers on the CPU (SmoothQuant's scheme, compressed-tensors
 * "int-quantized"): int8 weights with one F32 scale per output row, activations
 * quantized symmetrically at run time, q = clamp(round_half_even(x / scale), -128, 127),
 * with scale = max|x| / 127.5 per token (dynamic) or one calibrated scale per linear
 * (static per-tensor), as compressed-tensors does; and
 * y[o] = float(sum_i qx[i] qw[o, i]) * (x_scale * w_scale[o]) with exact int32 sums:
 * a real integer path, not dequantize-to-float.
 *
 * Weights are packed for the SIMD kernels: blocks of QF_CPU_I8_ROWS rows (zero rows past
 * `out`), each holding, for every 4 columns, its 16 rows' 4 codes (64 bytes), so one
 * vector load feeds 16 outputs and no kernel needs a horizontal sum; columns padded with
 * zeros to kp. Kernels compute up to QF_CPU_I8_TOKENS tokens against each loaded block
 * (a GEMM for prefill, a GEMV for decode): scalar _ref, AVX2 (codes widened to int16,
 * madd to int32) and AVX-512 VNNI (vpdpbusd on x + 128, minus 128 x the row sums),
 * dispatched at run time; all give the same bits, as do the activation quantizers. */
#ifndef QF_CPU_I8LINEAR_H
#define QF_CPU_I8LINEAR_H

#include <stdint.h>

#include "core/quant.h"
#include "core/status.h"

#define QF_CPU_I8_BLOCK 64 /* kp is a multiple */
#define QF_CPU_I8_ROWS 16  /* rows per packed block */
#define QF_CPU_I8_TOKENS 8 /* tokens per kernel call, at most */
/* The widest input: |sum_i q w| <= 2^14 kp must fit in int32. */
#define QF_CPU_I8_MAX_IN ((INT64_C(1) << 17) - QF_CPU_I8_BLOCK)

typedef struct qf_cpu_i8linear {
    int64_t out, in, kp; /* kp: in rounded up to QF_CPU_I8_BLOCK */
    int64_t op;          /* out rounded up to QF_CPU_I8_ROWS */
    int8_t *w;           /* packed (op / 16 blocks of 16 x kp codes) */
    float *scale;        /* (op), 0 past out */
    int32_t *wsum;       /* (op) sum of each row's codes (VNNI offset correction) */
    float in_scale;      /* > 0: static per-tensor activation scale; 0: per token */
} qf_cpu_i8linear;

/* Packs w (out, in) int8 and copies scale (out) into l; in_scale: static activation
 * scale (> 0, finite) or 0 for per-token dynamic activations. */
qf_status qf_cpu_i8linear_init(qf_cpu_i8linear *l, const int8_t *w, const float *scale,
                               float in_scale, int64_t out, int64_t in);
void qf_cpu_i8linear_free(qf_cpu_i8linear *l);

/* Offset of weight code (o, i) in l->w. */
static inline int64_t qf_cpu_i8_at(const qf_cpu_i8linear *l, int64_t o, int64_t i) {
    return o / QF_CPU_I8_ROWS * QF_CPU_I8_ROWS * l->kp + i / 4 * (4 * QF_CPU_I8_ROWS) +
           o % QF_CPU_I8_ROWS * 4 + i % 4;
}
/* The weights as rows: dst (out, kp), padding columns 0. */
void qf_cpu_i8linear_unpack(const qf_cpu_i8linear *l, int8_t *dst);

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

/* One token's codes q (kp) and scale: in_scale if > 0, else the token's own; returns
 * the scale. The SIMD versions give the definition's bits (qf_cpu_i8_token_scale, then
 * qf_cpu_i8_quantize). */
typedef float qf_cpu_i8_quantizer(const float *x, int64_t in, int64_t kp, float in_scale,
                                  int8_t *q);
qf_cpu_i8_quantizer qf_cpu_i8_quantize_ref, qf_cpu_i8_quantize_avx2, qf_cpu_i8_quantize_avx512;

/* y[t * ldy + o] for tokens t < nt (1 .. QF_CPU_I8_TOKENS), codes q (nt, kp) with scales
 * xs (nt), and rows o in [r0, r1); other entries of y untouched. */
typedef void qf_cpu_i8_kernel(const qf_cpu_i8linear *l, const int8_t *q, const float *xs,
                              int nt, float *y, int64_t ldy, int64_t r0, int64_t r1);
qf_cpu_i8_kernel qf_cpu_i8_rows_ref, qf_cpu_i8_rows_avx2, qf_cpu_i8_rows_avx512vnni;
/* 2 = AVX-512 VNNI, 1 = AVX2, 0 = reference (what qf_cpu_i8linear_rows uses here). */
int qf_cpu_i8_level(void);
/* The quantizer of that level (what qf_cpu_i8linear_rows uses here). */
qf_cpu_i8_quantizer *qf_cpu_i8_quantizer_best(void);

/* Bytes of per-thread scratch for qf_cpu_i8linear_rows. */
int64_t qf_cpu_i8linear_scratch_bytes(const qf_cpu_i8linear *l);
/* y[:, r0..r1) for m tokens x (m, in); scratch: qf_cpu_i8linear_scratch_bytes. */
void qf_cpu_i8linear_rows(const qf_cpu_i8linear *l, const float *x, int64_t m, float *y,
                          int64_t r0, int64_t r1, void *scratch);

#endif
