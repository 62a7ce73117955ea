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

/* The layer in float on each sample: its four linear inputs' max|x|. */
typedef struct qf_act_scales_pass {
    qf_qrun *r;
    const qf_layer_weights *lw;
    float mx[4]; /* input_layernorm out, attention out, post_attention_layernorm out, h */
} qf_act_scales_pass;

static qf_status qf_act_scales_work(void *arg, qf_pipe_slot *s, int64_t i) {
    const qf_act_scales_pass *a = arg;
    QF_FORWARD(qf_act_store_get(&a->r->x, i, s->x));
    qf_layer_linear_inputs(&s->ctx, a->lw, s->x, s->xn, s->att, s->xn2, s->h);
    return QF_STATUS_OK;
}

/* On the first thread (maxima are cheap). */
static qf_status qf_act_scales_reduce(void *arg, const qf_pipe_slot *s, int64_t i, int ith,
                                      int nth) {
    (void)i, (void)nth;
    if (ith) return QF_STATUS_OK;
    qf_act_scales_pass *a = arg;
    const qf_model_config *cfg = a->r->cfg;
    const int64_t S = a->r->seqlen, hid = cfg->hidden_size;
    const int64_t qd = cfg->num_attention_heads * cfg->head_dim, inter = cfg->intermediate_size;
    a->mx[0] = qf_act_absmax(s->xn, S * hid, a->mx[0]);
    a->mx[1] = qf_act_absmax(s->att, S * qd, a->mx[1]);
    a->mx[2] = qf_act_absmax(s->xn2, S * hid, a->mx[2]);
    a->mx[3] = qf_act_absmax(s->h, S * inter, a->mx[3]);
    return QF_STATUS_OK;
}

qf_status qf_pipe_act_scales(qf_qrun *r, qf_pipe_layer *L, int64_t layer, qf_layer_weights *lw,
                             int64_t ns) {
    QF_FORWARD(qf_pipe_layer_buffers(r, L));
    const unsigned act = lw->act_i8;
    lw->act_i8 = 0;
    qf_act_scales_pass a = {r, lw, {0}};
    const qf_status st = qf_pipe_each_sample(r, L, layer, "(static activation scales)", ns,
                                             qf_act_scales_work, qf_act_scales_reduce, &a);
    lw->act_i8 = act;
    static const int input_of[QF_LAYER_N_LINEARS] = {0, 0, 0, 1, 2, 2, 3};
    for (int i = 0; i < QF_LAYER_N_LINEARS; i++) {
        const float s = a.mx[input_of[i]] / 127.5f;
        lw->act_scale[i] = !(act >> i & 1u) ? 0.0f : (s > FLT_MIN ? s : FLT_MIN);
    }
    return st;
}
