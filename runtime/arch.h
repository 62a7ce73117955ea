/* The architectures table: one entry per supported Hugging Face architecture
 * (tensor-name map, config fields, forward flags), and the model config parsed
 * from config.json or GGUF metadata. A new architecture is a new table entry. */
#ifndef QF_ARCH_H
#define QF_ARCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef enum qf_rope_scaling_type {
    QF_ROPE_SCALING_NONE = 0,
    QF_ROPE_SCALING_LINEAR,
    QF_ROPE_SCALING_DYNAMIC,
    QF_ROPE_SCALING_LLAMA3,
    QF_ROPE_SCALING_YARN,
} qf_rope_scaling_type;

typedef struct qf_arch {
    const char *hf_class;   /* config.json "architectures"[0], e.g. "LlamaForCausalLM" */
    const char *model_type; /* config.json "model_type", e.g. "llama" */
    const char *gguf_arch;  /* GGUF general.architecture, e.g. "llama" */
    int qkv_bias;           /* q/k/v projections carry a bias (Qwen2) */
    int sliding_window;     /* honours config "sliding_window" (Mistral, Qwen2) */
    int config_biases;      /* honours config "attention_bias" (q/k/v/o) and "mlp_bias" (Llama) */
} qf_arch;

typedef struct qf_rope_scaling {
    qf_rope_scaling_type type;
    double factor;
    double low_freq_factor;                  /* llama3 */
    double high_freq_factor;                 /* llama3 */
    int64_t original_max_position_embeddings; /* llama3, yarn */
} qf_rope_scaling;

typedef struct qf_model_config {
    const qf_arch *arch;
    int64_t vocab_size;
    int64_t hidden_size;
    int64_t intermediate_size;
    int64_t num_hidden_layers;
    int64_t num_attention_heads;
    int64_t num_key_value_heads;
    int64_t head_dim;
    int64_t max_position_embeddings;
    double rope_theta;
    double rms_norm_eps;
    qf_rope_scaling rope_scaling;
    int tie_word_embeddings;
    int64_t sliding_window; /* 0 = none */
    int attention_bias;     /* q/k/v/o bias present (Llama "attention_bias", Qwen2 q/k/v) */
    int mlp_bias;
    int64_t bos_token_id;   /* -1 = unset */
    int64_t eos_token_id;   /* -1 = unset */
    char torch_dtype[16];   /* "bfloat16", "float16", "float32" or "" */
} qf_model_config;

size_t qf_arch_count(void);
const qf_arch *qf_arch_get(size_t i);
/* By HF class name; NULL if unsupported. */
const qf_arch *qf_arch_find_hf(const char *hf_class);
/* By GGUF general.architecture; NULL if unsupported. */
const qf_arch *qf_arch_find_gguf(const char *gguf_arch);
/* "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM" for error messages. */
const char *qf_arch_supported_list(void);

/* Hard limits of qf_model_config_check: far above any released model, low enough
 * that a hostile config cannot make tensor shapes overflow or allocations absurd. */
#define QF_ARCH_MAX_VOCAB (1 << 22)
#define QF_ARCH_MAX_HIDDEN (1 << 16)
#define QF_ARCH_MAX_INTERMEDIATE (1 << 19)
#define QF_ARCH_MAX_LAYERS 1024
#define QF_ARCH_MAX_HEADS 1024
#define QF_ARCH_MAX_HEAD_DIM 1024
#define QF_ARCH_MAX_POSITIONS (1 << 24)

/* Sanity checks a config (positive sizes, heads divide, limits). */
qf_status qf_model_config_check(const qf_model_config *cfg);

#define QF_TENSOR_NAME_MAX 128

typedef struct qf_tensor_spec {
    char name[QF_TENSOR_NAME_MAX];
    int ndim;
    int64_t shape[2]; /* outermost first: (out, in) for linears */
    int optional;     /* e.g. lm_head.weight when embeddings are tied */
} qf_tensor_spec;

/* The linears of one decoder layer, in the order q, k, v, o, gate, up, down: the name
 * within the layer ("self_attn.q_proj"), the weight's (out, in) and whether the
 * architecture gives it a bias. One table for the tensor specs, both runtimes and the
 * quantize pipeline. */
#define QF_ARCH_N_LINEARS 7
typedef struct qf_arch_linear {
    const char *name;
    int64_t out, in;
    int bias;
} qf_arch_linear;
void qf_arch_layer_linears(const qf_model_config *cfg, qf_arch_linear lin[QF_ARCH_N_LINEARS]);
/* Linear i's name within the layer ("self_attn.q_proj"; "?" out of range). */
const char *qf_arch_linear_name(int i);

/* Every tensor the architecture needs for this config, HF names, in a stable
 * order (embeddings, layers 0..n-1, final norm, lm_head). Caller frees *out. */
qf_status qf_arch_tensor_specs(const qf_model_config *cfg, qf_tensor_spec **out, size_t *n);

#endif
