/* The host side of the GPU GPTQ (plain C, built with or without CUDA): the checks of
 * qf_gptq_quantize's arguments, the column order (dead columns, act-order argsort of
 * diag(H)), the group each quantization position reads its scale / zero from, g_idx,
 * and the error statistics. Each mirrors gptq/gptq.c; tests/test_cuda_gptq_host.c holds
 * them to the CPU GPTQ's results. */
#ifndef QF_GPTQ_CUDA_PLAN_H
#define QF_GPTQ_CUDA_PLAN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" { /* the C headers below have no guards of their own */
#endif

#include "gptq/gptq.h"

typedef struct qf_cuda_gptq_plan {
    int64_t in, group_size, n_groups; /* group_size as qf_qweight_init sets it */
    int is_static;   /* parameters of the original W: per-channel or static_groups */
    int32_t *perm;   /* (in) original column at each quantization position */
    float *diag;     /* (in) diag(H) in that order, dead columns (0) set to 1 */
    int32_t *group;  /* (in) row of scales / zeros each position is quantized with */
    double mean;     /* mean of diag, summed in this order (the damping's base) */
} qf_cuda_gptq_plan;

/* The checks of qf_gptq_quantize that need no Hessian entries: shapes, options, w (out,
 * in) finite, count > 0. (The GPU checks that H is finite.) */
qf_status qf_cuda_gptq_check(const float *w, int64_t out, int64_t in, int64_t count,
                             const qf_gptq_options *opt);

/* The plan of a weight with in columns from diag(H) (in, original order). */
qf_status qf_cuda_gptq_plan_init(qf_cuda_gptq_plan *p, const float *diag, int64_t in,
                                 const qf_gptq_options *opt);
void qf_cuda_gptq_plan_free(qf_cuda_gptq_plan *p); /* NULL and zeroed structs are fine */

/* g_idx (in) as qf_gptq_quantize stores it (when desc_act && !static_groups). */
void qf_cuda_gptq_plan_g_idx(const qf_cuda_gptq_plan *p, int32_t *g_idx);

/* qf_gptq_stats of dst (damp_percent not set): the RTN and GPTQ relative errors with h
 * (host, (in, in), upper triangle), exactly as qf_gptq_quantize computes them. */
qf_status qf_cuda_gptq_stats(const float *w, int64_t out, int64_t in, const float *h,
                             const qf_gptq_options *opt, const qf_qweight *dst,
                             qf_gptq_stats *stats);

#ifdef __cplusplus
}
#endif

#endif
