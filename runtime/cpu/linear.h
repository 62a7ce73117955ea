/* A linear layer held in memory for the CPU forward pass (F32, F16, packed quantized
 * or W8A8 int8 weights, optional F32 bias), and y = x W^T + b for m tokens over a range of output rows (callers give each
 * thread of a parallel region its share, then synchronise). */
#ifndef QF_CPU_LINEAR_H
#define QF_CPU_LINEAR_H

#include <stdint.h>

#include "core/dtype.h"
#include "runtime/cpu/i8linear.h"
#include "runtime/cpu/qlinear.h"

typedef struct qf_cpu_linear {
    qf_dtype dtype; /* QF_DTYPE_F32 or QF_DTYPE_F16 (of w; ignored when qw is set) */
    int64_t out, in;
    void *w;             /* (out, in) row-major, or NULL when qw is set */
    qf_cpu_qlinear *qw;  /* quantized weights (runtime/cpu/qlinear.h), or NULL */
    qf_cpu_i8linear *i8; /* W8A8 weights (runtime/cpu/i8linear.h), or NULL */
    float *bias;         /* (out) or NULL */
} qf_cpu_linear;

/* F16 weights are converted to F32 for the prefill GEMM a tile of rows at a time: up to
 * 256 rows (each sgemm call packs the activations again, so fewer calls are faster), at
 * most ~4 MiB of F32, at least 16 rows. */
#define QF_CPU_LINEAR_TILE_MAX 256
#define QF_CPU_LINEAR_TILE_FLOATS (1 << 20)

/* Floats of per-thread scratch qf_cpu_linear_forward needs for every input width up to
 * `in` (F32 / F16 / W8A8 weights; quantized ones need qf_cpu_qlinear_scratch). The F16
 * tile's size is not monotone in the width (4096 needs 256 rows = 2^20 floats, 11008 80
 * rows = 880,640), so this is the bound max(2^20, 16 in), not one width's tile. */
int64_t qf_cpu_linear_scratch(int64_t in);

/* y[:, r0..r1) = x (m, in) W[r0..r1)^T + bias; y is (m, out). m == 1 uses the GEMV
 * kernels, m > 1 single-threaded sgemm calls (OpenBLAS must be limited to one thread by
 * the caller). scratch: qf_cpu_linear_scratch floats. */
void qf_cpu_linear_rows(const qf_cpu_linear *l, const float *x, int64_t m, float *y,
                        int64_t r0, int64_t r1, float *scratch);

/* The share [*u0, *u1) of thread ith of nth in `units` equal units of work. */
void qf_cpu_share(int64_t units, int ith, int nth, int64_t *u0, int64_t *u1);
/* The share [*r0, *r1) of thread ith of nth in `rows` rows, cut at multiples of 16 (empty
 * when there are fewer 16-row units than threads). */
void qf_cpu_share_rows(int64_t rows, int ith, int nth, int64_t *r0, int64_t *r1);

/* Thread ith's share of all output rows, in whole groups of 16 rows. */
void qf_cpu_linear_forward(const qf_cpu_linear *l, const float *x, int64_t m, float *y,
                           int ith, int nth, float *scratch);

#endif
