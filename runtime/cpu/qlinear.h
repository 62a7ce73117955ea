/* Quantized linear weights in the CPU runtime's layout (W2/W3/W4/W8 with F32 activations,
 * "WnA16" semantics): a qf_qweight repacked once at load time so that decode streams the
 * packed codes and dequantizes them on the fly.
 *
 * Layout. The input columns are reordered so that every group is one contiguous run
 * (act-order g_idx: columns sorted by group, stable; otherwise the identity), and each
 * group's run is padded with zero codes to a multiple of QF_CPU_QBLOCK = 32 columns; the
 * activation vector is gathered into that order once per token (xp, padding = 0).
 * The rows are stored in tiles of QF_CPU_QTILE = 16 (the last tile padded with zero rows,
 * scale 0); a tile is a sequence of 32-column blocks of 16 * 32 codes, bits * 64 bytes,
 * arranged so that 16 consecutive bytes hold one column slot of the 16 rows (byte r =
 * row r), which SIMD code widens into one 16-lane vector:
 *   8 bits: slot j < 32 = column j;
 *   4 bits: slot j < 16 = column j | column j+16 << 4;
 *   2 bits: slot j < 8  = column j | j+8 << 2 | j+16 << 4 | j+24 << 6;
 *   3 bits: the low two bits as the 2-bit block (128 bytes), then 16 little-endian 32-bit
 *           words, one per row, whose bit j is bit 2 of column j's code (3/8 byte a
 *           weight).
 * Scales (F32) and zero points (bytes) are stored per (tile, group, row of the tile):
 * w = s * (q - z) exactly as qf_qweight_dequant_ref. Decode computes one tile's 16 rows
 * per vector: y[o] = sum_g s[o,g] * (sum_{i in g} q[o,i] xp[i] - z[o,g] * xs[g]) with the
 * group sums xs of the activations computed once per token; no horizontal sums. */
#ifndef QF_CPU_QLINEAR_H
#define QF_CPU_QLINEAR_H

#include <stddef.h>
#include <stdint.h>

#include "core/qweight.h"
#include "core/status.h"

#define QF_CPU_QBLOCK 32
#define QF_CPU_QTILE 16

typedef struct qf_cpu_qlinear {
    int bits;
    int64_t out, in, n_groups;
    int64_t kp;         /* padded columns per row, a multiple of QF_CPU_QBLOCK */
    int64_t n_tiles;    /* ceil(out / QF_CPU_QTILE) */
    size_t tile_bytes;  /* kp / 32 * bits * 64: the codes of one tile */
    int64_t *gstart;    /* (n_groups + 1) first padded column of each group */
    int32_t *src;       /* (kp) input column of each padded column, -1 for padding; NULL
                           when the layout is the identity (kp == in, groups in order) */
    uint8_t *codes;     /* (n_tiles, tile_bytes) */
    float *scales;      /* (n_tiles, n_groups, QF_CPU_QTILE) */
    uint8_t *zeros;     /* (n_tiles, n_groups, QF_CPU_QTILE) */
} qf_cpu_qlinear;

/* Repacks w (validated here) into l; w is left untouched (the caller frees it). */
qf_status qf_cpu_qlinear_init(qf_cpu_qlinear *l, const qf_qweight *w, const char *what);
void qf_cpu_qlinear_free(qf_cpu_qlinear *l);
/* Bytes held by l (codes, scales, zeros, layout tables). */
size_t qf_cpu_qlinear_bytes(const qf_cpu_qlinear *l);

/* Code of padded column c of row o (scalar; the reference of every unpacking). */
int qf_cpu_qlinear_code(const qf_cpu_qlinear *l, int64_t o, int64_t c);
/* Index of row o, group g in scales / zeros. */
static inline int64_t qf_cpu_qlinear_sz(const qf_cpu_qlinear *l, int64_t o, int64_t g) {
    return ((o / QF_CPU_QTILE) * l->n_groups + g) * QF_CPU_QTILE + o % QF_CPU_QTILE;
}

/* Floats of per-thread scratch qf_cpu_qlinear_rows needs (any m). */
int64_t qf_cpu_qlinear_scratch(const qf_cpu_qlinear *l);

/* Per-token activation preparation: xp (kp) = x gathered into the padded column order,
 * xs (n_groups) = sum of x over each group. */
void qf_cpu_qlinear_prep(const qf_cpu_qlinear *l, const float *x, float *xp, float *xs);

/* y[r] = row r of W times x for r in [r0, r1) (y is the whole (out) vector), from
 * prepared xp / xs. _ref is the scalar ground truth; _at picks a SIMD level
 * (qf_cpu_simd_level numbering, at most the CPU's own); unsuffixed: the best one. */
void qf_cpu_qgemv_ref(const qf_cpu_qlinear *l, const float *xp, const float *xs, float *y,
                      int64_t r0, int64_t r1);
void qf_cpu_qgemv_avx2(const qf_cpu_qlinear *l, const float *xp, const float *xs, float *y,
                       int64_t r0, int64_t r1);
void qf_cpu_qgemv_avx512(const qf_cpu_qlinear *l, const float *xp, const float *xs, float *y,
                         int64_t r0, int64_t r1);
void qf_cpu_qgemv_at(int level, const qf_cpu_qlinear *l, const float *xp, const float *xs,
                     float *y, int64_t r0, int64_t r1);
void qf_cpu_qgemv(const qf_cpu_qlinear *l, const float *xp, const float *xs, float *y,
                  int64_t r0, int64_t r1);

/* dst (r1 - r0, in) = rows r0..r1-1 dequantized in the original column order (the same
 * floats as qf_qweight_dequant_ref), for the prefill sgemm. */
void qf_cpu_qlinear_dequant_rows(const qf_cpu_qlinear *l, int64_t r0, int64_t r1, float *dst);

/* y[:, r0..r1) = x (m, in) W[r0..r1)^T (no bias; y is (m, out)): GEMV per token for
 * m <= QF_CPU_QLINEAR_GEMV_M, else tiles of dequantized rows + single-threaded sgemm
 * (OpenBLAS held to one thread by the caller). scratch: qf_cpu_qlinear_scratch floats. */
#define QF_CPU_QLINEAR_GEMV_M 2
void qf_cpu_qlinear_rows(const qf_cpu_qlinear *l, const float *x, int64_t m, float *y,
                         int64_t r0, int64_t r1, float *scratch);

#endif
