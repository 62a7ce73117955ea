/* AWQ's transform of one decoder layer on the GPU (awq, awq+gptq with --device cuda):
 * pipeline/awq_layer.c's steps, the statistics pass over every sample and each grid
 * candidate's block-output loss on the device (pipeline/cuda/layer_cuda.h: awq), the
 * grid, the choice (awq/search.c), the weight statistic, the folding and the clip search
 * (awq only, on the clip tokens the device collected) on the host. Built only with CUDA. */
#include <stdlib.h>

#include "pipeline/cuda/layer_cuda.h"
#include "pipeline/pipe_layer.h"

static const char *const qf_awq_gpu_names[QF_SCALE_N_GROUPS] = {"qkv", "v_o", "gate_up",
                                                                "up_down"};

/* One group's search: the linears swapped, their grids (the loss callback's user). */
typedef struct qf_awq_gpu {
    qf_qrun *r;
    int64_t layer;
    qf_cuda_awq *a;
    int group, lin[3], n;
    qf_cuda_awq_grid g[3];
} qf_awq_gpu;

static qf_status qf_awq_gpu_losses(void *user, const float *const *s, int n, double *loss) {
    qf_awq_gpu *u = user;
    QF_FORWARD(qf_pipe_progress(u->r, u->layer, qf_awq_gpu_names[u->group]));
    for (int k = 0; k < n; k++)
        QF_FORWARD(qf_cuda_awq_loss(u->a, u->group, u->lin, u->n, u->g, s[k], &loss[k]));
    u->r->units_done += (uint64_t)n;
    return QF_STATUS_OK;
}

/* Group g's search into s (qf_awq_search_group's conditions: nothing to search when all its
 * linears are skipped or v -> o is not possible). */
static qf_status qf_awq_gpu_group(qf_qrun *r, qf_pipe_layer *L, qf_awq_gpu *u, int g, float *s) {
    qf_layer_weights *lw = &L->lw;
    const float *w[3];
    int64_t out[3];
    u->group = g, u->n = 0;
    for (const int *i = qf_layer_scale_linears((qf_layer_scale_group)g); *i >= 0; i++) {
        if (L->rep[*i].skipped) continue;
        const qf_quant_params p = qf_pipe_quant_params(r, L, *i);
        u->g[u->n] = (qf_cuda_awq_grid){p.bits, p.sym, p.scale_f32, p.zero_min, p.group_size};
        u->lin[u->n] = *i;
        w[u->n] = lw->w[*i];
        out[u->n++] = lw->out[*i];
    }
    if (u->n == 0 || !qf_layer_scale_possible(lw, (qf_layer_scale_group)g) ||
        (g == QF_SCALE_VO && L->rep[QF_LAYER_V].skipped)) {
        r->units_done += (uint64_t)r->opt->awq.n_grid + 1;
        return QF_STATUS_OK;
    }
    const int64_t width = qf_layer_scale_width(lw, (qf_layer_scale_group)g);
    float *x_mean = malloc((size_t)width * sizeof(float));
    float *w_mean = malloc((size_t)width * sizeof(float));
    qf_status st = x_mean && w_mean ? QF_STATUS_OK : qf_error_set(QF_STATUS_NOMEM, "out of memory");
    if (st == QF_STATUS_OK) st = qf_cuda_awq_x_mean(u->a, g, x_mean);
    if (st == QF_STATUS_OK)
        st = qf_awq_weight_mean(w, out, u->n, width, r->opt->gptq.quant.group_size, w_mean);
    if (st == QF_STATUS_OK)
        st = qf_awq_search(&r->opt->awq, x_mean, w_mean, width, qf_awq_gpu_losses, u, s,
                           &L->awq[g].res);
    if (st == QF_STATUS_OK) L->awq[g].searched = 1;
    free(x_mean), free(w_mean);
    return st;
}

/* The clip search on the device's clip tokens, divided by each searched group's scales
 * (qf_awq_fold's division). */
static qf_status qf_awq_gpu_clip(qf_qrun *r, qf_pipe_layer *L, int64_t layer, qf_awq_gpu *u,
                                 float *s[QF_SCALE_N_GROUPS]) {
    float *clip[QF_SCALE_N_GROUPS] = {NULL};
    const int64_t N = r->n_samples * r->seqlen, ct = r->opt->awq.clip_tokens;
    const int64_t step = N / ct > 1 ? N / ct : 1, nmax = (N + step - 1) / step;
    int64_t nc = 0;
    qf_status st = QF_STATUS_OK;
    for (int g = 0; g < QF_SCALE_N_GROUPS && st == QF_STATUS_OK; g++) {
        const int64_t w = qf_layer_scale_width(&L->lw, (qf_layer_scale_group)g);
        clip[g] = malloc((size_t)(nmax * w) * sizeof(float));
        st = clip[g] ? qf_cuda_awq_clip_tokens(u->a, g, clip[g], &nc)
                     : qf_error_set(QF_STATUS_NOMEM, "out of memory for the clip tokens");
        for (int64_t k = 0; st == QF_STATUS_OK && L->awq[g].searched && k < nc * w; k++)
            clip[g][k] /= s[g][k % w];
    }
    if (st == QF_STATUS_OK) st = qf_pipe_awq_clip(r, L, layer, clip, nc);
    for (int g = 0; g < QF_SCALE_N_GROUPS; g++) free(clip[g]);
    return st;
}

static qf_status qf_awq_gpu_run(qf_qrun *r, qf_pipe_layer *L, int64_t layer, qf_awq_gpu *u,
                                float *s[QF_SCALE_N_GROUPS], int clip) {
    for (int64_t i = 0; i < r->n_samples; i++) {
        QF_FORWARD(qf_pipe_progress(r, layer, "awq (activation statistics)"));
        QF_FORWARD(qf_cuda_awq_stats(u->a, i));
        r->units_done++;
    }
    for (int g = 0; g < QF_SCALE_N_GROUPS; g++) QF_FORWARD(qf_awq_gpu_group(r, L, u, g, s[g]));
    for (int g = 0; g < QF_SCALE_N_GROUPS; g++)
        if (L->awq[g].searched) qf_layer_fold_scales(&L->lw, (qf_layer_scale_group)g, s[g]);
    return clip ? qf_awq_gpu_clip(r, L, layer, u, s) : QF_STATUS_OK;
}

qf_status qf_pipe_awq_layer_cuda(qf_qrun *r, qf_pipe_layer *L, int64_t layer, int clip) {
    QF_FORWARD(qf_pipe_cuda_load(r, L, layer));
    const int64_t so = r->opt->awq.search_samples;
    const int64_t ns = so <= 0 || so > r->n_samples ? r->n_samples : so;
    qf_awq_gpu u = {.r = r, .layer = layer};
    QF_FORWARD(qf_error_wrap(qf_cuda_awq_init(r->gpu, ns, clip ? r->opt->awq.clip_tokens : 0, &u.a),
                             "--device cuda: "));
    float *s[QF_SCALE_N_GROUPS] = {NULL};
    qf_status st = QF_STATUS_OK;
    for (int g = 0; g < QF_SCALE_N_GROUPS && st == QF_STATUS_OK; g++) {
        s[g] = malloc((size_t)qf_layer_scale_width(&L->lw, (qf_layer_scale_group)g) * sizeof(float));
        if (!s[g]) st = qf_error_set(QF_STATUS_NOMEM, "out of memory");
    }
    if (st == QF_STATUS_OK) st = qf_awq_gpu_run(r, L, layer, &u, s, clip);
    for (int g = 0; g < QF_SCALE_N_GROUPS; g++) free(s[g]);
    qf_cuda_awq_free(u.a);
    return st;
}
