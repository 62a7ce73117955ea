/* GGUF → qf_model adapter for llama-family files (general.architecture "llama", and
 * "qwen2" when the architectures table has it): the model config from the
 * <arch>.* keys, llama.cpp tensor names mapped to Hugging Face names with shapes
 * reversed to outermost-first, and every KV pair recorded as text metadata.
 * Tensor names follow gguf-py's tensor_mapping; config keys follow llama.cpp's
 * llama-arch.cpp and transformers' GGUF loader (integrations/ggml.py). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"
#include "formats/model_build.h"

#define QF_GGUF_ARRAY_SHOWN 16 /* longer arrays are summarised as "[n x type]" */
#define QF_GGUF_ARCH_MAX 64
#define QF_GGUF_KEY_MAX (QF_GGUF_ARCH_MAX + 64)

/* Copies a GGUF string into a NUL-terminated buffer; 0 if it does not fit. */
static int qf_gguf_str_copy(qf_gguf_str s, char *buf, size_t cap) {
    if (s.len >= cap) return 0;
    memcpy(buf, s.ptr, (size_t)s.len);
    buf[s.len] = '\0';
    return 1;
}

/* ---- config ----------------------------------------------------------------------- */

/* Integer key "<arch>.<suffix>": left unchanged when absent and not required. */
static qf_status qf_gguf_cfg_int(const qf_gguf_file *g, const char *arch, const char *suffix,
                                 int required, int64_t *out) {
    char key[QF_GGUF_KEY_MAX];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint64_t v;
    qf_status st = qf_gguf_get_u64(g, key, &v);
    if (st == QF_STATUS_NOT_FOUND && !required) return QF_STATUS_OK;
    QF_RETURN_IF(st == QF_STATUS_NOT_FOUND, QF_STATUS_FORMAT, "'%s': required key '%s' is missing",
                 qf_gguf_name(g), key);
    QF_FORWARD(st);
    QF_RETURN_IF(v > (uint64_t)INT64_MAX, QF_STATUS_FORMAT, "'%s': key '%s' is too large (%llu)",
                 qf_gguf_name(g), key, (unsigned long long)v);
    *out = (int64_t)v;
    return QF_STATUS_OK;
}

static qf_status qf_gguf_cfg_f64(const qf_gguf_file *g, const char *arch, const char *suffix,
                                 double *out) {
    char key[QF_GGUF_KEY_MAX];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    qf_status st = qf_gguf_get_f64(g, key, out);
    return st == QF_STATUS_NOT_FOUND ? QF_STATUS_OK : st;
}

static qf_status qf_gguf_cfg_token(const qf_gguf_file *g, const char *key, int64_t *out) {
    uint64_t v;
    qf_status st = qf_gguf_get_u64(g, key, &v);
    if (st == QF_STATUS_NOT_FOUND) return QF_STATUS_OK;
    QF_FORWARD(st);
    QF_RETURN_IF(v > (uint64_t)INT64_MAX, QF_STATUS_FORMAT, "'%s': key '%s' is too large",
                 qf_gguf_name(g), key);
    *out = (int64_t)v;
    return QF_STATUS_OK;
}

static qf_status qf_gguf_cfg_rope_scaling(const qf_gguf_file *g, const char *arch,
                                          qf_rope_scaling *rs) {
    char key[QF_GGUF_KEY_MAX];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    qf_gguf_str type;
    qf_status st = qf_gguf_get_str(g, key, &type);
    if (st == QF_STATUS_NOT_FOUND) {
        /* older files: <arch>.rope.scale_linear */
        double f = 0;
        QF_FORWARD(qf_gguf_cfg_f64(g, arch, "rope.scale_linear", &f));
        if (f != 0 && f != 1) {
            rs->type = QF_ROPE_SCALING_LINEAR;
            rs->factor = f;
        }
        return QF_STATUS_OK;
    }
    QF_FORWARD(st);
    char t[32];
    QF_RETURN_IF(!qf_gguf_str_copy(type, t, sizeof t), QF_STATUS_UNSUPPORTED,
                 "'%s': %s has an unsupported value", qf_gguf_name(g), key);
    if (strcmp(t, "none") == 0) return QF_STATUS_OK;
    if (strcmp(t, "linear") == 0)
        rs->type = QF_ROPE_SCALING_LINEAR;
    else if (strcmp(t, "yarn") == 0)
        rs->type = QF_ROPE_SCALING_YARN;
    else
        return qf_error_set(QF_STATUS_UNSUPPORTED, "'%s': %s '%s' is not supported",
                            qf_gguf_name(g), key, t);
    rs->factor = 1.0;
    QF_FORWARD(qf_gguf_cfg_f64(g, arch, "rope.scaling.factor", &rs->factor));
    QF_FORWARD(qf_gguf_cfg_int(g, arch, "rope.scaling.original_context_length", 0,
                               &rs->original_max_position_embeddings));
    return QF_STATUS_OK;
}

static qf_status qf_gguf_model_config(qf_model *m, const qf_gguf_file *g, const char *arch,
                                      const qf_arch *entry) {
    qf_model_config *c = &m->config;
    memset(c, 0, sizeof *c);
    c->arch = entry;
    c->bos_token_id = c->eos_token_id = -1;
    c->rope_theta = 10000.0; /* llama.cpp's default when rope.freq_base is absent */
    c->rms_norm_eps = 1e-5;
    QF_FORWARD(qf_gguf_cfg_int(g, arch, "context_length", 1, &c->max_position_embeddings));
    QF_FORWARD(qf_gguf_cfg_int(g, arch, "embedding_length", 1, &c->hidden_size));
    QF_FORWARD(qf_gguf_cfg_int(g, arch, "block_count", 1, &c->num_hidden_layers));
    QF_FORWARD(qf_gguf_cfg_int(g, arch, "feed_forward_length", 1, &c->intermediate_size));
    QF_FORWARD(qf_gguf_cfg_int(g, arch, "attention.head_count", 1, &c->num_attention_heads));
    c->num_key_value_heads = c->num_attention_heads;
    QF_FORWARD(qf_gguf_cfg_int(g, arch, "attention.head_count_kv", 0, &c->num_key_value_heads));
    QF_FORWARD(qf_gguf_cfg_f64(g, arch, "rope.freq_base", &c->rope_theta));
    QF_FORWARD(qf_gguf_cfg_f64(g, arch, "attention.layer_norm_rms_epsilon", &c->rms_norm_eps));
    QF_RETURN_IF(c->num_attention_heads <= 0, QF_STATUS_FORMAT,
                 "'%s': %s.attention.head_count is 0", qf_gguf_name(g), arch);
    /* head_dim: attention.key_length; for llama also rope.dimension_count (transformers'
     * mapping); else hidden / heads */
    c->head_dim = c->hidden_size / c->num_attention_heads;
    if (strcmp(arch, "llama") == 0)
        QF_FORWARD(qf_gguf_cfg_int(g, arch, "rope.dimension_count", 0, &c->head_dim));
    QF_FORWARD(qf_gguf_cfg_int(g, arch, "attention.key_length", 0, &c->head_dim));
    QF_FORWARD(qf_gguf_cfg_rope_scaling(g, arch, &c->rope_scaling));

    const qf_gguf_kv *tokens = qf_gguf_kv_find(g, "tokenizer.ggml.tokens");
    const qf_gguf_tensor *embd = qf_gguf_tensor_find(g, "token_embd.weight");
    if (tokens && tokens->type == QF_GGUF_TYPE_ARRAY)
        c->vocab_size = (int64_t)tokens->arr_len;
    else
        QF_FORWARD(qf_gguf_cfg_int(g, arch, "vocab_size", 0, &c->vocab_size));
    if (c->vocab_size == 0 && embd && embd->ndim == 2) c->vocab_size = embd->ne[1];
    QF_FORWARD(qf_gguf_cfg_token(g, "tokenizer.ggml.bos_token_id", &c->bos_token_id));
    QF_FORWARD(qf_gguf_cfg_token(g, "tokenizer.ggml.eos_token_id", &c->eos_token_id));

    c->tie_word_embeddings = qf_gguf_tensor_find(g, "output.weight") == NULL;
    /* like formats/hf_config.c: q/k/v-bias architectures (Qwen2) always set it */
    c->attention_bias = entry->qkv_bias || qf_gguf_tensor_find(g, "blk.0.attn_q.bias") != NULL;
    c->mlp_bias = qf_gguf_tensor_find(g, "blk.0.ffn_up.bias") != NULL;
    m->has_config = 1;
    qf_status st = qf_model_config_check(c);
    if (st != QF_STATUS_OK) return qf_error_wrap(st, "'%s': ", qf_gguf_name(g));
    return QF_STATUS_OK;
}

/* ---- tensors ---------------------------------------------------------------------- */

typedef struct qf_gguf_name_map {
    const char *gguf;
    const char *hf;
} qf_gguf_name_map;

static const qf_gguf_name_map qf_gguf_global_names[] = {
    {"token_embd", "model.embed_tokens"},
    {"output_norm", "model.norm"},
    {"output", "lm_head"},
};

static const qf_gguf_name_map qf_gguf_layer_names[] = {
    {"attn_norm", "input_layernorm"},    {"attn_q", "self_attn.q_proj"},
    {"attn_k", "self_attn.k_proj"},      {"attn_v", "self_attn.v_proj"},
    {"attn_output", "self_attn.o_proj"}, {"ffn_norm", "post_attention_layernorm"},
    {"ffn_gate", "mlp.gate_proj"},       {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},
};

#define QF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Splits "<base>.weight" / "<base>.bias"; returns the suffix or NULL. */
static const char *qf_gguf_split_suffix(const char *name, size_t *base_len) {
    static const char *const suffixes[] = {".weight", ".bias"};
    size_t n = strlen(name);
    for (size_t i = 0; i < QF_ARRAY_LEN(suffixes); i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && strcmp(name + n - k, suffixes[i]) == 0) {
            *base_len = n - k;
            return suffixes[i];
        }
    }
    return NULL;
}

static const char *qf_gguf_lookup(const qf_gguf_name_map *map, size_t n, const char *s,
                                  size_t len) {
    for (size_t i = 0; i < n; i++)
        if (strlen(map[i].gguf) == len && memcmp(map[i].gguf, s, len) == 0) return map[i].hf;
    return NULL;
}

/* HF name of a llama.cpp tensor name; *layer_part gets the per-layer GGUF part
 * ("attn_q") or NULL. Returns 0 if the name is not one of the mapped ones. */
static int qf_gguf_hf_name(const char *name, int64_t n_layers, char *out, size_t cap,
                           const char **layer_part) {
    size_t base_len;
    const char *suffix = qf_gguf_split_suffix(name, &base_len);
    *layer_part = NULL;
    if (!suffix) return 0;
    const char *hf =
        qf_gguf_lookup(qf_gguf_global_names, QF_ARRAY_LEN(qf_gguf_global_names), name, base_len);
    if (hf) return snprintf(out, cap, "%s%s", hf, suffix) < (int)cap;
    if (strncmp(name, "blk.", 4) != 0) return 0;
    const char *p = name + 4, *end = name + base_len;
    int64_t layer = 0;
    const char *digits = p;
    while (p < end && *p >= '0' && *p <= '9') {
        if (layer > (INT64_MAX - 9) / 10) return 0;
        layer = layer * 10 + (*p++ - '0');
    }
    if (p == digits || (p - digits > 1 && *digits == '0') || p >= end || *p != '.') return 0;
    if (layer >= n_layers) return 0;
    p++;
    for (size_t i = 0; i < QF_ARRAY_LEN(qf_gguf_layer_names); i++) {
        const qf_gguf_name_map *e = &qf_gguf_layer_names[i];
        if (strlen(e->gguf) == (size_t)(end - p) && memcmp(e->gguf, p, (size_t)(end - p)) == 0) {
            *layer_part = e->gguf;
            return snprintf(out, cap, "model.layers.%lld.%s%s", (long long)layer, e->hf, suffix) <
                   (int)cap;
        }
    }
    return 0;
}

/* rope_freqs.weight holds llama3-style per-frequency RoPE divisors that the config
 * cannot express: accepted only when it is all ones (no scaling). */
static qf_status qf_gguf_check_rope_freqs(const qf_gguf_file *g, const qf_gguf_tensor *t) {
    QF_RETURN_IF(t->dtype != QF_DTYPE_F32, QF_STATUS_UNSUPPORTED,
                 "'%s': tensor 'rope_freqs.weight' has type %s, expected F32", qf_gguf_name(g),
                 qf_gguf_ggml_type_name(t->ggml_type));
    const uint8_t *b = t->data;
    for (uint64_t i = 0; i < t->numel; i++) {
        float v;
        memcpy(&v, b + 4 * i, 4);
        QF_RETURN_IF(v != 1.0f, QF_STATUS_UNSUPPORTED,
                     "'%s': tensor 'rope_freqs.weight' (llama3-style RoPE frequency factors) "
                     "is not supported: qforge's config has no per-frequency RoPE factors",
                     qf_gguf_name(g));
    }
    return QF_STATUS_OK;
}

static qf_status qf_gguf_model_tensors(qf_model *m, const qf_gguf_file *g, const char *path,
                                       const char *arch) {
    const qf_model_config *c = &m->config;
    const int permuted = strcmp(arch, "llama") == 0; /* convert_hf_to_gguf permutes q/k */
    for (size_t i = 0; i < qf_gguf_tensor_count(g); i++) {
        const qf_gguf_tensor *t = qf_gguf_tensor_get(g, i);
        char src[QF_GGUF_MAX_NAME + 1], hf[QF_TENSOR_NAME_MAX];
        const char *part;
        qf_gguf_str_copy(t->name, src, sizeof src); /* names are <= QF_GGUF_MAX_NAME */
        QF_RETURN_IF(strlen(src) != t->name.len, QF_STATUS_FORMAT,
                     "'%s': tensor name '%s...' contains a NUL byte", path, src);
        if (strcmp(src, "rope_freqs.weight") == 0) {
            QF_FORWARD(qf_gguf_check_rope_freqs(g, t));
            continue;
        }
        QF_RETURN_IF(!qf_gguf_hf_name(src, c->num_hidden_layers, hf, sizeof hf, &part),
                     QF_STATUS_UNSUPPORTED,
                     "'%s': tensor '%s' has no Hugging Face name for architecture '%s' "
                     "(layers 0..%lld)",
                     path, src, arch, (long long)c->num_hidden_layers - 1);
        QF_RETURN_IF(t->dtype == QF_DTYPE_COUNT, QF_STATUS_UNSUPPORTED,
                     "'%s': tensor '%s' has ggml type %s, which qforge cannot decode", path, src,
                     qf_gguf_ggml_type_name(t->ggml_type));
        qf_model_tensor mt = {0};
        mt.name = hf;
        mt.dtype = t->dtype;
        mt.ndim = t->ndim;
        for (int d = 0; d < t->ndim; d++) mt.shape[d] = t->ne[t->ndim - 1 - d];
        mt.numel = t->numel;
        mt.nbytes = t->nbytes;
        mt.data = t->data;
        mt.file = path;
        mt.source_name = src;
        if (permuted && part && strcmp(part, "attn_q") == 0)
            mt.rope_unpermute_heads = (int)c->num_attention_heads;
        else if (permuted && part && strcmp(part, "attn_k") == 0)
            mt.rope_unpermute_heads = (int)c->num_key_value_heads;
        QF_FORWARD(qf_model_add_tensor(m, &mt));
    }
    return QF_STATUS_OK;
}

/* ---- metadata --------------------------------------------------------------------- */

typedef struct qf_gguf_text {
    char *buf;
    size_t len, cap;
    int oom;
} qf_gguf_text;

static void qf_gguf_text_put(qf_gguf_text *t, const char *s, size_t n) {
    if (t->oom) return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 64;
        while (cap < t->len + n + 1) cap *= 2;
        char *b = realloc(t->buf, cap);
        if (!b) {
            t->oom = 1;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static void qf_gguf_text_printf(qf_gguf_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void qf_gguf_text_printf(qf_gguf_text *t, const char *fmt, ...) {
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) qf_gguf_text_put(t, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Shortest decimal that reads back as the same float (f32) or double; integral values
 * below 1e15 without an exponent ("100000", not "1e+05"). */
static void qf_gguf_text_float(qf_gguf_text *t, double v, int is_f32) {
    char tmp[40];
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(tmp, sizeof tmp, "%.0f", v);
    } else {
        for (int prec = is_f32 ? 6 : 15; prec <= (is_f32 ? 9 : 17); prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, v);
            if (is_f32 ? strtof(tmp, NULL) == (float)v : strtod(tmp, NULL) == v) break;
        }
    }
    qf_gguf_text_put(t, tmp, strlen(tmp));
}

static void qf_gguf_text_json_str(qf_gguf_text *t, qf_gguf_str s) {
    qf_gguf_text_put(t, "\"", 1);
    for (uint64_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (ch == '"' || ch == '\\') {
            char e[2] = {'\\', (char)ch};
            qf_gguf_text_put(t, e, 2);
        } else if (ch < 0x20) {
            qf_gguf_text_printf(t, "\\u%04x", ch);
        } else {
            qf_gguf_text_put(t, (const char *)&ch, 1);
        }
    }
    qf_gguf_text_put(t, "\"", 1);
}

/* Scalar of `type` from a decoded kv (arrays: element i). */
static void qf_gguf_text_value(qf_gguf_text *t, const qf_gguf_kv *kv, uint64_t i, int in_array) {
    qf_gguf_type type = in_array ? kv->arr_type : kv->type;
    if (type == QF_GGUF_TYPE_STRING) {
        qf_gguf_str s = in_array ? kv->arr_strs[i] : kv->v.str;
        if (in_array)
            qf_gguf_text_json_str(t, s);
        else
            qf_gguf_text_put(t, s.ptr, (size_t)s.len);
        return;
    }
    if (type == QF_GGUF_TYPE_BOOL) {
        int64_t b = kv->v.b;
        if (in_array) qf_gguf_arr_get_int(kv, i, &b);
        qf_gguf_text_put(t, b ? "true" : "false", b ? 4 : 5);
        return;
    }
    if (type == QF_GGUF_TYPE_FLOAT32 || type == QF_GGUF_TYPE_FLOAT64) {
        double v = kv->v.f64;
        if (in_array) qf_gguf_arr_get_f64(kv, i, &v);
        qf_gguf_text_float(t, v, type == QF_GGUF_TYPE_FLOAT32);
        return;
    }
    if (type == QF_GGUF_TYPE_UINT64) {
        uint64_t u = kv->v.u64;
        if (in_array) { /* raw little-endian bytes: _get_int refuses values > INT64_MAX */
            const uint8_t *p = kv->arr_data + 8 * i;
            u = 0;
            for (int k = 7; k >= 0; k--) u = (u << 8) | p[k];
        }
        qf_gguf_text_printf(t, "%llu", (unsigned long long)u);
        return;
    }
    int64_t s =
        type == QF_GGUF_TYPE_UINT8 || type == QF_GGUF_TYPE_UINT16 || type == QF_GGUF_TYPE_UINT32
            ? (int64_t)kv->v.u64
            : kv->v.i64;
    if (in_array) qf_gguf_arr_get_int(kv, i, &s);
    qf_gguf_text_printf(t, "%lld", (long long)s);
}

static qf_status qf_gguf_model_meta(qf_model *m, const qf_gguf_file *g) {
    for (size_t i = 0; i < qf_gguf_kv_count(g); i++) {
        const qf_gguf_kv *kv = qf_gguf_kv_get(g, i);
        char key[QF_GGUF_MAX_NAME + 1];
        qf_gguf_str_copy(kv->key, key, sizeof key);
        qf_gguf_text t = {0};
        if (kv->type != QF_GGUF_TYPE_ARRAY) {
            qf_gguf_text_value(&t, kv, 0, 0);
        } else if (kv->arr_len > QF_GGUF_ARRAY_SHOWN) {
            qf_gguf_text_printf(&t, "[%llu x %s]", (unsigned long long)kv->arr_len,
                                qf_gguf_type_name(kv->arr_type));
        } else {
            qf_gguf_text_put(&t, "[", 1);
            for (uint64_t j = 0; j < kv->arr_len; j++) {
                if (j) qf_gguf_text_put(&t, ", ", 2);
                qf_gguf_text_value(&t, kv, j, 1);
            }
            qf_gguf_text_put(&t, "]", 1);
        }
        qf_gguf_text_put(&t, "", 0); /* an empty string value still gets a buffer */
        if (t.oom) {
            free(t.buf);
            return qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory rendering key '%s'",
                                qf_gguf_name(g), key);
        }
        qf_status st = qf_model_add_meta(m, key, t.buf);
        free(t.buf);
        QF_FORWARD(st);
    }
    return QF_STATUS_OK;
}

/* ---- entry point ------------------------------------------------------------------ */

static void qf_gguf_free_resource(void *handle) { qf_gguf_close(handle); }

qf_status qf_model_open_gguf(qf_model *m, const char *path) {
    qf_gguf_file *g;
    QF_FORWARD(qf_gguf_open(path, &g));
    /* the model owns g from here on, also when this fails */
    QF_FORWARD(qf_model_add_resource(m, g, qf_gguf_free_resource));
    m->source = QF_MODEL_SOURCE_GGUF;

    qf_gguf_str arch_s;
    qf_status st = qf_gguf_get_str(g, "general.architecture", &arch_s);
    QF_RETURN_IF(st == QF_STATUS_NOT_FOUND, QF_STATUS_FORMAT,
                 "'%s': required key 'general.architecture' is missing", path);
    QF_FORWARD(st);
    char arch[QF_GGUF_ARCH_MAX];
    QF_RETURN_IF(!qf_gguf_str_copy(arch_s, arch, sizeof arch) || strlen(arch) != arch_s.len,
                 QF_STATUS_UNSUPPORTED, "'%s': general.architecture '%.*s' is not supported", path,
                 (int)(arch_s.len > 64 ? 64 : arch_s.len), arch_s.ptr);
    const qf_arch *entry = qf_arch_find_gguf(arch);
    QF_RETURN_IF(!entry, QF_STATUS_UNSUPPORTED,
                 "'%s': GGUF architecture '%s' is not supported (supported: %s)", path, arch,
                 qf_arch_supported_list());

    QF_FORWARD(qf_gguf_model_config(m, g, arch, entry));
    QF_FORWARD(qf_gguf_model_tensors(m, g, path, arch));
    return qf_gguf_model_meta(m, g);
}
