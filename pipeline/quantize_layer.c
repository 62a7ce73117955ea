/* One decoder layer of `qforge quantize`: GPTQ with true_sequential runs the calibration
 * samples through the layer in five passes, each ending where the next linear group is
 * quantized ([k,v,q] -> o -> [up,gate] -> down), so every group's Hessian sees the
 * outputs of the already-quantized ones and every linear is applied once per token with
 * its quantized weights; without true_sequential all four Hessians come from the FP layer
 * and one more pass makes the next layer's inputs. RTN needs no activations. AWQ methods
 * first transform the FP layer (awq_layer.c), then round with RTN (followed by one
 * quantized pass for the next layer's inputs) or GPTQ as above. The layer's tensors then
 * go to <tmpdir>/layers/NNNN.safetensors with its report in the metadata. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "formats/compressed_tensors.h"
#include "pipeline/pipe_layer.h"
#include "runtime/cpu/linear.h"
#include "runtime/cpu/pool.h"

static void qf_pipe_layer_free(qf_pipe_layer *L) {
    qf_layer_weights_free(&L->lw);
    qf_pipe_slots_free(L->slot, L->n_slots);
    for (int i = 0; i < QF_LAYER_N_LINEARS; i++) qf_qweight_free(&L->q[i]);
    qf_act_store_free(&L->att_store);
    qf_act_store_free(&L->h_store);
}

qf_status qf_pipe_progress(qf_qrun *r, int64_t layer, const char *what) {
    char buf[256];
    snprintf(buf, sizeof buf, "layer %lld/%lld model.layers.%lld.%s", (long long)layer + 1,
             (long long)r->n_layers, (long long)layer, what);
    QF_RETURN_IF(qf_progress_report(r->opt->progress, buf, r->units_done, r->units_total),
                 QF_STATUS_INTERRUPTED,
                 "interrupted at layer %lld; run again with --resume to continue",
                 (long long)layer);
    return QF_STATUS_OK;
}

/* The per-row part of finishing a linear, over the run's pool: RTN codes (rtn), the
 * dequantized weight and each row's sums of the relative weight error. */
typedef struct qf_pipe_rows_job {
    const float *w;
    int64_t out, in;
    const qf_quant_params *p;
    qf_qweight *q;
    int rtn;
    float *deq;
    double *num, *den; /* (out) */
} qf_pipe_rows_job;

/* Thread ith of nth: rows in multiples of 16, each row exactly the serial arithmetic. */
static void qf_pipe_rows_fn(void *arg, int ith, int nth) {
    qf_pipe_rows_job *j = arg;
    int64_t o0, o1;
    qf_cpu_share_rows(j->out, ith, nth, &o0, &o1);
    if (o0 >= o1) return;
    if (j->rtn) qf_quant_rtn_rows(j->w, j->in, j->p, j->q, o0, o1);
    qf_qweight_dequant_rows(j->q, j->deq, o0, o1);
    for (int64_t o = o0; o < o1; o++) {
        double num = 0.0, den = 0.0;
        for (size_t i = (size_t)(o * j->in); i < (size_t)((o + 1) * j->in); i++) {
            const double d = (double)j->w[i] - (double)j->deq[i];
            num += d * d;
            den += (double)j->w[i] * (double)j->w[i];
        }
        j->num[o] = num, j->den[o] = den;
    }
}

/* Runs the job on the pool (or this thread); the relative error |W - Q|^2 / |W|^2, the
 * rows summed in order (the same for any number of threads). */
static double qf_pipe_rows(qf_qrun *r, qf_pipe_rows_job *j) {
    double num = 0.0, den = 0.0;
    if (r->pool) qf_cpu_pool_run(r->pool, qf_pipe_rows_fn, j);
    else qf_pipe_rows_fn(j, 0, 1);
    for (int64_t o = 0; o < j->out; o++) num += j->num[o], den += j->den[o];
    return den > 0.0 ? num / den : 0.0;
}

qf_quant_params qf_pipe_quant_params(const qf_qrun *r, const qf_pipe_layer *L, int i) {
    qf_quant_params p = r->opt->gptq.quant;
    p.bits = L->rep[i].bits;
    p.group_size = L->rep[i].group_size;
    p.zero_min = r->opt->format == QF_QUANT_FORMAT_GPTQ; // v1 stores zero - 1
    return p;
}

qf_gptq_options qf_pipe_gptq_options(const qf_qrun *r, const qf_pipe_layer *L, int i) {
    qf_gptq_options o = r->opt->gptq;
    o.quant = qf_pipe_quant_params(r, L, i);
    o.n_threads = r->n_threads;
    return o;
}

void qf_pipe_gptq_stats(qf_pipe_layer *L, int i, const qf_gptq_stats *s) {
    qf_linear_report *rep = &L->rep[i];
    rep->rtn_error = s->rtn_error;
    rep->gptq_error = s->gptq_error;
    rep->damp_percent = s->damp_percent;
    rep->gptq = 1;
}

qf_status qf_pipe_finish_linear(qf_qrun *r, qf_pipe_layer *L, int i, int rtn) {
    const qf_gptq_options o = qf_pipe_gptq_options(r, L, i);
    const int64_t out = L->lw.out[i], in = L->lw.in[i];
    if (rtn) QF_FORWARD(qf_quant_rtn_check(L->lw.w[i], out, in, &o.quant, &L->q[i]));
    float *deq = malloc((size_t)(out * in) * sizeof(float));
    double *sums = calloc(2 * (size_t)out, sizeof *sums);
    if (!deq || !sums) {
        free(deq), free(sums);
        return qf_error_set(QF_STATUS_NOMEM, "out of memory");
    }
    qf_pipe_rows_job j = {L->lw.w[i], out, in, &o.quant, &L->q[i], rtn, deq, sums, sums + out};
    L->rep[i].weight_error = qf_pipe_rows(r, &j);
    free(sums);
    free(L->lw.w[i]);
    L->lw.w[i] = deq;
    r->units_done++;
    return QF_STATUS_OK;
}

/* Quantizes linear i (h: its Hessian, NULL for RTN) and replaces its f32 weight by the
 * dequantized one, so later passes see the quantized layer. */
static qf_status qf_pipe_quantize_linear(qf_qrun *r, qf_pipe_layer *L, int64_t layer, int i,
                                         const qf_gptq_hessian *h) {
    if (L->rep[i].skipped) return QF_STATUS_OK;
    QF_FORWARD(qf_pipe_progress(r, layer, qf_layer_linear_name((qf_layer_linear)i)));
    qf_status st = QF_STATUS_OK;
    const double t0 = qf_pipe_elapsed(r);
    if (h) {
        const qf_gptq_options o = qf_pipe_gptq_options(r, L, i);
        qf_gptq_stats stats;
        st = qf_gptq_quantize(L->lw.w[i], L->lw.out[i], L->lw.in[i], h, &o, &L->q[i], &stats);
        if (st == QF_STATUS_OK) qf_pipe_gptq_stats(L, i, &stats);
    }
    const double t1 = qf_pipe_elapsed(r);
    if (st == QF_STATUS_OK) st = qf_pipe_finish_linear(r, L, i, !h);
    L->t_solve += t1 - t0;
    L->t_finish += qf_pipe_elapsed(r) - t1;
    return st == QF_STATUS_OK ? st : qf_error_wrap(st, "%s: ", L->prefix[i]);
}

const char *const qf_pipe_pass_what[QF_LAYER_N_PASSES] = {
    "self_attn (q/k/v inputs)", "self_attn (attention)", "self_attn.o_proj (residual)",
    "mlp (gate/up -> down inputs)", "mlp.down_proj (residual)", "(FP inputs of every linear)",
    "(quantized forward)",
};

/* The Hessian weight of each window position: --sink-weight for the first token (the
 * one the model makes its attention sink), 1 for the rest; NULL when all are 1. */
static qf_status qf_pipe_row_weights(const qf_qrun *r, float **out) {
    *out = NULL;
    if (r->opt->sink_weight == 1.0f) return QF_STATUS_OK;
    float *w = malloc((size_t)r->seqlen * sizeof *w);
    QF_RETURN_IF(!w, QF_STATUS_NOMEM, "out of memory");
    for (int64_t t = 0; t < r->seqlen; t++) w[t] = 1.0f;
    w[0] = r->opt->sink_weight;
    *out = w;
    return QF_STATUS_OK;
}

/* One pass over the samples: its number, the layer, the Hessians (and the rows each held
 * before it), the row weights. */
typedef struct qf_pipe_pass {
    qf_qrun *r;
    qf_pipe_layer *L;
    qf_layer_pass p;
    qf_gptq_hessian *H; /* [4] */
    int64_t count0[4];
    const float *rw;
} qf_pipe_pass;

/* Sample i through pass p in slot s (any thread): what the Hessians take stays in s. */
static qf_status qf_pipe_pass_work(void *arg, qf_pipe_slot *s, int64_t i) {
    const qf_pipe_pass *a = arg;
    qf_qrun *r = a->r;
    qf_pipe_layer *L = a->L;
    qf_layer_ctx *c = &s->ctx;
    const qf_layer_weights *lw = &L->lw;
    QF_FORWARD(qf_act_store_get(&r->x, i, s->x));
    switch (a->p) {
    case QF_PASS_QKV:
        qf_layer_attn_norm(c, lw, s->x, s->xn);
        break;
    case QF_PASS_O:
        qf_layer_attn_norm(c, lw, s->x, s->xn);
        qf_layer_attention(c, lw, s->xn, s->att);
        QF_FORWARD(qf_act_store_put(&L->att_store, i, s->att));
        break;
    case QF_PASS_GU:
        QF_FORWARD(qf_act_store_get(&L->att_store, i, s->att));
        qf_layer_o_residual(c, lw, s->att, s->x);
        QF_FORWARD(qf_act_store_put(&r->x, i, s->x));
        qf_layer_mlp_norm(c, lw, s->x, s->xn);
        break;
    case QF_PASS_DOWN:
        qf_layer_mlp_norm(c, lw, s->x, s->xn);
        qf_layer_mlp_hidden(c, lw, s->xn, s->h);
        QF_FORWARD(qf_act_store_put(&L->h_store, i, s->h));
        break;
    case QF_PASS_OUT:
        QF_FORWARD(qf_act_store_get(&L->h_store, i, s->h));
        qf_layer_down_residual(c, lw, s->h, s->x);
        QF_FORWARD(qf_act_store_put(&r->x, i, s->x));
        break;
    case QF_PASS_ALL_H:
        qf_layer_linear_inputs(c, lw, s->x, s->xn, s->att, s->xn2, s->h);
        break;
    case QF_PASS_FULL:
        qf_layer_forward(c, lw, s->x, s->xn, s->att, s->h);
        QF_FORWARD(qf_act_store_put(&r->x, i, s->x));
        break;
    }
    return QF_STATUS_OK;
}

/* Thread ith's share of adding Hessian g's input x of sample i. */
static qf_status qf_pipe_hadd(const qf_pipe_pass *a, int g, const float *x, int64_t i, int ith,
                              int nth) {
    qf_gptq_hessian *h = &a->H[g];
    const int64_t S = a->r->seqlen;
    return h->h ? qf_gptq_hessian_add_share(h, x, S, a->rw, a->count0[g] + i * S, ith, nth)
                : QF_STATUS_OK;
}

/* Sample i's Hessian inputs (left in s by qf_pipe_pass_work) into the Hessians, thread
 * ith's row blocks. */
static qf_status qf_pipe_pass_reduce(void *arg, const qf_pipe_slot *s, int64_t i, int ith,
                                     int nth) {
    const qf_pipe_pass *a = arg;
    switch (a->p) {
    case QF_PASS_QKV: return qf_pipe_hadd(a, 0, s->xn, i, ith, nth);
    case QF_PASS_O: return qf_pipe_hadd(a, 1, s->att, i, ith, nth);
    case QF_PASS_GU: return qf_pipe_hadd(a, 2, s->xn, i, ith, nth);
    case QF_PASS_DOWN: return qf_pipe_hadd(a, 3, s->h, i, ith, nth);
    case QF_PASS_ALL_H:
        QF_FORWARD(qf_pipe_hadd(a, 0, s->xn, i, ith, nth));
        QF_FORWARD(qf_pipe_hadd(a, 1, s->att, i, ith, nth));
        QF_FORWARD(qf_pipe_hadd(a, 2, s->xn2, i, ith, nth));
        return qf_pipe_hadd(a, 3, s->h, i, ith, nth);
    case QF_PASS_OUT:
    case QF_PASS_FULL: break;
    }
    return QF_STATUS_OK;
}

/* The Hessians each pass adds to (bit g: H[g]). */
static unsigned qf_pipe_pass_hessians(qf_layer_pass p) {
    switch (p) {
    case QF_PASS_QKV: return 1u;
    case QF_PASS_O: return 2u;
    case QF_PASS_GU: return 4u;
    case QF_PASS_DOWN: return 8u;
    case QF_PASS_ALL_H: return 15u;
    case QF_PASS_OUT:
    case QF_PASS_FULL: break;
    }
    return 0u;
}

/* H: Hessians of the qkv, o, gate/up and down inputs (unallocated ones are not needed;
 * NULL for the passes that take none). */
static qf_status qf_pipe_run_pass(qf_qrun *r, qf_pipe_layer *L, int64_t layer, qf_layer_pass p,
                                  qf_gptq_hessian H[4]) {
    const unsigned hs = H ? qf_pipe_pass_hessians(p) : 0u;
    qf_pipe_pass a = {r, L, p, H, {0}, NULL};
    for (int g = 0; g < 4 && hs; g++) a.count0[g] = H[g].count;
    if (hs) QF_FORWARD(qf_pipe_row_weights(r, (float **)&a.rw));
    const double t0 = qf_pipe_elapsed(r);
    const qf_status st = qf_pipe_each_sample(r, L, layer, qf_pipe_pass_what[p], r->n_samples,
                                             qf_pipe_pass_work, hs ? qf_pipe_pass_reduce : NULL,
                                             &a);
    L->t_pass += qf_pipe_elapsed(r) - t0;
    for (int g = 0; g < 4 && st == QF_STATUS_OK; g++)
        if (hs >> g & 1u && H[g].h) H[g].count = a.count0[g] + r->n_samples * r->seqlen;
    free((float *)a.rw);
    return st;
}

const int qf_pipe_hessian_of[QF_LAYER_N_LINEARS] = {0, 0, 0, 1, 2, 2, 3};
const int qf_pipe_order[QF_LAYER_N_LINEARS] = {QF_LAYER_K,  QF_LAYER_V,    QF_LAYER_Q,
                                                      QF_LAYER_O,  QF_LAYER_UP,   QF_LAYER_GATE,
                                                      QF_LAYER_DOWN};

static qf_status qf_pipe_quantize_group(qf_qrun *r, qf_pipe_layer *L, int64_t layer, int group,
                                        qf_gptq_hessian H[4]) {
    for (int k = 0; k < QF_LAYER_N_LINEARS; k++) {
        const int i = qf_pipe_order[k];
        if (group >= 0 && qf_pipe_hessian_of[i] != group) continue;
        QF_FORWARD(qf_pipe_quantize_linear(r, L, layer, i, H ? &H[qf_pipe_hessian_of[i]] : NULL));
    }
    return QF_STATUS_OK;
}

qf_status qf_pipe_layer_buffers(qf_qrun *r, qf_pipe_layer *L) {
    if (L->slot) return QF_STATUS_OK;
    int64_t act_width = 0; /* W8A8: the widest linear input */
    for (int i = 0; i < QF_LAYER_N_LINEARS && L->lw.act_i8; i++)
        act_width = L->lw.in[i] > act_width ? L->lw.in[i] : act_width;
    const size_t each = qf_pipe_slot_bytes(r->cfg, r->seqlen, act_width);
    int n = r->pool && !r->opt->gptq_cuda ? r->n_threads : 1;
    n = r->n_samples < n ? (int)r->n_samples : n;
    while (n > 1 && (size_t)n * each > QF_PIPE_SLOTS_BUDGET) n--;
    n = n < 1 ? 1 : n;
    QF_FORWARD(qf_pipe_slots_init(&L->slot, n, r->cfg, r->seqlen, act_width));
    L->n_slots = n;
    return QF_STATUS_OK;
}

qf_status qf_pipe_rtn_layer(qf_qrun *r, qf_pipe_layer *L, int64_t layer) {
    return qf_pipe_quantize_group(r, L, layer, -1, NULL);
}

qf_status qf_pipe_forward_layer(qf_qrun *r, qf_pipe_layer *L, int64_t layer) {
    QF_FORWARD(qf_pipe_layer_buffers(r, L));
    return qf_pipe_run_pass(r, L, layer, QF_PASS_FULL, NULL);
}

void qf_pipe_hessian_widths(const qf_qrun *r, int64_t w[4]) {
    const qf_model_config *c = r->cfg;
    w[0] = w[2] = c->hidden_size;
    w[1] = c->num_attention_heads * c->head_dim;
    w[3] = c->intermediate_size;
}

qf_status qf_pipe_gptq_layer(qf_qrun *r, qf_pipe_layer *L, int64_t layer) {
    const qf_model_config *c = r->cfg;
    const int64_t S = r->seqlen, inter = c->intermediate_size;
    const int64_t qd = c->num_attention_heads * c->head_dim;
    QF_FORWARD(qf_pipe_layer_buffers(r, L));
#ifdef QF_HAVE_CUDA
    if (r->opt->gptq_cuda) return qf_pipe_gptq_layer_cuda(r, L, layer);
#endif
    qf_gptq_hessian H[4];
    memset(H, 0, sizeof H);
    int64_t widths[4];
    qf_pipe_hessian_widths(r, widths);
    qf_status st = QF_STATUS_OK;
    for (int i = 0; i < QF_LAYER_N_LINEARS && st == QF_STATUS_OK; i++) {
        const int g = qf_pipe_hessian_of[i];
        if (!L->rep[i].skipped && !H[g].h) st = qf_gptq_hessian_init(&H[g], widths[g]);
    }
    char scratch[QF_PIPE_PATH_MAX];
    if (st == QF_STATUS_OK) st = qf_pipe_join(scratch, r->tmpdir, "scratch");
    if (r->opt->true_sequential) {
        if (st == QF_STATUS_OK)
            st = qf_act_store_init(&L->att_store, scratch, "att", r->n_samples, (size_t)(S * qd),
                                   &r->budget);
        if (st == QF_STATUS_OK)
            st = qf_act_store_init(&L->h_store, scratch, "h", r->n_samples, (size_t)(S * inter),
                                   &r->budget);
        for (int g = 0; g < 4 && st == QF_STATUS_OK; g++) {
            st = qf_pipe_run_pass(r, L, layer, (qf_layer_pass)g, H);
            if (st == QF_STATUS_OK) st = qf_pipe_quantize_group(r, L, layer, g, H);
            if (g == 2) qf_act_store_free(&L->att_store);
        }
        if (st == QF_STATUS_OK) st = qf_pipe_run_pass(r, L, layer, QF_PASS_OUT, H);
    } else {
        if (st == QF_STATUS_OK) st = qf_pipe_run_pass(r, L, layer, QF_PASS_ALL_H, H);
        if (st == QF_STATUS_OK) st = qf_pipe_quantize_group(r, L, layer, -1, H);
        if (st == QF_STATUS_OK) st = qf_pipe_run_pass(r, L, layer, QF_PASS_FULL, H);
    }
    for (int g = 0; g < 4; g++) qf_gptq_hessian_free(&H[g]);
    return st;
}

static cJSON *qf_pipe_report_json(const qf_pipe_layer *L, double seconds) {
    cJSON *j = cJSON_CreateObject(), *lin = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "seconds", seconds);
    cJSON *t = cJSON_AddObjectToObject(j, "seconds_in");
    cJSON_AddNumberToObject(t, "load", L->t_load);
    cJSON_AddNumberToObject(t, "passes", L->t_pass);
    cJSON_AddNumberToObject(t, "gptq_solves", L->t_solve);
    cJSON_AddNumberToObject(t, "finish", L->t_finish);
    if (L->t_copy > 0.0) cJSON_AddNumberToObject(t, "gpu_copies", L->t_copy);
    if (L->t_transform > 0.0) cJSON_AddNumberToObject(t, "transform", L->t_transform);
    if (L->t_clip > 0.0) cJSON_AddNumberToObject(t, "awq_clip", L->t_clip);
    for (int i = 0; i < QF_LAYER_N_LINEARS; i++) {
        const qf_linear_report *p = &L->rep[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddBoolToObject(e, "skipped", p->skipped);
        if (!p->skipped) {
            cJSON_AddNumberToObject(e, "bits", p->bits);
            cJSON_AddNumberToObject(e, "group_size", (double)p->group_size);
            cJSON_AddNumberToObject(e, "weight_error", p->weight_error);
            if (L->lw.act_scale[i] > 0.0f)
                cJSON_AddNumberToObject(e, "input_scale", L->lw.act_scale[i]);
            if (p->gptq) {
                cJSON_AddNumberToObject(e, "rtn_error", p->rtn_error);
                cJSON_AddNumberToObject(e, "gptq_error", p->gptq_error);
                cJSON_AddNumberToObject(e, "damp_percent", p->damp_percent);
            }
        }
        if (p->clipped) cJSON_AddBoolToObject(e, "awq_clipped", 1);
        cJSON_AddItemToObject(lin, qf_layer_linear_name((qf_layer_linear)i), e);
    }
    cJSON_AddItemToObject(j, "linears", lin);
    static const char *const awq_groups[QF_SCALE_N_GROUPS] = {
        "input_layernorm->q_proj,k_proj,v_proj", "v_proj->o_proj",
        "post_attention_layernorm->gate_proj,up_proj", "up_proj->down_proj"};
    if (L->sq_done) {
        cJSON *sq = cJSON_AddObjectToObject(j, "smoothquant");
        cJSON_AddNumberToObject(sq, "alpha", L->sq_alpha);
        if (L->sq_error > 0.0) cJSON_AddNumberToObject(sq, "w8a8_output_mse", L->sq_error);
    }
    cJSON *awq = NULL;
    for (int g = 0; g < QF_SCALE_N_GROUPS; g++) {
        const qf_awq_report *a = &L->awq[g];
        if (!a->searched) continue;
        if (!awq) awq = cJSON_AddObjectToObject(j, "awq");
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "ratio", a->res.ratio);
        cJSON_AddBoolToObject(e, "identity", a->res.best == 0);
        cJSON_AddNumberToObject(e, "identity_error", a->res.identity_loss);
        cJSON_AddNumberToObject(e, "error", a->res.loss);
        cJSON_AddItemToObject(awq, awq_groups[g], e);
    }
    return j;
}

/* F16 copy of n floats written as tensor `name`. */
static qf_status qf_pipe_write_f16(qf_st_writer *w, const char *name, const float *x, size_t n) {
    uint16_t *buf = malloc(n * sizeof *buf);
    QF_RETURN_IF(!buf, QF_STATUS_NOMEM, "out of memory");
    qf_status st = qf_dtype_from_f32(QF_DTYPE_F16, x, n, buf);
    if (st == QF_STATUS_OK) st = qf_st_writer_write(w, name, buf, n * sizeof *buf);
    free(buf);
    return st;
}

/* Declares (declare = 1) or writes the layer's tensors. */
static qf_status qf_pipe_layer_tensors(qf_st_writer *w, const qf_pipe_layer *L, int64_t hid,
                                       int declare, qf_quant_format fmt) {
    const qf_layer_weights *lw = &L->lw;
    char name[200];
    for (int i = 0; i < QF_LAYER_N_LINEARS; i++) {
        const char *p = L->prefix[i];
        const int64_t shape[2] = {lw->out[i], lw->in[i]};
        if (!L->rep[i].skipped) {
            const qf_qweight *q = &L->q[i];
            const int64_t g = q->group_size >= q->in ? -1 : q->group_size;
            if (fmt == QF_QUANT_FORMAT_W8A8)
                QF_FORWARD(declare ? qf_ct_declare(w, p, q->out, q->in, lw->b[i] != NULL,
                                                   lw->act_scale[i] > 0.0f)
                                   : qf_ct_write(w, p, q, lw->b[i], lw->act_scale[i]));
            else if (fmt == QF_QUANT_FORMAT_AWQ)
                QF_FORWARD(declare ? qf_awq_declare(w, p, q->out, q->in, q->group_size,
                                                    lw->b[i] != NULL)
                                   : qf_awq_write(w, p, q, lw->b[i]));
            else
                QF_FORWARD(declare ? qf_gptq_declare(w, p, q->bits, q->out, q->in, g,
                                                     lw->b[i] != NULL)
                                   : qf_gptq_write(w, p, q, lw->b[i],
                                                   fmt == QF_QUANT_FORMAT_GPTQ_V2
                                                       ? QF_GPTQ_FORMAT_V2
                                                       : QF_GPTQ_FORMAT_V1));
            continue;
        }
        snprintf(name, sizeof name, "%s.weight", p);
        QF_FORWARD(declare ? qf_st_writer_declare(w, name, QF_DTYPE_F16, 2, shape)
                           : qf_pipe_write_f16(w, name, lw->w[i], (size_t)(shape[0] * shape[1])));
        if (!lw->b[i]) continue;
        snprintf(name, sizeof name, "%s.bias", p);
        QF_FORWARD(declare ? qf_st_writer_declare(w, name, QF_DTYPE_F16, 1, shape)
                           : qf_pipe_write_f16(w, name, lw->b[i], (size_t)shape[0]));
    }
    const float *norms[2] = {lw->ln1, lw->ln2};
    const char *norm_names[2] = {"input_layernorm", "post_attention_layernorm"};
    for (int k = 0; k < 2; k++) {
        snprintf(name, sizeof name, "model.layers.%lld.%s.weight", (long long)lw->index,
                 norm_names[k]);
        QF_FORWARD(declare ? qf_st_writer_declare(w, name, QF_DTYPE_F16, 1, &hid)
                           : qf_pipe_write_f16(w, name, norms[k], (size_t)hid));
    }
    return QF_STATUS_OK;
}

static qf_status qf_pipe_write_layer(qf_qrun *r, qf_pipe_layer *L, int64_t layer,
                                     double seconds) {
    char path[QF_PIPE_PATH_MAX];
    QF_FORWARD(qf_pipe_layer_path(r, layer, path));
    cJSON *j = qf_pipe_report_json(L, seconds);
    char *rep = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    QF_RETURN_IF(!rep, QF_STATUS_NOMEM, "out of memory");
    qf_st_writer *w = NULL;
    qf_status st = qf_st_writer_open(path, 1, &w);
    if (st == QF_STATUS_OK) st = qf_st_writer_add_meta(w, "qforge.layer_report", rep);
    free(rep);
    const int64_t hid = r->cfg->hidden_size;
    if (st == QF_STATUS_OK) st = qf_pipe_layer_tensors(w, L, hid, 1, r->opt->format);
    if (st == QF_STATUS_OK) st = qf_st_writer_write_header(w);
    if (st == QF_STATUS_OK) st = qf_pipe_layer_tensors(w, L, hid, 0, r->opt->format);
    if (st != QF_STATUS_OK) {
        if (w) qf_st_writer_abort(w);
        return st;
    }
    return qf_st_writer_finish(w);
}

qf_status qf_pipe_quantize_layer(qf_qrun *r, int64_t layer) {
    const double t0 = qf_pipe_elapsed(r);
    qf_pipe_layer L;
    memset(&L, 0, sizeof L);
    qf_status st = qf_pipe_progress(r, layer, "(loading weights)");
    const double t_load = qf_pipe_elapsed(r);
    if (st == QF_STATUS_OK) st = qf_layer_weights_load(r->m, layer, &L.lw, r->pool);
    L.t_load = qf_pipe_elapsed(r) - t_load;
    for (int i = 0; i < QF_LAYER_N_LINEARS && st == QF_STATUS_OK; i++) {
        snprintf(L.prefix[i], sizeof L.prefix[i], "model.layers.%lld.%s", (long long)layer,
                 qf_layer_linear_name((qf_layer_linear)i));
        qf_linear_report *p = &L.rep[i];
        st = qf_gptq_config_for_module(&r->gcfg, L.prefix[i], &p->skipped, &p->bits,
                                       &p->group_size);
        if (p->skipped) r->units_done++;
    }
    const qf_quant_method m = r->opt->method;
    for (int i = 0; i < QF_LAYER_N_LINEARS && r->opt->format == QF_QUANT_FORMAT_W8A8; i++)
        if (!L.rep[i].skipped) L.lw.act_i8 |= 1u << i; /* skipped ones run in float */
    const double t_transform = qf_pipe_elapsed(r);
    if (st == QF_STATUS_OK && m == QF_QUANT_METHOD_SMOOTHQUANT) st = qf_pipe_sq_layer(r, &L, layer);
    if (st == QF_STATUS_OK && qf_quant_method_awq(m)) {
        const int clip = m == QF_QUANT_METHOD_AWQ && r->opt->awq.clip;
#ifdef QF_HAVE_CUDA
        if (r->opt->gptq_cuda) st = qf_pipe_awq_layer_cuda(r, &L, layer, clip);
        else
#endif
            st = qf_pipe_awq_layer(r, &L, layer, clip);
    }
    L.t_transform = qf_pipe_elapsed(r) - t_transform;
    if (st == QF_STATUS_OK && r->opt->act_static) {
        st = qf_pipe_act_scales(r, &L, layer, &L.lw, r->n_samples);
    }
    if (st == QF_STATUS_OK) {
        if (qf_quant_method_gptq(m)) {
            st = qf_pipe_gptq_layer(r, &L, layer);
        } else {
            st = qf_pipe_rtn_layer(r, &L, layer);
#ifdef QF_HAVE_CUDA
            if (st == QF_STATUS_OK && r->have_calib && r->opt->gptq_cuda)
                st = qf_pipe_forward_layer_cuda(r, &L, layer);
            else
#endif
                if (st == QF_STATUS_OK && r->have_calib) st = qf_pipe_forward_layer(r, &L, layer);
        }
    }
    if (st == QF_STATUS_OK) st = qf_pipe_write_layer(r, &L, layer, qf_pipe_elapsed(r) - t0);
    qf_pipe_layer_free(&L);
    return st;
}
