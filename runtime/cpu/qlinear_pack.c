/* Load-time repacking of a qf_qweight into the CPU runtime's quantized layout
 * (runtime/cpu/qlinear.h): group order of the columns, 32-column padded blocks, tiles of
 * 16 rows, codes at the weight's own bit width. */
#include <stdlib.h>
#include <string.h>

#include "runtime/cpu/qlinear.h"

/* Byte offset of column c of row o's 32-column block in the tile layout, and the slot
 * arithmetic of qlinear.h: the block of (tile, c / 32), then 16 bytes per slot. */
static size_t qf_qlinear_block_at(const qf_cpu_qlinear *l, int64_t o, int64_t c) {
    return (size_t)(o / QF_CPU_QTILE) * l->tile_bytes +
           (size_t)(c / QF_CPU_QBLOCK) * (size_t)(l->bits * 64);
}

/* Stores code q of padded column c of row o. */
static void qf_qlinear_put(qf_cpu_qlinear *l, int64_t o, int64_t c, int q) {
    uint8_t *b = l->codes + qf_qlinear_block_at(l, o, c);
    const int j = (int)(c % QF_CPU_QBLOCK), r = (int)(o % QF_CPU_QTILE);
    switch (l->bits) {
    case 8: b[j * 16 + r] = (uint8_t)q; break;
    case 4: b[(j & 15) * 16 + r] |= (uint8_t)(q << (4 * (j >> 4))); break;
    case 2: b[(j & 7) * 16 + r] |= (uint8_t)(q << (2 * (j >> 3))); break;
    default: /* 3 */
        b[(j & 7) * 16 + r] |= (uint8_t)((q & 3) << (2 * (j >> 3)));
        b[128 + r * 4 + (j >> 3)] |= (uint8_t)(((q >> 2) & 1) << (j & 7));
        break;
    }
}

int qf_cpu_qlinear_code(const qf_cpu_qlinear *l, int64_t o, int64_t c) {
    const uint8_t *b = l->codes + qf_qlinear_block_at(l, o, c);
    const int j = (int)(c % QF_CPU_QBLOCK), r = (int)(o % QF_CPU_QTILE);
    switch (l->bits) {
    case 8: return b[j * 16 + r];
    case 4: return (b[(j & 15) * 16 + r] >> (4 * (j >> 4))) & 15;
    case 2: return (b[(j & 7) * 16 + r] >> (2 * (j >> 3))) & 3;
    default:
        return ((b[(j & 7) * 16 + r] >> (2 * (j >> 3))) & 3) |
               (((b[128 + r * 4 + (j >> 3)] >> (j & 7)) & 1) << 2);
    }
}

/* gstart / src from the group of each column: a stable sort of the columns by group
 * (counting sort), each group padded to whole blocks. */
static qf_status qf_qlinear_layout(qf_cpu_qlinear *l, const qf_qweight *w, const char *what) {
    const int64_t in = w->in, G = w->n_groups;
    int64_t *count = calloc((size_t)G, sizeof *count);
    l->gstart = malloc((size_t)(G + 1) * sizeof *l->gstart);
    if (!count || !l->gstart) {
        free(count);
        return qf_error_set(QF_STATUS_NOMEM, "%s: out of memory for the quantized layout", what);
    }
    for (int64_t i = 0; i < in; i++) count[w->g_idx ? w->g_idx[i] : i / w->group_size]++;
    int identity = 1;
    l->gstart[0] = 0;
    for (int64_t g = 0; g < G; g++) {
        const int64_t padded = (count[g] + QF_CPU_QBLOCK - 1) / QF_CPU_QBLOCK * QF_CPU_QBLOCK;
        identity &= padded == count[g];
        l->gstart[g + 1] = l->gstart[g] + padded;
    }
    l->kp = l->gstart[G];
    if (w->g_idx)
        for (int64_t i = 1; i < in && identity; i++) identity = w->g_idx[i] >= w->g_idx[i - 1];
    if (identity) {
        free(count);
        return QF_STATUS_OK;
    }
    l->src = malloc((size_t)l->kp * sizeof *l->src);
    if (!l->src) {
        free(count);
        return qf_error_set(QF_STATUS_NOMEM, "%s: out of memory for the quantized layout", what);
    }
    for (int64_t c = 0; c < l->kp; c++) l->src[c] = -1;
    memset(count, 0, (size_t)G * sizeof *count);
    for (int64_t i = 0; i < in; i++) {
        const int64_t g = w->g_idx ? w->g_idx[i] : i / w->group_size;
        l->src[l->gstart[g] + count[g]++] = (int32_t)i;
    }
    free(count);
    return QF_STATUS_OK;
}

static qf_status qf_qlinear_fill(qf_cpu_qlinear *l, const qf_qweight *w, const char *what) {
    const int64_t out = w->out, G = w->n_groups, T = l->n_tiles;
    QF_RETURN_IF((size_t)T > SIZE_MAX / l->tile_bytes ||
                     (size_t)(T * G) > SIZE_MAX / QF_CPU_QTILE / sizeof(float),
                 QF_STATUS_NOMEM, "%s: quantized size overflows", what);
    l->codes = calloc((size_t)T * l->tile_bytes, 1);
    l->scales = calloc((size_t)(T * G * QF_CPU_QTILE), sizeof *l->scales);
    l->zeros = calloc((size_t)(T * G * QF_CPU_QTILE), 1);
    QF_RETURN_IF(!l->codes || !l->scales || !l->zeros, QF_STATUS_NOMEM,
                 "%s: out of memory for the quantized weights (%lld x %lld)", what,
                 (long long)out, (long long)w->in);
    for (int64_t o = 0; o < out; o++) {
        const uint8_t *q = w->q + (size_t)o * (size_t)w->in;
        for (int64_t c = 0; c < l->kp; c++) {
            const int64_t i = l->src ? l->src[c] : c;
            if (i >= 0) qf_qlinear_put(l, o, c, q[i]);
        }
        for (int64_t g = 0; g < G; g++) {
            l->scales[qf_cpu_qlinear_sz(l, o, g)] = w->scales[g * out + o];
            l->zeros[qf_cpu_qlinear_sz(l, o, g)] = w->zeros[g * out + o];
        }
    }
    return QF_STATUS_OK;
}

qf_status qf_cpu_qlinear_init(qf_cpu_qlinear *l, const qf_qweight *w, const char *what) {
    memset(l, 0, sizeof *l);
    what = what ? what : "quantized linear";
    QF_FORWARD(qf_qweight_validate(w, what));
    QF_RETURN_IF(w->in > INT32_MAX / 2 || w->n_groups > w->in, QF_STATUS_UNSUPPORTED,
                 "%s: input width %lld is too large", what, (long long)w->in);
    l->bits = w->bits;
    l->out = w->out;
    l->in = w->in;
    l->n_groups = w->n_groups;
    qf_status st = qf_qlinear_layout(l, w, what);
    if (st == QF_STATUS_OK) {
        l->n_tiles = (l->out + QF_CPU_QTILE - 1) / QF_CPU_QTILE;
        l->tile_bytes = (size_t)(l->kp / QF_CPU_QBLOCK) * (size_t)(l->bits * 64);
        st = qf_qlinear_fill(l, w, what);
    }
    if (st != QF_STATUS_OK) qf_cpu_qlinear_free(l);
    return st;
}

void qf_cpu_qlinear_free(qf_cpu_qlinear *l) {
    if (!l) return;
    free(l->gstart);
    free(l->src);
    free(l->codes);
    free(l->scales);
    free(l->zeros);
    memset(l, 0, sizeof *l);
}

size_t qf_cpu_qlinear_bytes(const qf_cpu_qlinear *l) {
    const size_t T = (size_t)l->n_tiles, G = (size_t)l->n_groups;
    return T * l->tile_bytes + T * G * QF_CPU_QTILE * (sizeof(float) + 1) +
           (G + 1) * sizeof(int64_t) + (l->src ? (size_t)l->kp * sizeof(int32_t) : 0);
}
