/* AWQ clip search (auto_clip.py): per output row and quantization group, the symmetric
 * clamp of the weights whose quantization best preserves that group's share of the
 * output on sampled tokens. For group g with inputs X_g (t, G) and candidate clamp m,
 * D = Q(clamp(W_g, -m, m)) - W_g and the error of row o is mean_t (X_g D^T)[t, o]^2:
 * one GEMM per candidate. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "awq/awq.h"

static int64_t qf_awq_group(int64_t group, int64_t in) {
    return (group <= 0 || group > in) ? in : group;
}

qf_status qf_awq_clip_search(const qf_awq_options *o, const float *w, int64_t out, int64_t in,
                             const float *x, int64_t t, const qf_quant_params *p,
                             float *max_val) {
    const int64_t G = qf_awq_group(p->group_size, in), ng = (in + G - 1) / G;
    const int steps = (int)(o->clip_max_shrink * (float)o->clip_grid);
    qf_quant_params pg = *p;
    pg.group_size = -1; /* each (row, group) slice is quantized as one row */
    pg.mse = 0;
    float *wg = malloc((size_t)(out * G) * sizeof(float));
    float *d = malloc((size_t)(out * G) * sizeof(float));
    float *xg = malloc((size_t)(t * G) * sizeof(float));
    float *e = malloc((size_t)(t * out) * sizeof(float));
    float *omax = malloc((size_t)out * sizeof(float));
    double *best = malloc((size_t)out * sizeof(double));
    qf_status st = (wg && d && xg && e && omax && best)
                       ? QF_STATUS_OK
                       : qf_error_set(QF_STATUS_NOMEM, "out of memory for the AWQ clip search");
    for (int64_t g = 0; g < ng && st == QF_STATUS_OK; g++) {
        const int64_t c0 = g * G, cols = c0 + G < in ? G : in - c0;
        for (int64_t r = 0; r < t; r++) memcpy(xg + r * cols, x + r * in + c0, (size_t)cols * 4);
        for (int64_t r = 0; r < out; r++) {
            float mx = 0.0f;
            for (int64_t c = 0; c < cols; c++) {
                const float a = fabsf(w[r * in + c0 + c]);
                mx = a > mx ? a : mx;
            }
            omax[r] = mx;
            max_val[r * ng + g] = mx;
            best[r] = INFINITY;
        }
        for (int k = 0; k < steps && st == QF_STATUS_OK; k++) {
            const float f = 1.0f - (float)k / (float)o->clip_grid;
            for (int64_t r = 0; r < out; r++) {
                const float m = omax[r] * f;
                for (int64_t c = 0; c < cols; c++) {
                    const float v = w[r * in + c0 + c];
                    wg[r * cols + c] = v < -m ? -m : (v > m ? m : v);
                }
            }
            qf_qweight q;
            st = qf_quant_rtn(wg, out, cols, &pg, &q);
            if (st != QF_STATUS_OK) break;
            qf_qweight_dequant_ref(&q, d);
            qf_qweight_free(&q);
            for (int64_t r = 0; r < out; r++)
                for (int64_t c = 0; c < cols; c++) d[r * cols + c] -= w[r * in + c0 + c];
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)t, (int)out, (int)cols,
                        1.0f, xg, (int)cols, d, (int)cols, 0.0f, e, (int)out);
            for (int64_t r = 0; r < out; r++) {
                double err = 0.0;
                for (int64_t i = 0; i < t; i++) err += (double)e[i * out + r] * e[i * out + r];
                if (err < best[r]) {
                    best[r] = err;
                    max_val[r * ng + g] = omax[r] * f;
                }
            }
        }
    }
    free(wg), free(d), free(xg), free(e), free(omax), free(best);
    return st;
}

void qf_awq_clip_apply(float *w, int64_t out, int64_t in, int64_t group, const float *max_val) {
    const int64_t G = qf_awq_group(group, in), ng = (in + G - 1) / G;
    for (int64_t r = 0; r < out; r++)
        for (int64_t c = 0; c < in; c++) {
            const float m = max_val[r * ng + c / G];
            float *v = w + r * in + c;
            *v = *v < -m ? -m : (*v > m ? m : *v);
        }
}
