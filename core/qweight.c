/* qf_qweight: allocation, validation of what readers fill in, and the scalar
 * dequantization that every kernel is tested against. */
#include "core/qweight.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int qweight_bits_ok(int bits) { return bits == 2 || bits == 3 || bits == 4 || bits == 8; }

qf_status qf_qweight_init(qf_qweight *w, int bits, int sym, int64_t out, int64_t in,
                          int64_t group_size, int with_g_idx) {
    memset(w, 0, sizeof *w);
    QF_RETURN_IF(!qweight_bits_ok(bits), QF_STATUS_INVALID_ARG,
                 "qweight: bits %d not in {2, 3, 4, 8}", bits);
    QF_RETURN_IF(out <= 0 || in <= 0, QF_STATUS_INVALID_ARG,
                 "qweight: empty or negative shape (%lld, %lld)", (long long)out,
                 (long long)in);
    QF_RETURN_IF((uint64_t)out > SIZE_MAX / (uint64_t)in || (uint64_t)out > SIZE_MAX / 4 ||
                     (uint64_t)in > SIZE_MAX / 4,
                 QF_STATUS_NOMEM, "qweight: shape (%lld, %lld) overflows", (long long)out,
                 (long long)in);
    int64_t g = (group_size <= 0 || group_size >= in) ? in : group_size;
    int64_t n_groups = (in + g - 1) / g;
    QF_RETURN_IF((uint64_t)n_groups > SIZE_MAX / 4 / (uint64_t)out, QF_STATUS_NOMEM,
                 "qweight: %lld groups x %lld rows overflow", (long long)n_groups,
                 (long long)out);
    size_t nq = (size_t)out * (size_t)in, np = (size_t)n_groups * (size_t)out;
    w->bits = bits;
    w->sym = sym ? 1 : 0;
    w->out = out;
    w->in = in;
    w->group_size = g;
    w->n_groups = n_groups;
    w->q = calloc(nq, 1);
    w->scales = calloc(np, sizeof(float));
    w->zeros = calloc(np, 1);
    w->g_idx = with_g_idx ? calloc((size_t)in, sizeof(int32_t)) : NULL;
    if (!w->q || !w->scales || !w->zeros || (with_g_idx && !w->g_idx)) {
        qf_qweight_free(w);
        return qf_error_set(QF_STATUS_NOMEM, "qweight: out of memory for (%lld, %lld)",
                            (long long)out, (long long)in);
    }
    return QF_STATUS_OK;
}

void qf_qweight_free(qf_qweight *w) {
    if (!w) return;
    free(w->q);
    free(w->scales);
    free(w->zeros);
    free(w->g_idx);
    memset(w, 0, sizeof *w);
}

qf_status qf_qweight_validate(const qf_qweight *w, const char *what) {
    const char *name = what ? what : "qweight";
    QF_RETURN_IF(!qweight_bits_ok(w->bits), QF_STATUS_FORMAT,
                 "%s: bits %d not in {2, 3, 4, 8}", name, w->bits);
    QF_RETURN_IF(w->out <= 0 || w->in <= 0 || w->group_size <= 0 || w->group_size > w->in,
                 QF_STATUS_FORMAT, "%s: bad shape (%lld, %lld) group_size %lld", name,
                 (long long)w->out, (long long)w->in, (long long)w->group_size);
    QF_RETURN_IF(w->n_groups != (w->in + w->group_size - 1) / w->group_size, QF_STATUS_FORMAT,
                 "%s: n_groups %lld != ceil(%lld / %lld)", name, (long long)w->n_groups,
                 (long long)w->in, (long long)w->group_size);
    QF_RETURN_IF(!w->q || !w->scales || !w->zeros, QF_STATUS_FORMAT, "%s: missing arrays",
                 name);
    int maxq = (1 << w->bits) - 1, mid = 1 << (w->bits - 1);
    size_t nq = (size_t)w->out * (size_t)w->in, np = (size_t)w->n_groups * (size_t)w->out;
    for (size_t k = 0; k < nq; k++)
        QF_RETURN_IF(w->q[k] > maxq, QF_STATUS_FORMAT, "%s: code %d at (%zu, %zu) > %d", name,
                     w->q[k], k / (size_t)w->in, k % (size_t)w->in, maxq);
    for (size_t k = 0; k < np; k++) {
        size_t g = k / (size_t)w->out, o = k % (size_t)w->out;
        QF_RETURN_IF(!(isfinite(w->scales[k]) && w->scales[k] > 0.0f), QF_STATUS_FORMAT,
                     "%s: scale %g at (group %zu, row %zu) is not finite and > 0", name,
                     (double)w->scales[k], g, o);
        QF_RETURN_IF(w->zeros[k] > maxq, QF_STATUS_FORMAT,
                     "%s: zero point %d at (group %zu, row %zu) > %d", name, w->zeros[k], g, o,
                     maxq);
        QF_RETURN_IF(w->sym && w->zeros[k] != mid, QF_STATUS_FORMAT,
                     "%s: symmetric zero point %d at (group %zu, row %zu) != %d", name,
                     w->zeros[k], g, o, mid);
    }
    if (w->g_idx)
        for (int64_t i = 0; i < w->in; i++)
            QF_RETURN_IF(w->g_idx[i] < 0 || w->g_idx[i] >= w->n_groups, QF_STATUS_FORMAT,
                         "%s: g_idx[%lld] = %d outside [0, %lld)", name, (long long)i,
                         (int)w->g_idx[i], (long long)w->n_groups);
    return QF_STATUS_OK;
}

void qf_qweight_dequant_ref(const qf_qweight *w, float *dst) {
    qf_qweight_dequant_rows(w, dst, 0, w->out);
}

void qf_qweight_dequant_rows(const qf_qweight *w, float *dst, int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; o++)
        for (int64_t i = 0; i < w->in; i++) {
            int64_t g = w->g_idx ? w->g_idx[i] : i / w->group_size;
            size_t p = (size_t)g * (size_t)w->out + (size_t)o;
            size_t k = (size_t)o * (size_t)w->in + (size_t)i;
            dst[k] = w->scales[p] * (float)((int)w->q[k] - (int)w->zeros[p]);
        }
}
