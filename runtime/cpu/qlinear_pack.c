/* Load-time repacking of a qf_qweight into the CPU runtime's quantized layout
 * (runtime/cpu/qlinear.h): group order of the columns, 32-column padded blocks, codes at
 * the weight's own bit width. */
#include <stdlib.h>
#include <string.h>

#include "runtime/cpu/qlinear.h"

/* Stores code q of padded column c into row (block layout of qlinear.h). */
static void qf_qlinear_put(uint8_t *row, int bits, int64_t c, int q) {
    uint8_t *b = row + (size_t)(c / QF_CPU_QBLOCK) * (size_t)(bits * 4);
    const int j = (int)(c % QF_CPU_QBLOCK);
    switch (bits) {
    case 8: b[j] = (uint8_t)q; break;
    case 4: b[j & 15] |= (uint8_t)(q << (4 * (j >> 4))); break;
    case 2: b[j & 7] |= (uint8_t)(q << (2 * (j >> 3))); break;
    default: /* 3 */
        b[j & 7] |= (uint8_t)((q & 3) << (2 * (j >> 3)));
        b[8 + (j >> 3)] |= (uint8_t)(((q >> 2) & 1) << (j & 7));
        break;
    }
}

int qf_cpu_qlinear_code(const qf_cpu_qlinear *l, int64_t o, int64_t c) {
    const uint8_t *b = l->codes + (size_t)o * l->row_bytes +
                       (size_t)(c / QF_CPU_QBLOCK) * (size_t)(l->bits * 4);
    const int j = (int)(c % QF_CPU_QBLOCK);
    switch (l->bits) {
    case 8: return b[j];
    case 4: return (b[j & 15] >> (4 * (j >> 4))) & 15;
    case 2: return (b[j & 7] >> (2 * (j >> 3))) & 3;
    default:
        return ((b[j & 7] >> (2 * (j >> 3))) & 3) | (((b[8 + (j >> 3)] >> (j & 7)) & 1) << 2);
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
    const int64_t out = w->out, G = w->n_groups;
    QF_RETURN_IF((size_t)out > SIZE_MAX / l->row_bytes, QF_STATUS_NOMEM,
                 "%s: quantized size overflows", what);
    l->codes = calloc((size_t)out * l->row_bytes, 1);
    l->scales = malloc((size_t)(out * G) * sizeof *l->scales);
    l->zeros = malloc((size_t)(out * G));
    QF_RETURN_IF(!l->codes || !l->scales || !l->zeros, QF_STATUS_NOMEM,
                 "%s: out of memory for the quantized weights (%lld x %lld)", what,
                 (long long)out, (long long)w->in);
    for (int64_t o = 0; o < out; o++) {
        uint8_t *row = l->codes + (size_t)o * l->row_bytes;
        const uint8_t *q = w->q + (size_t)o * (size_t)w->in;
        for (int64_t c = 0; c < l->kp; c++) {
            const int64_t i = l->src ? l->src[c] : c;
            if (i >= 0) qf_qlinear_put(row, l->bits, c, q[i]);
        }
        for (int64_t g = 0; g < G; g++) {
            l->scales[o * G + g] = w->scales[g * out + o];
            l->zeros[o * G + g] = w->zeros[g * out + o];
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
        l->row_bytes = (size_t)(l->kp / QF_CPU_QBLOCK) * (size_t)(l->bits * 4);
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
    const size_t rows = (size_t)l->out, G = (size_t)l->n_groups;
    return rows * l->row_bytes + rows * G * (sizeof(float) + 1) +
           (G + 1) * sizeof(int64_t) + (l->src ? (size_t)l->kp * sizeof(int32_t) : 0);
}
