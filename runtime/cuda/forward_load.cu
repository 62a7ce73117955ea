/* qf_cuda_runtime lifecycle: the device check, every weight read from the qf_model and
 * uploaded once (float linears as fp16 or fp32, 4-bit GPTQ / AWQ linears repacked into the
 * W4A16 layout, other bit widths dequantized on the host; norms and biases fp32), the
 * fp16 KV cache, the chunk activations and the cuBLAS handle. The forward pass is
 * runtime/cuda/forward.cu. */
#include <cublas_v2.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/forward_impl.h"

extern "C" {
#include "core/qweight.h"
#include "formats/compressed_tensors.h"
#include "formats/packed_tensors.h"
#include "runtime/cpu/kernels.h"
}

#define QF_CUDA_F16_OVERFLOW 65520.0f /* the smallest float that rounds to F16 inf */

/* Device buffer of a * b elements of `size` bytes, with overflow checks. */
static qf_status qf_cuda_rt_alloc(void **p, size_t a, size_t b, size_t size, const char *what) {
    *p = NULL;
    QF_RETURN_IF(b && a > SIZE_MAX / b, QF_STATUS_NOMEM, "cuda runtime: %s size overflows", what);
    QF_RETURN_IF(a * b > SIZE_MAX / size, QF_STATUS_NOMEM, "cuda runtime: %s size overflows", what);
    return qf_cuda_malloc(p, a * b * size, what);
}

static qf_status qf_cuda_rt_find(const qf_model *m, const char *name, int64_t d0, int64_t d1,
                                 const qf_model_tensor **out) {
    const qf_model_tensor *t = qf_model_find_tensor(m, name);
    QF_RETURN_IF(!t, QF_STATUS_NOT_FOUND, "cuda runtime: model '%s' has no tensor '%s'", m->path,
                 name);
    const int ndim = d1 ? 2 : 1;
    QF_RETURN_IF(t->ndim != ndim || t->shape[0] != d0 || (d1 && t->shape[1] != d1),
                 QF_STATUS_FORMAT, "cuda runtime: tensor '%s' has the wrong shape", name);
    *out = t;
    return QF_STATUS_OK;
}

/* n floats from the host to a new device buffer. */
static qf_status qf_cuda_rt_upload_f32(const float *h, int64_t n, float **d, const char *what) {
    QF_FORWARD(qf_cuda_rt_alloc((void **)d, (size_t)n, 1, sizeof(float), what));
    return qf_cuda_upload(*d, h, (size_t)n * sizeof(float));
}

static qf_status qf_cuda_rt_load_vec(const qf_model *m, const char *name, int64_t n, float **d) {
    const qf_model_tensor *t = NULL;
    QF_FORWARD(qf_cuda_rt_find(m, name, n, 0, &t));
    float *h = (float *)malloc((size_t)n * sizeof *h);
    QF_RETURN_IF(!h, QF_STATUS_NOMEM, "cuda runtime: out of memory for '%s'", name);
    qf_status st = qf_model_tensor_read_f32(t, h);
    if (st == QF_STATUS_OK) st = qf_cuda_rt_upload_f32(h, n, d, name);
    free(h);
    return st;
}

/* A float weight (out, in) in host memory to the device as fp16 (when the runtime's dtype
 * is F16 and it fits) or fp32. Takes ownership of f32. */
static qf_status qf_cuda_rt_upload_float(const qf_cuda_runtime *rt, float *f32, const char *name,
                                         qf_cuda_linear *l) {
    const int64_t n = l->out * l->in;
    qf_status st = QF_STATUS_OK;
    int f16 = rt->weight_dtype == QF_DTYPE_F16;
    if (f16) {
        for (int64_t i = 0; i < n && f16; i++)
            if (fabsf(f32[i]) >= QF_CUDA_F16_OVERFLOW && isfinite(f32[i])) f16 = 0;
        if (!f16 && !rt->weight_auto)
            st = qf_error_set(QF_STATUS_UNSUPPORTED,
                              "cuda runtime: tensor '%s' has values outside the F16 range; load "
                              "the model with weight_dtype F32 (or 0: F16 where it fits)",
                              name);
    }
    if (st == QF_STATUS_OK && f16) {
        uint16_t *h = (uint16_t *)malloc((size_t)n * sizeof *h);
        if (!h) st = qf_error_set(QF_STATUS_NOMEM, "cuda runtime: out of memory for '%s'", name);
        if (h) {
            qf_cpu_f32_to_f16(f32, h, n);
            l->kind = QF_CUDA_LINEAR_F16;
            st = qf_cuda_rt_alloc(&l->w, (size_t)n, 1, sizeof *h, name);
            if (st == QF_STATUS_OK) st = qf_cuda_upload(l->w, h, (size_t)n * sizeof *h);
            free(h);
        }
    } else if (st == QF_STATUS_OK) {
        l->kind = QF_CUDA_LINEAR_F32;
        st = qf_cuda_rt_alloc(&l->w, (size_t)n, 1, sizeof(float), name);
        if (st == QF_STATUS_OK) st = qf_cuda_upload(l->w, f32, (size_t)n * sizeof(float));
    }
    free(f32);
    return st;
}

/* A linear a GPTQ / AWQ checkpoint stores quantized: 4 bits -> the W4A16 layout, other
 * widths dequantized here (qf_qweight_dequant_ref) and uploaded as a float weight. */
static qf_status qf_cuda_rt_load_qlinear(const qf_cuda_runtime *rt, const qf_model *m,
                                         const char *prefix, int bias, qf_cuda_linear *l) {
    qf_qweight qw;
    float *b = NULL;
    QF_FORWARD(qf_packed_model_read(m, prefix, &qw, &b));
    qf_status st = QF_STATUS_OK;
    if (qw.out != l->out || qw.in != l->in)
        st = qf_error_set(QF_STATUS_FORMAT,
                          "cuda runtime: quantized linear '%s' is (%lld, %lld), want (%lld, %lld)",
                          prefix, (long long)qw.out, (long long)qw.in, (long long)l->out,
                          (long long)l->in);
    else if (bias && !b)
        st = qf_error_set(QF_STATUS_NOT_FOUND, "cuda runtime: model '%s' has no bias for '%s'",
                          m->path, prefix);
    if (st == QF_STATUS_OK && qw.bits == 4) {
        qf_cuda_w4 h;
        memset(&h, 0, sizeof h);
        st = qf_cuda_w4_init(&h, &qw, prefix);
        if (st == QF_STATUS_OK) {
            l->kind = QF_CUDA_LINEAR_W4;
            st = qf_cuda_w4_upload(&l->w4, &h);
        }
        qf_cuda_w4_free(&h);
    } else if (st == QF_STATUS_OK) {
        float *f = (float *)malloc((size_t)(l->out * l->in) * sizeof *f);
        if (!f) st = qf_error_set(QF_STATUS_NOMEM, "cuda runtime: out of memory for '%s'", prefix);
        if (f) {
            qf_qweight_dequant_ref(&qw, f);
            st = qf_cuda_rt_upload_float(rt, f, prefix, l);
        }
    }
    qf_qweight_free(&qw);
    if (st == QF_STATUS_OK && bias) st = qf_cuda_rt_upload_f32(b, l->out, &l->bias, prefix);
    free(b);
    return st;
}

/* A W8A8 linear of a compressed-tensors checkpoint: the CPU runtime's layout
 * (qf_cpu_i8linear_init: rows padded to 64 columns) uploaded as it is. */
static qf_status qf_cuda_rt_load_i8linear(const qf_model *m, const char *prefix, int bias,
                                          qf_cuda_linear *l) {
    int8_t *w = NULL;
    float *s = NULL, in_scale = 0.0f;
    QF_FORWARD(qf_ct_model_read(m, prefix, l->out, l->in, &w, &s, &in_scale));
    qf_cpu_i8linear h;
    qf_status st = qf_cpu_i8linear_init(&h, w, s, in_scale, l->out, l->in);
    free(w);
    free(s);
    if (st == QF_STATUS_OK) {
        l->kind = QF_CUDA_LINEAR_I8;
        st = qf_cuda_i8_upload(&l->i8, &h);
        qf_cpu_i8linear_free(&h);
    }
    if (st == QF_STATUS_OK && bias) {
        char name[QF_TENSOR_NAME_MAX];
        snprintf(name, sizeof name, "%s.bias", prefix);
        st = qf_cuda_rt_load_vec(m, name, l->out, &l->bias);
    }
    return st == QF_STATUS_OK ? st : qf_error_wrap(st, "cuda runtime: '%s': ", prefix);
}

/* "<prefix>.weight" (out, in) and "<prefix>.bias" if `bias`. */
static qf_status qf_cuda_rt_load_linear(const qf_cuda_runtime *rt, const qf_model *m,
                                        const char *prefix, int64_t out, int64_t in, int bias,
                                        qf_cuda_linear *l) {
    l->out = out;
    l->in = in;
    QF_RETURN_IF(out > INT32_MAX || in > INT32_MAX, QF_STATUS_UNSUPPORTED,
                 "cuda runtime: linear '%s' (%lld, %lld) is too large for cuBLAS int sizes",
                 prefix, (long long)out, (long long)in);
    if (qf_packed_model_has(m, prefix)) return qf_cuda_rt_load_qlinear(rt, m, prefix, bias, l);
    if (qf_ct_model_has(m, prefix)) return qf_cuda_rt_load_i8linear(m, prefix, bias, l);
    char name[QF_TENSOR_NAME_MAX];
    snprintf(name, sizeof name, "%s.weight", prefix);
    const qf_model_tensor *t = NULL;
    QF_FORWARD(qf_cuda_rt_find(m, name, out, in, &t));
    float *f = (float *)malloc((size_t)(out * in) * sizeof *f);
    QF_RETURN_IF(!f, QF_STATUS_NOMEM, "cuda runtime: out of memory for '%s'", name);
    qf_status st = qf_model_tensor_read_f32(t, f);
    if (st != QF_STATUS_OK) {
        free(f);
        return st;
    }
    QF_FORWARD(qf_cuda_rt_upload_float(rt, f, name, l));
    if (bias) {
        snprintf(name, sizeof name, "%s.bias", prefix);
        QF_FORWARD(qf_cuda_rt_load_vec(m, name, out, &l->bias));
    }
    return QF_STATUS_OK;
}

static void qf_cuda_rt_linear_free(qf_cuda_linear *l) {
    qf_cuda_free(l->w);
    qf_cuda_w4_dev_free(&l->w4);
    qf_cuda_i8_dev_free(&l->i8);
    qf_cuda_free(l->bias);
}

static qf_status qf_cuda_rt_load_layer(const qf_model *m, qf_cuda_runtime *rt, int64_t i,
                                       qf_cuda_layer *ly) {
    const int64_t hid = rt->cfg.hidden_size;
    qf_arch_linear lin[QF_ARCH_N_LINEARS];
    qf_arch_layer_linears(&rt->cfg, lin);
    qf_cuda_linear *const dst[QF_ARCH_N_LINEARS] = {&ly->q,  &ly->k,    &ly->v,   &ly->o,
                                                    &ly->gate, &ly->up, &ly->down};
    char p[QF_TENSOR_NAME_MAX];
    snprintf(p, sizeof p, "model.layers.%lld.input_layernorm.weight", (long long)i);
    QF_FORWARD(qf_cuda_rt_load_vec(m, p, hid, &ly->attn_norm));
    snprintf(p, sizeof p, "model.layers.%lld.post_attention_layernorm.weight", (long long)i);
    QF_FORWARD(qf_cuda_rt_load_vec(m, p, hid, &ly->mlp_norm));
    for (int j = 0; j < QF_ARCH_N_LINEARS; j++) {
        snprintf(p, sizeof p, "model.layers.%lld.%s", (long long)i, lin[j].name);
        QF_FORWARD(qf_cuda_rt_load_linear(rt, m, p, lin[j].out, lin[j].in, lin[j].bias,
                                          dst[j]));
    }
    return QF_STATUS_OK;
}

/* Widest input, widest W4 packed row (sizes of xh), largest W4 weight in packed columns,
 * out * kp (size of w4_wh), widest W8A8 padded row and output (sizes of the W8A8
 * scratch), over every linear: w[0..4], updated by l. */
static void qf_cuda_rt_width(const qf_cuda_linear *l, int64_t w[5]) {
    if (l->in > w[0]) w[0] = l->in;
    if (l->kind == QF_CUDA_LINEAR_I8) {
        if (l->i8.kp > w[3]) w[3] = l->i8.kp;
        if (l->i8.out > w[4]) w[4] = l->i8.out;
    }
    if (l->kind != QF_CUDA_LINEAR_W4) return;
    if (l->w4.kp > w[1]) w[1] = l->w4.kp;
    if (l->w4.out * l->w4.kp > w[2]) w[2] = l->w4.out * l->w4.kp;
}

static void qf_cuda_rt_widths(const qf_cuda_runtime *rt, int64_t w[5]) {
    w[0] = w[1] = w[2] = w[3] = w[4] = 0;
    qf_cuda_rt_width(rt->lm_head, w);
    for (int64_t i = 0; i < rt->cfg.num_hidden_layers; i++) {
        const qf_cuda_layer *ly = &rt->layers[i];
        const qf_cuda_linear *ls[] = {&ly->q, &ly->k, &ly->v, &ly->o, &ly->gate, &ly->up, &ly->down};
        for (size_t j = 0; j < sizeof ls / sizeof ls[0]; j++) qf_cuda_rt_width(ls[j], w);
    }
}

static qf_status qf_cuda_rt_alloc_buffers(qf_cuda_runtime *rt) {
    const qf_model_config *c = &rt->cfg;
    const size_t L = (size_t)c->num_hidden_layers, nkv = (size_t)c->num_key_value_heads;
    const size_t d = (size_t)c->head_dim, ctx = (size_t)rt->max_ctx;
    QF_FORWARD(qf_cuda_rt_alloc((void **)&rt->k_cache, L * nkv, ctx * d, 2, "the KV cache"));
    QF_FORWARD(qf_cuda_rt_alloc((void **)&rt->v_cache, L * nkv, ctx * d, 2, "the KV cache"));
    rt->chunk = rt->max_ctx < QF_CUDA_RUNTIME_CHUNK ? rt->max_ctx : QF_CUDA_RUNTIME_CHUNK;
    const size_t ch = (size_t)rt->chunk, hid = (size_t)c->hidden_size;
    const size_t qd = (size_t)c->num_attention_heads * d, inter = (size_t)c->intermediate_size;
    size_t widest = hid > qd ? hid : qd;
    widest = widest > inter ? widest : inter;
    int64_t w[5]; /* widest input, widest W4 kp, largest W4 out * kp, W8A8 kp, out */
    qf_cuda_rt_widths(rt, w);
    const size_t xh = (size_t)(w[0] > w[1] ? w[0] : w[1]);
    const struct {
        void **p;
        size_t n, size;
    } bufs[] = {
        {(void **)&rt->tok, ch, 4},           {(void **)&rt->x, ch * hid, 4},
        {(void **)&rt->xn, ch * hid, 4},      {(void **)&rt->q, ch * qd, 4},
        {(void **)&rt->att, ch * qd, 4},      {(void **)&rt->k, ch * nkv * d, 4},
        {(void **)&rt->v, ch * nkv * d, 4},   {(void **)&rt->gate, ch * inter, 4},
        {(void **)&rt->up, ch * inter, 4},    {(void **)&rt->lin_tmp, ch * widest, 4},
        {(void **)&rt->xh, ch * xh, 2},       {(void **)&rt->rope_cos, ch * (d / 2), 4},
        {(void **)&rt->rope_sin, ch * (d / 2), 4},
    };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        QF_FORWARD(qf_cuda_rt_alloc(bufs[i].p, bufs[i].n, 1, bufs[i].size, "activations"));
    if (w[2] > 0)
        QF_FORWARD(qf_cuda_rt_alloc((void **)&rt->w4_wh, (size_t)w[2], 1, 2,
                                    "the W4 prefill weight buffer"));
    if (w[3] > 0) {
        QF_FORWARD(qf_cuda_rt_alloc((void **)&rt->i8.xq, ch, (size_t)w[3], 1, "W8A8 activations"));
        QF_FORWARD(qf_cuda_rt_alloc((void **)&rt->i8.xs, ch, 1, 4, "W8A8 activation scales"));
        QF_FORWARD(qf_cuda_rt_alloc((void **)&rt->i8.acc, ch, (size_t)w[4], 4, "W8A8 sums"));
    }
    const qf_cuda_attn a = {c->num_attention_heads, c->num_key_value_heads, c->head_dim,
                            rt->max_ctx, c->sliding_window, 1.0f};
    QF_FORWARD(qf_cuda_rt_alloc((void **)&rt->work, qf_cuda_attn_work_floats(&a, QF_CUDA_ATTN_MAX_SPLITS),
                                1, 4, "the decode attention workspace"));
    size_t rows = QF_CUDA_RUNTIME_LOGITS_BYTES / ((size_t)c->vocab_size * sizeof(float));
    rows = rows < 1 ? 1 : rows > ch ? ch : rows;
    rt->logits_rows = (int64_t)rows;
    QF_FORWARD(qf_cuda_rt_alloc((void **)&rt->logits, rows, (size_t)c->vocab_size, 4, "logits"));
    rt->h_logits = (float *)malloc(rows * (size_t)c->vocab_size * sizeof(float));
    rt->h_cos = (float *)malloc(ch * (d / 2) * sizeof(float));
    rt->h_sin = (float *)malloc(ch * (d / 2) * sizeof(float));
    rt->inv_freq = (float *)malloc((d / 2) * sizeof(float));
    QF_RETURN_IF(!rt->h_logits || !rt->h_cos || !rt->h_sin || !rt->inv_freq, QF_STATUS_NOMEM,
                 "cuda runtime: out of host memory for logits / RoPE tables");
    return QF_STATUS_OK;
}

/* What the GPU kernels need of the config, checked before anything is uploaded. */
static qf_status qf_cuda_rt_check_config(const qf_model *m, const qf_cuda_runtime_options *o) {
    const qf_model_config *c = &m->config;
    QF_RETURN_IF(c->head_dim != 64 && c->head_dim != 128, QF_STATUS_UNSUPPORTED,
                 "cuda runtime: model '%s' has head_dim %lld; the CUDA attention kernels "
                 "support 64 or 128 (use --device cpu)",
                 m->path, (long long)c->head_dim);
    QF_RETURN_IF(o->max_ctx <= 0, QF_STATUS_INVALID_ARG, "cuda runtime: max_ctx %lld",
                 (long long)o->max_ctx);
    QF_RETURN_IF(o->weight_dtype != QF_DTYPE_F16 && o->weight_dtype != QF_DTYPE_F32,
                 QF_STATUS_INVALID_ARG, "cuda runtime: weight dtype must be F16 or F32");
    QF_RETURN_IF(c->vocab_size > INT32_MAX || c->hidden_size > INT32_MAX, QF_STATUS_UNSUPPORTED,
                 "cuda runtime: vocabulary / hidden size too large for cuBLAS int sizes");
    return QF_STATUS_OK;
}

static qf_status qf_cuda_rt_load(const qf_model *m, qf_cuda_runtime *rt) {
    const qf_model_config *c = &rt->cfg;
    QF_FORWARD(qf_cuda_sm_count(&rt->n_sm));
    cublasHandle_t h = NULL;
    cublasStatus_t cs = cublasCreate(&h);
    QF_RETURN_IF(cs != CUBLAS_STATUS_SUCCESS, QF_STATUS_UNSUPPORTED,
                 "cuda runtime: cublasCreate: %s", cublasGetStatusString(cs));
    rt->cublas = h;
    QF_FORWARD(qf_cuda_rt_load_linear(rt, m, "model.embed_tokens", c->vocab_size,
                                      c->hidden_size, 0, &rt->embed));
    QF_RETURN_IF(rt->embed.kind == QF_CUDA_LINEAR_W4 || rt->embed.kind == QF_CUDA_LINEAR_I8,
                 QF_STATUS_UNSUPPORTED,
                 "cuda runtime: model '%s' stores the token embeddings quantized (not "
                 "supported)", m->path);
    if (!c->tie_word_embeddings)
        QF_FORWARD(qf_cuda_rt_load_linear(rt, m, "lm_head", c->vocab_size, c->hidden_size, 0,
                                          &rt->lm_head_own));
    rt->lm_head = c->tie_word_embeddings ? &rt->embed : &rt->lm_head_own;
    QF_FORWARD(qf_cuda_rt_load_vec(m, "model.norm.weight", c->hidden_size, &rt->final_norm));
    rt->layers = (qf_cuda_layer *)calloc((size_t)c->num_hidden_layers, sizeof *rt->layers);
    QF_RETURN_IF(!rt->layers, QF_STATUS_NOMEM, "cuda runtime: out of memory");
    for (int64_t i = 0; i < c->num_hidden_layers; i++)
        QF_FORWARD(qf_cuda_rt_load_layer(m, rt, i, &rt->layers[i]));
    return qf_cuda_rt_alloc_buffers(rt);
}

extern "C" qf_status qf_cuda_runtime_init(const qf_model *m, const qf_cuda_runtime_options *opt,
                                          qf_cuda_runtime **out) {
    QF_RETURN_IF(!out, QF_STATUS_INVALID_ARG, "qf_cuda_runtime_init: out is NULL");
    *out = NULL;
    QF_RETURN_IF(!m || !opt || !m->has_config, QF_STATUS_INVALID_ARG,
                 "qf_cuda_runtime_init: need a model with a config and options");
    qf_status dev = qf_cuda_device_check();
    if (dev != QF_STATUS_OK) return qf_error_wrap(dev, "no usable GPU: ");
    QF_FORWARD(qf_cuda_rt_check_config(m, opt));
    qf_cuda_runtime *rt = (qf_cuda_runtime *)calloc(1, sizeof *rt);
    QF_RETURN_IF(!rt, QF_STATUS_NOMEM, "cuda runtime: out of memory");
    rt->cfg = m->config;
    rt->max_ctx = opt->max_ctx;
    rt->weight_dtype = opt->weight_dtype;
    rt->weight_auto = opt->weight_auto;
    qf_status st = qf_cuda_rt_load(m, rt);
    if (st != QF_STATUS_OK) {
        qf_cuda_runtime_free(rt);
        return st;
    }
    *out = rt;
    return QF_STATUS_OK;
}

extern "C" void qf_cuda_runtime_free(qf_cuda_runtime *rt) {
    if (!rt) return;
    if (rt->cublas) cublasDestroy((cublasHandle_t)rt->cublas);
    qf_cuda_rt_linear_free(&rt->embed);
    qf_cuda_rt_linear_free(&rt->lm_head_own);
    qf_cuda_free(rt->final_norm);
    if (rt->layers)
        for (int64_t i = 0; i < rt->cfg.num_hidden_layers; i++) {
            qf_cuda_layer *ly = &rt->layers[i];
            qf_cuda_free(ly->attn_norm);
            qf_cuda_free(ly->mlp_norm);
            qf_cuda_linear *ls[] = {&ly->q, &ly->k, &ly->v, &ly->o, &ly->gate, &ly->up, &ly->down};
            for (size_t j = 0; j < sizeof ls / sizeof ls[0]; j++) qf_cuda_rt_linear_free(ls[j]);
        }
    free(rt->layers);
    void *dev[] = {rt->k_cache, rt->v_cache, rt->tok,     rt->x,        rt->xn,
                   rt->q,       rt->att,     rt->k,       rt->v,        rt->gate,
                   rt->up,      rt->lin_tmp, rt->xh,      rt->rope_cos, rt->rope_sin,
                   rt->work,    rt->logits,  rt->w4_wh,   rt->i8.xq,    rt->i8.xs,
                   rt->i8.acc};
    for (size_t j = 0; j < sizeof dev / sizeof dev[0]; j++) qf_cuda_free(dev[j]);
    free(rt->h_cos);
    free(rt->h_sin);
    free(rt->inv_freq);
    free(rt->h_logits);
    free(rt);
}
