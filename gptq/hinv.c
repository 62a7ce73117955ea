/* The damped inverse-Hessian factor of GPTQ: Hinv = upper Cholesky factor of
 * (H + damp I)^-1, with the damping raised after each failed factorization (GPTQModel).
 * Computed in f32 like the references (torch.linalg in GPTQ_PRECISION = float32) with
 * LAPACK spotrf + strtri (see hinv_try): on the fixtures it gives the reference's codes
 * exactly, as a double version did, and is ~1.4x faster for in = 1536 (the factorization
 * is the largest single cost there); a matrix f32 cannot factor raises the damping.
 * The matrices are symmetric, so the row-major buffer goes to column-major LAPACK as is. */
#include <lapacke.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include "gptq/internal.h"

/* a (n, n) <- L^-1 where J (h + damp I) J = L L^T, J the reversal permutation: then
 * h + damp I = R R^T with R = J L J upper, so (h + damp I)^-1 = (R^-1)^T R^-1 and the
 * upper Cholesky factor of the inverse is R^-1 = J L^-1 J (one factorization and one
 * triangular inverse: 2n^3/3 flops instead of potrf + potri + potrf's 4n^3/3).
 * Returns 0 on success, the LAPACK info otherwise. */
static lapack_int hinv_try(const float *h, int64_t n, double damp, float *a) {
    for (int64_t i = 0; i < n; i++) {
        const float *src = h + (size_t)(n - 1 - i) * (size_t)n;
        float *dst = a + (size_t)i * (size_t)n;
        for (int64_t j = 0; j < n; j++) dst[j] = src[n - 1 - j];
        dst[i] += (float)damp;
    }
    lapack_int ln = (lapack_int)n, info;
    if ((info = LAPACKE_spotrf(LAPACK_COL_MAJOR, 'L', ln, a, ln)) != 0) return info;
    return LAPACKE_strtri(LAPACK_COL_MAJOR, 'L', 'N', ln, a, ln);
}

qf_status qf_gptq_factor_hinv(const float *h, int64_t n, double damp_percent, double increment,
                              float *hinv, double *damp_used) {
    QF_RETURN_IF(n <= 0 || n > INT_MAX, QF_STATUS_INVALID_ARG,
                 "gptq: Hessian width %lld outside [1, %d]", (long long)n, INT_MAX);
    float *a = malloc((size_t)n * (size_t)n * sizeof(float));
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
    /* U[i][j] = Linv[n-1-i][n-1-j]; column-major Linv(r, c) = a[c * n + r] */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
            hinv[i * n + j] = j >= i ? (float)a[(n - 1 - j) * n + (n - 1 - i)] : 0.0f;
    free(a);
    *damp_used = p;
    return QF_STATUS_OK;
}
