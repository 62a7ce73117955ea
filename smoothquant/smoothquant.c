/* SmoothQuant's activation statistic and smoothing factors (smoothquant.h). */
#include "smoothquant/smoothquant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

qf_status qf_sq_stat_init(qf_sq_stat *s, int64_t n) {
    s->n = n;
    s->absmax = calloc((size_t)n, sizeof *s->absmax);
    QF_RETURN_IF(!s->absmax, QF_STATUS_NOMEM, "out of memory");
    return QF_STATUS_OK;
}

void qf_sq_stat_free(qf_sq_stat *s) {
    free(s->absmax);
    memset(s, 0, sizeof *s);
}

void qf_sq_stat_add(qf_sq_stat *s, const float *x, int64_t m) {
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < s->n; j++) s->absmax[j] = fmaxf(s->absmax[j], fabsf(x[r * s->n + j]));
}

qf_status qf_sq_scales(const float *x_absmax, const float *const *w, const int64_t *out,
                       int n_lin, int64_t in, float alpha, float *s) {
    QF_RETURN_IF(!(alpha >= 0.0f && alpha <= 1.0f), QF_STATUS_INVALID_ARG,
                 "SmoothQuant alpha must be in [0, 1]");
    float *wmax = calloc((size_t)in, sizeof *wmax);
    QF_RETURN_IF(!wmax, QF_STATUS_NOMEM, "out of memory");
    for (int l = 0; l < n_lin; l++)
        for (int64_t o = 0; o < out[l]; o++)
            for (int64_t j = 0; j < in; j++) wmax[j] = fmaxf(wmax[j], fabsf(w[l][o * in + j]));
    for (int64_t j = 0; j < in; j++) {
        const float a = powf(x_absmax[j], alpha);
        float v = wmax[j] > 0.0f ? a / powf(wmax[j], 1.0f - alpha) : x_absmax[j];
        v = v > QF_SQ_MIN_SCALE ? v : QF_SQ_MIN_SCALE;
        s[j] = isfinite(v) ? v : 1.0f;
    }
    free(wmax);
    return QF_STATUS_OK;
}
