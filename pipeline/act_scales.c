/* Static per-tensor activation scales of W8A8 (pipe_layer.h): the layer in float over the
 * calibration samples, max|x| at each linear's input (q,k,v share input_layernorm's
 * output, gate,up post_attention_layernorm's). */
#include <float.h>
#include <math.h>

#include "pipeline/pipe_layer.h"

static float qf_act_absmax(const float *x, int64_t n, float m) {
    for (int64_t k = 0; k < n; k++) {
        const float a = fabsf(x[k]);
        m = a > m ? a : m;
    }
    return m;
}

qf_status qf_pipe_act_scales(qf_qrun *r, qf_pipe_layer *L, qf_layer_weights *lw, int64_t ns) {
    QF_FORWARD(qf_pipe_layer_buffers(r, L));
    qf_layer_ctx *c = &L->ctx;
    const qf_model_config *cfg = r->cfg;
    const int64_t S = r->seqlen, hid = cfg->hidden_size;
    const int64_t qd = cfg->num_attention_heads * cfg->head_dim, inter = cfg->intermediate_size;
    const unsigned act = lw->act_i8;
    lw->act_i8 = 0;
    float mx[4] = {0}; /* input_layernorm out, attention out, post_attention_layernorm out, h */
    qf_status st = QF_STATUS_OK;
    for (int64_t i = 0; i < ns && st == QF_STATUS_OK; i++) {
        st = qf_act_store_get(&r->x, i, L->x);
        if (st != QF_STATUS_OK) break;
        qf_layer_attn_norm(c, lw, L->x, L->xn);
        mx[0] = qf_act_absmax(L->xn, S * hid, mx[0]);
        qf_layer_attention(c, lw, L->xn, L->att);
        mx[1] = qf_act_absmax(L->att, S * qd, mx[1]);
        qf_layer_o_residual(c, lw, L->att, L->x);
        qf_layer_mlp_norm(c, lw, L->x, L->xn);
        mx[2] = qf_act_absmax(L->xn, S * hid, mx[2]);
        qf_layer_mlp_hidden(c, lw, L->xn, L->h);
        mx[3] = qf_act_absmax(L->h, S * inter, mx[3]);
    }
    lw->act_i8 = act;
    static const int input_of[QF_LAYER_N_LINEARS] = {0, 0, 0, 1, 2, 2, 3};
    for (int i = 0; i < QF_LAYER_N_LINEARS; i++) {
        const float s = mx[input_of[i]] / 127.5f;
        lw->act_scale[i] = !(act >> i & 1u) ? 0.0f : (s > FLT_MIN ? s : FLT_MIN);
    }
    return st;
}
