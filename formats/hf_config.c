/* config.json <-> qf_model_config, following transformers' config classes
 * (LlamaConfig, MistralConfig, Qwen2Config) and its RoPE parameter standardisation. */
#include "formats/hf_config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"

/* transformers' class defaults for the fields qforge reads (configuration_<arch>.py). */
typedef struct qf_hf_defaults {
    const char *model_type;
    int64_t vocab_size, hidden_size, intermediate_size, num_hidden_layers;
    int64_t num_attention_heads;
    int64_t num_key_value_heads; /* -1: same as num_attention_heads */
    int64_t max_position_embeddings;
    double rms_norm_eps;
    int64_t bos_token_id, eos_token_id; /* -1: None */
    int64_t sliding_window;             /* Mistral, and Qwen2 when use_sliding_window */
    int64_t max_window_layers;          /* Qwen2 */
} qf_hf_defaults;

static const qf_hf_defaults qf_hf_defaults_table[] = {
    {"llama", 32000, 4096, 11008, 32, 32, -1, 2048, 1e-6, 1, 2, 0, 0},
    {"mistral", 32000, 4096, 14336, 32, 32, 8, 4096 * 32, 1e-6, 1, 2, 4096, 0},
    {"qwen2", 151936, 4096, 22016, 32, 32, 32, 32768, 1e-6, -1, -1, 4096, 28},
};

#define QF_HF_DEFAULT_ROPE_THETA 10000.0 /* RotaryEmbeddingConfigMixin.default_theta */
#define QF_HF_MAX_SAFE_INT 9007199254740992.0 /* 2^53: JSON numbers are doubles */

typedef struct qf_hf_ctx {
    const char *name; /* file name for messages */
} qf_hf_ctx;

static const qf_hf_defaults *qf_hf_find_defaults(const char *model_type) {
    for (size_t i = 0; i < sizeof qf_hf_defaults_table / sizeof qf_hf_defaults_table[0]; i++)
        if (strcmp(qf_hf_defaults_table[i].model_type, model_type) == 0)
            return &qf_hf_defaults_table[i];
    return NULL;
}

static const qf_arch *qf_hf_find_model_type(const char *model_type) {
    for (size_t i = 0; i < qf_arch_count(); i++)
        if (strcmp(qf_arch_get(i)->model_type, model_type) == 0) return qf_arch_get(i);
    return NULL;
}

/* Rejects duplicate keys (Python keeps the last, cJSON finds the first) and objects
 * with more keys than the parser is willing to scan. */
static qf_status qf_hf_check_object(const qf_hf_ctx *c, const cJSON *obj, const char *where) {
    size_t n = 0;
    for (const cJSON *a = obj->child; a; a = a->next) {
        QF_RETURN_IF(++n > QF_HF_CONFIG_MAX_KEYS, QF_STATUS_FORMAT,
                     "'%s': %s has more than %d keys", c->name, where, QF_HF_CONFIG_MAX_KEYS);
        for (const cJSON *b = obj->child; b != a; b = b->next)
            QF_RETURN_IF(strcmp(a->string, b->string) == 0, QF_STATUS_FORMAT,
                         "'%s': duplicate key '%s' in %s", c->name, a->string, where);
    }
    return QF_STATUS_OK;
}

/* The member `key` of `obj`, or NULL when absent or JSON null. */
static const cJSON *qf_hf_get(const cJSON *obj, const char *key) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNull(it) ? NULL : it;
}

static int qf_hf_is_null(const cJSON *obj, const char *key) {
    return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(obj, key));
}

static qf_status qf_hf_as_int(const qf_hf_ctx *c, const cJSON *it, const char *field,
                              int64_t *v) {
    double d = cJSON_IsNumber(it) ? it->valuedouble : NAN;
    QF_RETURN_IF(!isfinite(d) || d != floor(d) || fabs(d) >= QF_HF_MAX_SAFE_INT,
                 QF_STATUS_FORMAT, "'%s': field '%s' must be an integer", c->name, field);
    *v = (int64_t)d;
    return QF_STATUS_OK;
}

static qf_status qf_hf_as_num(const qf_hf_ctx *c, const cJSON *it, const char *field,
                              double *v) {
    QF_RETURN_IF(!cJSON_IsNumber(it) || !isfinite(it->valuedouble), QF_STATUS_FORMAT,
                 "'%s': field '%s' must be a number", c->name, field);
    *v = it->valuedouble;
    return QF_STATUS_OK;
}

/* Integer field that transformers types as `int`: absent keeps *v, null is an error. */
static qf_status qf_hf_int(const qf_hf_ctx *c, const cJSON *obj, const char *key, int64_t *v) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it) return QF_STATUS_OK;
    return qf_hf_as_int(c, it, key, v);
}

static qf_status qf_hf_num(const qf_hf_ctx *c, const cJSON *obj, const char *key, double *v) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it) return QF_STATUS_OK;
    return qf_hf_as_num(c, it, key, v);
}

static qf_status qf_hf_bool(const qf_hf_ctx *c, const cJSON *obj, const char *key, int *v) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it) return QF_STATUS_OK;
    QF_RETURN_IF(!cJSON_IsBool(it), QF_STATUS_FORMAT, "'%s': field '%s' must be true or false",
                 c->name, key);
    *v = cJSON_IsTrue(it) ? 1 : 0;
    return QF_STATUS_OK;
}

/* Optional string: absent/null keeps *v. */
static qf_status qf_hf_str(const qf_hf_ctx *c, const cJSON *obj, const char *key,
                           const char *where, const char **v) {
    const cJSON *it = qf_hf_get(obj, key);
    if (!it) return QF_STATUS_OK;
    QF_RETURN_IF(!cJSON_IsString(it), QF_STATUS_FORMAT, "'%s': field '%s%s' must be a string",
                 c->name, where, key);
    *v = it->valuestring;
    return QF_STATUS_OK;
}

/* bos/eos: int, list of ints (first kept), or null; negative ids mean unset. */
static qf_status qf_hf_token_id(const qf_hf_ctx *c, const cJSON *obj, const char *key,
                                int64_t *v) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it) return QF_STATUS_OK;
    if (cJSON_IsNull(it)) {
        *v = -1;
        return QF_STATUS_OK;
    }
    if (cJSON_IsArray(it)) {
        for (const cJSON *e = it->child; e; e = e->next) {
            int64_t id = -1;
            QF_FORWARD(qf_hf_as_int(c, e, key, &id));
            if (e == it->child) *v = id;
        }
        if (!it->child) *v = -1;
    } else {
        QF_FORWARD(qf_hf_as_int(c, it, key, v));
    }
    if (*v < 0) *v = -1;
    return QF_STATUS_OK;
}

/* Architecture from "architectures"[0] and/or "model_type"; both must agree. */
static qf_status qf_hf_parse_arch(const qf_hf_ctx *c, const cJSON *root, const qf_arch **out) {
    const char *cls = NULL, *mt = NULL;
    const cJSON *archs = qf_hf_get(root, "architectures");
    if (archs) {
        QF_RETURN_IF(!cJSON_IsArray(archs), QF_STATUS_FORMAT,
                     "'%s': field 'architectures' must be a list of strings", c->name);
        for (const cJSON *e = archs->child; e; e = e->next)
            QF_RETURN_IF(!cJSON_IsString(e), QF_STATUS_FORMAT,
                         "'%s': field 'architectures' must be a list of strings", c->name);
        if (archs->child) cls = archs->child->valuestring;
    }
    QF_FORWARD(qf_hf_str(c, root, "model_type", "", &mt));
    const qf_arch *by_cls = NULL, *by_mt = NULL;
    if (cls) {
        by_cls = qf_arch_find_hf(cls);
        QF_RETURN_IF(!by_cls, QF_STATUS_UNSUPPORTED,
                     "'%s': architecture '%s' is not supported (supported: %s)", c->name, cls,
                     qf_arch_supported_list());
    }
    if (mt) {
        by_mt = qf_hf_find_model_type(mt);
        QF_RETURN_IF(!by_mt, QF_STATUS_UNSUPPORTED,
                     "'%s': model_type '%s' is not supported (supported: %s)", c->name, mt,
                     qf_arch_supported_list());
    }
    QF_RETURN_IF(!by_cls && !by_mt, QF_STATUS_FORMAT,
                 "'%s': neither 'architectures' nor 'model_type' is set (supported: %s)",
                 c->name, qf_arch_supported_list());
    QF_RETURN_IF(by_cls && by_mt && by_cls != by_mt, QF_STATUS_FORMAT,
                 "'%s': architectures '%s' does not match model_type '%s'", c->name, cls, mt);
    *out = by_cls ? by_cls : by_mt;
    return QF_STATUS_OK;
}

/* An optional number of a rope dict: absent or null keeps *v. */
static qf_status qf_hf_rope_num(const qf_hf_ctx *c, const cJSON *rope, const char *key,
                                double *v) {
    const cJSON *it = qf_hf_get(rope, key);
    if (!it) return QF_STATUS_OK;
    char field[64];
    snprintf(field, sizeof field, "rope_scaling.%s", key);
    return qf_hf_as_num(c, it, field, v);
}

static qf_status qf_hf_rope_required(const qf_hf_ctx *c, const cJSON *rope, const char *key,
                                     const char *type, double *v) {
    QF_RETURN_IF(!qf_hf_get(rope, key), QF_STATUS_FORMAT,
                 "'%s': rope_scaling of type '%s' needs '%s'", c->name, type, key);
    return qf_hf_rope_num(c, rope, key, v);
}

/* Keys of YaRN that change the result beyond factor / original_max_position_embeddings. */
static qf_status qf_hf_check_yarn_extras(const qf_hf_ctx *c, const cJSON *rope) {
    static const char *const unsupported[] = {"attention_factor", "mscale", "mscale_all_dim"};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        QF_RETURN_IF(qf_hf_get(rope, unsupported[i]), QF_STATUS_UNSUPPORTED,
                     "'%s': rope_scaling.%s is not supported", c->name, unsupported[i]);
    double beta_fast = 32.0, beta_slow = 1.0;
    QF_FORWARD(qf_hf_rope_num(c, rope, "beta_fast", &beta_fast));
    QF_FORWARD(qf_hf_rope_num(c, rope, "beta_slow", &beta_slow));
    const cJSON *truncate = qf_hf_get(rope, "truncate");
    QF_RETURN_IF(truncate && !cJSON_IsBool(truncate), QF_STATUS_FORMAT,
                 "'%s': field 'rope_scaling.truncate' must be true or false", c->name);
    QF_RETURN_IF(beta_fast != 32.0 || beta_slow != 1.0 || cJSON_IsFalse(truncate),
                 QF_STATUS_UNSUPPORTED,
                 "'%s': rope_scaling yarn with beta_fast/beta_slow/truncate other than "
                 "32/1/true is not supported",
                 c->name);
    return QF_STATUS_OK;
}

/* The rope dict (rope_scaling or rope_parameters): theta, type and scaling parameters. */
static qf_status qf_hf_parse_rope_dict(const qf_hf_ctx *c, const cJSON *root,
                                       const cJSON *rope, qf_model_config *cfg,
                                       double *partial) {
    QF_FORWARD(qf_hf_check_object(c, rope, "rope_scaling"));
    for (const cJSON *e = rope->child; e; e = e->next)
        QF_RETURN_IF(cJSON_IsObject(e), QF_STATUS_UNSUPPORTED,
                     "'%s': per-layer rope parameters ('%s') are not supported", c->name,
                     e->string);
    QF_FORWARD(qf_hf_rope_num(c, rope, "rope_theta", &cfg->rope_theta));
    QF_FORWARD(qf_hf_rope_num(c, rope, "partial_rotary_factor", partial));
    const char *type = "default";
    QF_FORWARD(qf_hf_str(c, rope, "type", "rope_scaling.", &type));
    QF_FORWARD(qf_hf_str(c, rope, "rope_type", "rope_scaling.", &type));

    qf_rope_scaling *r = &cfg->rope_scaling;
    if (strcmp(type, "default") == 0) return QF_STATUS_OK;
    if (strcmp(type, "linear") == 0 || strcmp(type, "dynamic") == 0) {
        r->type = type[0] == 'l' ? QF_ROPE_SCALING_LINEAR : QF_ROPE_SCALING_DYNAMIC;
        return qf_hf_rope_required(c, rope, "factor", type, &r->factor);
    }
    QF_RETURN_IF(strcmp(type, "llama3") != 0 && strcmp(type, "yarn") != 0,
                 QF_STATUS_UNSUPPORTED,
                 "'%s': rope type '%s' is not supported (supported: default, linear, dynamic, "
                 "llama3, yarn)",
                 c->name, type);
    r->type = type[0] == 'l' ? QF_ROPE_SCALING_LLAMA3 : QF_ROPE_SCALING_YARN;
    QF_FORWARD(qf_hf_rope_required(c, rope, "factor", type, &r->factor));
    if (r->type == QF_ROPE_SCALING_LLAMA3) {
        QF_FORWARD(qf_hf_rope_required(c, rope, "low_freq_factor", type, &r->low_freq_factor));
        QF_FORWARD(qf_hf_rope_required(c, rope, "high_freq_factor", type, &r->high_freq_factor));
    } else {
        QF_FORWARD(qf_hf_check_yarn_extras(c, rope));
    }
    /* a top-level original_max_position_embeddings wins (standardize_rope_params) */
    r->original_max_position_embeddings = cfg->max_position_embeddings;
    const cJSON *om = qf_hf_get(root, "original_max_position_embeddings");
    if (!om) om = qf_hf_get(rope, "original_max_position_embeddings");
    if (om)
        QF_FORWARD(qf_hf_as_int(c, om, "original_max_position_embeddings",
                                &r->original_max_position_embeddings));
    return QF_STATUS_OK;
}

/* RoPE: transformers 5 takes rope_scaling (legacy) if non-empty, else rope_parameters;
 * rope_theta and partial_rotary_factor come from that dict, else from the top level. */
static qf_status qf_hf_parse_rope(const qf_hf_ctx *c, const cJSON *root, qf_model_config *cfg) {
    const cJSON *rope = qf_hf_get(root, "rope_scaling");
    if (rope && cJSON_IsObject(rope) && !rope->child) rope = NULL;
    if (!rope) rope = qf_hf_get(root, "rope_parameters");
    QF_RETURN_IF(rope && !cJSON_IsObject(rope), QF_STATUS_FORMAT,
                 "'%s': field 'rope_scaling' / 'rope_parameters' must be an object", c->name);
    cfg->rope_theta = QF_HF_DEFAULT_ROPE_THETA;
    QF_FORWARD(qf_hf_num(c, root, "rope_theta", &cfg->rope_theta));
    double partial = 1.0;
    if (qf_hf_get(root, "partial_rotary_factor"))
        QF_FORWARD(qf_hf_num(c, root, "partial_rotary_factor", &partial));
    memset(&cfg->rope_scaling, 0, sizeof cfg->rope_scaling);
    if (rope) QF_FORWARD(qf_hf_parse_rope_dict(c, root, rope, cfg, &partial));
    QF_RETURN_IF(partial != 1.0, QF_STATUS_UNSUPPORTED,
                 "'%s': partial_rotary_factor %g is not supported", c->name, partial);
    return QF_STATUS_OK;
}

/* Qwen2: sliding_window applies when use_sliding_window, to the layers layer_types marks
 * "sliding_attention" (default: layers >= max_window_layers). qforge supports all or none. */
static qf_status qf_hf_parse_qwen2_window(const qf_hf_ctx *c, const cJSON *root,
                                          const qf_hf_defaults *d, qf_model_config *cfg) {
    int use = 0;
    int64_t window = d->sliding_window, max_window_layers = d->max_window_layers;
    QF_FORWARD(qf_hf_bool(c, root, "use_sliding_window", &use));
    if (qf_hf_is_null(root, "sliding_window")) window = 0;
    else QF_FORWARD(qf_hf_int(c, root, "sliding_window", &window));
    QF_FORWARD(qf_hf_int(c, root, "max_window_layers", &max_window_layers));
    if (!use) window = 0;

    const int64_t L = cfg->num_hidden_layers;
    int64_t n_sliding = 0;
    const cJSON *types = qf_hf_get(root, "layer_types");
    if (types) {
        QF_RETURN_IF(!cJSON_IsArray(types), QF_STATUS_FORMAT,
                     "'%s': field 'layer_types' must be a list of strings", c->name);
        int64_t n = 0;
        for (const cJSON *e = types->child; e; e = e->next, n++) {
            QF_RETURN_IF(!cJSON_IsString(e), QF_STATUS_FORMAT,
                         "'%s': field 'layer_types' must be a list of strings", c->name);
            if (strcmp(e->valuestring, "sliding_attention") == 0) n_sliding++;
            else QF_RETURN_IF(strcmp(e->valuestring, "full_attention") != 0,
                              QF_STATUS_UNSUPPORTED, "'%s': layer type '%s' is not supported",
                              c->name, e->valuestring);
        }
        QF_RETURN_IF(n != L, QF_STATUS_FORMAT,
                     "'%s': layer_types has %lld entries, num_hidden_layers is %lld", c->name,
                     (long long)n, (long long)L);
    } else if (window) {
        n_sliding = max_window_layers >= L ? 0 : L - (max_window_layers > 0 ? max_window_layers : 0);
    }
    if (!window || n_sliding == 0) {
        cfg->sliding_window = 0;
        return QF_STATUS_OK;
    }
    QF_RETURN_IF(n_sliding != L, QF_STATUS_UNSUPPORTED,
                 "'%s': sliding window on %lld of %lld layers is not supported (all or none)",
                 c->name, (long long)n_sliding, (long long)L);
    cfg->sliding_window = window;
    return QF_STATUS_OK;
}

static qf_status qf_hf_parse_dtype(const qf_hf_ctx *c, const cJSON *root,
                                   qf_model_config *cfg) {
    const char *dt = NULL;
    QF_FORWARD(qf_hf_str(c, root, "torch_dtype", "", &dt));
    QF_FORWARD(qf_hf_str(c, root, "dtype", "", &dt)); /* transformers 5 prefers "dtype" */
    cfg->torch_dtype[0] = '\0';
    if (!dt) return QF_STATUS_OK;
    QF_RETURN_IF(strcmp(dt, "bfloat16") && strcmp(dt, "float16") && strcmp(dt, "float32"),
                 QF_STATUS_UNSUPPORTED,
                 "'%s': dtype '%s' is not supported (bfloat16, float16, float32)", c->name, dt);
    snprintf(cfg->torch_dtype, sizeof cfg->torch_dtype, "%s", dt);
    return QF_STATUS_OK;
}

static qf_status qf_hf_parse_root(const qf_hf_ctx *c, const cJSON *root, qf_model_config *cfg) {
    QF_RETURN_IF(!cJSON_IsObject(root), QF_STATUS_FORMAT, "'%s': not a JSON object", c->name);
    QF_FORWARD(qf_hf_check_object(c, root, "the config"));
    const qf_arch *arch = NULL;
    QF_FORWARD(qf_hf_parse_arch(c, root, &arch));
    const qf_hf_defaults *d = qf_hf_find_defaults(arch->model_type);
    QF_RETURN_IF(!d, QF_STATUS_UNSUPPORTED, "'%s': no config.json defaults for %s", c->name,
                 arch->hf_class);

    memset(cfg, 0, sizeof *cfg);
    cfg->arch = arch;
    cfg->vocab_size = d->vocab_size;
    cfg->hidden_size = d->hidden_size;
    cfg->intermediate_size = d->intermediate_size;
    cfg->num_hidden_layers = d->num_hidden_layers;
    cfg->num_attention_heads = d->num_attention_heads;
    cfg->max_position_embeddings = d->max_position_embeddings;
    cfg->rms_norm_eps = d->rms_norm_eps;
    cfg->bos_token_id = d->bos_token_id;
    cfg->eos_token_id = d->eos_token_id;
    QF_FORWARD(qf_hf_int(c, root, "vocab_size", &cfg->vocab_size));
    QF_FORWARD(qf_hf_int(c, root, "hidden_size", &cfg->hidden_size));
    QF_FORWARD(qf_hf_int(c, root, "intermediate_size", &cfg->intermediate_size));
    QF_FORWARD(qf_hf_int(c, root, "num_hidden_layers", &cfg->num_hidden_layers));
    QF_FORWARD(qf_hf_int(c, root, "num_attention_heads", &cfg->num_attention_heads));
    QF_FORWARD(qf_hf_int(c, root, "max_position_embeddings", &cfg->max_position_embeddings));
    QF_FORWARD(qf_hf_num(c, root, "rms_norm_eps", &cfg->rms_norm_eps));
    QF_RETURN_IF(cfg->num_attention_heads <= 0, QF_STATUS_FORMAT,
                 "'%s': num_attention_heads must be > 0", c->name);

    /* num_key_value_heads / head_dim: null means "derive", as in __post_init__ */
    cfg->num_key_value_heads = d->num_key_value_heads;
    if (qf_hf_is_null(root, "num_key_value_heads")) cfg->num_key_value_heads = -1;
    else QF_FORWARD(qf_hf_int(c, root, "num_key_value_heads", &cfg->num_key_value_heads));
    if (cfg->num_key_value_heads == -1) cfg->num_key_value_heads = cfg->num_attention_heads;
    const cJSON *hd = qf_hf_get(root, "head_dim");
    if (hd) {
        QF_FORWARD(qf_hf_as_int(c, hd, "head_dim", &cfg->head_dim));
    } else {
        QF_RETURN_IF(cfg->hidden_size % cfg->num_attention_heads != 0, QF_STATUS_FORMAT,
                     "'%s': hidden_size %lld is not divisible by num_attention_heads %lld "
                     "(and head_dim is not set)",
                     c->name, (long long)cfg->hidden_size, (long long)cfg->num_attention_heads);
        cfg->head_dim = cfg->hidden_size / cfg->num_attention_heads;
    }

    QF_FORWARD(qf_hf_parse_rope(c, root, cfg));
    QF_FORWARD(qf_hf_bool(c, root, "tie_word_embeddings", &cfg->tie_word_embeddings));
    QF_FORWARD(qf_hf_token_id(c, root, "bos_token_id", &cfg->bos_token_id));
    QF_FORWARD(qf_hf_token_id(c, root, "eos_token_id", &cfg->eos_token_id));
    QF_FORWARD(qf_hf_parse_dtype(c, root, cfg));

    if (arch->config_biases) {
        QF_FORWARD(qf_hf_bool(c, root, "attention_bias", &cfg->attention_bias));
        QF_FORWARD(qf_hf_bool(c, root, "mlp_bias", &cfg->mlp_bias));
    }
    if (arch->qkv_bias) cfg->attention_bias = 1;

    if (strcmp(arch->model_type, "qwen2") == 0) {
        QF_FORWARD(qf_hf_parse_qwen2_window(c, root, d, cfg));
    } else if (arch->sliding_window) {
        cfg->sliding_window = d->sliding_window;
        if (qf_hf_is_null(root, "sliding_window")) cfg->sliding_window = 0;
        else QF_FORWARD(qf_hf_int(c, root, "sliding_window", &cfg->sliding_window));
    }

    qf_status st = qf_model_config_check(cfg);
    if (st != QF_STATUS_OK) return qf_error_wrap(st, "'%s': ", c->name);
    return QF_STATUS_OK;
}

qf_status qf_hf_config_parse(const char *json, size_t len, const char *name,
                             qf_model_config *out) {
    QF_RETURN_IF(!json || !out, QF_STATUS_INVALID_ARG, "config parse: NULL argument");
    qf_hf_ctx c = {.name = name ? name : "config.json"};
    QF_RETURN_IF(len > QF_HF_CONFIG_MAX_BYTES, QF_STATUS_FORMAT,
                 "'%s': %zu bytes is larger than the limit of %u", c.name, len,
                 QF_HF_CONFIG_MAX_BYTES);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t at = end && end >= json ? (size_t)(end - json) : 0;
        return qf_error_set(QF_STATUS_FORMAT, "'%s': invalid JSON near byte %zu", c.name, at);
    }
    /* only whitespace may follow the document */
    for (const char *p = end; p && p < json + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return qf_error_set(QF_STATUS_FORMAT, "'%s': invalid JSON: trailing data at byte %zu",
                                c.name, (size_t)(p - json));
        }
    }
    qf_model_config cfg;
    qf_status st = qf_hf_parse_root(&c, root, &cfg);
    cJSON_Delete(root);
    if (st == QF_STATUS_OK) *out = cfg;
    return st;
}

qf_status qf_hf_config_load(const char *path, qf_model_config *out) {
    char *buf = NULL;
    size_t len = 0;
    QF_FORWARD(qf_file_read_all(path, QF_HF_CONFIG_MAX_BYTES, &buf, &len));
    qf_status st = qf_hf_config_parse(buf, len, path, out);
    free(buf);
    return st;
}

/* ---- writer -------------------------------------------------------------------------- */

static const char *qf_hf_rope_type_name(qf_rope_scaling_type t) {
    switch (t) {
    case QF_ROPE_SCALING_LINEAR: return "linear";
    case QF_ROPE_SCALING_DYNAMIC: return "dynamic";
    case QF_ROPE_SCALING_LLAMA3: return "llama3";
    case QF_ROPE_SCALING_YARN: return "yarn";
    case QF_ROPE_SCALING_NONE: break;
    }
    return "default";
}

/* cJSON_Add* return NULL on allocation failure; `ok` collects that. */

/* A float field as Python's json writes it: the shortest text that reads back as exactly
 * `v` (cJSON's own printing may drop the last bit), whole numbers below 1e16 in full
 * with ".0". */
static void qf_hf_add_float(cJSON *o, const char *k, double v, int *ok) {
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    int exp10 = v != 0.0 ? (int)floor(log10(fabs(v))) : 0;
    if (strchr(buf, 'e') && exp10 >= -4 && exp10 < 16) /* whole number: "500000", not "5e+05" */
        snprintf(buf, sizeof buf, "%.0f", v);
    if (!strpbrk(buf, ".e")) strcat(buf, ".0");
    if (!cJSON_AddRawToObject(o, k, buf)) *ok = 0;
}

/* An integer field (the config's integers are far below 2^53). */
static void qf_hf_add_int(cJSON *o, const char *k, int64_t v, int *ok) {
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    if (!cJSON_AddRawToObject(o, k, buf)) *ok = 0;
}

static void qf_hf_add_bool(cJSON *o, const char *k, int v, int *ok) {
    if (!cJSON_AddBoolToObject(o, k, v)) *ok = 0;
}

static void qf_hf_add_id(cJSON *o, const char *k, int64_t v, int *ok) {
    if (v >= 0) qf_hf_add_int(o, k, v, ok);
    else if (!cJSON_AddNullToObject(o, k)) *ok = 0;
}

static cJSON *qf_hf_build(const qf_model_config *cfg) {
    const qf_arch *a = cfg->arch;
    int ok = 1;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON *archs = cJSON_AddArrayToObject(o, "architectures");
    cJSON *cls = cJSON_CreateString(a->hf_class);
    if (!archs || !cls || !cJSON_AddItemToArray(archs, cls)) {
        cJSON_Delete(cls);
        ok = 0;
    }
    if (!cJSON_AddStringToObject(o, "model_type", a->model_type)) ok = 0;
    qf_hf_add_int(o, "vocab_size", cfg->vocab_size, &ok);
    qf_hf_add_int(o, "hidden_size", cfg->hidden_size, &ok);
    qf_hf_add_int(o, "intermediate_size", cfg->intermediate_size, &ok);
    qf_hf_add_int(o, "num_hidden_layers", cfg->num_hidden_layers, &ok);
    qf_hf_add_int(o, "num_attention_heads", cfg->num_attention_heads, &ok);
    qf_hf_add_int(o, "num_key_value_heads", cfg->num_key_value_heads, &ok);
    qf_hf_add_int(o, "head_dim", cfg->head_dim, &ok);
    qf_hf_add_int(o, "max_position_embeddings", cfg->max_position_embeddings, &ok);
    if (!cJSON_AddStringToObject(o, "hidden_act", "silu")) ok = 0;
    qf_hf_add_float(o, "rms_norm_eps", cfg->rms_norm_eps, &ok);
    qf_hf_add_float(o, "rope_theta", cfg->rope_theta, &ok);
    const qf_rope_scaling *r = &cfg->rope_scaling;
    if (r->type == QF_ROPE_SCALING_NONE) {
        if (!cJSON_AddNullToObject(o, "rope_scaling")) ok = 0;
    } else {
        cJSON *rs = cJSON_AddObjectToObject(o, "rope_scaling");
        if (!rs || !cJSON_AddStringToObject(rs, "rope_type", qf_hf_rope_type_name(r->type))) {
            ok = 0;
        } else {
            qf_hf_add_float(rs, "factor", r->factor, &ok);
            if (r->type == QF_ROPE_SCALING_LLAMA3) {
                qf_hf_add_float(rs, "low_freq_factor", r->low_freq_factor, &ok);
                qf_hf_add_float(rs, "high_freq_factor", r->high_freq_factor, &ok);
            }
            if (r->type == QF_ROPE_SCALING_LLAMA3 || r->type == QF_ROPE_SCALING_YARN)
                qf_hf_add_int(rs, "original_max_position_embeddings",
                              r->original_max_position_embeddings, &ok);
        }
    }
    qf_hf_add_bool(o, "tie_word_embeddings", cfg->tie_word_embeddings, &ok);
    qf_hf_add_id(o, "bos_token_id", cfg->bos_token_id, &ok);
    qf_hf_add_id(o, "eos_token_id", cfg->eos_token_id, &ok);
    if (a->config_biases) {
        qf_hf_add_bool(o, "attention_bias", cfg->attention_bias, &ok);
        qf_hf_add_bool(o, "mlp_bias", cfg->mlp_bias, &ok);
    }
    if (a->sliding_window) {
        qf_hf_add_id(o, "sliding_window", cfg->sliding_window ? cfg->sliding_window : -1, &ok);
        if (strcmp(a->model_type, "qwen2") == 0) {
            /* all layers slide when max_window_layers is 0; none when use_sliding_window
             * is false */
            qf_hf_add_bool(o, "use_sliding_window", cfg->sliding_window != 0, &ok);
            qf_hf_add_int(o, "max_window_layers", cfg->sliding_window ? 0 : cfg->num_hidden_layers,
                          &ok);
        }
    }
    if (cfg->torch_dtype[0] && !cJSON_AddStringToObject(o, "torch_dtype", cfg->torch_dtype))
        ok = 0;
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Moves every member of the object `extra` into `o`, replacing same-named members. */
static qf_status qf_hf_merge_extra(cJSON *o, const char *extra_json) {
    cJSON *extra = cJSON_Parse(extra_json);
    if (!cJSON_IsObject(extra)) {
        cJSON_Delete(extra);
        return qf_error_set(QF_STATUS_INVALID_ARG,
                            "config writer: extra JSON is not a valid JSON object");
    }
    while (extra->child) {
        cJSON *it = cJSON_DetachItemViaPointer(extra, extra->child);
        cJSON *old = cJSON_GetObjectItemCaseSensitive(o, it->string);
        cJSON_bool done = old ? cJSON_ReplaceItemViaPointer(o, old, it)
                              : cJSON_AddItemToObject(o, it->string, it);
        if (!done) {
            cJSON_Delete(it);
            cJSON_Delete(extra);
            return qf_error_set(QF_STATUS_NOMEM, "config writer: out of memory");
        }
    }
    cJSON_Delete(extra);
    return QF_STATUS_OK;
}

qf_status qf_hf_config_to_json(const qf_model_config *cfg, const char *extra_json, char **out) {
    QF_RETURN_IF(!out, QF_STATUS_INVALID_ARG, "config writer: NULL output");
    *out = NULL;
    QF_FORWARD(qf_model_config_check(cfg));
    cJSON *o = qf_hf_build(cfg);
    QF_RETURN_IF(!o, QF_STATUS_NOMEM, "config writer: out of memory");
    if (extra_json) {
        qf_status st = qf_hf_merge_extra(o, extra_json);
        if (st != QF_STATUS_OK) {
            cJSON_Delete(o);
            return st;
        }
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    QF_RETURN_IF(!text, QF_STATUS_NOMEM, "config writer: out of memory");
    size_t n = strlen(text);
    char *res = malloc(n + 2); /* + "\n" */
    if (!res) {
        cJSON_free(text);
        return qf_error_set(QF_STATUS_NOMEM, "config writer: out of memory");
    }
    memcpy(res, text, n);
    res[n] = '\n';
    res[n + 1] = '\0';
    cJSON_free(text);
    *out = res;
    return QF_STATUS_OK;
}

qf_status qf_hf_config_write(const qf_model_config *cfg, const char *extra_json,
                             const char *path, int overwrite) {
    char *text = NULL;
    QF_FORWARD(qf_hf_config_to_json(cfg, extra_json, &text));
    qf_status st = qf_file_write_atomic(path, text, strlen(text), overwrite);
    free(text);
    return st;
}
