/* libFuzzer target for config.json (hostile content): qf_hf_config_parse must either fail
 * with a message or give a config that passes qf_model_config_check and keeps the
 * documented round trip: qf_hf_config_to_json, parsed again, gives back every field.
 * Seeds: the configs of tests/fixtures/hf and the one `qforge
 * convert` writes for SmolLM2-135M-Instruct. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/hf_config.h"

static int same_config(const qf_model_config *a, const qf_model_config *b) {
    const qf_rope_scaling *ra = &a->rope_scaling, *rb = &b->rope_scaling;
    return a->arch == b->arch && a->vocab_size == b->vocab_size &&
           a->hidden_size == b->hidden_size && a->intermediate_size == b->intermediate_size &&
           a->num_hidden_layers == b->num_hidden_layers &&
           a->num_attention_heads == b->num_attention_heads &&
           a->num_key_value_heads == b->num_key_value_heads && a->head_dim == b->head_dim &&
           a->max_position_embeddings == b->max_position_embeddings &&
           a->rope_theta == b->rope_theta && a->rms_norm_eps == b->rms_norm_eps &&
           ra->type == rb->type && ra->factor == rb->factor &&
           ra->low_freq_factor == rb->low_freq_factor &&
           ra->high_freq_factor == rb->high_freq_factor &&
           ra->original_max_position_embeddings == rb->original_max_position_embeddings &&
           a->tie_word_embeddings == b->tie_word_embeddings &&
           a->sliding_window == b->sliding_window && a->attention_bias == b->attention_bias &&
           a->mlp_bias == b->mlp_bias && a->bos_token_id == b->bos_token_id &&
           a->eos_token_id == b->eos_token_id && strcmp(a->torch_dtype, b->torch_dtype) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    qf_model_config c;
    if (qf_hf_config_parse((const char *)data, size, "fuzz", &c) != QF_STATUS_OK) return 0;
    if (qf_model_config_check(&c) != QF_STATUS_OK) abort(); /* parse promises a checked config */
    char *json = NULL;
    if (qf_hf_config_to_json(&c, NULL, &json) != QF_STATUS_OK) abort();
    qf_model_config back;
    if (qf_hf_config_parse(json, strlen(json), "fuzz round trip", &back) != QF_STATUS_OK ||
        !same_config(&c, &back))
        abort();
    free(json);
    return 0;
}
