/* AWQ scale search: every grid candidate's loss, the smallest kept (the first on ties, so
 * the identity wins when nothing helps). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "awq/awq.h"

qf_status qf_awq_search(const qf_awq_options *o, const float *x_mean, const float *w_mean,
                        int64_t n, qf_awq_loss_fn loss, void *user, float *best_s,
                        qf_awq_search_result *res) {
    float *s = malloc((size_t)n * sizeof *s);
    QF_RETURN_IF(!s, QF_STATUS_NOMEM, "out of memory");
    memset(res, 0, sizeof *res);
    res->best = -1;
    qf_status st = QF_STATUS_OK;
    for (int k = 0; k <= o->n_grid && st == QF_STATUS_OK; k++) {
        qf_awq_scales(o, k, x_mean, w_mean, n, s);
        double l = 0.0;
        st = loss(user, s, &l);
        if (st != QF_STATUS_OK) break;
        if (k == 0) res->identity_loss = l;
        if (isfinite(l) && (res->best < 0 || l < res->loss)) {
            res->best = k;
            res->ratio = qf_awq_grid_ratio(o, k);
            res->loss = l;
            memcpy(best_s, s, (size_t)n * sizeof *s);
        }
    }
    free(s);
    QF_FORWARD(st);
    QF_RETURN_IF(res->best < 0, QF_STATUS_INVALID_ARG,
                 "AWQ scale search: no grid point gave a finite block-output error (NaN or "
                 "inf in the calibration activations)");
    return QF_STATUS_OK;
}
