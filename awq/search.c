/* AWQ scale search: every grid candidate's loss, the smallest kept (the first on ties, so
 * the identity wins when nothing helps). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "awq/awq.h"

qf_status qf_awq_search(const qf_awq_options *o, const float *x_mean, const float *w_mean,
                        int64_t n, qf_awq_loss_fn loss, void *user, float *best_s,
                        qf_awq_search_result *res) {
    const int nc = o->n_grid + 1;
    float *all = malloc((size_t)nc * (size_t)n * sizeof *all);
    const float **s = calloc((size_t)nc, sizeof *s);
    double *l = malloc((size_t)nc * sizeof *l);
    qf_status st = all && s && l ? QF_STATUS_OK : qf_error_set(QF_STATUS_NOMEM, "out of memory");
    for (int k = 0; k < nc && st == QF_STATUS_OK; k++) {
        qf_awq_scales(o, k, x_mean, w_mean, n, all + (size_t)k * (size_t)n);
        s[k] = all + (size_t)k * (size_t)n;
    }
    if (st == QF_STATUS_OK) st = loss(user, s, nc, l);
    memset(res, 0, sizeof *res);
    res->best = -1;
    for (int k = 0; k < nc && st == QF_STATUS_OK; k++) {
        if (k == 0) res->identity_loss = l[k];
        if (isfinite(l[k]) && (res->best < 0 || l[k] < res->loss)) {
            res->best = k;
            res->ratio = qf_awq_grid_ratio(o, k);
            res->loss = l[k];
        }
    }
    if (st == QF_STATUS_OK && res->best >= 0)
        memcpy(best_s, s[res->best], (size_t)n * sizeof *best_s);
    free(all), free(s), free(l);
    QF_FORWARD(st);
    QF_RETURN_IF(res->best < 0, QF_STATUS_INVALID_ARG,
                 "AWQ scale search: no grid point gave a finite block-output error (NaN or "
                 "inf in the calibration activations)");
    return QF_STATUS_OK;
}
