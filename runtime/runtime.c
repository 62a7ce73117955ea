/* qf_runtime lifecycle: checks the model's config, loads every weight into memory (linear
 * weights as F32 or F16, or packed quantized weights for the linears a GPTQ checkpoint
 * stores quantized; norms and biases as F32), allocates the KV cache and the chunk
 * activations. The forward pass itself is runtime/forward.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/compressed_tensors.h"
#include "formats/packed_tensors.h"
#include "runtime/cpu/kernels.h"
#include "runtime/runtime_impl.h"
#ifdef QF_HAVE_CUDA
#include "runtime/cuda/forward.h"
#endif

#define QF_RUNTIME_DEFAULT_CTX 4096
#define QF_RUNTIME_F16_OVERFLOW 65520.0f /* the smallest float that rounds to F16 inf */

/* calloc of a * b * c floats with overflow checks. */
static qf_status qf_runtime_alloc(float **out, size_t a, size_t b, size_t c, const char *what) {
    *out = NULL;
    size_t n = a;
    QF_RETURN_IF(b && n > SIZE_MAX / b, QF_STATUS_NOMEM, "runtime: %s size overflows", what);
    n *= b;
    QF_RETURN_IF(c && n > SIZE_MAX / c, QF_STATUS_NOMEM, "runtime: %s size overflows", what);
    n *= c;
    QF_RETURN_IF(n > SIZE_MAX / sizeof(float), QF_STATUS_NOMEM, "runtime: %s size overflows",
                 what);
    *out = calloc(n ? n : 1, sizeof(float));
    QF_RETURN_IF(!*out, QF_STATUS_NOMEM, "runtime: out of memory for %s (%zu floats)", what, n);
    return QF_STATUS_OK;
}

/* Finds `name` and checks it is (d0) or (d0, d1) (d1 = 0: a vector). */
static qf_status qf_runtime_find(const qf_model *m, const char *name, int64_t d0, int64_t d1,
                                 const qf_model_tensor **out) {
    const qf_model_tensor *t = qf_model_find_tensor(m, name);
    QF_RETURN_IF(!t, QF_STATUS_NOT_FOUND, "runtime: model '%s' has no tensor '%s'", m->path,
                 name);
    const int ndim = d1 ? 2 : 1;
    QF_RETURN_IF(t->ndim != ndim || t->shape[0] != d0 || (d1 && t->shape[1] != d1),
                 QF_STATUS_FORMAT, "runtime: tensor '%s' has the wrong shape (want (%lld%s%lld))",
                 name, (long long)d0, d1 ? ", " : "", (long long)d1);
    *out = t;
    return QF_STATUS_OK;
}

static qf_status qf_runtime_load_vec(const qf_model *m, const char *name, int64_t n,
                                     float **out) {
    const qf_model_tensor *t = NULL;
    QF_FORWARD(qf_runtime_find(m, name, n, 0, &t));
    QF_FORWARD(qf_runtime_alloc(out, (size_t)n, 1, 1, name));
    return qf_model_tensor_read_f32(t, *out);
}

/* 1 if every finite value fits F16 (a BF16/F32 weight past its range would become inf). */
static int qf_runtime_fits_f16(const float *w, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (fabsf(w[i]) >= QF_RUNTIME_F16_OVERFLOW && isfinite(w[i])) return 0;
    return 1;
}

/* A linear a GPTQ / AWQ checkpoint stores quantized: its qf_qweight repacked into the CPU
 * layout (the unpacked codes are freed here), its bias if the architecture has one. */
static qf_status qf_runtime_load_qlinear(const qf_model *m, const char *prefix, int64_t out,
                                         int64_t in, int bias, qf_cpu_linear *l) {
    qf_qweight qw;
    float *b = NULL;
    QF_FORWARD(qf_packed_model_read(m, prefix, &qw, &b));
    qf_status st = QF_STATUS_OK;
    if (qw.out != out || qw.in != in)
        st = qf_error_set(QF_STATUS_FORMAT,
                          "runtime: quantized linear '%s' is (%lld, %lld), want (%lld, %lld)",
                          prefix, (long long)qw.out, (long long)qw.in, (long long)out,
                          (long long)in);
    else if (bias && !b)
        st = qf_error_set(QF_STATUS_NOT_FOUND, "runtime: model '%s' has no bias for '%s'",
                          m->path, prefix);
    l->out = out;
    l->in = in;
    l->dtype = QF_DTYPE_F32;
    if (st == QF_STATUS_OK) {
        l->qw = calloc(1, sizeof *l->qw);
        st = l->qw ? qf_cpu_qlinear_init(l->qw, &qw, prefix)
                   : qf_error_set(QF_STATUS_NOMEM, "runtime: out of memory for '%s'", prefix);
    }
    qf_qweight_free(&qw);
    if (st == QF_STATUS_OK && bias) l->bias = b;
    else free(b);
    return st;
}

/* A W8A8 linear of a compressed-tensors checkpoint (int8 weights, per-row scales, a static
 * activation scale or none). */
static qf_status qf_runtime_load_i8linear(const qf_model *m, const char *prefix, int64_t out,
                                          int64_t in, int bias, qf_cpu_linear *l) {
    int8_t *w = NULL;
    float *s = NULL, in_scale = 0.0f;
    QF_FORWARD(qf_ct_model_read(m, prefix, out, in, &w, &s, &in_scale));
    l->out = out;
    l->in = in;
    l->dtype = QF_DTYPE_F32;
    l->i8 = calloc(1, sizeof *l->i8);
    qf_status st = l->i8 ? qf_cpu_i8linear_init(l->i8, w, s, in_scale, out, in)
                         : qf_error_set(QF_STATUS_NOMEM, "runtime: out of memory for '%s'", prefix);
    free(w);
    free(s);
    if (st == QF_STATUS_OK && bias) {
        char name[QF_TENSOR_NAME_MAX];
        snprintf(name, sizeof name, "%s.bias", prefix);
        st = qf_runtime_load_vec(m, name, out, &l->bias);
    }
    return st;
}

/* "<prefix>.weight" (out, in) in the runtime's weight dtype, "<prefix>.bias" if `bias`.
 * A tensor that does not fit F16 stays F32 when the dtype was chosen automatically, and
 * is an error when F16 was asked for. */
static qf_status qf_runtime_load_linear(const qf_runtime *rt, const qf_model *m,
                                        const char *prefix, int64_t out, int64_t in, int bias,
                                        qf_cpu_linear *l) {
    if (qf_packed_model_has(m, prefix)) return qf_runtime_load_qlinear(m, prefix, out, in, bias, l);
    if (qf_ct_model_has(m, prefix)) return qf_runtime_load_i8linear(m, prefix, out, in, bias, l);
    char name[QF_TENSOR_NAME_MAX];
    snprintf(name, sizeof name, "%s.weight", prefix);
    const qf_model_tensor *t = NULL;
    QF_FORWARD(qf_runtime_find(m, name, out, in, &t));
    l->dtype = QF_DTYPE_F32;
    l->out = out;
    l->in = in;
    float *f32;
    QF_FORWARD(qf_runtime_alloc(&f32, (size_t)out, (size_t)in, 1, name));
    l->w = f32;
    QF_FORWARD(qf_model_tensor_read_f32(t, f32));
    if (rt->weight_dtype == QF_DTYPE_F16) {
        const int fits = qf_runtime_fits_f16(f32, out * in);
        QF_RETURN_IF(!fits && !rt->weight_auto, QF_STATUS_UNSUPPORTED,
                     "runtime: tensor '%s' has values outside the F16 range; load the model "
                     "with weight_dtype F32 (or 0: F16 where it fits)",
                     name);
        if (fits) {
            uint16_t *h = malloc((size_t)(out * in) * sizeof *h);
            QF_RETURN_IF(!h, QF_STATUS_NOMEM, "runtime: out of memory for '%s'", name);
            qf_cpu_f32_to_f16(f32, h, out * in);
            free(f32);
            l->w = h;
            l->dtype = QF_DTYPE_F16;
        }
    }
    if (bias) {
        snprintf(name, sizeof name, "%s.bias", prefix);
        QF_FORWARD(qf_runtime_load_vec(m, name, out, &l->bias));
    }
    return QF_STATUS_OK;
}

static void qf_runtime_linear_free(qf_cpu_linear *l) {
    qf_cpu_qlinear_free(l->qw);
    free(l->qw);
    if (l->i8) qf_cpu_i8linear_free(l->i8);
    free(l->i8);
    free(l->w);
    free(l->bias);
}

static qf_status qf_runtime_load_layer(const qf_model *m, qf_runtime *rt, int64_t i,
                                       qf_runtime_layer *ly) {
    const int64_t hid = rt->cfg.hidden_size;
    qf_arch_linear lin[QF_ARCH_N_LINEARS];
    qf_arch_layer_linears(&rt->cfg, lin);
    qf_cpu_linear *const dst[QF_ARCH_N_LINEARS] = {&ly->q,  &ly->k,    &ly->v,   &ly->o,
                                                   &ly->gate, &ly->up, &ly->down};
    char p[QF_TENSOR_NAME_MAX];
    snprintf(p, sizeof p, "model.layers.%lld.input_layernorm.weight", (long long)i);
    QF_FORWARD(qf_runtime_load_vec(m, p, hid, &ly->attn_norm));
    snprintf(p, sizeof p, "model.layers.%lld.post_attention_layernorm.weight", (long long)i);
    QF_FORWARD(qf_runtime_load_vec(m, p, hid, &ly->mlp_norm));
    for (int j = 0; j < QF_ARCH_N_LINEARS; j++) {
        snprintf(p, sizeof p, "model.layers.%lld.%s", (long long)i, lin[j].name);
        QF_FORWARD(qf_runtime_load_linear(rt, m, p, lin[j].out, lin[j].in, lin[j].bias, dst[j]));
    }
    return QF_STATUS_OK;
}

/* Options -> threads, context and weight dtype, with the documented defaults. */
static qf_status qf_runtime_resolve_options(const qf_model *m, const qf_runtime_options *opt,
                                            qf_runtime *rt) {
    qf_runtime_options o = {0};
    if (opt) o = *opt;
    QF_RETURN_IF(o.n_threads < 0 || o.n_threads > QF_RUNTIME_MAX_THREADS, QF_STATUS_INVALID_ARG,
                 "runtime: n_threads %d is out of range [0, %d]", o.n_threads,
                 QF_RUNTIME_MAX_THREADS);
    if (o.n_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.n_threads = n < 1 ? 1 : n > QF_RUNTIME_MAX_THREADS ? QF_RUNTIME_MAX_THREADS : (int)n;
    }
    rt->n_threads = o.n_threads;
    QF_RETURN_IF(o.max_ctx < 0 || o.max_ctx > QF_ARCH_MAX_POSITIONS, QF_STATUS_INVALID_ARG,
                 "runtime: max_ctx %lld is out of range [0, %d]", (long long)o.max_ctx,
                 QF_ARCH_MAX_POSITIONS);
    rt->max_ctx = o.max_ctx;
    if (rt->max_ctx == 0)
        rt->max_ctx = rt->cfg.max_position_embeddings < QF_RUNTIME_DEFAULT_CTX
                          ? rt->cfg.max_position_embeddings
                          : QF_RUNTIME_DEFAULT_CTX;
    rt->weight_auto = o.weight_dtype == QF_DTYPE_BOOL;
    if (rt->weight_auto) {
        const qf_model_tensor *t =
            qf_model_find_tensor(m, "model.layers.0.self_attn.q_proj.weight");
        o.weight_dtype = (t && t->dtype == QF_DTYPE_F32) ? QF_DTYPE_F32 : QF_DTYPE_F16;
    }
    QF_RETURN_IF(o.weight_dtype != QF_DTYPE_F32 && o.weight_dtype != QF_DTYPE_F16,
                 QF_STATUS_INVALID_ARG, "runtime: weight_dtype %s is not supported (F32 or F16)",
                 qf_dtype_name(o.weight_dtype) ? qf_dtype_name(o.weight_dtype) : "?");
    rt->weight_dtype = o.weight_dtype;
    return QF_STATUS_OK;
}

static qf_status qf_runtime_alloc_buffers(qf_runtime *rt) {
    const qf_model_config *c = &rt->cfg;
    const size_t L = (size_t)c->num_hidden_layers, kv = (size_t)c->num_key_value_heads;
    rt->kv_cap = (rt->max_ctx + QF_CPU_ATTN_KEYS - 1) / QF_CPU_ATTN_KEYS * QF_CPU_ATTN_KEYS;
    const size_t d = (size_t)c->head_dim, ctx = (size_t)rt->kv_cap;
    QF_FORWARD(qf_runtime_alloc(&rt->k_cache, L * kv, ctx, d, "the KV cache"));
    QF_FORWARD(qf_runtime_alloc(&rt->v_cache, L * kv, ctx, d, "the KV cache"));
    const size_t ch = (size_t)(rt->max_ctx < QF_RUNTIME_CHUNK ? rt->max_ctx : QF_RUNTIME_CHUNK);
    rt->chunk = (int64_t)ch;
    const size_t hid = (size_t)c->hidden_size, qd = (size_t)c->num_attention_heads * d;
    const size_t inter = (size_t)c->intermediate_size;
    QF_FORWARD(qf_runtime_alloc(&rt->x, (size_t)rt->n_threads, ch, hid, "activations"));
    QF_FORWARD(qf_runtime_alloc(&rt->xn, (size_t)rt->n_threads, ch, hid, "activations"));
    QF_FORWARD(qf_runtime_alloc(&rt->tmp, ch, hid, 1, "activations"));
    QF_FORWARD(qf_runtime_alloc(&rt->q, ch, qd, 1, "activations"));
    QF_FORWARD(qf_runtime_alloc(&rt->att, ch, qd, 1, "activations"));
    QF_FORWARD(qf_runtime_alloc(&rt->k, ch, kv * d, 1, "activations"));
    QF_FORWARD(qf_runtime_alloc(&rt->v, ch, kv * d, 1, "activations"));
    QF_FORWARD(qf_runtime_alloc(&rt->gate, ch, inter, 1, "activations"));
    /* rows of the (kv head, key range) tasks of a decode step (qf_forward_key_splits) */
    const size_t parts = (size_t)(2 * rt->n_threads + c->num_key_value_heads) *
                         (size_t)(c->num_attention_heads / c->num_key_value_heads);
    QF_FORWARD(qf_runtime_alloc(&rt->part_acc, parts, d, 1, "attention partials"));
    QF_FORWARD(qf_runtime_alloc(&rt->part_max, parts, 1, 1, "attention partials"));
    QF_FORWARD(qf_runtime_alloc(&rt->part_sum, parts, 1, 1, "attention partials"));
    QF_FORWARD(qf_runtime_alloc(&rt->att_own, (size_t)rt->n_threads, qd, 1, "activations"));
    QF_FORWARD(qf_runtime_alloc(&rt->up, ch, inter, 1, "activations"));
    QF_FORWARD(qf_runtime_alloc(&rt->rope_cos, ch, d / 2, 1, "RoPE tables"));
    QF_FORWARD(qf_runtime_alloc(&rt->rope_sin, ch, d / 2, 1, "RoPE tables"));
    QF_FORWARD(qf_runtime_alloc(&rt->inv_freq, d / 2, 1, 1, "RoPE tables"));
    size_t rows = QF_RUNTIME_LOGITS_BYTES / ((size_t)c->vocab_size * sizeof(float));
    rows = rows < 1 ? 1 : rows > ch ? ch : rows;
    rt->logits_rows = (int64_t)rows;
    QF_FORWARD(qf_runtime_alloc(&rt->logits, rows, (size_t)c->vocab_size, 1, "logits"));
    const qf_cpu_attn a = {.n_heads = c->num_attention_heads, .n_kv = c->num_key_value_heads,
                           .head_dim = c->head_dim};
    size_t widest = hid > qd ? hid : qd;
    widest = widest > inter ? widest : inter;
    size_t s = (size_t)qf_cpu_linear_scratch((int64_t)widest);
    if (rt->lm_head->qw && (size_t)qf_cpu_qlinear_scratch(rt->lm_head->qw) > s)
        s = (size_t)qf_cpu_qlinear_scratch(rt->lm_head->qw);
    for (int64_t i = 0; i < c->num_hidden_layers; i++) {
        const qf_runtime_layer *ly = &rt->layers[i];
        const qf_cpu_linear *ls[] = {&ly->q, &ly->k, &ly->v, &ly->o, &ly->gate, &ly->up, &ly->down};
        for (size_t j = 0; j < sizeof ls / sizeof ls[0]; j++) {
            if (ls[j]->qw && (size_t)qf_cpu_qlinear_scratch(ls[j]->qw) > s)
                s = (size_t)qf_cpu_qlinear_scratch(ls[j]->qw);
            const size_t i8 = ls[j]->i8 ? ((size_t)qf_cpu_i8linear_scratch_bytes(ls[j]->i8) + 3) / 4 : 0;
            s = i8 > s ? i8 : s;
        }
    }
    rt->scratch_floats = s > qf_cpu_attention_scratch(&a) ? s : qf_cpu_attention_scratch(&a);
    rt->scratch_floats = (rt->scratch_floats + 15) & ~(size_t)15; /* 64-byte strides */
    return qf_runtime_alloc(&rt->scratch, (size_t)rt->n_threads, rt->scratch_floats, 1,
                            "thread scratch");
}

/* A non-CPU device: the GPU runtime does the loading and the forward pass. */
static qf_status qf_runtime_init_device(const qf_model *m, qf_runtime_device dev,
                                        qf_runtime *rt) {
    QF_RETURN_IF(dev != QF_RUNTIME_DEVICE_CUDA, QF_STATUS_INVALID_ARG,
                 "runtime: unknown device %d", (int)dev);
#ifdef QF_HAVE_CUDA
    const qf_cuda_runtime_options o = {.max_ctx = rt->max_ctx,
                                       .weight_dtype = rt->weight_dtype,
                                       .weight_auto = rt->weight_auto};
    qf_status st = qf_cuda_runtime_init(m, &o, &rt->cuda);
    if (st == QF_STATUS_UNSUPPORTED) return qf_error_wrap(st, "device cuda: ");
    return st;
#else
    (void)m;
    (void)rt;
    return qf_error_set(QF_STATUS_UNSUPPORTED,
                        "device cuda: this qforge was built without CUDA support (QF_CUDA=OFF "
                        "or no CUDA compiler at build time); use the CPU");
#endif
}

qf_status qf_runtime_init(const qf_model *m, const qf_runtime_options *opt, qf_runtime **out) {
    QF_RETURN_IF(!out, QF_STATUS_INVALID_ARG, "qf_runtime_init: out is NULL");
    *out = NULL;
    QF_RETURN_IF(!m, QF_STATUS_INVALID_ARG, "qf_runtime_init: model is NULL");
    QF_RETURN_IF(!m->has_config, QF_STATUS_INVALID_ARG,
                 "runtime: model '%s' has no config (config.json or GGUF metadata); a bare "
                 ".safetensors file cannot be run",
                 m->path ? m->path : "?");
    qf_status st = qf_model_config_check(&m->config);
    if (st != QF_STATUS_OK) return qf_error_wrap(st, "runtime: model '%s': ", m->path);
    qf_runtime *rt = calloc(1, sizeof *rt);
    QF_RETURN_IF(!rt, QF_STATUS_NOMEM, "runtime: out of memory");
    rt->cfg = m->config;
    const qf_model_config *c = &rt->cfg;
    st = qf_runtime_resolve_options(m, opt, rt);
    if (st == QF_STATUS_OK && opt && opt->device != QF_RUNTIME_DEVICE_CPU) {
        st = qf_runtime_init_device(m, opt->device, rt);
        if (st != QF_STATUS_OK) {
            qf_runtime_free(rt);
            return st;
        }
        *out = rt;
        return QF_STATUS_OK;
    }
    if (st == QF_STATUS_OK)
        st = qf_runtime_load_linear(rt, m, "model.embed_tokens", c->vocab_size, c->hidden_size,
                                    0, &rt->embed);
    if (st == QF_STATUS_OK && rt->embed.qw)
        st = qf_error_set(QF_STATUS_UNSUPPORTED,
                          "runtime: model '%s' stores the token embeddings quantized (not "
                          "supported)", m->path);
    if (st == QF_STATUS_OK && !c->tie_word_embeddings)
        st = qf_runtime_load_linear(rt, m, "lm_head", c->vocab_size, c->hidden_size, 0,
                                    &rt->lm_head_own);
    rt->lm_head = c->tie_word_embeddings ? &rt->embed : &rt->lm_head_own;
    if (st == QF_STATUS_OK)
        st = qf_runtime_load_vec(m, "model.norm.weight", c->hidden_size, &rt->final_norm);
    if (st == QF_STATUS_OK) {
        rt->layers = calloc((size_t)c->num_hidden_layers, sizeof *rt->layers);
        if (!rt->layers) st = qf_error_set(QF_STATUS_NOMEM, "runtime: out of memory");
    }
    for (int64_t i = 0; st == QF_STATUS_OK && i < c->num_hidden_layers; i++)
        st = qf_runtime_load_layer(m, rt, i, &rt->layers[i]);
    if (st == QF_STATUS_OK) st = qf_runtime_alloc_buffers(rt);
    if (st == QF_STATUS_OK) st = qf_cpu_pool_init(rt->n_threads, &rt->pool);
    if (st != QF_STATUS_OK) {
        qf_runtime_free(rt);
        return st;
    }
    *out = rt;
    return QF_STATUS_OK;
}

void qf_runtime_free(qf_runtime *rt) {
    if (!rt) return;
#ifdef QF_HAVE_CUDA
    qf_cuda_runtime_free(rt->cuda);
#endif
    qf_cpu_pool_free(rt->pool);
    qf_runtime_linear_free(&rt->embed);
    qf_runtime_linear_free(&rt->lm_head_own);
    free(rt->final_norm);
    if (rt->layers)
        for (int64_t i = 0; i < rt->cfg.num_hidden_layers; i++) {
            qf_runtime_layer *ly = &rt->layers[i];
            free(ly->attn_norm);
            free(ly->mlp_norm);
            qf_cpu_linear *ls[] = {&ly->q, &ly->k, &ly->v, &ly->o, &ly->gate, &ly->up, &ly->down};
            for (size_t j = 0; j < sizeof ls / sizeof ls[0]; j++) qf_runtime_linear_free(ls[j]);
        }
    free(rt->layers);
    float *bufs[] = {rt->k_cache, rt->v_cache, rt->x,        rt->xn,       rt->tmp,
                     rt->q,       rt->att,     rt->k,        rt->v,        rt->gate,
                     rt->up,      rt->rope_cos, rt->rope_sin, rt->inv_freq, rt->logits,
                     rt->scratch, rt->part_acc, rt->part_max, rt->part_sum, rt->att_own};
    for (size_t j = 0; j < sizeof bufs / sizeof bufs[0]; j++) free(bufs[j]);
    free(rt);
}

const qf_model_config *qf_runtime_config(const qf_runtime *rt) { return rt ? &rt->cfg : NULL; }

int64_t qf_runtime_max_ctx(const qf_runtime *rt) { return rt ? rt->max_ctx : 0; }

int64_t qf_runtime_pos(const qf_runtime *rt) { return rt ? rt->pos : 0; }

void qf_runtime_reset(qf_runtime *rt) {
    if (rt) rt->pos = 0;
}
