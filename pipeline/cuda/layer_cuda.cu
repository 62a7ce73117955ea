/* The calibration passes through one decoder layer on the GPU (layer_cuda.h): the device
 * state, weight upload, the building blocks (layer_cuda_impl.h: linear, attention, MLP,
 * norm, also used by awq_cuda.cu) and the seven passes, each the CPU's (pipeline/
 * quantize_layer.c with pipeline/layer_forward.c) step for step. Everything runs on the
 * default stream. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/cuda/layer_cuda_impl.h"

qf_status qf_ql_blas(cublasStatus_t st, const char *what) {
    if (st == CUBLAS_STATUS_SUCCESS) return QF_STATUS_OK;
    return qf_error_set(st == CUBLAS_STATUS_ALLOC_FAILED ? QF_STATUS_NOMEM : QF_STATUS_IO,
                        "%s: cuBLAS: %s", what, cublasGetStatusString(st));
}

size_t qf_ql_f(int64_t n) { return (size_t)n * sizeof(float); }

qf_status qf_ql_alloc(float **p, int64_t n, const char *what) {
    return qf_cuda_malloc((void **)p, qf_ql_f(n), what);
}

extern "C" void qf_cuda_qlayer_free(qf_cuda_qlayer *q) {
    if (!q) return;
    for (int i = 0; i < QL_N; i++) qf_cuda_free(q->w[i]), qf_cuda_free(q->b[i]);
    float *bufs[] = {q->ln1, q->ln2, q->X,      q->att_keep, q->h_keep, q->x,     q->xn,
                     q->q,   q->k,   q->v,      q->att,      q->gate,   q->up,    q->scores,
                     q->cos_t, q->sin_t, q->row};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) qf_cuda_free(bufs[i]);
    qf_cuda_free((void *)q->ptr);
    if (q->blas) cublasDestroy(q->blas);
    free(q);
}

static qf_status ql_check_shape(const qf_cuda_qshape *s) {
    QF_RETURN_IF(s->hidden <= 0 || s->heads <= 0 || s->kv_heads <= 0 || s->head_dim <= 0 ||
                     s->head_dim % 2 || s->heads % s->kv_heads || s->intermediate <= 0 ||
                     s->window < 0 || s->n_samples <= 0 || s->seqlen <= 0,
                 QF_STATUS_INVALID_ARG, "GPU layer: invalid shape");
    const int64_t widest = s->intermediate > s->hidden ? s->intermediate : s->hidden;
    QF_RETURN_IF(widest > 0x7FFFFFFF / 2 || s->seqlen > 46340 ||
                     s->heads * s->head_dim > 0x7FFFFFFF / 2,
                 QF_STATUS_UNSUPPORTED, "GPU layer: dimensions beyond cuBLAS's int sizes");
    return QF_STATUS_OK;
}

static cublasOperation_t ql_op(int t) { return t ? CUBLAS_OP_T : CUBLAS_OP_N; }

/* The batched-GEMM pointer tables for the attention buffers (qf_attn_offsets). */
static qf_status ql_pointers(qf_cuda_qlayer *q) {
    const int64_t nh = q->s.heads;
    const float **h = (const float **)malloc(6 * (size_t)nh * sizeof *h);
    QF_RETURN_IF(!h, QF_STATUS_NOMEM, "out of memory");
    const float *base[6] = {q->k, q->q, q->scores, q->v, q->scores, q->att};
    for (int64_t i = 0; i < nh; i++) {
        int64_t off[6];
        qf_attn_offsets(&q->attn, i, off);
        for (int t = 0; t < 6; t++) h[t * nh + i] = base[t] + off[t];
    }
    const qf_status st = qf_cuda_upload((void *)q->ptr, h, 6 * (size_t)nh * sizeof *h);
    free(h);
    return st;
}

/* Keeps the attention outputs and MLP hiddens between the sequential passes when they
 * fit beside what a layer's GPTQ needs later (its four Hessians, a solve's two n x n
 * factors and five copies of the largest weight, 512 MiB of slack); else q->s.keep = 0
 * and the passes recompute them. */
static qf_status ql_keep_alloc(qf_cuda_qlayer *q) {
    const qf_cuda_qshape *s = &q->s;
    const int64_t n = s->n_samples, S = s->seqlen, inter = s->intermediate;
    const int64_t qd = s->heads * s->head_dim, hid = s->hidden;
    const size_t keep = qf_ql_f(n * S * (qd + inter));
    int64_t wmax = 0;
    for (int i = 0; i < QL_N; i++) wmax = q->out[i] * q->in[i] > wmax ? q->out[i] * q->in[i] : wmax;
    const int64_t nmax = inter > qd ? (inter > hid ? inter : hid) : (qd > hid ? qd : hid);
    const size_t reserve = qf_ql_f(2 * hid * hid + qd * qd + inter * inter) + qf_ql_f(2 * nmax * nmax) +
                           qf_ql_f(5 * wmax) + ((size_t)512 << 20);
    size_t free_b = 0, total_b = 0;
    QF_CUDA_TRY(cudaMemGetInfo(&free_b, &total_b), "GPU layer: cudaMemGetInfo");
    q->s.keep = free_b >= keep + reserve;
    if (!q->s.keep) return QF_STATUS_OK;
    QF_FORWARD(qf_ql_alloc(&q->att_keep, n * S * qd, "GPU layer: the kept attention outputs"));
    QF_FORWARD(qf_ql_alloc(&q->h_keep, n * S * inter, "GPU layer: the kept MLP hiddens"));
    QF_CUDA_TRY(cudaMemset(q->att_keep, 0, qf_ql_f(n * S * qd)), "GPU layer: clearing");
    QF_CUDA_TRY(cudaMemset(q->h_keep, 0, qf_ql_f(n * S * inter)), "GPU layer: clearing");
    return QF_STATUS_OK;
}

extern "C" int qf_cuda_qlayer_keeps(const qf_cuda_qlayer *q) { return q->s.keep; }

extern "C" qf_status qf_cuda_qlayer_init(const qf_cuda_qshape *s, const float *cos_t,
                                         const float *sin_t, qf_cuda_qlayer **out) {
    *out = NULL;
    QF_FORWARD(ql_check_shape(s));
    qf_cuda_qlayer *q = (qf_cuda_qlayer *)calloc(1, sizeof *q);
    QF_RETURN_IF(!q, QF_STATUS_NOMEM, "out of memory");
    q->s = *s;
    const int64_t n = s->n_samples, S = s->seqlen, hid = s->hidden, inter = s->intermediate;
    const int64_t qd = s->heads * s->head_dim, kvd = s->kv_heads * s->head_dim;
    const int64_t half = s->head_dim / 2;
    q->attn = (qf_attn_shape){s->heads, s->kv_heads, s->head_dim, S,
                              qf_attn_batch(s->heads, S, QF_QLAYER_SCORE_BYTES)};
    const int64_t widest = inter > hid ? inter : (qd > hid ? qd : hid);
    qf_status st = qf_ql_alloc(&q->X, n * S * hid, "GPU layer: the samples' activations");
    const struct {
        float **p;
        int64_t n;
    } scratch[] = {{&q->x, S * hid},   {&q->xn, S * hid},    {&q->q, S * qd},
                   {&q->k, S * kvd},   {&q->v, S * kvd},     {&q->att, S * qd},
                   {&q->gate, S * inter}, {&q->up, S * inter}, {&q->scores, q->attn.batch * S * S},
                   {&q->cos_t, S * half}, {&q->sin_t, S * half}, {&q->row, widest},
                   {&q->ln1, hid},     {&q->ln2, hid}};
    for (size_t i = 0; i < sizeof scratch / sizeof *scratch && st == QF_STATUS_OK; i++)
        st = qf_ql_alloc(scratch[i].p, scratch[i].n, "GPU layer: scratch");
    if (st == QF_STATUS_OK)
        st = qf_cuda_malloc((void **)&q->ptr, 6 * (size_t)s->heads * sizeof(float *),
                            "GPU layer: pointer tables");
    const int64_t outs[QL_N] = {qd, kvd, kvd, hid, inter, inter, hid};
    const int64_t ins[QL_N] = {hid, hid, hid, qd, hid, hid, inter};
    for (int i = 0; i < QL_N && st == QF_STATUS_OK; i++) {
        q->out[i] = outs[i], q->in[i] = ins[i];
        st = qf_ql_alloc(&q->w[i], outs[i] * ins[i], "GPU layer: weights");
        if (st == QF_STATUS_OK) st = qf_ql_alloc(&q->b[i], outs[i], "GPU layer: biases");
    }
    if (st == QF_STATUS_OK && s->keep) st = ql_keep_alloc(q);
    if (st == QF_STATUS_OK) st = qf_cuda_upload(q->cos_t, cos_t, qf_ql_f(S * half));
    if (st == QF_STATUS_OK) st = qf_cuda_upload(q->sin_t, sin_t, qf_ql_f(S * half));
    if (st == QF_STATUS_OK) st = ql_pointers(q);
    if (st == QF_STATUS_OK) st = qf_ql_blas(cublasCreate(&q->blas), "GPU layer: cublasCreate");
    if (st == QF_STATUS_OK)
        st = qf_ql_blas(cublasSetMathMode(q->blas, s->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                         : CUBLAS_DEFAULT_MATH),
                     "GPU layer: cublasSetMathMode");
    if (st != QF_STATUS_OK) {
        qf_cuda_qlayer_free(q);
        return st;
    }
    *out = q;
    return QF_STATUS_OK;
}

static qf_status ql_sample(const qf_cuda_qlayer *q, int64_t i) {
    QF_RETURN_IF(i < 0 || i >= q->s.n_samples, QF_STATUS_INVALID_ARG,
                 "GPU layer: sample %lld of %lld", (long long)i, (long long)q->s.n_samples);
    return QF_STATUS_OK;
}

float *qf_ql_x(const qf_cuda_qlayer *q, int64_t i) {
    return q->X + i * q->s.seqlen * q->s.hidden;
}

extern "C" qf_status qf_cuda_qlayer_put_x(qf_cuda_qlayer *q, int64_t i, const float *x) {
    QF_FORWARD(ql_sample(q, i));
    return qf_cuda_upload(qf_ql_x(q, i), x, qf_ql_f(q->s.seqlen * q->s.hidden));
}

extern "C" qf_status qf_cuda_qlayer_get_x(qf_cuda_qlayer *q, int64_t i, float *x) {
    QF_FORWARD(ql_sample(q, i));
    return qf_cuda_download(x, qf_ql_x(q, i), qf_ql_f(q->s.seqlen * q->s.hidden));
}

extern "C" qf_status qf_cuda_qlayer_get_kept(qf_cuda_qlayer *q, int64_t i, float *att,
                                             float *h) {
    QF_FORWARD(ql_sample(q, i));
    QF_RETURN_IF(!q->s.keep, QF_STATUS_INVALID_ARG, "GPU layer: nothing is kept");
    const int64_t S = q->s.seqlen, qd = q->s.heads * q->s.head_dim, inter = q->s.intermediate;
    QF_FORWARD(qf_cuda_download(att, q->att_keep + i * S * qd, qf_ql_f(S * qd)));
    return qf_cuda_download(h, q->h_keep + i * S * inter, qf_ql_f(S * inter));
}

extern "C" qf_status qf_cuda_qlayer_set_weight(qf_cuda_qlayer *q, int i, const float *w) {
    QF_RETURN_IF(i < 0 || i >= QL_N || !w, QF_STATUS_INVALID_ARG, "GPU layer: linear %d", i);
    return qf_cuda_upload(q->w[i], w, qf_ql_f(q->out[i] * q->in[i]));
}

extern "C" qf_status qf_cuda_qlayer_load(qf_cuda_qlayer *q, const qf_cuda_qweights *w) {
    for (int i = 0; i < QL_N; i++) {
        QF_FORWARD(qf_cuda_qlayer_set_weight(q, i, w->w[i]));
        q->has_b[i] = w->b[i] != NULL;
        if (w->b[i]) QF_FORWARD(qf_cuda_upload(q->b[i], w->b[i], qf_ql_f(q->out[i])));
    }
    QF_FORWARD(qf_cuda_upload(q->ln1, w->ln1, qf_ql_f(q->s.hidden)));
    return qf_cuda_upload(q->ln2, w->ln2, qf_ql_f(q->s.hidden));
}

/* y (S, out) = x (S, in) W_i^T + b_i, or y += that (qf_layer_apply). */
qf_status qf_ql_linear(qf_cuda_qlayer *q, int i, const float *x, float *y, int acc) {
    const float one = 1.0f, beta = acc ? 1.0f : 0.0f;
    const qf_gemm_call c = qf_gemm_linear(q->out[i], q->in[i], q->s.seqlen);
    QF_FORWARD(qf_ql_blas(cublasSgemm(q->blas, ql_op(c.ta), ql_op(c.tb), (int)c.m, (int)c.n,
                                   (int)c.k, &one, q->w_use[i] ? q->w_use[i] : q->w[i],
                                   (int)c.lda, x, (int)c.ldb, &beta,
                                   y, (int)c.ldc),
                       "GPU layer: linear"));
    return q->has_b[i] ? qf_cuda_add_rows(y, q->b[i], q->s.seqlen, q->out[i], 0, NULL)
                       : QF_STATUS_OK;
}

/* q->att (S, qd) = attention of xn's q, k, v projections, before o_proj
 * (qf_layer_attention): per batch of heads, scores = scale Q K^T over every key (batched
 * sgemm), the causal softmax, then P V into the heads' columns of q->att. */
qf_status qf_ql_attention(qf_cuda_qlayer *q, const float *xn) {
    const qf_cuda_qshape *s = &q->s;
    const int64_t nh = s->heads, nkv = s->kv_heads, d = s->head_dim, S = s->seqlen;
    const float scale = (float)(1.0 / sqrt((double)d)), one = 1.0f, zero = 0.0f;
    QF_FORWARD(qf_ql_linear(q, QL_Q, xn, q->q, 0));
    QF_FORWARD(qf_ql_linear(q, QL_K, xn, q->k, 0));
    QF_FORWARD(qf_ql_linear(q, QL_V, xn, q->v, 0));
    QF_FORWARD(qf_cuda_rope_apply(q->q, S, nh * d, nh, d / 2, q->cos_t, q->sin_t, NULL));
    QF_FORWARD(qf_cuda_rope_apply(q->k, S, nkv * d, nkv, d / 2, q->cos_t, q->sin_t, NULL));
    const qf_gemm_call sc = qf_gemm_scores(&q->attn), pv = qf_gemm_values(&q->attn);
    const float *const *p = q->ptr;
    for (int64_t h0 = 0; h0 < nh; h0 += q->attn.batch) {
        const int nb = (int)(nh - h0 < q->attn.batch ? nh - h0 : q->attn.batch);
        QF_FORWARD(qf_ql_blas(cublasSgemmBatched(q->blas, ql_op(sc.ta), ql_op(sc.tb), (int)sc.m,
                                              (int)sc.n, (int)sc.k, &scale, p + h0,
                                              (int)sc.lda, p + nh + h0, (int)sc.ldb, &zero,
                                              (float *const *)(p + 2 * nh + h0), (int)sc.ldc,
                                              nb),
                           "GPU layer: attention scores"));
        QF_FORWARD(qf_cuda_causal_softmax(q->scores, nb * S, S, s->window, NULL));
        QF_FORWARD(qf_ql_blas(cublasSgemmBatched(q->blas, ql_op(pv.ta), ql_op(pv.tb), (int)pv.m,
                                              (int)pv.n, (int)pv.k, &one, p + 3 * nh + h0,
                                              (int)pv.lda, p + 4 * nh + h0, (int)pv.ldb, &zero,
                                              (float *const *)(p + 5 * nh + h0), (int)pv.ldc,
                                              nb),
                           "GPU layer: attention values"));
    }
    return QF_STATUS_OK;
}

/* h (S, inter) = silu(gate(xn)) * up(xn) (qf_layer_mlp_hidden). */
qf_status qf_ql_mlp_hidden(qf_cuda_qlayer *q, const float *xn, float *h) {
    QF_FORWARD(qf_ql_linear(q, QL_GATE, xn, h, 0));
    QF_FORWARD(qf_ql_linear(q, QL_UP, xn, q->up, 0));
    return qf_cuda_swiglu(h, q->up, q->s.seqlen * q->s.intermediate, NULL);
}

qf_status qf_ql_norm(qf_cuda_qlayer *q, const float *x, const float *w) {
    return qf_cuda_rmsnorm(x, w, q->xn, q->s.seqlen, q->s.hidden, q->s.eps, NULL);
}

/* H += the S rows of x (width wide), the first weighted by sink_weight as
 * qf_gptq_hessian_add_weighted: scaled by sqrtf(weight) in a copy, then the rest. */
static qf_status ql_hadd(qf_cuda_qlayer *q, qf_cuda_gptq_hessian *H, const float *x,
                         int64_t width, float sink_weight) {
    if (!H->h) return QF_STATUS_OK;
    if (sink_weight == 1.0f) return qf_cuda_gptq_hessian_add(H, x, q->s.seqlen);
    const float r = sqrtf(sink_weight);
    QF_CUDA_TRY(cudaMemcpy(q->row, x, qf_ql_f(width), cudaMemcpyDeviceToDevice),
                "GPU layer: copying the sink row");
    QF_FORWARD(qf_ql_blas(cublasSscal(q->blas, (int)width, &r, q->row, 1), "GPU layer: sink row"));
    QF_FORWARD(qf_cuda_gptq_hessian_add(H, q->row, 1));
    return qf_cuda_gptq_hessian_add(H, x + width, q->s.seqlen - 1);
}

extern "C" qf_status qf_cuda_qlayer_pass(qf_cuda_qlayer *q, qf_layer_pass p, int64_t i,
                                         qf_cuda_gptq_hessian H[4], float sink_weight) {
    QF_FORWARD(ql_sample(q, i));
    const qf_cuda_qshape *s = &q->s;
    const int64_t S = s->seqlen, hid = s->hidden, inter = s->intermediate;
    const int64_t qd = s->heads * s->head_dim;
    float *X = qf_ql_x(q, i);
    /* kept, or the scratch they are (re)computed in: the same operations on the same
     * inputs and weights (q, k, v quantized before O; gate, up before DOWN), so the same
     * values */
    float *att = s->keep ? q->att_keep + i * S * qd : q->att;
    float *h = s->keep ? q->h_keep + i * S * inter : q->gate;
    switch (p) {
    case QF_PASS_QKV:
        QF_FORWARD(qf_ql_norm(q, X, q->ln1));
        return ql_hadd(q, &H[0], q->xn, hid, sink_weight);
    case QF_PASS_O:
        QF_FORWARD(qf_ql_norm(q, X, q->ln1));
        QF_FORWARD(qf_ql_attention(q, q->xn));
        if (s->keep)
            QF_CUDA_TRY(cudaMemcpy(att, q->att, qf_ql_f(S * qd), cudaMemcpyDeviceToDevice),
                        "GPU layer: keeping the attention output");
        return ql_hadd(q, &H[1], att, qd, sink_weight);
    case QF_PASS_GU:
        if (!s->keep) {
            QF_FORWARD(qf_ql_norm(q, X, q->ln1));
            QF_FORWARD(qf_ql_attention(q, q->xn));
        }
        QF_FORWARD(qf_ql_linear(q, QL_O, att, X, 1));
        QF_FORWARD(qf_ql_norm(q, X, q->ln2));
        return ql_hadd(q, &H[2], q->xn, hid, sink_weight);
    case QF_PASS_DOWN:
        QF_FORWARD(qf_ql_norm(q, X, q->ln2));
        QF_FORWARD(qf_ql_mlp_hidden(q, q->xn, h));
        return ql_hadd(q, &H[3], h, inter, sink_weight);
    case QF_PASS_OUT:
        if (!s->keep) {
            QF_FORWARD(qf_ql_norm(q, X, q->ln2));
            QF_FORWARD(qf_ql_mlp_hidden(q, q->xn, h));
        }
        return qf_ql_linear(q, QL_DOWN, h, X, 1);
    case QF_PASS_ALL_H:
        QF_CUDA_TRY(cudaMemcpy(q->x, X, qf_ql_f(S * hid), cudaMemcpyDeviceToDevice),
                    "GPU layer: copying the input");
        X = q->x;
        QF_FORWARD(qf_ql_norm(q, X, q->ln1));
        QF_FORWARD(ql_hadd(q, &H[0], q->xn, hid, sink_weight));
        QF_FORWARD(qf_ql_attention(q, q->xn));
        QF_FORWARD(ql_hadd(q, &H[1], q->att, qd, sink_weight));
        QF_FORWARD(qf_ql_linear(q, QL_O, q->att, X, 1));
        QF_FORWARD(qf_ql_norm(q, X, q->ln2));
        QF_FORWARD(ql_hadd(q, &H[2], q->xn, hid, sink_weight));
        QF_FORWARD(qf_ql_mlp_hidden(q, q->xn, q->gate));
        return ql_hadd(q, &H[3], q->gate, inter, sink_weight);
    case QF_PASS_FULL:
        QF_FORWARD(qf_ql_norm(q, X, q->ln1));
        QF_FORWARD(qf_ql_attention(q, q->xn));
        QF_FORWARD(qf_ql_linear(q, QL_O, q->att, X, 1));
        QF_FORWARD(qf_ql_norm(q, X, q->ln2));
        QF_FORWARD(qf_ql_mlp_hidden(q, q->xn, q->gate));
        return qf_ql_linear(q, QL_DOWN, q->gate, X, 1);
    }
    return qf_error_set(QF_STATUS_INVALID_ARG, "GPU layer: unknown pass %d", (int)p);
}
