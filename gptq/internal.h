/* Private helpers shared by the files of gptq/ (not part of the public contract). */
#ifndef QF_GPTQ_INTERNAL_H
#define QF_GPTQ_INTERNAL_H

#include <stdint.h>

#include "core/status.h"

/* hinv (n, n) row-major = the upper Cholesky factor U of (H + damp I)^-1 (U^T U = it),
 * zero below the diagonal; h (n, n) is the (permuted, dead-fixed) Hessian. damp =
 * damp_percent * mean(diag h); damp_percent grows by increment after each failed
 * factorization while it stays < 1. *damp_used = the damp_percent that worked. */
qf_status qf_gptq_factor_hinv(const float *h, int64_t n, double damp_percent, double increment,
                              float *hinv, double *damp_used);

/* Output rows the relative error sums over; more rows: an evenly strided subset. */
#define QF_GPTQ_ERROR_MAX_ROWS 1024

/* tr(D H D^T) / tr(W H W^T) with D = w - q; w, q (out, n), h (n, n) symmetric, read
 * from its upper triangle only; over every ceil(out / QF_GPTQ_ERROR_MAX_ROWS)-th row.
 * 0 when the denominator is 0. */
qf_status qf_gptq_relative_error(const float *w, const float *q, int64_t out, int64_t n,
                                 const float *h, double *err);

#endif
