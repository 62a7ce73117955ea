/* Internal to the .cu files of gptq/cuda/: cuBLAS / cuSOLVER statuses as qf_status, the
 * kernel launchers (kernels.cu) and the damped inverse factor (hinv.cu). Pointers marked
 * (device) are device memory; every launch goes to the default stream. */
#ifndef QF_GPTQ_CUDA_INTERNAL_H
#define QF_GPTQ_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cusolverDn.h>

#include "gptq/cuda/gptq_cuda.h"
#include "gptq/cuda/gptq_math.h"
#include "gptq/cuda/plan.h"
#include "runtime/cuda/cuda_check.h"

/* allocation failures -> NOMEM, no device / library -> UNSUPPORTED, else IO */
qf_status qf_gcu_blas_status(cublasStatus_t st, const char *what);
qf_status qf_gcu_solver_status(cusolverStatus_t st, const char *what);

#define QF_GCU_BLAS_TRY(call, what)                                         \
    do {                                                                    \
        cublasStatus_t qf__b = (call);                                      \
        if (qf__b != CUBLAS_STATUS_SUCCESS) return qf_gcu_blas_status(qf__b, what); \
    } while (0)
#define QF_GCU_SOLVER_TRY(call, what)                                       \
    do {                                                                    \
        cusolverStatus_t qf__v = (call);                                    \
        if (qf__v != CUSOLVER_STATUS_SUCCESS) return qf_gcu_solver_status(qf__v, what); \
    } while (0)

/* *count (device) = the non-finite entries of h's upper triangle (h (device) (n, n)) */
qf_status qf_gcu_count_nonfinite(const float *h, int64_t n, int *count);
/* wp (out, in) = w's columns in the order perm, dead columns (h[i][i] == 0) zeroed */
qf_status qf_gcu_gather_w(const float *w, const float *h, const int32_t *perm, int64_t out,
                          int64_t in, float *wp);
/* scale, zero (rows) = qf_gcu_row_params of w[o * ld .. + cols) for each row o */
qf_status qf_gcu_params(const float *w, int64_t ld, int64_t rows, int64_t cols,
                        const qf_gcu_grid *grid, float *scale, uint8_t *zero);
/* a (n, n) = J (P^T H P + diag fix + damp I) J: the permuted, dead-fixed Hessian with
 * rows and columns reversed (hinv.c's hinv_try), perm / diag (device) from the plan */
qf_status qf_gcu_build_a(const float *h, const int32_t *perm, const float *diag, int64_t n,
                         float damp, float *a);
/* hinv (n, n) row-major upper = J L^-1 J from a = L^-1 (column-major lower) */
qf_status qf_gcu_extract_hinv(const float *a, int64_t n, float *hinv);
/* GPTQ's column loop over the block [i1, i1 + cnt) of wp (out, in): codes into q (out,
 * in) at the original columns perm[c], scaled errors into err (out, cnt); wp's block
 * itself is left as it was (only the columns after it are read later). */
qf_status qf_gcu_block(const float *wp, int64_t out, int64_t in, int64_t i1, int64_t cnt,
                       const float *hinv, const float *scales, const uint8_t *zeros,
                       const int32_t *group, const int32_t *perm, int maxq, uint8_t *q,
                       float *err);

/* hinv (device, (n, n)) = upper Cholesky factor of (P^T H P + damp I)^-1 with hinv.c's
 * damping and retry; a (device, (n, n)) scratch; *damp_used the damp_percent that
 * worked. */
qf_status qf_gcu_factor_hinv(cusolverDnHandle_t sol, const float *h, const qf_cuda_gptq_plan *p,
                             const int32_t *perm, const float *diag, double damp_percent,
                             double increment, float *a, float *hinv, double *damp_used);

#endif
