/* The AWQ transform of one decoder layer (awq/awq.h): one pass of the FP layer over every
 * calibration sample collects mean|x| at the four scaling groups' inputs, the inputs and
 * FP block outputs of the first search_samples samples, and strided tokens for the clip
 * search; then every group's scale grid is searched on the FP layer (as AutoAWQ does),
 * the chosen scales folded in (an exact rewrite), and the clip search run on the scaled
 * weights. Block outputs compared: self_attn (q,k,v -> attention -> o_proj), o_proj,
 * mlp (gate,up -> SwiGLU -> down_proj), down_proj. A group's grid candidates are
 * evaluated in parallel, one per thread (single-threaded OpenBLAS in each), each with its
 * own scratch and fake-quantized weights: every loss is what it is alone. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe_layer.h"
#include "runtime/cpu/linear.h"
#include "runtime/cpu/pool.h"

/* Bytes of search-worker state allowed in all (each worker holds the block outputs of
 * the search samples and the group's fake-quantized weights). */
#define QF_AWQ_WORKER_BUDGET ((size_t)4 << 30)

/* One search thread's private state. */
typedef struct qf_awq_worker {
    qf_layer_ctx ctx;
    float *att, *h, *y; /* (S, q width), (S, intermediate), (search rows, hidden) */
    float *fq[3];       /* the group's fake-quantized weights (largest linear each) */
    qf_status st;
} qf_awq_worker;

/* What the search and clip need, collected by the stats pass. */
typedef struct qf_awq_data {
    qf_qrun *r;
    qf_pipe_layer *L;
    int64_t layer, ns, S, nc;       /* search samples, seqlen, clip tokens */
    int64_t width[QF_SCALE_N_GROUPS]; /* input width of each group */
    double *sum[QF_SCALE_N_GROUPS];   /* sum |x| per input channel */
    float *x_mean[QF_SCALE_N_GROUPS];
    float *in[QF_SCALE_N_GROUPS];     /* (ns * S, width) search inputs */
    float *clip[QF_SCALE_N_GROUPS];   /* (nc, width) clip tokens */
    float *y_attn, *y_mlp;          /* (ns * S, hid) FP outputs of self_attn and mlp */
    int group;                      /* the group the loss callback measures */
    qf_awq_worker *wk;              /* n_wk search workers (the run's pool threads 0..n_wk) */
    int n_wk;
    const float *const *cand;       /* the batch being evaluated */
    double *loss;
    int n_cand;
} qf_awq_data;

static const char *const qf_awq_group_names[QF_SCALE_N_GROUPS] = {"qkv", "v_o", "gate_up",
                                                                  "up_down"};

static void qf_awq_data_free(qf_awq_data *d) {
    for (int g = 0; g < QF_SCALE_N_GROUPS; g++) {
        free(d->sum[g]);
        free(d->x_mean[g]);
        free(d->in[g]);
        free(d->clip[g]);
    }
    free(d->y_attn), free(d->y_mlp);
    for (int w = 0; d->wk && w < d->n_wk; w++) {
        qf_awq_worker *k = &d->wk[w];
        qf_layer_ctx_free(&k->ctx);
        free(k->att), free(k->h), free(k->y);
        for (int j = 0; j < 3; j++) free(k->fq[j]);
    }
    free(d->wk);
}

/* As many workers as threads, candidates and the memory budget allow, each with its
 * scratch. */
static qf_status qf_awq_workers_init(qf_awq_data *d) {
    const qf_qrun *r = d->r;
    const qf_layer_weights *lw = &d->L->lw;
    const qf_model_config *c = r->cfg;
    const int64_t S = d->S, hid = c->hidden_size, qd = c->num_attention_heads * c->head_dim;
    const int64_t inter = c->intermediate_size, rows = d->ns * S;
    int64_t wmax = 0;
    for (int i = 0; i < QF_LAYER_N_LINEARS; i++)
        wmax = lw->out[i] * lw->in[i] > wmax ? lw->out[i] * lw->in[i] : wmax;
    const size_t each = ((size_t)(S * (qd + inter) + rows * hid) + 3 * (size_t)wmax) * sizeof(float);
    int n = r->n_threads < r->opt->awq.n_grid + 1 ? r->n_threads : r->opt->awq.n_grid + 1;
    while (n > 1 && (size_t)n * each > QF_AWQ_WORKER_BUDGET) n--;
    d->wk = calloc((size_t)n, sizeof *d->wk);
    QF_RETURN_IF(!d->wk, QF_STATUS_NOMEM, "out of memory");
    d->n_wk = n;
    for (int w = 0; w < n; w++) {
        qf_awq_worker *k = &d->wk[w];
        QF_FORWARD(qf_layer_ctx_init(&k->ctx, c, S, d->L->slot->ctx.act_width));
        k->att = malloc((size_t)(S * qd) * sizeof(float));
        k->h = malloc((size_t)(S * inter) * sizeof(float));
        k->y = malloc((size_t)(rows * hid) * sizeof(float));
        for (int j = 0; j < 3; j++) k->fq[j] = malloc((size_t)wmax * sizeof(float));
        QF_RETURN_IF(!k->att || !k->h || !k->y || !k->fq[0] || !k->fq[1] || !k->fq[2],
                     QF_STATUS_NOMEM, "out of memory for the AWQ search workers");
    }
    return QF_STATUS_OK;
}

static qf_status qf_awq_data_init(qf_awq_data *d, qf_qrun *r, qf_pipe_layer *L, int64_t layer) {
    const qf_model_config *c = r->cfg;
    const int64_t hid = c->hidden_size, qd = c->num_attention_heads * c->head_dim;
    const int64_t S = r->seqlen, N = r->n_samples * S;
    const qf_awq_options *o = &r->opt->awq;
    memset(d, 0, sizeof *d);
    d->r = r, d->L = L, d->layer = layer, d->S = S;
    d->ns = (o->search_samples <= 0 || o->search_samples > r->n_samples) ? r->n_samples
                                                                          : o->search_samples;
    const int64_t step = N / o->clip_tokens > 1 ? N / o->clip_tokens : 1;
    d->nc = (N + step - 1) / step;
    const int64_t w[QF_SCALE_N_GROUPS] = {hid, qd, hid, c->intermediate_size};
    const size_t rows = (size_t)(d->ns * S);
    int ok = 1;
    for (int g = 0; g < QF_SCALE_N_GROUPS; g++) {
        d->width[g] = w[g];
        d->sum[g] = calloc((size_t)w[g], sizeof(double));
        d->x_mean[g] = malloc((size_t)w[g] * sizeof(float));
        d->in[g] = malloc(rows * (size_t)w[g] * sizeof(float));
        d->clip[g] = malloc((size_t)(d->nc * w[g]) * sizeof(float));
        ok = ok && d->sum[g] && d->x_mean[g] && d->in[g] && d->clip[g];
    }
    d->y_attn = malloc(rows * (size_t)hid * sizeof(float));
    d->y_mlp = malloc(rows * (size_t)hid * sizeof(float));
    if (ok && d->y_attn && d->y_mlp) return QF_STATUS_OK;
    qf_awq_data_free(d);
    return qf_error_set(QF_STATUS_NOMEM, "out of memory for the AWQ search (%lld samples of %lld "
                        "tokens; lower --awq-search-samples)", (long long)d->ns, (long long)S);
}

/* Channels [j0, j1) of sample i's rows (S, width of g): |x| added to the statistic, the
 * clip tokens and, for a search sample, the rows themselves kept. */
static void qf_awq_collect(qf_awq_data *d, int g, int64_t i, const float *x, int64_t j0,
                           int64_t j1) {
    const int64_t S = d->S, w = d->width[g], N = d->r->n_samples * S;
    const int64_t step = N / d->r->opt->awq.clip_tokens > 1 ? N / d->r->opt->awq.clip_tokens : 1;
    const size_t bytes = (size_t)(j1 - j0) * sizeof(float);
    double *sum = d->sum[g];
    for (int64_t t = 0; t < S; t++) {
        const float *row = x + t * w;
        for (int64_t j = j0; j < j1; j++) sum[j] += (double)(row[j] < 0 ? -row[j] : row[j]);
        const int64_t tok = i * S + t;
        if (tok % step == 0) memcpy(d->clip[g] + (tok / step) * w + j0, row + j0, bytes);
        if (i < d->ns) memcpy(d->in[g] + (i * S + t) * w + j0, row + j0, bytes);
    }
}

/* The FP layer on sample i: the four groups' inputs stay in s (xn, att, xn2, h), the
 * block outputs of a search sample go to y_attn and y_mlp. */
static qf_status qf_awq_stats_work(void *arg, qf_pipe_slot *s, int64_t i) {
    const qf_awq_data *d = arg;
    const qf_layer_weights *lw = &d->L->lw;
    qf_layer_ctx *c = &s->ctx;
    const int64_t S = d->S, hid = d->r->cfg->hidden_size;
    QF_FORWARD(qf_act_store_get(&d->r->x, i, s->x));
    float *y = i < d->ns ? d->y_attn + i * S * hid : s->xn2; /* xn2: free until the mlp norm */
    qf_layer_attn_norm(c, lw, s->x, s->xn);
    qf_layer_attention(c, lw, s->xn, s->att);
    qf_layer_apply(c, lw, QF_LAYER_O, s->att, S, y, 0);
    for (int64_t k = 0; k < S * hid; k++) s->x[k] += y[k];
    qf_layer_mlp_norm(c, lw, s->x, s->xn2);
    qf_layer_mlp_hidden(c, lw, s->xn2, s->h);
    if (i < d->ns) qf_layer_apply(c, lw, QF_LAYER_DOWN, s->h, S, d->y_mlp + i * S * hid, 0);
    return QF_STATUS_OK;
}

/* Thread ith's channels of each group. */
static qf_status qf_awq_stats_reduce(void *arg, const qf_pipe_slot *s, int64_t i, int ith,
                                     int nth) {
    qf_awq_data *d = arg;
    const float *in[QF_SCALE_N_GROUPS] = {s->xn, s->att, s->xn2, s->h};
    for (int g = 0; g < QF_SCALE_N_GROUPS; g++) {
        int64_t j0, j1;
        qf_cpu_share_rows(d->width[g], ith, nth, &j0, &j1);
        if (j0 < j1) qf_awq_collect(d, g, i, in[g], j0, j1);
    }
    return QF_STATUS_OK;
}

/* The FP layer over every sample. */
static qf_status qf_awq_stats_pass(qf_awq_data *d) {
    qf_qrun *r = d->r;
    QF_FORWARD(qf_pipe_each_sample(r, d->L, d->layer, "awq (activation statistics)",
                                   r->n_samples, qf_awq_stats_work, qf_awq_stats_reduce, d));
    const double n = (double)(r->n_samples * d->S);
    for (int g = 0; g < QF_SCALE_N_GROUPS; g++)
        for (int64_t j = 0; j < d->width[g]; j++) d->x_mean[g][j] = (float)(d->sum[g][j] / n);
    return QF_STATUS_OK;
}

static double qf_awq_sq_diff(const float *a, const float *b, int64_t n) {
    double s = 0.0;
    for (int64_t k = 0; k < n; k++) {
        const double e = (double)a[k] - (double)b[k];
        s += e * e;
    }
    return s;
}

/* Mean squared error of the group's block output with its linears replaced by
 * Q(W diag(s)) diag(s)^-1 (skipped linears stay FP), with worker k's state. */
static qf_status qf_awq_loss1(const qf_awq_data *d, qf_awq_worker *k, const float *s,
                              double *loss) {
    const qf_pipe_layer *L = d->L;
    qf_layer_weights lw = L->lw; /* the group's weights replaced below, in this copy only */
    const int64_t S = d->S, hid = d->r->cfg->hidden_size, rows = d->ns * S;
    const int *lin = qf_layer_scale_linears((qf_layer_scale_group)d->group);
    for (int j = 0; lin[j] >= 0; j++) {
        const int i = lin[j];
        if (L->rep[i].skipped) continue;
        qf_quant_params ps = qf_pipe_quant_params(d->r, L, i);
        ps.mse = 0;
        QF_FORWARD(qf_awq_fake_quant(L->lw.w[i], lw.out[i], lw.in[i], s, &ps, k->fq[j]));
        lw.w[i] = k->fq[j];
    }
    double sum = 0.0;
    switch (d->group) {
    case QF_SCALE_QKV:
        for (int64_t i = 0; i < d->ns; i++) {
            qf_layer_attention(&k->ctx, &lw, d->in[QF_SCALE_QKV] + i * S * hid, k->att);
            qf_layer_apply(&k->ctx, &lw, QF_LAYER_O, k->att, S, k->y, 0);
            sum += qf_awq_sq_diff(k->y, d->y_attn + i * S * hid, S * hid);
        }
        break;
    case QF_SCALE_VO:
        qf_layer_apply(&k->ctx, &lw, QF_LAYER_O, d->in[QF_SCALE_VO], rows, k->y, 0);
        sum = qf_awq_sq_diff(k->y, d->y_attn, rows * hid);
        break;
    case QF_SCALE_GU:
        for (int64_t i = 0; i < d->ns; i++) {
            qf_layer_mlp_hidden(&k->ctx, &lw, d->in[QF_SCALE_GU] + i * S * hid, k->h);
            qf_layer_apply(&k->ctx, &lw, QF_LAYER_DOWN, k->h, S, k->y, 0);
            sum += qf_awq_sq_diff(k->y, d->y_mlp + i * S * hid, S * hid);
        }
        break;
    default:
        qf_layer_apply(&k->ctx, &lw, QF_LAYER_DOWN, d->in[QF_SCALE_UD], rows, k->y, 0);
        sum = qf_awq_sq_diff(k->y, d->y_mlp, rows * hid);
        break;
    }
    *loss = sum / (double)(rows * hid);
    return QF_STATUS_OK;
}

/* Pool thread ith: if it is a worker, candidates ith, ith + n_wk, ... of the batch. */
static void qf_awq_loss_job(void *arg, int ith, int nth) {
    qf_awq_data *d = arg;
    (void)nth;
    if (ith >= d->n_wk) return;
    qf_awq_worker *k = &d->wk[ith];
    k->st = QF_STATUS_OK;
    for (int c = ith; c < d->n_cand && k->st == QF_STATUS_OK; c += d->n_wk)
        k->st = qf_awq_loss1(d, k, d->cand[c], &d->loss[c]);
}

/* qf_awq_loss_fn: the batch over the workers, OpenBLAS held to one thread meanwhile. */
static qf_status qf_awq_losses(void *user, const float *const *s, int n, double *loss) {
    qf_awq_data *d = user;
    QF_FORWARD(qf_pipe_progress(d->r, d->layer, qf_awq_group_names[d->group]));
    d->cand = s, d->loss = loss, d->n_cand = n;
    if (d->n_wk > 1) {
        openblas_set_num_threads(1);
        qf_cpu_pool_run(d->r->pool, qf_awq_loss_job, d);
        openblas_set_num_threads(d->r->n_threads);
    } else {
        qf_awq_loss_job(d, 0, 1);
    }
    d->r->units_done += (uint64_t)n;
    for (int w = 0; w < d->n_wk; w++) QF_FORWARD(d->wk[w].st);
    return QF_STATUS_OK;
}

/* Folds s into group g and divides its clip tokens by s. */
static void qf_awq_fold(qf_awq_data *d, int g, const float *s) {
    qf_layer_fold_scales(&d->L->lw, (qf_layer_scale_group)g, s);
    const int64_t n = d->width[g];
    for (int64_t t = 0; t < d->nc; t++)
        for (int64_t j = 0; j < n; j++) d->clip[g][t * n + j] /= s[j];
}

static qf_status qf_awq_search_group(qf_awq_data *d, int g, float *s) {
    qf_pipe_layer *L = d->L;
    qf_layer_weights *lw = &L->lw;
    const float *w[3];
    int64_t out[3];
    int n = 0;
    for (const int *i = qf_layer_scale_linears((qf_layer_scale_group)g); *i >= 0; i++) {
        if (L->rep[*i].skipped) continue;
        w[n] = lw->w[*i];
        out[n++] = lw->out[*i];
    }
    /* v -> o only when v's outputs are o's inputs (no GQA) */
    if (n == 0 || !qf_layer_scale_possible(lw, (qf_layer_scale_group)g) ||
        (g == QF_SCALE_VO && L->rep[QF_LAYER_V].skipped)) {
        d->r->units_done += (uint64_t)d->r->opt->awq.n_grid + 1;
        return QF_STATUS_OK;
    }
    const qf_awq_options *o = &d->r->opt->awq;
    float *w_mean = malloc((size_t)d->width[g] * sizeof(float));
    QF_RETURN_IF(!w_mean, QF_STATUS_NOMEM, "out of memory");
    qf_status st = qf_awq_weight_mean(w, out, n, d->width[g], d->r->opt->gptq.quant.group_size,
                                      w_mean);
    d->group = g;
    if (st == QF_STATUS_OK)
        st = qf_awq_search(o, d->x_mean[g], w_mean, d->width[g], qf_awq_losses, d, s,
                           &L->awq[g].res);
    free(w_mean);
    if (st == QF_STATUS_OK) L->awq[g].searched = 1;
    return st;
}

static qf_status qf_awq_clip_linears(qf_qrun *r, qf_pipe_layer *L, int64_t layer,
                                     float *const clip[QF_SCALE_N_GROUPS], int64_t nc) {
    static const int clip_of[QF_LAYER_N_LINEARS] = {-1, -1, QF_SCALE_QKV, QF_SCALE_VO,
                                                    QF_SCALE_GU, QF_SCALE_GU, QF_SCALE_UD};
    qf_layer_weights *lw = &L->lw;
    for (int i = 0; i < QF_LAYER_N_LINEARS; i++) {
        if (clip_of[i] < 0 || L->rep[i].skipped) continue; /* q, k: not clipped (AutoAWQ) */
        QF_FORWARD(qf_pipe_progress(r, layer, "awq (clip search)"));
        const qf_quant_params p = qf_pipe_quant_params(r, L, i);
        const int64_t out = lw->out[i], in = lw->in[i];
        const int64_t G = (p.group_size <= 0 || p.group_size > in) ? in : p.group_size;
        float *mv = malloc((size_t)(out * ((in + G - 1) / G)) * sizeof(float));
        QF_RETURN_IF(!mv, QF_STATUS_NOMEM, "out of memory");
        qf_status st = qf_awq_clip_search(&r->opt->awq, lw->w[i], out, in, clip[clip_of[i]], nc,
                                          &p, mv);
        if (st == QF_STATUS_OK) qf_awq_clip_apply(lw->w[i], out, in, p.group_size, mv);
        free(mv);
        QF_FORWARD(st);
        L->rep[i].clipped = 1;
    }
    return QF_STATUS_OK;
}

qf_status qf_pipe_awq_clip(qf_qrun *r, qf_pipe_layer *L, int64_t layer,
                           float *const clip[QF_SCALE_N_GROUPS], int64_t nc) {
    const double t0 = qf_pipe_elapsed(r);
    const qf_status st = qf_awq_clip_linears(r, L, layer, clip, nc);
    L->t_clip += qf_pipe_elapsed(r) - t0;
    return st;
}

qf_status qf_pipe_awq_layer(qf_qrun *r, qf_pipe_layer *L, int64_t layer, int clip) {
    QF_FORWARD(qf_pipe_layer_buffers(r, L));
    qf_awq_data d;
    QF_FORWARD(qf_awq_data_init(&d, r, L, layer));
    float *s[QF_SCALE_N_GROUPS] = {NULL};
    qf_status st = QF_STATUS_OK;
    for (int g = 0; g < QF_SCALE_N_GROUPS && st == QF_STATUS_OK; g++) {
        s[g] = malloc((size_t)d.width[g] * sizeof(float));
        if (!s[g]) st = qf_error_set(QF_STATUS_NOMEM, "out of memory");
    }
    if (st == QF_STATUS_OK) st = qf_awq_stats_pass(&d);
    if (st == QF_STATUS_OK) st = qf_awq_workers_init(&d);
    for (int g = 0; g < QF_SCALE_N_GROUPS && st == QF_STATUS_OK; g++)
        st = qf_awq_search_group(&d, g, s[g]);
    for (int g = 0; g < QF_SCALE_N_GROUPS && st == QF_STATUS_OK; g++)
        if (L->awq[g].searched) qf_awq_fold(&d, g, s[g]);
    if (st == QF_STATUS_OK && clip) st = qf_pipe_awq_clip(r, L, layer, d.clip, d.nc);
    for (int g = 0; g < QF_SCALE_N_GROUPS; g++) free(s[g]);
    qf_awq_data_free(&d);
    return st;
}
