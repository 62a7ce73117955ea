/* The running GPTQ Hessian H = (2/n) sum x x^T of a linear's calibration inputs. */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gptq/gptq.h"

qf_status qf_gptq_hessian_init(qf_gptq_hessian *h, int64_t n) {
    memset(h, 0, sizeof *h);
    QF_RETURN_IF(n <= 0 || n > INT_MAX, QF_STATUS_INVALID_ARG,
                 "gptq hessian: width %lld outside [1, %d]", (long long)n, INT_MAX);
    QF_RETURN_IF((uint64_t)n > SIZE_MAX / sizeof(float) / (uint64_t)n, QF_STATUS_NOMEM,
                 "gptq hessian: %lld x %lld overflows", (long long)n, (long long)n);
    h->h = calloc((size_t)n * (size_t)n, sizeof(float));
    QF_RETURN_IF(!h->h, QF_STATUS_NOMEM, "gptq hessian: out of memory for %lld x %lld",
                 (long long)n, (long long)n);
    h->n = n;
    return QF_STATUS_OK;
}

void qf_gptq_hessian_free(qf_gptq_hessian *h) {
    if (!h) return;
    free(h->h);
    memset(h, 0, sizeof *h);
}

qf_status qf_gptq_hessian_add(qf_gptq_hessian *h, const float *x, int64_t m) {
    QF_RETURN_IF(!h->h, QF_STATUS_INVALID_ARG, "gptq hessian: not initialised");
    QF_RETURN_IF(m < 0 || m > INT_MAX, QF_STATUS_INVALID_ARG,
                 "gptq hessian: %lld rows outside [0, %d]", (long long)m, INT_MAX);
    if (m == 0) return QF_STATUS_OK;
    int64_t n = h->n, total = h->count + m;
    /* running mean: H <- H * count / total + (2 / total) x^T x */
    float beta = (float)((double)h->count / (double)total);
    float alpha = (float)(2.0 / (double)total);
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)n, (int)m, alpha, x, (int)n, beta,
                h->h, (int)n); // the upper triangle only: no O(n^2) strided mirror per batch
    h->count = total;
    return QF_STATUS_OK;
}

qf_status qf_gptq_hessian_add_weighted(qf_gptq_hessian *h, const float *x, int64_t m,
                                       const float *w) {
    if (!w || m <= 0) return qf_gptq_hessian_add(h, x, m);
    QF_RETURN_IF(!h->h, QF_STATUS_INVALID_ARG, "gptq hessian: not initialised");
    QF_RETURN_IF((uint64_t)m > SIZE_MAX / sizeof(float) / (uint64_t)h->n, QF_STATUS_NOMEM,
                 "gptq hessian: %lld rows overflow", (long long)m);
    for (int64_t t = 0; t < m; t++)
        QF_RETURN_IF(!(w[t] >= 0.0f) || isinf(w[t]), QF_STATUS_INVALID_ARG,
                     "gptq hessian: row weight %g is not a finite number >= 0", (double)w[t]);
    /* only the rows up to the last weight != 1 are scaled (a copy); the all-1 tail is
     * added in place: two running-mean updates equal one */
    int64_t k = m;
    while (k > 0 && w[k - 1] == 1.0f) k--;
    float *xs = k ? malloc((size_t)k * (size_t)h->n * sizeof(float)) : NULL;
    QF_RETURN_IF(k && !xs, QF_STATUS_NOMEM, "gptq hessian: out of memory for %lld rows",
                 (long long)k);
    for (int64_t t = 0; t < k; t++) {
        const float r = sqrtf(w[t]);
        for (int64_t c = 0; c < h->n; c++) xs[t * h->n + c] = r * x[t * h->n + c];
    }
    qf_status st = qf_gptq_hessian_add(h, xs, k);
    if (st == QF_STATUS_OK) st = qf_gptq_hessian_add(h, x + k * h->n, m - k);
    free(xs);
    return st;
}
