/* One decoder layer of `quantize --device cuda`: GPTQ's passes of quantize_layer.c on the
 * GPU (pipeline/cuda/layer_cuda.h) with the Hessians summed and every GPTQ solve run
 * there (gptq/cuda), or (awq) the RTN-quantized layer's forward pass. GPTQ's codes come
 * back to the host, where the linear is finished as on the CPU path (dequantized weight,
 * report) and the dequantized weight goes back up for the passes after it. The samples'
 * activations stay on the device from layer to layer; at the end of a layer they are
 * also copied into r->x when a checkpoint saves them. Built only with CUDA. */
#include <string.h>

#include "pipeline/cuda/layer_cuda.h"
#include "pipeline/pipe_layer.h"
#include "runtime/cuda/cuda_kernels.h"

/* The GPU state, made at the first layer (sizes, and RoPE tables from slot 0). */
static qf_status qf_pipe_cuda_state(qf_qrun *r, qf_pipe_layer *L) {
    if (r->gpu) return QF_STATUS_OK;
    const qf_model_config *c = r->cfg;
    qf_cuda_qshape s = {
        .hidden = c->hidden_size, .heads = c->num_attention_heads,
        .kv_heads = c->num_key_value_heads, .head_dim = c->head_dim,
        .intermediate = c->intermediate_size, .window = c->sliding_window,
        .eps = (float)c->rms_norm_eps, .n_samples = r->n_samples, .seqlen = r->seqlen,
        .keep = r->opt->true_sequential && qf_quant_method_gptq(r->opt->method),
        .tf32 = r->opt->gpu_tf32};
    r->gpu_x_layer = -1;
    return qf_error_wrap(qf_cuda_qlayer_init(&s, L->slot->ctx.cos_t, L->slot->ctx.sin_t, &r->gpu),
                         "--device cuda: ");
}

/* Moves every sample's activations between r->x and the device (up: to the device). */
static qf_status qf_pipe_cuda_x(qf_qrun *r, qf_pipe_layer *L, int up) {
    for (int64_t i = 0; i < r->n_samples; i++) {
        if (up) {
            QF_FORWARD(qf_act_store_get(&r->x, i, L->slot->x));
            QF_FORWARD(qf_cuda_qlayer_put_x(r->gpu, i, L->slot->x));
        } else {
            QF_FORWARD(qf_cuda_qlayer_get_x(r->gpu, i, L->slot->x));
            QF_FORWARD(qf_act_store_put(&r->x, i, L->slot->x));
        }
    }
    return QF_STATUS_OK;
}

/* Pass p over every sample; waits for the device at the end (its time is the pass's,
 * and errors during the kernels surface here). */
static qf_status qf_pipe_cuda_pass(qf_qrun *r, qf_pipe_layer *L, int64_t layer,
                                   qf_layer_pass p, qf_cuda_gptq_hessian H[4]) {
    const double t0 = qf_pipe_elapsed(r);
    for (int64_t i = 0; i < r->n_samples; i++) {
        QF_FORWARD(qf_pipe_progress(r, layer, qf_pipe_pass_what[p]));
        QF_FORWARD(qf_cuda_qlayer_pass(r->gpu, p, i, H, r->opt->sink_weight));
        r->units_done++;
    }
    QF_FORWARD(qf_error_wrap(qf_cuda_sync(), "--device cuda: "));
    L->t_pass += qf_pipe_elapsed(r) - t0;
    return QF_STATUS_OK;
}

/* GPTQ of the linears fed by Hessian `group` (-1: all) in qf_pipe_order. */
static qf_status qf_pipe_cuda_group(qf_qrun *r, qf_pipe_layer *L, int64_t layer, int group,
                                    qf_cuda_gptq_hessian H[4]) {
    for (int k = 0; k < QF_LAYER_N_LINEARS; k++) {
        const int i = qf_pipe_order[k], g = qf_pipe_hessian_of[i];
        if ((group >= 0 && g != group) || L->rep[i].skipped) continue;
        QF_FORWARD(qf_pipe_progress(r, layer, qf_layer_linear_name((qf_layer_linear)i)));
        const qf_gptq_options o = qf_pipe_gptq_options(r, L, i);
        qf_gptq_stats stats;
        const double t0 = qf_pipe_elapsed(r);
        qf_status st = qf_cuda_gptq_quantize_dev(L->lw.w[i], L->lw.out[i], L->lw.in[i], &H[g],
                                                 &o, &L->q[i], &stats);
        const double t1 = qf_pipe_elapsed(r);
        if (st == QF_STATUS_OK) qf_pipe_gptq_stats(L, i, &stats);
        if (st == QF_STATUS_OK) st = qf_pipe_finish_linear(r, L, i, 0);
        if (st == QF_STATUS_OK) st = qf_cuda_qlayer_set_weight(r->gpu, i, L->lw.w[i]);
        L->t_solve += t1 - t0;
        L->t_finish += qf_pipe_elapsed(r) - t1;
        QF_FORWARD(qf_error_wrap(st, "%s: ", L->prefix[i]));
    }
    return QF_STATUS_OK;
}

qf_status qf_pipe_cuda_load(qf_qrun *r, qf_pipe_layer *L, int64_t layer) {
    QF_FORWARD(qf_pipe_layer_buffers(r, L));
    QF_FORWARD(qf_pipe_cuda_state(r, L));
    const qf_layer_weights *lw = &L->lw;
    qf_cuda_qweights w = {.ln1 = lw->ln1, .ln2 = lw->ln2};
    for (int i = 0; i < QF_LAYER_N_LINEARS; i++) w.w[i] = lw->w[i], w.b[i] = lw->b[i];
    const double t0 = qf_pipe_elapsed(r);
    QF_FORWARD(qf_cuda_qlayer_load(r->gpu, &w));
    if (r->gpu_x_layer != layer) QF_FORWARD(qf_pipe_cuda_x(r, L, 1));
    r->gpu_x_layer = layer;
    L->t_copy += qf_pipe_elapsed(r) - t0;
    return QF_STATUS_OK;
}

/* After a layer's passes: the device holds the next layer's inputs; the host copy when a
 * checkpoint saves them. */
static qf_status qf_pipe_cuda_done(qf_qrun *r, qf_pipe_layer *L, int64_t layer) {
    const double t0 = qf_pipe_elapsed(r);
    if (qf_pipe_checkpoint_due(r, layer)) QF_FORWARD(qf_pipe_cuda_x(r, L, 0));
    L->t_copy += qf_pipe_elapsed(r) - t0;
    r->gpu_x_layer = layer + 1;
    return QF_STATUS_OK;
}

static qf_status qf_pipe_cuda_layer_run(qf_qrun *r, qf_pipe_layer *L, int64_t layer,
                                        qf_cuda_gptq_hessian H[4]) {
    int64_t widths[4];
    qf_pipe_hessian_widths(r, widths);
    for (int i = 0; i < QF_LAYER_N_LINEARS; i++) {
        const int g = qf_pipe_hessian_of[i];
        if (L->rep[i].skipped || H[g].h) continue;
        QF_FORWARD(qf_cuda_gptq_hessian_init(&H[g], widths[g]));
        if (r->opt->gpu_tf32) QF_FORWARD(qf_cuda_gptq_hessian_tf32(&H[g]));
    }
    QF_FORWARD(qf_pipe_cuda_load(r, L, layer));
    r->gpu_x_layer = -1; /* the passes change them */
    if (r->opt->true_sequential) {
        for (int g = 0; g < 4; g++) {
            QF_FORWARD(qf_pipe_cuda_pass(r, L, layer, (qf_layer_pass)g, H));
            QF_FORWARD(qf_pipe_cuda_group(r, L, layer, g, H));
        }
        QF_FORWARD(qf_pipe_cuda_pass(r, L, layer, QF_PASS_OUT, H));
    } else {
        QF_FORWARD(qf_pipe_cuda_pass(r, L, layer, QF_PASS_ALL_H, H));
        QF_FORWARD(qf_pipe_cuda_group(r, L, layer, -1, H));
        QF_FORWARD(qf_pipe_cuda_pass(r, L, layer, QF_PASS_FULL, H));
    }
    return qf_pipe_cuda_done(r, L, layer);
}

qf_status qf_pipe_gptq_layer_cuda(qf_qrun *r, qf_pipe_layer *L, int64_t layer) {
    qf_cuda_gptq_hessian H[4];
    memset(H, 0, sizeof H);
    const qf_status st = qf_pipe_cuda_layer_run(r, L, layer, H);
    for (int g = 0; g < 4; g++) qf_cuda_gptq_hessian_free(&H[g]);
    return st;
}

qf_status qf_pipe_forward_layer_cuda(qf_qrun *r, qf_pipe_layer *L, int64_t layer) {
    QF_FORWARD(qf_pipe_cuda_load(r, L, layer)); /* the RTN-dequantized weights */
    r->gpu_x_layer = -1;
    QF_FORWARD(qf_pipe_cuda_pass(r, L, layer, QF_PASS_FULL, NULL));
    return qf_pipe_cuda_done(r, L, layer);
}
