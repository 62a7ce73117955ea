/* Host side of the GPU GPTQ: argument checks, column order, groups, g_idx and error
 * statistics, each as gptq/gptq.c does it (see plan.h). */
#include "gptq/cuda/plan.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gptq/internal.h"

qf_status qf_cuda_gptq_check(const float *w, int64_t out, int64_t in, int64_t count,
                             const qf_gptq_options *opt) {
    return qf_gptq_check_args(w, out, in, count, opt);
}

qf_status qf_cuda_gptq_plan_init(qf_cuda_gptq_plan *p, const float *diag, int64_t in,
                                 const qf_gptq_options *opt) {
    memset(p, 0, sizeof *p);
    QF_RETURN_IF(in <= 0 || in > INT_MAX, QF_STATUS_INVALID_ARG,
                 "gptq: input width %lld outside [1, %d]", (long long)in, INT_MAX);
    int64_t g = opt->quant.group_size;
    p->in = in;
    p->group_size = g <= 0 || g >= in ? in : g;
    p->n_groups = (in + p->group_size - 1) / p->group_size;
    p->is_static = p->n_groups == 1 || opt->static_groups;
    p->perm = malloc((size_t)in * sizeof *p->perm);
    p->diag = malloc((size_t)in * sizeof *p->diag);
    p->group = malloc((size_t)in * sizeof *p->group);
    int64_t *order = malloc((size_t)in * sizeof *order);
    qf_status st = p->perm && p->diag && p->group && order
                       ? qf_gptq_order(diag, 1, in, opt->desc_act, order, p->diag)
                       : qf_error_set(QF_STATUS_NOMEM, "gptq: out of memory for %lld columns",
                                      (long long)in);
    if (st != QF_STATUS_OK) {
        free(order);
        qf_cuda_gptq_plan_free(p);
        return st;
    }
    for (int64_t c = 0; c < in; c++) {
        p->perm[c] = (int32_t)order[c];
        p->group[c] = (int32_t)((p->is_static ? order[c] : c) / p->group_size);
        p->mean += p->diag[c];
    }
    p->mean /= (double)in;
    free(order);
    return QF_STATUS_OK;
}

void qf_cuda_gptq_plan_free(qf_cuda_gptq_plan *p) {
    if (!p) return;
    free(p->perm);
    free(p->diag);
    free(p->group);
    memset(p, 0, sizeof *p);
}

void qf_cuda_gptq_plan_g_idx(const qf_cuda_gptq_plan *p, int32_t *g_idx) {
    /* dynamic groups: the group of the column's rank; one group: 0 (= group[c] too) */
    for (int64_t c = 0; c < p->in; c++) g_idx[p->perm[c]] = p->group[c];
}

qf_status qf_cuda_gptq_stats(const float *w, int64_t out, int64_t in, const float *h,
                             const qf_gptq_options *opt, const qf_qweight *dst,
                             qf_gptq_stats *stats) {
    /* gptq.c's RTN baseline: qf_quant_rtn, or with static groups RTN with dst's
     * parameters, which are qf_quant_rtn's (the same search on the same columns) */
    float *deq = malloc((size_t)out * (size_t)in * sizeof(float));
    QF_RETURN_IF(!deq, QF_STATUS_NOMEM, "gptq: out of memory for the error statistics");
    qf_qweight rtn;
    qf_status st = qf_quant_rtn(w, out, in, &opt->quant, &rtn);
    if (st == QF_STATUS_OK) {
        qf_qweight_dequant_ref(&rtn, deq);
        qf_qweight_free(&rtn);
        st = qf_gptq_relative_error(w, deq, out, in, h, &stats->rtn_error);
    }
    if (st == QF_STATUS_OK) {
        qf_qweight_dequant_ref(dst, deq);
        st = qf_gptq_relative_error(w, deq, out, in, h, &stats->gptq_error);
    }
    free(deq);
    return st;
}
