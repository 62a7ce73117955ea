/* libFuzzer target for the quantization_config readers (hostile config.json content):
 * the input, NUL-terminated, goes to the GPTQ, AWQ and compressed-tensors parsers; each
 * must either fail with a message or give a config whose per-module queries work. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/awq.h"
#include "formats/compressed_tensors.h"
#include "formats/gptq.h"

static volatile uint64_t fuzz_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    char *json = malloc(size + 1);
    if (!json) return 0;
    memcpy(json, data, size);
    json[size] = '\0';
    qf_gptq_config g;
    if (qf_gptq_config_parse(json, "fuzz", &g) == QF_STATUS_OK) {
        int skip = 0, bits = 0;
        int64_t group = 0;
        if (qf_gptq_config_for_module(&g, "model.layers.3.mlp.up_proj", &skip, &bits, &group) ==
            QF_STATUS_OK)
            fuzz_sink += (uint64_t)(skip + bits + group);
        char *out = NULL;
        if (qf_gptq_config_to_json(&g, &out) == QF_STATUS_OK) fuzz_sink += strlen(out);
        free(out);
        qf_gptq_config_free(&g);
    }
    qf_awq_config a;
    if (qf_awq_config_parse(json, "fuzz", &a) == QF_STATUS_OK) {
        char *out = NULL;
        if (qf_awq_config_to_json(&a, &out) == QF_STATUS_OK) fuzz_sink += strlen(out);
        free(out);
        qf_awq_config_free(&a);
    }
    qf_ct_config c;
    if (qf_ct_config_parse(json, "fuzz", &c) == QF_STATUS_OK) {
        fuzz_sink += (uint64_t)qf_ct_ignored(&c, "model.layers.0.self_attn.q_proj");
        qf_ct_config_free(&c);
    }
    free(json);
    return 0;
}
