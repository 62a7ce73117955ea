/* The SmoothQuant transform of one decoder layer (smoothquant/smoothquant.h): one pass of
 * the FP layer over every calibration sample collects max|x| at the inputs of q,k,v
 * (input_layernorm's output) and gate,up (post_attention_layernorm's output); the factors
 * for the configured alpha are folded into the two norms (pipeline/layer_fold.c).
 * o_proj and down_proj are not smoothed (as in SmoothQuant and llm-compressor's default
 * Llama mappings): their inputs are quantized per token like every other linear's. */
#include <stdlib.h>

#include "pipeline/pipe_layer.h"
#include "smoothquant/smoothquant.h"

qf_status qf_pipe_sq_layer(qf_qrun *r, qf_pipe_layer *L, int64_t layer) {
    QF_FORWARD(qf_pipe_layer_buffers(r, L));
    qf_layer_weights *lw = &L->lw;
    qf_layer_ctx *c = &L->ctx;
    const int64_t S = r->seqlen, hid = r->cfg->hidden_size;
    const int act = lw->act_i8;
    lw->act_i8 = 0; /* statistics of the FP layer */
    qf_sq_stat st1 = {0}, st2 = {0};
    qf_status st = qf_sq_stat_init(&st1, hid);
    if (st == QF_STATUS_OK) st = qf_sq_stat_init(&st2, hid);
    for (int64_t i = 0; i < r->n_samples && st == QF_STATUS_OK; i++) {
        st = qf_pipe_progress(r, layer, "smoothquant (activation statistics)");
        if (st == QF_STATUS_OK) st = qf_act_store_get(&r->x, i, L->x);
        if (st != QF_STATUS_OK) break;
        qf_layer_attn_norm(c, lw, L->x, L->xn);
        qf_sq_stat_add(&st1, L->xn, S);
        qf_layer_attention(c, lw, L->xn, L->att);
        qf_layer_o_residual(c, lw, L->att, L->x);
        qf_layer_mlp_norm(c, lw, L->x, L->xn);
        qf_sq_stat_add(&st2, L->xn, S);
        r->units_done++;
    }
    lw->act_i8 = act;
    const qf_sq_stat *stats[2] = {&st1, &st2};
    const qf_layer_scale_group groups[2] = {QF_SCALE_QKV, QF_SCALE_GU};
    float *s = st == QF_STATUS_OK ? malloc((size_t)hid * sizeof *s) : NULL;
    if (st == QF_STATUS_OK && !s) st = qf_error_set(QF_STATUS_NOMEM, "out of memory");
    for (int k = 0; k < 2 && st == QF_STATUS_OK; k++) {
        const int *lin = qf_layer_scale_linears(groups[k]);
        const float *w[3];
        int64_t out[3];
        int n = 0;
        for (; lin[n] >= 0; n++) w[n] = lw->w[lin[n]], out[n] = lw->out[lin[n]];
        st = qf_sq_scales(stats[k]->absmax, w, out, n, hid, r->opt->sq_alpha, s);
        if (st == QF_STATUS_OK) qf_layer_fold_scales(lw, groups[k], s);
    }
    if (st == QF_STATUS_OK) L->sq_done = 1;
    free(s);
    qf_sq_stat_free(&st1);
    qf_sq_stat_free(&st2);
    return st;
}
