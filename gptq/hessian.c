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

/* Rows [a, b) of the upper triangle <- beta H + alpha x^T x: the diagonal tile (ssyrk,
 * upper) and the tile right of it (sgemm). */
static void qf_hessian_rows(float *H, int64_t n, const float *x, int64_t ldx, int64_t m,
                            float alpha, float beta, int64_t a, int64_t b) {
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)(b - a), (int)m, alpha, x + a,
                (int)ldx, beta, H + a * n + a, (int)n);
    if (b < n)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(b - a), (int)(n - b), (int)m,
                    alpha, x + a, (int)ldx, x + b, (int)ldx, beta, H + a * n + b, (int)n);
}

/* One running-mean update of m rows (count before it) on thread ith's row blocks. */
static void qf_hessian_update(qf_gptq_hessian *h, const float *x, int64_t m, int64_t count,
                              int ith, int nth) {
    if (m == 0) return;
    const int64_t n = h->n, nb = (n + QF_GPTQ_HESSIAN_ROWS - 1) / QF_GPTQ_HESSIAN_ROWS;
    const double total = (double)(count + m);
    const float beta = (float)((double)count / total), alpha = (float)(2.0 / total);
    /* blocks dealt out back and forth (0..nth-1, nth-1..0, ...): their areas shrink */
    for (int64_t k = 0; k < nb; k++) {
        const int64_t round = k / nth, pos = k % nth;
        if ((round % 2 ? nth - 1 - pos : pos) != ith) continue;
        const int64_t a = k * QF_GPTQ_HESSIAN_ROWS;
        const int64_t b = a + QF_GPTQ_HESSIAN_ROWS < n ? a + QF_GPTQ_HESSIAN_ROWS : n;
        qf_hessian_rows(h->h, n, x, n, m, alpha, beta, a, b);
    }
}

qf_status qf_gptq_hessian_add_share(qf_gptq_hessian *h, const float *x, int64_t m,
                                    const float *w, int64_t count, int ith, int nth) {
    QF_RETURN_IF(!h->h, QF_STATUS_INVALID_ARG, "gptq hessian: not initialised");
    QF_RETURN_IF(m < 0 || m > INT_MAX, QF_STATUS_INVALID_ARG,
                 "gptq hessian: %lld rows outside [0, %d]", (long long)m, INT_MAX);
    /* only the rows up to the last weight != 1 are scaled (a copy); the all-1 tail is
     * added in place: two running-mean updates equal one */
    int64_t k = m;
    while (w && k > 0 && w[k - 1] == 1.0f) k--;
    k = w ? k : 0;
    QF_RETURN_IF((uint64_t)k > SIZE_MAX / sizeof(float) / (uint64_t)h->n, QF_STATUS_NOMEM,
                 "gptq hessian: %lld rows overflow", (long long)k);
    float *xs = k ? malloc((size_t)k * (size_t)h->n * sizeof(float)) : NULL;
    QF_RETURN_IF(k && !xs, QF_STATUS_NOMEM, "gptq hessian: out of memory for %lld rows",
                 (long long)k);
    for (int64_t t = 0; t < k; t++) {
        const float r = sqrtf(w[t]);
        for (int64_t c = 0; c < h->n; c++) xs[t * h->n + c] = r * x[t * h->n + c];
    }
    qf_hessian_update(h, xs, k, count, ith, nth);
    qf_hessian_update(h, x + k * h->n, m - k, count + k, ith, nth);
    free(xs);
    return QF_STATUS_OK;
}

qf_status qf_gptq_hessian_add(qf_gptq_hessian *h, const float *x, int64_t m) {
    return qf_gptq_hessian_add_weighted(h, x, m, NULL);
}

qf_status qf_gptq_hessian_add_weighted(qf_gptq_hessian *h, const float *x, int64_t m,
                                       const float *w) {
    for (int64_t t = 0; w && t < m; t++)
        QF_RETURN_IF(!(w[t] >= 0.0f) || isinf(w[t]), QF_STATUS_INVALID_ARG,
                     "gptq hessian: row weight %g is not a finite number >= 0", (double)w[t]);
    QF_FORWARD(qf_gptq_hessian_add_share(h, x, m, w, h->count, 0, 1));
    h->count += m;
    return QF_STATUS_OK;
}
