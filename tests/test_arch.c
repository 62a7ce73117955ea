/* The architectures table, config sanity checks and per-architecture tensor lists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/arch.h"
#include "test.h"

/* A small valid config of the given class (the shapes of fixtures/hf/tiny-llama). */
static qf_model_config tiny(const char *hf_class) {
    qf_model_config c;
    memset(&c, 0, sizeof c);
    c.arch = qf_arch_find_hf(hf_class);
    c.vocab_size = 64;
    c.hidden_size = 32;
    c.intermediate_size = 48;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 8;
    c.max_position_embeddings = 128;
    c.rope_theta = 10000.0;
    c.rms_norm_eps = 1e-6;
    c.bos_token_id = -1;
    c.eos_token_id = -1;
    return c;
}

static const qf_tensor_spec *find_spec(const qf_tensor_spec *s, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0) return &s[i];
    return NULL;
}

static void check_spec(const qf_tensor_spec *s, size_t n, const char *name, int ndim,
                       int64_t d0, int64_t d1, int optional) {
    const qf_tensor_spec *t = find_spec(s, n, name);
    CHECK_MSG(t != NULL, "no spec %s", name);
    if (!t) return;
    CHECK_MSG(t->ndim == ndim && t->shape[0] == d0 && (ndim < 2 || t->shape[1] == d1),
              "%s: ndim %d shape [%lld, %lld], expected %d [%lld, %lld]", name, t->ndim,
              (long long)t->shape[0], (long long)t->shape[1], ndim, (long long)d0,
              (long long)d1);
    CHECK_MSG(t->optional == optional, "%s: optional %d", name, t->optional);
}

static void test_table(void) {
    CHECK(qf_arch_count() == 3);
    CHECK(qf_arch_get(qf_arch_count()) == NULL);
    for (size_t i = 0; i < qf_arch_count(); i++) {
        const qf_arch *a = qf_arch_get(i);
        CHECK(qf_arch_find_hf(a->hf_class) == a);
        CHECK_MSG(strstr(qf_arch_supported_list(), a->hf_class) != NULL, "%s not listed",
                  a->hf_class);
    }
    const qf_arch *llama = qf_arch_find_hf("LlamaForCausalLM");
    const qf_arch *mistral = qf_arch_find_hf("MistralForCausalLM");
    const qf_arch *qwen2 = qf_arch_find_hf("Qwen2ForCausalLM");
    CHECK(llama && mistral && qwen2);
    if (!llama || !mistral || !qwen2) return;
    CHECK(strcmp(llama->model_type, "llama") == 0 && strcmp(llama->gguf_arch, "llama") == 0);
    CHECK(strcmp(mistral->model_type, "mistral") == 0);
    /* llama.cpp writes Mistral checkpoints as general.architecture "llama" */
    CHECK(strcmp(mistral->gguf_arch, "llama") == 0);
    CHECK(qf_arch_find_gguf("llama") == llama);
    CHECK(qf_arch_find_gguf("qwen2") == qwen2);
    CHECK(qf_arch_find_gguf("gemma") == NULL);
    CHECK(qf_arch_find_hf("llamaforcausallm") == NULL);
    CHECK(qf_arch_find_hf("LlamaForSequenceClassification") == NULL);
    CHECK(qf_arch_find_hf(NULL) == NULL && qf_arch_find_gguf(NULL) == NULL);
    CHECK(qwen2->qkv_bias && !llama->qkv_bias && !mistral->qkv_bias);
    CHECK(mistral->sliding_window && qwen2->sliding_window && !llama->sliding_window);
    CHECK(llama->config_biases && !mistral->config_biases && !qwen2->config_biases);
}

static void test_specs(void) {
    qf_tensor_spec *s = NULL;
    size_t n = 0;

    qf_model_config c = tiny("LlamaForCausalLM");
    CHECK_OK(qf_arch_tensor_specs(&c, &s, &n));
    CHECK(n == 1 + 2 * 9 + 2);
    if (s) {
        CHECK(strcmp(s[0].name, "model.embed_tokens.weight") == 0);
        CHECK(strcmp(s[n - 2].name, "model.norm.weight") == 0);
        CHECK(strcmp(s[n - 1].name, "lm_head.weight") == 0);
        CHECK(strcmp(s[1].name, "model.layers.0.input_layernorm.weight") == 0);
    }
    check_spec(s, n, "model.embed_tokens.weight", 2, 64, 32, 0);
    check_spec(s, n, "model.layers.1.input_layernorm.weight", 1, 32, 0, 0);
    check_spec(s, n, "model.layers.0.self_attn.q_proj.weight", 2, 32, 32, 0);
    check_spec(s, n, "model.layers.0.self_attn.k_proj.weight", 2, 16, 32, 0);
    check_spec(s, n, "model.layers.1.self_attn.v_proj.weight", 2, 16, 32, 0);
    check_spec(s, n, "model.layers.1.self_attn.o_proj.weight", 2, 32, 32, 0);
    check_spec(s, n, "model.layers.0.post_attention_layernorm.weight", 1, 32, 0, 0);
    check_spec(s, n, "model.layers.0.mlp.gate_proj.weight", 2, 48, 32, 0);
    check_spec(s, n, "model.layers.0.mlp.up_proj.weight", 2, 48, 32, 0);
    check_spec(s, n, "model.layers.1.mlp.down_proj.weight", 2, 32, 48, 0);
    check_spec(s, n, "model.norm.weight", 1, 32, 0, 0);
    check_spec(s, n, "lm_head.weight", 2, 64, 32, 0);
    CHECK(find_spec(s, n, "model.layers.0.self_attn.q_proj.bias") == NULL);
    CHECK(find_spec(s, n, "model.layers.2.input_layernorm.weight") == NULL);
    free(s);

    /* tied embeddings: lm_head optional; head_dim independent of hidden / heads */
    c.tie_word_embeddings = 1;
    c.head_dim = 16;
    CHECK_OK(qf_arch_tensor_specs(&c, &s, &n));
    check_spec(s, n, "lm_head.weight", 2, 64, 32, 1);
    check_spec(s, n, "model.layers.0.self_attn.q_proj.weight", 2, 64, 32, 0);
    check_spec(s, n, "model.layers.0.self_attn.o_proj.weight", 2, 32, 64, 0);
    free(s);

    /* Llama attention_bias: q/k/v/o biases (transformers' LlamaAttention); mlp_bias */
    c = tiny("LlamaForCausalLM");
    c.attention_bias = 1;
    c.mlp_bias = 1;
    CHECK_OK(qf_arch_tensor_specs(&c, &s, &n));
    CHECK(n == 1 + 2 * 16 + 2);
    check_spec(s, n, "model.layers.0.self_attn.q_proj.bias", 1, 32, 0, 0);
    check_spec(s, n, "model.layers.0.self_attn.k_proj.bias", 1, 16, 0, 0);
    check_spec(s, n, "model.layers.0.self_attn.v_proj.bias", 1, 16, 0, 0);
    check_spec(s, n, "model.layers.0.self_attn.o_proj.bias", 1, 32, 0, 0);
    check_spec(s, n, "model.layers.1.mlp.gate_proj.bias", 1, 48, 0, 0);
    check_spec(s, n, "model.layers.1.mlp.down_proj.bias", 1, 32, 0, 0);
    free(s);

    /* Qwen2: q/k/v biases, no o_proj bias */
    c = tiny("Qwen2ForCausalLM");
    c.attention_bias = 1;
    CHECK_OK(qf_arch_tensor_specs(&c, &s, &n));
    CHECK(n == 1 + 2 * 12 + 2);
    check_spec(s, n, "model.layers.1.self_attn.k_proj.bias", 1, 16, 0, 0);
    CHECK(find_spec(s, n, "model.layers.0.self_attn.o_proj.bias") == NULL);
    free(s);
    c.attention_bias = 0; /* the arch flag alone decides for Qwen2 */
    CHECK_OK(qf_arch_tensor_specs(&c, &s, &n));
    CHECK(n == 1 + 2 * 12 + 2);
    free(s);

    c = tiny("MistralForCausalLM");
    c.sliding_window = 4096;
    CHECK_OK(qf_arch_tensor_specs(&c, &s, &n));
    CHECK(n == 1 + 2 * 9 + 2);
    free(s);

    c.num_key_value_heads = 3;
    s = (qf_tensor_spec *)1;
    CHECK_FAILS(qf_arch_tensor_specs(&c, &s, &n), QF_STATUS_FORMAT, "not divisible");
    CHECK(s == NULL && n == 0);
}

static void test_config_check(void) {
    qf_model_config c = tiny("LlamaForCausalLM");
    CHECK_OK(qf_model_config_check(&c));
    c.torch_dtype[0] = 'x';
    CHECK_FAILS(qf_model_config_check(&c), QF_STATUS_FORMAT, "torch_dtype");
    strcpy(c.torch_dtype, "bfloat16");
    CHECK_OK(qf_model_config_check(&c));

#define BAD(stmt, code, needle)               \
    do {                                      \
        c = tiny("LlamaForCausalLM");         \
        stmt;                                 \
        CHECK_FAILS(qf_model_config_check(&c), code, needle); \
    } while (0)
    BAD(c.arch = NULL, QF_STATUS_INVALID_ARG, "architecture");
    BAD(c.num_key_value_heads = 3, QF_STATUS_FORMAT, "num_attention_heads 4 is not divisible");
    BAD(c.num_key_value_heads = 8, QF_STATUS_FORMAT, "num_key_value_heads");
    BAD(c.num_key_value_heads = 0, QF_STATUS_FORMAT, "num_key_value_heads");
    BAD(c.vocab_size = 0, QF_STATUS_FORMAT, "vocab_size");
    BAD(c.vocab_size = (int64_t)QF_ARCH_MAX_VOCAB + 1, QF_STATUS_FORMAT, "vocab_size");
    BAD(c.hidden_size = -32, QF_STATUS_FORMAT, "hidden_size");
    BAD(c.hidden_size = (int64_t)1 << 40, QF_STATUS_FORMAT, "hidden_size");
    BAD(c.intermediate_size = (int64_t)QF_ARCH_MAX_INTERMEDIATE + 1, QF_STATUS_FORMAT,
        "intermediate_size");
    BAD(c.num_hidden_layers = 0, QF_STATUS_FORMAT, "num_hidden_layers");
    BAD(c.num_hidden_layers = 1000000, QF_STATUS_FORMAT, "num_hidden_layers");
    BAD(c.num_attention_heads = QF_ARCH_MAX_HEADS * 2, QF_STATUS_FORMAT, "num_attention_heads");
    BAD(c.head_dim = 7, QF_STATUS_FORMAT, "head_dim");
    BAD(c.head_dim = 0, QF_STATUS_FORMAT, "head_dim");
    BAD(c.head_dim = QF_ARCH_MAX_HEAD_DIM + 2, QF_STATUS_FORMAT, "head_dim");
    BAD(c.max_position_embeddings = 0, QF_STATUS_FORMAT, "max_position_embeddings");
    BAD(c.rope_theta = 0, QF_STATUS_FORMAT, "rope_theta");
    BAD(c.rope_theta = INFINITY, QF_STATUS_FORMAT, "rope_theta");
    BAD(c.rms_norm_eps = 0, QF_STATUS_FORMAT, "rms_norm_eps");
    BAD(c.rms_norm_eps = NAN, QF_STATUS_FORMAT, "rms_norm_eps");
    BAD(c.rope_scaling.type = QF_ROPE_SCALING_LINEAR, QF_STATUS_FORMAT, "rope_scaling.factor");
    BAD((c.rope_scaling.type = QF_ROPE_SCALING_LLAMA3, c.rope_scaling.factor = 8,
         c.rope_scaling.high_freq_factor = 4, c.rope_scaling.original_max_position_embeddings = 8192),
        QF_STATUS_FORMAT, "low_freq_factor");
    BAD((c.rope_scaling.type = QF_ROPE_SCALING_YARN, c.rope_scaling.factor = 4),
        QF_STATUS_FORMAT, "original_max_position_embeddings");
    BAD(c.sliding_window = 4096, QF_STATUS_FORMAT, "sliding window");
    BAD(c.bos_token_id = -5, QF_STATUS_FORMAT, "bos_token_id");
    BAD(strcpy(c.torch_dtype, "float64"), QF_STATUS_FORMAT, "torch_dtype");
#undef BAD
    c = tiny("MistralForCausalLM");
    c.attention_bias = 1;
    CHECK_FAILS(qf_model_config_check(&c), QF_STATUS_FORMAT, "no attention biases");
    c = tiny("Qwen2ForCausalLM");
    c.mlp_bias = 1;
    CHECK_FAILS(qf_model_config_check(&c), QF_STATUS_FORMAT, "no mlp biases");
    CHECK_FAILS(qf_model_config_check(NULL), QF_STATUS_INVALID_ARG, "NULL");

    /* the limits keep every tensor size far from overflow */
    c = tiny("LlamaForCausalLM");
    c.vocab_size = QF_ARCH_MAX_VOCAB;
    c.hidden_size = QF_ARCH_MAX_HIDDEN;
    c.num_attention_heads = QF_ARCH_MAX_HEADS;
    c.num_key_value_heads = 1;
    c.head_dim = QF_ARCH_MAX_HEAD_DIM;
    c.intermediate_size = QF_ARCH_MAX_INTERMEDIATE;
    c.num_hidden_layers = QF_ARCH_MAX_LAYERS;
    CHECK_OK(qf_model_config_check(&c));
    CHECK((double)c.vocab_size * c.hidden_size < 9.0e15);
    CHECK((double)c.intermediate_size * c.hidden_size < 9.0e15);
}

int main(void) {
    test_table();
    test_specs();
    test_config_check();
    TEST_END();
}
