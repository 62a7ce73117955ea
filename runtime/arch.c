/* The architectures table, config sanity checks and the per-architecture list of
 * tensors (Hugging Face names and shapes) a checkpoint must contain. */
#include "runtime/arch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* First match wins in qf_arch_find_gguf: llama.cpp writes Mistral checkpoints with
 * general.architecture "llama", so "llama" must resolve to Llama. */
static const qf_arch qf_arch_table[] = {
    {.hf_class = "LlamaForCausalLM", .model_type = "llama", .gguf_arch = "llama",
     .qkv_bias = 0, .sliding_window = 0, .config_biases = 1},
    {.hf_class = "MistralForCausalLM", .model_type = "mistral", .gguf_arch = "llama",
     .qkv_bias = 0, .sliding_window = 1, .config_biases = 0},
    {.hf_class = "Qwen2ForCausalLM", .model_type = "qwen2", .gguf_arch = "qwen2",
     .qkv_bias = 1, .sliding_window = 1, .config_biases = 0},
};

#define QF_ARCH_COUNT (sizeof qf_arch_table / sizeof qf_arch_table[0])

size_t qf_arch_count(void) { return QF_ARCH_COUNT; }

const qf_arch *qf_arch_get(size_t i) { return i < QF_ARCH_COUNT ? &qf_arch_table[i] : NULL; }

const qf_arch *qf_arch_find_hf(const char *hf_class) {
    if (!hf_class) return NULL;
    for (size_t i = 0; i < QF_ARCH_COUNT; i++)
        if (strcmp(qf_arch_table[i].hf_class, hf_class) == 0) return &qf_arch_table[i];
    return NULL;
}

const qf_arch *qf_arch_find_gguf(const char *gguf_arch) {
    if (!gguf_arch) return NULL;
    for (size_t i = 0; i < QF_ARCH_COUNT; i++)
        if (strcmp(qf_arch_table[i].gguf_arch, gguf_arch) == 0) return &qf_arch_table[i];
    return NULL;
}

const char *qf_arch_supported_list(void) {
    return "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM";
}

static qf_status qf_arch_check_range(const char *field, int64_t v, int64_t lo, int64_t hi) {
    QF_RETURN_IF(v < lo || v > hi, QF_STATUS_FORMAT,
                 "config: %s = %lld is out of range [%lld, %lld]", field, (long long)v,
                 (long long)lo, (long long)hi);
    return QF_STATUS_OK;
}

static qf_status qf_arch_check_positive(const char *field, double v) {
    QF_RETURN_IF(!isfinite(v) || v <= 0.0, QF_STATUS_FORMAT,
                 "config: %s = %g must be a finite number > 0", field, v);
    return QF_STATUS_OK;
}

static qf_status qf_arch_check_rope(const qf_model_config *cfg) {
    const qf_rope_scaling *r = &cfg->rope_scaling;
    switch (r->type) {
    case QF_ROPE_SCALING_NONE:
        return QF_STATUS_OK;
    case QF_ROPE_SCALING_LINEAR:
    case QF_ROPE_SCALING_DYNAMIC:
        return qf_arch_check_positive("rope_scaling.factor", r->factor);
    case QF_ROPE_SCALING_LLAMA3:
        QF_FORWARD(qf_arch_check_positive("rope_scaling.factor", r->factor));
        QF_FORWARD(qf_arch_check_positive("rope_scaling.low_freq_factor", r->low_freq_factor));
        QF_FORWARD(qf_arch_check_positive("rope_scaling.high_freq_factor", r->high_freq_factor));
        return qf_arch_check_range("rope_scaling.original_max_position_embeddings",
                                   r->original_max_position_embeddings, 1, QF_ARCH_MAX_POSITIONS);
    case QF_ROPE_SCALING_YARN:
        QF_FORWARD(qf_arch_check_positive("rope_scaling.factor", r->factor));
        return qf_arch_check_range("rope_scaling.original_max_position_embeddings",
                                   r->original_max_position_embeddings, 1, QF_ARCH_MAX_POSITIONS);
    }
    return qf_error_set(QF_STATUS_FORMAT, "config: unknown rope_scaling type %d", (int)r->type);
}

qf_status qf_model_config_check(const qf_model_config *cfg) {
    QF_RETURN_IF(!cfg, QF_STATUS_INVALID_ARG, "config: NULL");
    QF_RETURN_IF(!cfg->arch, QF_STATUS_INVALID_ARG, "config: no architecture");
    QF_FORWARD(qf_arch_check_range("vocab_size", cfg->vocab_size, 1, QF_ARCH_MAX_VOCAB));
    QF_FORWARD(qf_arch_check_range("hidden_size", cfg->hidden_size, 1, QF_ARCH_MAX_HIDDEN));
    QF_FORWARD(qf_arch_check_range("intermediate_size", cfg->intermediate_size, 1,
                                   QF_ARCH_MAX_INTERMEDIATE));
    QF_FORWARD(qf_arch_check_range("num_hidden_layers", cfg->num_hidden_layers, 1,
                                   QF_ARCH_MAX_LAYERS));
    QF_FORWARD(qf_arch_check_range("num_attention_heads", cfg->num_attention_heads, 1,
                                   QF_ARCH_MAX_HEADS));
    QF_FORWARD(qf_arch_check_range("num_key_value_heads", cfg->num_key_value_heads, 1,
                                   cfg->num_attention_heads));
    QF_RETURN_IF(cfg->num_attention_heads % cfg->num_key_value_heads != 0, QF_STATUS_FORMAT,
                 "config: num_attention_heads %lld is not divisible by num_key_value_heads %lld",
                 (long long)cfg->num_attention_heads, (long long)cfg->num_key_value_heads);
    QF_FORWARD(qf_arch_check_range("head_dim", cfg->head_dim, 2, QF_ARCH_MAX_HEAD_DIM));
    QF_RETURN_IF(cfg->head_dim % 2 != 0, QF_STATUS_FORMAT,
                 "config: head_dim %lld must be even for rotary embeddings",
                 (long long)cfg->head_dim);
    QF_FORWARD(qf_arch_check_range("max_position_embeddings", cfg->max_position_embeddings, 1,
                                   QF_ARCH_MAX_POSITIONS));
    QF_FORWARD(qf_arch_check_positive("rope_theta", cfg->rope_theta));
    QF_FORWARD(qf_arch_check_positive("rms_norm_eps", cfg->rms_norm_eps));
    QF_FORWARD(qf_arch_check_rope(cfg));
    QF_FORWARD(qf_arch_check_range("sliding_window", cfg->sliding_window, 0,
                                   QF_ARCH_MAX_POSITIONS));
    QF_RETURN_IF(cfg->sliding_window && !cfg->arch->sliding_window, QF_STATUS_FORMAT,
                 "config: %s has no sliding window attention", cfg->arch->hf_class);
    QF_RETURN_IF(cfg->attention_bias && !cfg->arch->config_biases && !cfg->arch->qkv_bias,
                 QF_STATUS_FORMAT, "config: %s has no attention biases", cfg->arch->hf_class);
    QF_RETURN_IF(cfg->mlp_bias && !cfg->arch->config_biases, QF_STATUS_FORMAT,
                 "config: %s has no mlp biases", cfg->arch->hf_class);
    QF_FORWARD(qf_arch_check_range("bos_token_id", cfg->bos_token_id, -1, INT64_MAX));
    QF_FORWARD(qf_arch_check_range("eos_token_id", cfg->eos_token_id, -1, INT64_MAX));
    const char *dt = cfg->torch_dtype;
    size_t dt_len = strnlen(dt, sizeof cfg->torch_dtype);
    QF_RETURN_IF(dt_len == sizeof cfg->torch_dtype ||
                     (dt_len && strcmp(dt, "bfloat16") && strcmp(dt, "float16") &&
                      strcmp(dt, "float32")),
                 QF_STATUS_FORMAT, "config: torch_dtype must be bfloat16, float16 or float32");
    return QF_STATUS_OK;
}

/* Appends one spec; the caller sized the array for the worst case. */
static void qf_arch_spec_add(qf_tensor_spec *specs, size_t *n, const char *name, int ndim,
                             int64_t d0, int64_t d1, int optional) {
    qf_tensor_spec *s = &specs[(*n)++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->ndim = ndim;
    s->shape[0] = d0;
    s->shape[1] = ndim > 1 ? d1 : 0;
    s->optional = optional;
}

/* A linear layer: "<prefix>.weight" (out, in) and, with a bias, "<prefix>.bias" (out). */
static void qf_arch_spec_linear(qf_tensor_spec *specs, size_t *n, const char *prefix,
                                int64_t out, int64_t in, int bias) {
    char name[QF_TENSOR_NAME_MAX];
    snprintf(name, sizeof name, "%s.weight", prefix);
    qf_arch_spec_add(specs, n, name, 2, out, in, 0);
    if (bias) {
        snprintf(name, sizeof name, "%s.bias", prefix);
        qf_arch_spec_add(specs, n, name, 1, out, 0, 0);
    }
}

#define QF_ARCH_SPECS_PER_LAYER 16 /* 2 norms + 7 linears with biases */

static const char *const qf_arch_linear_names[QF_ARCH_N_LINEARS] = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj",
};

const char *qf_arch_linear_name(int i) {
    return i >= 0 && i < QF_ARCH_N_LINEARS ? qf_arch_linear_names[i] : "?";
}

void qf_arch_layer_linears(const qf_model_config *cfg, qf_arch_linear lin[QF_ARCH_N_LINEARS]) {
    const int64_t hid = cfg->hidden_size, inter = cfg->intermediate_size;
    const int64_t qd = cfg->num_attention_heads * cfg->head_dim;
    const int64_t kvd = cfg->num_key_value_heads * cfg->head_dim;
    const int qkv_bias = cfg->arch->qkv_bias || cfg->attention_bias;
    const int o_bias = cfg->attention_bias && cfg->arch->config_biases; /* Llama: q/k/v/o */
    const int64_t out[QF_ARCH_N_LINEARS] = {qd, kvd, kvd, hid, inter, inter, hid};
    const int64_t in[QF_ARCH_N_LINEARS] = {hid, hid, hid, qd, hid, hid, inter};
    const int bias[QF_ARCH_N_LINEARS] = {qkv_bias, qkv_bias, qkv_bias, o_bias,
                                         cfg->mlp_bias, cfg->mlp_bias, cfg->mlp_bias};
    for (int i = 0; i < QF_ARCH_N_LINEARS; i++)
        lin[i] = (qf_arch_linear){qf_arch_linear_names[i], out[i], in[i], bias[i]};
}

qf_status qf_arch_tensor_specs(const qf_model_config *cfg, qf_tensor_spec **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    QF_FORWARD(qf_model_config_check(cfg));
    const int64_t L = cfg->num_hidden_layers, hidden = cfg->hidden_size;
    qf_arch_linear lin[QF_ARCH_N_LINEARS];
    qf_arch_layer_linears(cfg, lin);

    size_t cap = 3 + (size_t)L * QF_ARCH_SPECS_PER_LAYER;
    qf_tensor_spec *specs = calloc(cap, sizeof *specs);
    QF_RETURN_IF(!specs, QF_STATUS_NOMEM, "tensor specs: out of memory (%zu entries)", cap);
    size_t n = 0;
    char p[QF_TENSOR_NAME_MAX - 8]; /* room for ".weight" */
    qf_arch_spec_add(specs, &n, "model.embed_tokens.weight", 2, cfg->vocab_size, hidden, 0);
    for (int64_t l = 0; l < L; l++) {
        for (int i = 0; i < QF_ARCH_N_LINEARS; i++) {
            if (i == 0 || i == 4) { /* the norm before the attention, before the MLP */
                snprintf(p, sizeof p, "model.layers.%lld.%s.weight", (long long)l,
                         i == 0 ? "input_layernorm" : "post_attention_layernorm");
                qf_arch_spec_add(specs, &n, p, 1, hidden, 0, 0);
            }
            snprintf(p, sizeof p, "model.layers.%lld.%s", (long long)l, lin[i].name);
            qf_arch_spec_linear(specs, &n, p, lin[i].out, lin[i].in, lin[i].bias);
        }
    }
    qf_arch_spec_add(specs, &n, "model.norm.weight", 1, hidden, 0, 0);
    qf_arch_spec_add(specs, &n, "lm_head.weight", 2, cfg->vocab_size, hidden,
                     cfg->tie_word_embeddings);
    *out = specs;
    *n_out = n;
    return QF_STATUS_OK;
}
