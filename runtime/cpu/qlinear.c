/* Quantized linear rows (runtime/cpu/qlinear.h): activation preparation, the scalar
 * reference GEMV, dequantization of row tiles for the prefill sgemm, and the dispatch
 * between them. The SIMD GEMVs are runtime/cpu/qgemv_avx2.c and qgemv_avx512.c. */
#include "runtime/cpu/qlinear.h"

#include <cblas.h>

#include "runtime/cpu/kernels.h"
#include "runtime/cpu/linear.h"

/* Rows per dequantized tile: like the F16 prefill path, a multiple of 16 in [16, 256]. */
static int64_t qf_qlinear_tile(int64_t in) {
    int64_t rows = QF_CPU_LINEAR_TILE_FLOATS / in / 16 * 16;
    return rows < 16 ? 16 : rows > QF_CPU_LINEAR_TILE_MAX ? QF_CPU_LINEAR_TILE_MAX : rows;
}

int64_t qf_cpu_qlinear_scratch(const qf_cpu_qlinear *l) {
    const int64_t gemv = l->kp + l->n_groups; /* xp, xs */
    const int64_t tile = qf_qlinear_tile(l->in) * l->in;
    return gemv > tile ? gemv : tile;
}

void qf_cpu_qlinear_prep(const qf_cpu_qlinear *l, const float *x, float *xp, float *xs) {
    for (int64_t c = 0; c < l->kp; c++)
        xp[c] = !l->src ? x[c] : l->src[c] >= 0 ? x[l->src[c]] : 0.0f;
    for (int64_t g = 0; g < l->n_groups; g++) {
        float s = 0.0f;
        for (int64_t c = l->gstart[g]; c < l->gstart[g + 1]; c++) s += xp[c];
        xs[g] = s;
    }
}

void qf_cpu_qgemv_ref(const qf_cpu_qlinear *l, const float *xp, const float *xs, float *y,
                      int64_t r0, int64_t r1) {
    const int64_t G = l->n_groups;
    for (int64_t o = r0; o < r1; o++) {
        float acc = 0.0f;
        for (int64_t g = 0; g < G; g++) {
            float d = 0.0f;
            for (int64_t c = l->gstart[g]; c < l->gstart[g + 1]; c++)
                d += (float)qf_cpu_qlinear_code(l, o, c) * xp[c];
            const int64_t k = qf_cpu_qlinear_sz(l, o, g);
            acc += l->scales[k] * (d - (float)l->zeros[k] * xs[g]);
        }
        y[o] = acc;
    }
}

void qf_cpu_qgemv_at(int level, const qf_cpu_qlinear *l, const float *xp, const float *xs,
                     float *y, int64_t r0, int64_t r1) {
    switch (level) {
    case 2: qf_cpu_qgemv_avx512(l, xp, xs, y, r0, r1); break;
    case 1: qf_cpu_qgemv_avx2(l, xp, xs, y, r0, r1); break;
    default: qf_cpu_qgemv_ref(l, xp, xs, y, r0, r1); break;
    }
}

void qf_cpu_qgemv(const qf_cpu_qlinear *l, const float *xp, const float *xs, float *y,
                  int64_t r0, int64_t r1) {
    qf_cpu_qgemv_at(qf_cpu_simd_level(), l, xp, xs, y, r0, r1);
}

/* The 16 x 32 codes of block `blk` of tile t (one loop nest per width, which the compiler
 * vectorises). */
static void qf_qlinear_tile_block(const qf_cpu_qlinear *l, int64_t t, int64_t blk,
                                  uint8_t q[QF_CPU_QTILE][QF_CPU_QBLOCK]) {
    const uint8_t *b = l->codes + (size_t)t * l->tile_bytes + (size_t)blk * (size_t)(l->bits * 64);
    switch (l->bits) {
    case 8:
        for (int r = 0; r < QF_CPU_QTILE; r++)
            for (int j = 0; j < QF_CPU_QBLOCK; j++) q[r][j] = b[j * 16 + r];
        break;
    case 4:
        for (int r = 0; r < QF_CPU_QTILE; r++)
            for (int j = 0; j < 16; j++) {
                q[r][j] = (uint8_t)(b[j * 16 + r] & 15);
                q[r][j + 16] = (uint8_t)(b[j * 16 + r] >> 4);
            }
        break;
    case 2:
        for (int r = 0; r < QF_CPU_QTILE; r++)
            for (int j = 0; j < 8; j++)
                for (int k = 0; k < 4; k++) q[r][j + 8 * k] = (uint8_t)((b[j * 16 + r] >> (2 * k)) & 3);
        break;
    default:
        for (int r = 0; r < QF_CPU_QTILE; r++)
            for (int j = 0; j < QF_CPU_QBLOCK; j++)
                q[r][j] = (uint8_t)(((b[(j & 7) * 16 + r] >> (2 * (j >> 3))) & 3) |
                                    (((b[128 + r * 4 + (j >> 3)] >> (j & 7)) & 1) << 2));
        break;
    }
}

void qf_cpu_qlinear_dequant_rows(const qf_cpu_qlinear *l, int64_t r0, int64_t r1, float *dst) {
    const int64_t G = l->n_groups, in = l->in;
    for (int64_t t = r0 / QF_CPU_QTILE; t * QF_CPU_QTILE < r1; t++) {
        const int64_t o0 = t * QF_CPU_QTILE > r0 ? t * QF_CPU_QTILE : r0;
        const int64_t o1 = (t + 1) * QF_CPU_QTILE < r1 ? (t + 1) * QF_CPU_QTILE : r1;
        for (int64_t g = 0; g < G; g++)
            for (int64_t c = l->gstart[g]; c < l->gstart[g + 1]; c += QF_CPU_QBLOCK) {
                uint8_t q[QF_CPU_QTILE][QF_CPU_QBLOCK];
                qf_qlinear_tile_block(l, t, c / QF_CPU_QBLOCK, q);
                for (int64_t o = o0; o < o1; o++) {
                    const int64_t k = qf_cpu_qlinear_sz(l, o, g);
                    const float s = l->scales[k];
                    const int z = l->zeros[k];
                    const uint8_t *qr = q[o % QF_CPU_QTILE];
                    float *d = dst + (o - r0) * in;
                    if (!l->src) { /* identity layout: kp == in */
                        for (int j = 0; j < QF_CPU_QBLOCK; j++) d[c + j] = s * (float)((int)qr[j] - z);
                        continue;
                    }
                    for (int j = 0; j < QF_CPU_QBLOCK; j++) {
                        const int64_t i = l->src[c + j];
                        if (i >= 0) d[i] = s * (float)((int)qr[j] - z);
                    }
                }
            }
    }
}

void qf_cpu_qlinear_rows(const qf_cpu_qlinear *l, const float *x, int64_t m, float *y,
                         int64_t r0, int64_t r1, float *scratch) {
    if (r0 >= r1) return;
    const int64_t in = l->in, out = l->out;
    if (m <= QF_CPU_QLINEAR_GEMV_M) {
        float *xp = scratch, *xs = scratch + l->kp;
        for (int64_t t = 0; t < m; t++) {
            qf_cpu_qlinear_prep(l, x + t * in, xp, xs);
            qf_cpu_qgemv(l, xp, xs, y + t * out, r0, r1);
        }
        return;
    }
    const int64_t tile = qf_qlinear_tile(in);
    for (int64_t t0 = r0; t0 < r1; t0 += tile) {
        const int64_t nt = r1 - t0 < tile ? r1 - t0 : tile;
        qf_cpu_qlinear_dequant_rows(l, t0, t0 + nt, scratch);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nt, (int)in, 1.0f, x,
                    (int)in, scratch, (int)in, 0.0f, y + t0, (int)out);
    }
}
