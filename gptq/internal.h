/* Private helpers shared by the files of gptq/ (not part of the public contract). */
#ifndef QF_GPTQ_INTERNAL_H
#define QF_GPTQ_INTERNAL_H

#include <stdint.h>

#include "core/status.h"
#include "gptq/gptq.h"

/* hinv (n, n) row-major = the upper Cholesky factor U of (H + damp I)^-1 (U^T U = it),
 * zero below the diagonal; h (n, n) is the (permuted, dead-fixed) Hessian. damp =
 * damp_percent * mean(diag h); damp_percent grows by increment after each failed
 * factorization while it stays < 1. *damp_used = the damp_percent that worked. */
qf_status qf_gptq_factor_hinv(const float *h, int64_t n, double damp_percent, double increment,
                              float *hinv, double *damp_used);

/* Output rows the relative error sums over; more rows: an evenly strided subset. */
/* The weight (shape, finite values) and option checks of qf_gptq_quantize, with `count`
 * the Hessian's calibration rows; shared with the GPU solve (gptq/cuda). */
qf_status qf_gptq_check_args(const float *w, int64_t out, int64_t in, int64_t count,
                             const qf_gptq_options *opt);
/* The quantization order: perm[c] = original column of position c (diag descending,
 * ties in the original order, when desc_act; else the identity) and diag_sorted[c] its
 * diagonal with a dead (0) one read as 1. Column i's diagonal is diag[i * stride]. */
qf_status qf_gptq_order(const float *diag, int64_t stride, int64_t in, int desc_act,
                        int64_t *perm, float *diag_sorted);

#define QF_GPTQ_ERROR_MAX_ROWS 1024

/* tr(D H D^T) / tr(W H W^T) with D = w - q; w, q (out, n), h (n, n) symmetric, read
 * from its upper triangle only; over every ceil(out / QF_GPTQ_ERROR_MAX_ROWS)-th row.
 * 0 when the denominator is 0. */
qf_status qf_gptq_relative_error(const float *w, const float *q, int64_t out, int64_t n,
                                 const float *h, double *err);

#endif
