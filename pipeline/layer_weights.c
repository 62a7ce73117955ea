/* Loading one decoder layer's weights as f32 from a qf_model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/layer.h"
#include "runtime/cpu/pool.h"

const char *qf_layer_linear_name(qf_layer_linear i) { return qf_arch_linear_name((int)i); }

/* Reads tensor `name` of n elements with the expected 1-D or 2-D shape into *dst
 * (malloc'ed). optional: a missing tensor leaves *dst NULL. */
static qf_status qf_layer_read(const qf_model *m, const char *name, int ndim, int64_t d0,
                               int64_t d1, int optional, float **dst) {
    *dst = NULL;
    const qf_model_tensor *t = qf_model_find_tensor(m, name);
    if (!t && optional) return QF_STATUS_OK;
    QF_RETURN_IF(!t, QF_STATUS_NOT_FOUND, "'%s': tensor '%s' not found", m->path, name);
    QF_RETURN_IF(t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1),
                 QF_STATUS_FORMAT, "'%s': tensor '%s' has an unexpected shape", m->path, name);
    *dst = malloc((size_t)t->numel * sizeof(float));
    QF_RETURN_IF(!*dst, QF_STATUS_NOMEM, "tensor '%s': out of memory", name);
    qf_status st = qf_model_tensor_read_f32(t, *dst);
    if (st != QF_STATUS_OK) {
        free(*dst);
        *dst = NULL;
        return qf_error_wrap(st, "tensor '%s': ", name);
    }
    return QF_STATUS_OK;
}

/* One tensor to read (qf_layer_read's arguments). */
typedef struct qf_layer_task {
    char name[160];
    int ndim, optional;
    int64_t d0, d1;
    float **dst;
} qf_layer_task;

typedef struct qf_layer_job {
    const qf_model *m;
    qf_layer_task *t;
    int n;
} qf_layer_job;

/* Thread ith of nth reads tasks ith, ith + nth, ... */
static qf_status qf_layer_load_fn(void *arg, int ith, int nth) {
    qf_layer_job *j = arg;
    qf_status st = QF_STATUS_OK;
    for (int k = ith; k < j->n && st == QF_STATUS_OK; k += nth) {
        const qf_layer_task *t = &j->t[k];
        st = qf_layer_read(j->m, t->name, t->ndim, t->d0, t->d1, t->optional, t->dst);
    }
    return st;
}

qf_status qf_layer_weights_load(const qf_model *m, int64_t index, qf_layer_weights *lw,
                                struct qf_cpu_pool *pool) {
    memset(lw, 0, sizeof *lw);
    lw->index = index;
    const int64_t hid = m->config.hidden_size;
    qf_arch_linear lin[QF_ARCH_N_LINEARS];
    qf_arch_layer_linears(&m->config, lin);
    qf_layer_job j = {.m = m};
    qf_layer_task t[2 * QF_LAYER_N_LINEARS + 2];
    for (int i = 0; i < QF_LAYER_N_LINEARS; i++) {
        lw->out[i] = lin[i].out;
        lw->in[i] = lin[i].in;
        qf_layer_task *w = &t[j.n++], *b = &t[j.n++];
        *w = (qf_layer_task){.ndim = 2, .d0 = lin[i].out, .d1 = lin[i].in, .dst = &lw->w[i]};
        *b = (qf_layer_task){.ndim = 1, .d0 = lin[i].out, .optional = 1, .dst = &lw->b[i]};
        snprintf(w->name, sizeof w->name, "model.layers.%lld.%s.weight", (long long)index,
                 lin[i].name);
        snprintf(b->name, sizeof b->name, "model.layers.%lld.%s.bias", (long long)index,
                 lin[i].name);
    }
    const char *norms[2] = {"input_layernorm", "post_attention_layernorm"};
    float **norm_dst[2] = {&lw->ln1, &lw->ln2};
    for (int k = 0; k < 2; k++) {
        qf_layer_task *n = &t[j.n++];
        *n = (qf_layer_task){.ndim = 1, .d0 = hid, .dst = norm_dst[k]};
        snprintf(n->name, sizeof n->name, "model.layers.%lld.%s.weight", (long long)index,
                 norms[k]);
    }
    j.t = t;
    const qf_status st = qf_cpu_pool_run_status(pool, qf_layer_load_fn, &j);
    if (st != QF_STATUS_OK) qf_layer_weights_free(lw);
    return st;
}

static float *qf_layer_dup(const float *x, int64_t n, int *ok) {
    if (!x) return NULL;
    float *y = malloc((size_t)n * sizeof *y);
    if (y) memcpy(y, x, (size_t)n * sizeof *y);
    else *ok = 0;
    return y;
}

qf_status qf_layer_weights_clone(const qf_layer_weights *src, qf_layer_weights *dst) {
    *dst = *src;
    int ok = 1;
    for (int i = 0; i < QF_LAYER_N_LINEARS; i++) {
        dst->w[i] = qf_layer_dup(src->w[i], src->out[i] * src->in[i], &ok);
        dst->b[i] = qf_layer_dup(src->b[i], src->out[i], &ok);
    }
    dst->ln1 = qf_layer_dup(src->ln1, src->in[QF_LAYER_Q], &ok);
    dst->ln2 = qf_layer_dup(src->ln2, src->in[QF_LAYER_GATE], &ok);
    if (ok) return QF_STATUS_OK;
    qf_layer_weights_free(dst);
    return qf_error_set(QF_STATUS_NOMEM, "out of memory copying layer %lld", (long long)src->index);
}

void qf_layer_weights_free(qf_layer_weights *lw) {
    for (int i = 0; i < QF_LAYER_N_LINEARS; i++) {
        free(lw->w[i]);
        free(lw->b[i]);
    }
    free(lw->ln1);
    free(lw->ln2);
    memset(lw, 0, sizeof *lw);
}
