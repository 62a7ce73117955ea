/* The damped inverse-Hessian factor of GPTQ: Hinv = upper Cholesky factor of
 * (H + damp I)^-1, with the damping raised after each failed factorization (GPTQModel).
 * Computed in double (LAPACK dpotrf / dpotri / dpotrf) and rounded to f32 once at the
 * end: the references use f32 torch.linalg, but the f32 result of an ill-conditioned H
 * (many near-duplicate inputs) is already off in the leading digits, and the 2 cubic
 * factorizations are a small part of the run time next to the column loop and the
 * error-propagation GEMMs. The row-major buffer is passed to column-major LAPACK as is:
 * its column-major lower triangle is the row-major upper one. */
#include <lapacke.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include "gptq/internal.h"

/* a (n, n) <- upper factor of (h + damp I)^-1 in a's column-major lower triangle;
 * returns 0 on success, the LAPACK info otherwise */
static lapack_int hinv_try(const float *h, int64_t n, double damp, double *a) {
    size_t nn = (size_t)n * (size_t)n;
    for (size_t k = 0; k < nn; k++) a[k] = h[k];
    for (int64_t i = 0; i < n; i++) a[i * n + i] += damp;
    lapack_int ln = (lapack_int)n, info;
    if ((info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', ln, a, ln)) != 0) return info;
    if ((info = LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', ln, a, ln)) != 0) return info;
    return LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', ln, a, ln);
}

qf_status qf_gptq_factor_hinv(const float *h, int64_t n, double damp_percent, double increment,
                              float *hinv, double *damp_used) {
    QF_RETURN_IF(n <= 0 || n > INT_MAX, QF_STATUS_INVALID_ARG,
                 "gptq: Hessian width %lld outside [1, %d]", (long long)n, INT_MAX);
    double *a = malloc((size_t)n * (size_t)n * sizeof(double));
    QF_RETURN_IF(!a, QF_STATUS_NOMEM, "gptq: out of memory for a %lld x %lld factor",
                 (long long)n, (long long)n);
    double mean = 0.0;
    for (int64_t i = 0; i < n; i++) mean += h[i * n + i];
    mean /= (double)n;
    double p = damp_percent;
    lapack_int info = hinv_try(h, n, p * mean, a);
    while (info != 0 && increment > 0.0 && p + increment < 1.0) {
        p += increment;
        info = hinv_try(h, n, p * mean, a);
    }
    if (info != 0) {
        free(a);
        return qf_error_set(QF_STATUS_INVALID_ARG,
                            "gptq: Hessian (%lld x %lld) not positive definite with damping "
                            "up to %g of its mean diagonal %g (LAPACK info %d)",
                            (long long)n, (long long)n, p, mean, (int)info);
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) hinv[i * n + j] = j >= i ? (float)a[i * n + j] : 0.0f;
    free(a);
    *damp_used = p;
    return QF_STATUS_OK;
}
