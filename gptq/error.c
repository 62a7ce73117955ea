/* The relative output error of a quantized weight on the calibration inputs,
 * tr((W - Q) H (W - Q)^T) / tr(W H W^T), for qf_gptq_stats. */
#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>

#include "gptq/internal.h"

/* sum over rows of a_o H a_o^T, with tmp (out, n) scratch */
static double error_quadratic(const float *a, int64_t out, int64_t n, const float *h,
                              float *tmp) {
    cblas_ssymm(CblasRowMajor, CblasRight, CblasUpper, (int)out, (int)n, 1.0f, h, (int)n, a,
                (int)n, 0.0f, tmp, (int)n);
    double s = 0.0;
    size_t total = (size_t)out * (size_t)n;
    for (size_t k = 0; k < total; k++) s += (double)a[k] * (double)tmp[k];
    return s;
}

qf_status qf_gptq_relative_error(const float *w, const float *q, int64_t out, int64_t n,
                                 const float *h, double *err) {
    size_t total = (size_t)out * (size_t)n;
    float *d = calloc(total, sizeof(float)), *tmp = malloc(total * sizeof(float));
    if (!d || !tmp) {
        free(d);
        free(tmp);
        return qf_error_set(QF_STATUS_NOMEM, "gptq: out of memory for the error of (%lld, %lld)",
                            (long long)out, (long long)n);
    }
    for (size_t k = 0; k < total; k++) d[k] = w[k] - q[k];
    double num = error_quadratic(d, out, n, h, tmp);
    double den = error_quadratic(w, out, n, h, tmp);
    free(d);
    free(tmp);
    *err = den > 0.0 ? num / den : 0.0;
    return QF_STATUS_OK;
}
