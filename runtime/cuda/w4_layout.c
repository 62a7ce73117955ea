/* Host side of the CUDA W4 layout (w4_layout.h): repacking a qf_qweight, reading codes
 * back, and the scalar references of the prep and GEMV kernels. */
#include "runtime/cuda/w4_layout.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"

static int64_t qf_cuda_w4_group(const qf_qweight *w, int64_t i) {
    return w->g_idx ? w->g_idx[i] : i / w->group_size;
}

/* perm: the packed column order (groups contiguous, stable, each padded to gp). */
static qf_status qf_cuda_w4_columns(qf_cuda_w4 *l, const qf_qweight *w, const char *what) {
    int64_t *pos = calloc((size_t)w->n_groups, sizeof *pos);
    QF_RETURN_IF(!pos, QF_STATUS_NOMEM, "%s: out of memory", what);
    int64_t largest = 0;
    for (int64_t i = 0; i < w->in; i++) {
        const int64_t g = qf_cuda_w4_group(w, i);
        if (++pos[g] > largest) largest = pos[g];
    }
    l->gp = (largest + QF_CUDA_W4_CHUNK - 1) / QF_CUDA_W4_CHUNK * QF_CUDA_W4_CHUNK;
    if (l->gp > QF_CUDA_W4_MAX_DIM / w->n_groups) {
        free(pos);
        return qf_error_set(QF_STATUS_UNSUPPORTED, "%s: %lld groups of %lld packed columns > %d",
                            what, (long long)w->n_groups, (long long)l->gp,
                            QF_CUDA_W4_MAX_DIM);
    }
    l->kp = w->n_groups * l->gp;
    l->perm = malloc((size_t)l->kp * sizeof *l->perm);
    if (!l->perm) {
        free(pos);
        return qf_error_set(QF_STATUS_NOMEM, "%s: out of memory", what);
    }
    for (int64_t c = 0; c < l->kp; c++) l->perm[c] = -1;
    for (int64_t g = 0; g < w->n_groups; g++) pos[g] = g * l->gp;
    for (int64_t i = 0; i < w->in; i++) l->perm[pos[qf_cuda_w4_group(w, i)]++] = (int32_t)i;
    free(pos);
    return QF_STATUS_OK;
}

static int qf_cuda_w4_shift(int64_t c) { return (int)(c & 1) * 16 + (int)((c & 7) >> 1) * 4; }

qf_status qf_cuda_w4_init(qf_cuda_w4 *l, const qf_qweight *w, const char *what) {
    memset(l, 0, sizeof *l);
    what = what ? what : "qweight";
    QF_FORWARD(qf_qweight_validate(w, what));
    QF_RETURN_IF(w->bits != 4, QF_STATUS_UNSUPPORTED,
                 "%s: the CUDA W4 layout holds 4-bit weights, not %d-bit", what, w->bits);
    QF_RETURN_IF(w->out > QF_CUDA_W4_MAX_DIM, QF_STATUS_UNSUPPORTED, "%s: %lld rows > %d", what,
                 (long long)w->out, QF_CUDA_W4_MAX_DIM);
    l->out = w->out;
    l->in = w->in;
    l->n_groups = w->n_groups;
    qf_status st = qf_cuda_w4_columns(l, w, what);
    if (st != QF_STATUS_OK) {
        qf_cuda_w4_free(l);
        return st;
    }
    /* out, kp <= 2^24: the products below fit size_t on any 64-bit host */
    const size_t words = (size_t)w->out * (size_t)(l->kp / 8);
    l->qw = calloc(words, sizeof *l->qw);
    l->sz = malloc((size_t)w->out * (size_t)w->n_groups * 2 * sizeof *l->sz);
    if (!l->qw || !l->sz) {
        qf_cuda_w4_free(l);
        return qf_error_set(QF_STATUS_NOMEM, "%s: out of memory for the CUDA W4 layout", what);
    }
    float smax = 0.0f;
    for (int64_t o = 0; o < w->out; o++) {
        uint32_t *row = l->qw + o * (l->kp / 8);
        const uint8_t *q = w->q + o * w->in;
        for (int64_t c = 0; c < l->kp; c++)
            if (l->perm[c] >= 0) row[c / 8] |= (uint32_t)q[l->perm[c]] << qf_cuda_w4_shift(c);
        for (int64_t g = 0; g < w->n_groups; g++) {
            const size_t k = (size_t)(g * w->out + o);
            const uint16_t s = qf_fp32_to_fp16(w->scales[k]);
            const float sf = qf_fp16_to_fp32(s);
            if (!(isfinite(sf) && sf > 0.0f)) {
                qf_cuda_w4_free(l);
                return qf_error_set(QF_STATUS_INVALID_ARG,
                                    "%s: scale %g at (group %lld, row %lld) is not a finite, "
                                    "non-zero fp16",
                                    what, (double)w->scales[k], (long long)g, (long long)o);
            }
            l->sz[(o * w->n_groups + g) * 2] = s;
            l->sz[(o * w->n_groups + g) * 2 + 1] = qf_fp32_to_fp16(1024.0f + w->zeros[k]);
            smax = sf > smax ? sf : smax;
        }
    }
    l->dequant_ok = smax * 15.0f < 65520.0f; /* |q - zero| <= 15; 65520 rounds to inf */
    return QF_STATUS_OK;
}

void qf_cuda_w4_free(qf_cuda_w4 *l) {
    if (!l) return;
    free(l->qw);
    free(l->sz);
    free(l->perm);
    memset(l, 0, sizeof *l);
}

size_t qf_cuda_w4_bytes(const qf_cuda_w4 *l) {
    return (size_t)l->out * (size_t)l->kp / 2 + (size_t)l->out * (size_t)l->n_groups * 4;
}

int qf_cuda_w4_code(const qf_cuda_w4 *l, int64_t o, int64_t c) {
    return (int)(l->qw[o * (l->kp / 8) + c / 8] >> qf_cuda_w4_shift(c) & 15u);
}

void qf_cuda_w4_prep_ref(const qf_cuda_w4 *l, const float *x, int64_t m, uint16_t *xh) {
    const float k = 1.0f / (float)(1 << QF_CUDA_W4_XSHIFT);
    for (int64_t t = 0; t < m; t++)
        for (int64_t c = 0; c < l->kp; c++)
            xh[t * l->kp + c] =
                l->perm[c] < 0 ? 0 : qf_fp32_to_fp16(x[t * l->in + l->perm[c]] * k);
}

void qf_cuda_w4_gemv_ref(const qf_cuda_w4 *l, const float *x, int64_t m, float *y) {
    for (int64_t t = 0; t < m; t++)
        for (int64_t o = 0; o < l->out; o++) {
            double acc = 0.0;
            for (int64_t g = 0; g < l->n_groups; g++) {
                const uint16_t *sz = l->sz + (o * l->n_groups + g) * 2;
                const double s = qf_fp16_to_fp32(sz[0]), z = qf_fp16_to_fp32(sz[1]) - 1024.0f;
                double sum = 0.0;
                for (int64_t c = g * l->gp; c < (g + 1) * l->gp; c++)
                    if (l->perm[c] >= 0)
                        sum += (qf_cuda_w4_code(l, o, c) - z) * x[t * l->in + l->perm[c]];
                acc += s * sum;
            }
            y[t * l->out + o] = (float)acc;
        }
}

void qf_cuda_w4_dequant_ref(const qf_cuda_w4 *l, uint16_t *wh) {
    for (int64_t o = 0; o < l->out; o++)
        for (int64_t c = 0; c < l->kp; c++) {
            const uint16_t *sz = l->sz + (o * l->n_groups + c / l->gp) * 2;
            const float s = qf_fp16_to_fp32(sz[0]), z = qf_fp16_to_fp32(sz[1]) - 1024.0f;
            wh[o * l->kp + c] = qf_fp32_to_fp16(s * ((float)qf_cuda_w4_code(l, o, c) - z));
        }
}

void qf_cuda_w4_gemm_ref(const qf_cuda_w4 *l, const uint16_t *xh, const uint16_t *wh, int64_t t,
                         double *y, double *mag) {
    const double up = (double)(1 << QF_CUDA_W4_XSHIFT);
    const uint16_t *xt = xh + t * l->kp;
    for (int64_t o = 0; o < l->out; o++) {
        const uint16_t *wo = wh + o * l->kp;
        double sum = 0.0, abs_sum = 0.0;
        for (int64_t c = 0; c < l->kp; c++) {
            const double p = (double)qf_fp16_to_fp32(xt[c]) * (double)qf_fp16_to_fp32(wo[c]);
            sum += p;
            abs_sum += fabs(p);
        }
        y[o] = up * sum;
        mag[o] = up * abs_sum;
    }
}

