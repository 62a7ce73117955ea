/* Linear layers of the CPU forward pass: per-thread shares of the output rows, GEMV for
 * one token (F16 SIMD kernel, or sgemv for F32 weights), single-threaded OpenBLAS sgemm
 * for a batch (F16 weights converted to F32 a tile of rows at a time); quantized weights
 * go to runtime/cpu/qlinear.c, W8A8 ones to runtime/cpu/i8linear.c. */
#include "runtime/cpu/linear.h"

#include <cblas.h>

#include "runtime/cpu/kernels.h"

/* Rows per F16 -> F32 tile for an input width `in`: a multiple of 16. */
static int64_t qf_cpu_linear_tile(int64_t in) {
    int64_t rows = QF_CPU_LINEAR_TILE_FLOATS / in / 16 * 16;
    return rows < 16 ? 16 : rows > QF_CPU_LINEAR_TILE_MAX ? QF_CPU_LINEAR_TILE_MAX : rows;
}

int64_t qf_cpu_linear_scratch(int64_t in) {
    /* tile * in <= QF_CPU_LINEAR_TILE_FLOATS unless the tile is 16 rows */
    return 16 * in > QF_CPU_LINEAR_TILE_FLOATS ? 16 * in : QF_CPU_LINEAR_TILE_FLOATS;
}

void qf_cpu_share(int64_t units, int ith, int nth, int64_t *u0, int64_t *u1) {
    *u0 = units * ith / nth;
    *u1 = units * (ith + 1) / nth;
}

void qf_cpu_share_rows(int64_t rows, int ith, int nth, int64_t *r0, int64_t *r1) {
    int64_t g0, g1;
    qf_cpu_share((rows + 15) / 16, ith, nth, &g0, &g1);
    *r0 = g0 * 16 < rows ? g0 * 16 : rows;
    *r1 = g1 * 16 < rows ? g1 * 16 : rows;
}

void qf_cpu_linear_forward(const qf_cpu_linear *l, const float *x, int64_t m, float *y,
                           int ith, int nth, float *scratch) {
    int64_t r0, r1;
    qf_cpu_share_rows(l->out, ith, nth, &r0, &r1);
    qf_cpu_linear_rows(l, x, m, y, r0, r1, scratch);
}

void qf_cpu_linear_rows(const qf_cpu_linear *l, const float *x, int64_t m, float *y,
                        int64_t r0, int64_t r1, float *scratch) {
    if (r0 >= r1) return;
    const int64_t in = l->in, out = l->out;
    if (l->qw) {
        qf_cpu_qlinear_rows(l->qw, x, m, y, r0, r1, scratch);
    } else if (l->i8) {
        qf_cpu_i8linear_rows(l->i8, x, m, y, r0, r1, scratch);
    } else if (l->dtype == QF_DTYPE_F16) {
        const uint16_t *w = l->w;
        if (m == 1) {
            qf_cpu_gemv_f16(w + r0 * in, x, y + r0, r1 - r0, in);
        } else {
            const int64_t tile = qf_cpu_linear_tile(in);
            for (int64_t t0 = r0; t0 < r1; t0 += tile) {
                const int64_t nt = r1 - t0 < tile ? r1 - t0 : tile;
                qf_cpu_f16_to_f32(w + t0 * in, scratch, nt * in);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nt, (int)in,
                            1.0f, x, (int)in, scratch, (int)in, 0.0f, y + t0, (int)out);
            }
        }
    } else {
        const float *w = l->w;
        if (m == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)(r1 - r0), (int)in, 1.0f, w + r0 * in,
                        (int)in, x, 1, 0.0f, y + r0, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)(r1 - r0),
                        (int)in, 1.0f, x, (int)in, w + r0 * in, (int)in, 0.0f, y + r0,
                        (int)out);
    }
    if (l->bias)
        for (int64_t t = 0; t < m; t++)
            for (int64_t r = r0; r < r1; r++) y[t * out + r] += l->bias[r];
}
