/* AWQ scale candidates: the weight statistic, the grid, s from x_mean / w_mean, and the
 * fake quantization Q(W diag(s)) diag(s)^-1 the search measures. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "awq/awq.h"

qf_awq_options qf_awq_options_default(void) {
    qf_awq_options o;
    memset(&o, 0, sizeof o);
    o.n_grid = 20;
    o.duo_scaling = 1;
    o.clip = 1;
    o.clip_grid = 20;
    o.clip_max_shrink = 0.5f;
    o.clip_tokens = 512;
    o.search_samples = 16;
    return o;
}

float qf_awq_grid_ratio(const qf_awq_options *o, int k) {
    return k <= 0 ? 0.0f : (float)(k - 1) / (float)o->n_grid;
}

qf_status qf_awq_weight_mean(const float *const *w, const int64_t *out, int n_lin, int64_t in,
                             int64_t group, float *w_mean) {
    const int64_t g = (group <= 0 || group > in) ? in : group;
    double *sum = calloc((size_t)in, sizeof *sum);
    QF_RETURN_IF(!sum, QF_STATUS_NOMEM, "out of memory");
    int64_t rows = 0;
    for (int l = 0; l < n_lin; l++) {
        for (int64_t o = 0; o < out[l]; o++) {
            const float *row = w[l] + o * in;
            for (int64_t c0 = 0; c0 < in; c0 += g) {
                const int64_t c1 = c0 + g < in ? c0 + g : in;
                float mx = 0.0f;
                for (int64_t c = c0; c < c1; c++) {
                    const float a = fabsf(row[c]);
                    mx = a > mx ? a : mx;
                }
                const float inv = 1.0f / (mx + 1e-6f);
                for (int64_t c = c0; c < c1; c++) sum[c] += (double)(fabsf(row[c]) * inv);
            }
        }
        rows += out[l];
    }
    for (int64_t c = 0; c < in; c++) w_mean[c] = rows > 0 ? (float)(sum[c] / (double)rows) : 1.0f;
    free(sum);
    return QF_STATUS_OK;
}

void qf_awq_scales(const qf_awq_options *o, int k, const float *x_mean, const float *w_mean,
                   int64_t n, float *s) {
    if (k <= 0) {
        for (int64_t j = 0; j < n; j++) s[j] = 1.0f;
        return;
    }
    const float a = qf_awq_grid_ratio(o, k);
    float mx = -INFINITY, mn = INFINITY;
    for (int64_t j = 0; j < n; j++) {
        float v = powf(x_mean[j], a);
        if (o->duo_scaling) v /= powf(w_mean[j], 1.0f - a) + 1e-4f;
        v = v < 1e-4f ? 1e-4f : v; /* NaN stays NaN here and becomes 1 below */
        s[j] = v;
        mx = fmaxf(mx, v);
        mn = fminf(mn, v);
    }
    const float norm = sqrtf(mx * mn);
    for (int64_t j = 0; j < n; j++) {
        const float v = s[j] / norm;
        s[j] = isfinite(v) ? v : 1.0f;
    }
}

qf_status qf_awq_fake_quant(const float *w, int64_t out, int64_t in, const float *s,
                            const qf_quant_params *p, float *dst) {
    const size_t n = (size_t)(out * in);
    if (dst != w) memcpy(dst, w, n * sizeof(float));
    if (s)
        for (int64_t o = 0; o < out; o++)
            for (int64_t c = 0; c < in; c++) dst[o * in + c] *= s[c];
    qf_qweight q;
    QF_FORWARD(qf_quant_rtn(dst, out, in, p, &q));
    qf_qweight_dequant_ref(&q, dst);
    qf_qweight_free(&q);
    if (s)
        for (int64_t o = 0; o < out; o++)
            for (int64_t c = 0; c < in; c++) dst[o * in + c] /= s[c];
    return QF_STATUS_OK;
}
