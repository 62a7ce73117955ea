/* The SmoothQuant transform of one decoder layer (smoothquant/smoothquant.h): one pass of
 * the FP layer over every calibration sample collects max|x| at the inputs of q,k,v
 * (input_layernorm's output) and gate,up (post_attention_layernorm's output); the factors
 * for alpha are folded into the two norms (pipeline/layer_fold.c). With alpha auto
 * (opt->sq_alpha < 0) every alpha of QF_SQ_GRID is tried on a copy of the layer: fold,
 * RTN-quantize every linear, run the W8A8 layer on the first search samples and keep the
 * alpha with the smallest mean squared error against the FP layer's output.
 * o_proj and down_proj are not smoothed (as in SmoothQuant and llm-compressor's default
 * Llama mappings): their inputs are quantized like every other linear's (per token, or
 * with the static scales of opt->act_static). */
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe_layer.h"
#include "smoothquant/smoothquant.h"

#define QF_SQ_GRID 21 /* alpha = 0, 0.05, ..., 1 */

/* Folds the factors for alpha into lw. */
static qf_status qf_sq_fold(qf_layer_weights *lw, const qf_sq_stat *st1, const qf_sq_stat *st2,
                            float alpha, float *s) {
    const qf_sq_stat *stats[2] = {st1, st2};
    const qf_layer_scale_group groups[2] = {QF_SCALE_QKV, QF_SCALE_GU};
    for (int k = 0; k < 2; k++) {
        const int *lin = qf_layer_scale_linears(groups[k]);
        const float *w[3];
        int64_t out[3];
        int n = 0;
        for (; lin[n] >= 0; n++) w[n] = lw->w[lin[n]], out[n] = lw->out[lin[n]];
        QF_FORWARD(qf_sq_scales(stats[k]->absmax, w, out, n, stats[k]->n, alpha, s));
        qf_layer_fold_scales(lw, groups[k], s);
    }
    return QF_STATUS_OK;
}

/* The layer lw over samples (alpha search): outputs y (ns, S, hid) are kept (keep) or
 * compared with (else: the squared error summed into err). */
typedef struct qf_sq_run {
    qf_qrun *r;
    const qf_layer_weights *lw;
    float *y;
    int keep;
    double err;
} qf_sq_run;

static qf_status qf_sq_run_work(void *arg, qf_pipe_slot *s, int64_t i) {
    qf_sq_run *a = arg;
    QF_FORWARD(qf_act_store_get(&a->r->x, i, s->x));
    qf_layer_forward(&s->ctx, a->lw, s->x, s->xn, s->att, s->h);
    const int64_t n = a->r->seqlen * a->r->cfg->hidden_size;
    if (a->keep) memcpy(a->y + i * n, s->x, (size_t)n * sizeof(float));
    return QF_STATUS_OK;
}

/* On the first thread: one double sum in sample order. */
static qf_status qf_sq_run_reduce(void *arg, const qf_pipe_slot *s, int64_t i, int ith,
                                  int nth) {
    (void)nth;
    if (ith) return QF_STATUS_OK;
    qf_sq_run *a = arg;
    const int64_t n = a->r->seqlen * a->r->cfg->hidden_size;
    const float *y = a->y + i * n;
    for (int64_t k = 0; k < n; k++) {
        const double d = (double)s->x[k] - y[k];
        a->err += d * d;
    }
    return QF_STATUS_OK;
}

/* Mean squared error of the W8A8 layer (a copy of L->lw smoothed with alpha, every
 * linear fake-quantized; static activation scales observed on the same samples) against
 * y_fp on the first ns samples. */
static qf_status qf_sq_alpha_error(qf_qrun *r, qf_pipe_layer *L, int64_t layer,
                                   const qf_sq_stat *st1, const qf_sq_stat *st2, float alpha,
                                   int64_t ns, float *y_fp, float *s, double *err) {
    qf_layer_weights c;
    QF_FORWARD(qf_layer_weights_clone(&L->lw, &c));
    qf_status st = qf_sq_fold(&c, st1, st2, alpha, s);
    if (st == QF_STATUS_OK && r->opt->act_static) st = qf_pipe_act_scales(r, L, layer, &c, ns);
    for (int i = 0; i < QF_LAYER_N_LINEARS && st == QF_STATUS_OK; i++) {
        if (L->rep[i].skipped) continue;
        const qf_quant_params p = qf_pipe_quant_params(r, L, i);
        st = qf_awq_fake_quant(c.w[i], c.out[i], c.in[i], NULL, &p, c.w[i]);
    }
    qf_sq_run a = {r, &c, y_fp, 0, 0.0};
    if (st == QF_STATUS_OK)
        st = qf_pipe_each_sample(r, L, layer, "smoothquant (alpha search)", ns, qf_sq_run_work,
                                 qf_sq_run_reduce, &a);
    qf_layer_weights_free(&c);
    *err = a.err / (double)(ns * r->seqlen * r->cfg->hidden_size);
    return st;
}

/* The FP layer's outputs on the first ns samples (ns * S * hid floats, malloc'ed). */
static qf_status qf_sq_fp_outputs(qf_qrun *r, qf_pipe_layer *L, int64_t layer, int64_t ns,
                                  float **y) {
    const int64_t n = r->seqlen * r->cfg->hidden_size;
    *y = malloc((size_t)(ns * n) * sizeof **y);
    QF_RETURN_IF(!*y, QF_STATUS_NOMEM, "out of memory for the SmoothQuant alpha search");
    const unsigned act = L->lw.act_i8;
    L->lw.act_i8 = 0;
    qf_sq_run a = {r, &L->lw, *y, 1, 0.0};
    const qf_status st = qf_pipe_each_sample(r, L, layer, "smoothquant (FP outputs)", ns,
                                             qf_sq_run_work, NULL, &a);
    L->lw.act_i8 = act;
    return st;
}

static qf_status qf_sq_search(qf_qrun *r, qf_pipe_layer *L, int64_t layer, const qf_sq_stat *st1,
                              const qf_sq_stat *st2, float *s, float *best) {
    const int64_t ns_opt = r->opt->awq.search_samples;
    const int64_t ns = ns_opt <= 0 || ns_opt > r->n_samples ? r->n_samples : ns_opt;
    float *y_fp = NULL;
    QF_FORWARD(qf_sq_fp_outputs(r, L, layer, ns, &y_fp));
    double best_err = 0.0;
    qf_status st = QF_STATUS_OK;
    for (int k = 0; k < QF_SQ_GRID && st == QF_STATUS_OK; k++) {
        const float alpha = (float)k / (float)(QF_SQ_GRID - 1);
        double e = 0.0;
        st = qf_sq_alpha_error(r, L, layer, st1, st2, alpha, ns, y_fp, s, &e);
        if (st == QF_STATUS_OK && (k == 0 || e < best_err)) best_err = e, *best = alpha;
    }
    L->sq_error = best_err;
    free(y_fp);
    return st;
}

/* The FP layer up to post_attention_layernorm on each sample: max|x| of both norms' outputs. */
typedef struct qf_sq_stats_pass {
    qf_qrun *r;
    const qf_layer_weights *lw;
    qf_sq_stat st[2];
} qf_sq_stats_pass;

static qf_status qf_sq_stats_work(void *arg, qf_pipe_slot *s, int64_t i) {
    const qf_sq_stats_pass *a = arg;
    QF_FORWARD(qf_act_store_get(&a->r->x, i, s->x));
    qf_layer_linear_inputs(&s->ctx, a->lw, s->x, s->xn, s->att, s->xn2, NULL);
    return QF_STATUS_OK;
}

/* On the first thread (maxima are cheap). */
static qf_status qf_sq_stats_reduce(void *arg, const qf_pipe_slot *s, int64_t i, int ith,
                                    int nth) {
    (void)i, (void)nth;
    if (ith) return QF_STATUS_OK;
    qf_sq_stats_pass *a = arg;
    qf_sq_stat_add(&a->st[0], s->xn, a->r->seqlen);
    qf_sq_stat_add(&a->st[1], s->xn2, a->r->seqlen);
    return QF_STATUS_OK;
}

qf_status qf_pipe_sq_layer(qf_qrun *r, qf_pipe_layer *L, int64_t layer) {
    QF_FORWARD(qf_pipe_layer_buffers(r, L));
    qf_layer_weights *lw = &L->lw;
    const int64_t hid = r->cfg->hidden_size;
    const unsigned act = lw->act_i8;
    lw->act_i8 = 0; /* statistics of the FP layer */
    qf_sq_stats_pass a = {r, lw, {{0}, {0}}};
    qf_sq_stat *st1 = &a.st[0], *st2 = &a.st[1];
    qf_status st = qf_sq_stat_init(st1, hid);
    if (st == QF_STATUS_OK) st = qf_sq_stat_init(st2, hid);
    if (st == QF_STATUS_OK)
        st = qf_pipe_each_sample(r, L, layer, "smoothquant (activation statistics)", r->n_samples,
                                 qf_sq_stats_work, qf_sq_stats_reduce, &a);
    lw->act_i8 = act;
    float *s = st == QF_STATUS_OK ? malloc((size_t)hid * sizeof *s) : NULL;
    if (st == QF_STATUS_OK && !s) st = qf_error_set(QF_STATUS_NOMEM, "out of memory");
    float alpha = r->opt->sq_alpha;
    if (st == QF_STATUS_OK && alpha < 0.0f) st = qf_sq_search(r, L, layer, st1, st2, s, &alpha);
    if (st == QF_STATUS_OK) st = qf_sq_fold(lw, st1, st2, alpha, s);
    if (st == QF_STATUS_OK) L->sq_done = 1, L->sq_alpha = alpha;
    free(s);
    qf_sq_stat_free(st1);
    qf_sq_stat_free(st2);
    return st;
}
