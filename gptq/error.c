/* The relative output error of a quantized weight on the calibration inputs,
 * tr((W - Q) H (W - Q)^T) / tr(W H W^T), for qf_gptq_stats. Both traces are sums over
 * output rows of O(n^2) quadratic forms; past QF_GPTQ_ERROR_MAX_ROWS rows an evenly
 * strided subset of rows estimates them (the full sum would cost out * n^2 flops twice
 * per linear: more than GPTQ itself on 7B-sized layers). */
#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gptq/internal.h"

/* sum over rows of a_o H a_o^T, with tmp (rows, n) scratch */
static double error_quadratic(const float *a, int64_t rows, int64_t n, const float *h,
                              float *tmp) {
    cblas_ssymm(CblasRowMajor, CblasRight, CblasUpper, (int)rows, (int)n, 1.0f, h, (int)n, a,
                (int)n, 0.0f, tmp, (int)n);
    double s = 0.0;
    size_t total = (size_t)rows * (size_t)n;
    for (size_t k = 0; k < total; k++) s += (double)a[k] * (double)tmp[k];
    return s;
}

qf_status qf_gptq_relative_error(const float *w, const float *q, int64_t out, int64_t n,
                                 const float *h, double *err) {
    const int64_t stride = (out + QF_GPTQ_ERROR_MAX_ROWS - 1) / QF_GPTQ_ERROR_MAX_ROWS;
    const int64_t rows = (out + stride - 1) / stride;
    const size_t total = (size_t)rows * (size_t)n;
    float *wr = malloc(total * sizeof(float)), *d = malloc(total * sizeof(float));
    float *tmp = malloc(total * sizeof(float));
    if (!wr || !d || !tmp) {
        free(wr), free(d), free(tmp);
        return qf_error_set(QF_STATUS_NOMEM, "gptq: out of memory for the error of (%lld, %lld)",
                            (long long)out, (long long)n);
    }
    for (int64_t r = 0; r < rows; r++) {
        const size_t src = (size_t)(r * stride) * (size_t)n, dst = (size_t)r * (size_t)n;
        memcpy(wr + dst, w + src, (size_t)n * sizeof(float));
        for (int64_t j = 0; j < n; j++) d[dst + (size_t)j] = w[src + (size_t)j] - q[src + (size_t)j];
    }
    double num = error_quadratic(d, rows, n, h, tmp);
    double den = error_quadratic(wr, rows, n, h, tmp);
    free(wr), free(d), free(tmp);
    *err = den > 0.0 ? num / den : 0.0;
    return QF_STATUS_OK;
}
