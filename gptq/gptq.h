/* GPTQ (Frantar et al.; IST-DASLab/gptq gptq.py, GPTQModel) on the CPU: the Hessian
 * H = (2/n) sum x x^T of a linear's calibration inputs, and the column-by-column
 * quantization of W with error propagation through the upper Cholesky factor of H^-1
 * (REFERENCE.md "GPTQ algorithm"): dead columns, damping raised on Cholesky failure,
 * lazy blocks, act-order (desc_act) with g_idx, static_groups, optional MSE grid. */
#ifndef QF_GPTQ_H
#define QF_GPTQ_H

#include <stdint.h>

#include "core/qweight.h"
#include "core/quant.h"
#include "core/status.h"

/* Running Hessian of one input width: after rows x_1..x_n, h = (2/n) sum x_j x_j^T. */
typedef struct qf_gptq_hessian {
    int64_t n;     /* input width */
    int64_t count; /* rows accumulated so far */
    float *h;      /* (n, n): H in the upper triangle (h[i * n + j], j >= i); the strict
                      lower triangle is not maintained (zeros) */
} qf_gptq_hessian;

qf_status qf_gptq_hessian_init(qf_gptq_hessian *h, int64_t n);
void qf_gptq_hessian_free(qf_gptq_hessian *h);
/* Adds m rows x (m, n) row-major, keeping the running mean as gptq.py's add_batch does;
 * computed in blocks of QF_GPTQ_HESSIAN_ROWS rows of H (cblas_ssyrk on the diagonal tile,
 * cblas_sgemm right of it). */
qf_status qf_gptq_hessian_add(qf_gptq_hessian *h, const float *x, int64_t m);
/* The same with row t weighted by w[t] >= 0 (finite): it contributes w[t] x_t x_t^T and
 * counts as one row of the running mean (so weights are relative: all 1 = the unweighted
 * add). w NULL = all 1. */
qf_status qf_gptq_hessian_add_weighted(qf_gptq_hessian *h, const float *x, int64_t m,
                                       const float *w);
#define QF_GPTQ_HESSIAN_ROWS 64
/* Thread ith of nth's share of that add (w not checked) on a Hessian holding count rows:
 * its row blocks; h->count is left as it is (the caller adds m once every share is done).
 * Every block is the same call whatever nth is, so the bits do not depend on it. */
qf_status qf_gptq_hessian_add_share(qf_gptq_hessian *h, const float *x, int64_t m,
                                    const float *w, int64_t count, int ith, int nth);

typedef struct qf_gptq_options {
    qf_quant_params quant; /* bits, sym, group_size, mse, scale dtype */
    double damp_percent;   /* fraction of mean(diag H) added to the diagonal; 0.01 */
    double damp_auto_increment; /* added to damp_percent after a Cholesky failure, until
                                   it works or reaches 1; 0.0025 (GPTQModel) */
    int64_t block_size;    /* lazy batch width; 128 */
    int desc_act;          /* act-order: columns by diag(H) descending, g_idx stored */
    int static_groups;     /* with desc_act: groups fixed on the original W (g_idx = i/g) */
    int n_threads;         /* threads of the column loop (<= 1: the caller's only); the
                              result does not depend on it */
} qf_gptq_options;

/* The defaults above (4 bits, asym, g128, damp 0.01, block 128, no act-order). */
qf_gptq_options qf_gptq_options_default(void);

typedef struct qf_gptq_stats {
    double damp_percent; /* the damping that worked */
    /* relative output error on the calibration inputs,
     * tr((W - Q) H (W - Q)^T) / tr(W H W^T), of RTN with the same grid and of GPTQ
     * (estimated on an evenly strided subset of 1024 output rows when out > 1024) */
    double rtn_error, gptq_error;
} qf_gptq_stats;

/* Quantizes w (out, in) with the Hessian h (h->n == in; only its upper triangle is read;
 * not modified) into dst
 * (initialised here, g_idx set iff desc_act && !static_groups). stats may be NULL.
 * Fails if no damping up to 100% of the mean diagonal makes H positive definite. */
qf_status qf_gptq_quantize(const float *w, int64_t out, int64_t in, const qf_gptq_hessian *h,
                           const qf_gptq_options *opt, qf_qweight *dst, qf_gptq_stats *stats);

#endif
