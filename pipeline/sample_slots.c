/* Calibration samples on all threads, one per slot (sample_slots.h). */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe_layer.h"
#include "pipeline/sample_slots.h"
#include "runtime/cpu/pool.h"

size_t qf_pipe_slot_bytes(const qf_model_config *cfg, int64_t seqlen, int64_t act_width) {
    const int64_t hid = cfg->hidden_size, inter = cfg->intermediate_size;
    const int64_t qd = cfg->num_attention_heads * cfg->head_dim;
    const int64_t kvd = cfg->num_key_value_heads * cfg->head_dim;
    const int64_t rows = seqlen < QF_LAYER_ATTN_ROWS ? seqlen : QF_LAYER_ATTN_ROWS;
    /* ctx: RoPE tables, q, k, v, scores, up, xq (+ its int8 codes); the sample: x, xn,
     * xn2, att, h */
    const int64_t ctx = seqlen * (cfg->head_dim + 2 * qd + 2 * kvd + inter + act_width) +
                        rows * seqlen;
    return (size_t)(ctx + seqlen * (3 * hid + inter)) * sizeof(float) + (size_t)act_width;
}

void qf_pipe_slots_free(qf_pipe_slot *slots, int n) {
    for (int k = 0; slots && k < n; k++) {
        qf_pipe_slot *s = &slots[k];
        qf_layer_ctx_free(&s->ctx);
        free(s->x), free(s->xn), free(s->xn2), free(s->att), free(s->h);
    }
    free(slots);
}

qf_status qf_pipe_slots_init(qf_pipe_slot **slots, int n, const qf_model_config *cfg,
                             int64_t seqlen, int64_t act_width) {
    const size_t S = (size_t)seqlen, fs = sizeof(float);
    const size_t hid = (size_t)cfg->hidden_size, inter = (size_t)cfg->intermediate_size;
    const size_t qd = (size_t)(cfg->num_attention_heads * cfg->head_dim);
    qf_pipe_slot *v = calloc((size_t)n, sizeof *v);
    QF_RETURN_IF(!v, QF_STATUS_NOMEM, "out of memory");
    qf_status st = QF_STATUS_OK;
    for (int k = 0; k < n && st == QF_STATUS_OK; k++) {
        qf_pipe_slot *s = &v[k];
        st = qf_layer_ctx_init(&s->ctx, cfg, seqlen, act_width);
        s->x = malloc(S * hid * fs);
        s->xn = malloc(S * hid * fs);
        s->xn2 = malloc(S * hid * fs);
        s->att = malloc(S * qd * fs);
        s->h = malloc(S * inter * fs);
        if (st == QF_STATUS_OK && (!s->x || !s->xn || !s->xn2 || !s->att || !s->h))
            st = qf_error_set(QF_STATUS_NOMEM, "out of memory for %d calibration sample slots "
                              "of %lld tokens", n, (long long)seqlen);
    }
    if (st != QF_STATUS_OK) {
        qf_pipe_slots_free(v, n);
        return st;
    }
    *slots = v;
    return QF_STATUS_OK;
}

typedef struct qf_pipe_batch {
    qf_pipe_sample_fn work;
    qf_pipe_reduce_fn reduce;
    void *arg;
    qf_pipe_slot *slots;
    int64_t i0;
    int n; /* samples in this batch (<= slots) */
} qf_pipe_batch;

static qf_status qf_pipe_work_fn(void *arg, int ith, int nth) {
    (void)nth;
    const qf_pipe_batch *b = arg;
    return ith < b->n ? b->work(b->arg, &b->slots[ith], b->i0 + ith) : QF_STATUS_OK;
}

static qf_status qf_pipe_reduce_fn_all(void *arg, int ith, int nth) {
    const qf_pipe_batch *b = arg;
    for (int j = 0; j < b->n; j++)
        QF_FORWARD(b->reduce(b->arg, &b->slots[j], b->i0 + j, ith, nth));
    return QF_STATUS_OK;
}

/* One batch on the pool, OpenBLAS single-threaded meanwhile. */
static qf_status qf_pipe_batch_run(qf_qrun *r, qf_pipe_batch *b) {
    openblas_set_num_threads(1);
    qf_status st = qf_cpu_pool_run_status(r->pool, qf_pipe_work_fn, b);
    if (st == QF_STATUS_OK && b->reduce)
        st = qf_cpu_pool_run_status(r->pool, qf_pipe_reduce_fn_all, b);
    openblas_set_num_threads(r->n_threads);
    return st;
}

qf_status qf_pipe_each_sample(qf_qrun *r, qf_pipe_layer *L, int64_t layer, const char *what,
                              int64_t n, qf_pipe_sample_fn work, qf_pipe_reduce_fn reduce,
                              void *arg) {
    const int ns = L->n_slots;
    for (int64_t i0 = 0; i0 < n; i0 += ns) {
        QF_FORWARD(qf_pipe_progress(r, layer, what));
        qf_pipe_batch b = {work, reduce, arg, L->slot, i0, n - i0 < ns ? (int)(n - i0) : ns};
        if (ns > 1) {
            QF_FORWARD(qf_pipe_batch_run(r, &b));
        } else {
            QF_FORWARD(work(arg, L->slot, i0));
            if (reduce) QF_FORWARD(reduce(arg, L->slot, i0, 0, 1));
        }
        r->units_done += (uint64_t)b.n;
    }
    return QF_STATUS_OK;
}
