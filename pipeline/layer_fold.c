/* Folding per-input-channel scales into one decoder layer (pipeline/layer.h): the
 * rewrite AWQ and SmoothQuant share. */
#include "pipeline/layer.h"

static const int qf_scale_linears[QF_SCALE_N_GROUPS][4] = {
    {QF_LAYER_Q, QF_LAYER_K, QF_LAYER_V, -1}, {QF_LAYER_O, -1, -1, -1},
    {QF_LAYER_GATE, QF_LAYER_UP, -1, -1},     {QF_LAYER_DOWN, -1, -1, -1}};

const int *qf_layer_scale_linears(qf_layer_scale_group g) { return qf_scale_linears[g]; }

int64_t qf_layer_scale_width(const qf_layer_weights *lw, qf_layer_scale_group g) {
    return lw->in[qf_scale_linears[g][0]];
}

int qf_layer_scale_possible(const qf_layer_weights *lw, qf_layer_scale_group g) {
    return g != QF_SCALE_VO || lw->out[QF_LAYER_V] == lw->in[QF_LAYER_O];
}

void qf_layer_fold_scales(qf_layer_weights *lw, qf_layer_scale_group g, const float *s) {
    const int64_t n = qf_layer_scale_width(lw, g);
    if (g == QF_SCALE_QKV || g == QF_SCALE_GU) {
        float *ln = g == QF_SCALE_QKV ? lw->ln1 : lw->ln2;
        for (int64_t j = 0; j < n; j++) ln[j] /= s[j];
    } else {
        const int prev = g == QF_SCALE_VO ? QF_LAYER_V : QF_LAYER_UP;
        const int64_t in = lw->in[prev];
        for (int64_t o = 0; o < n; o++) {
            for (int64_t c = 0; c < in; c++) lw->w[prev][o * in + c] /= s[o];
            if (lw->b[prev]) lw->b[prev][o] /= s[o];
        }
    }
    for (const int *i = qf_scale_linears[g]; *i >= 0; i++)
        for (int64_t o = 0; o < lw->out[*i]; o++)
            for (int64_t c = 0; c < n; c++) lw->w[*i][o * n + c] *= s[c];
}
