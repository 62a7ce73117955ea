/* config.json parsing against the values transformers fills in (fixtures/hf/configs),
 * the writer's round trip, and bad configs (each: status + message).
 * With an argument DIR, also writes every round-tripped config to DIR/<name>.config.json
 * for fixtures/scripts/check_hf_config_writer.py (transformers' AutoConfig). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/hf_config.h"
#include "test_hf_util.h"

#define CONFIGS HF_FIXTURES "/configs"

static void check_same_config(const char *what, const qf_model_config *a,
                              const qf_model_config *b) {
    CHECK_MSG(a->arch == b->arch, "%s: arch", what);
#define SAME(f) CHECK_MSG(a->f == b->f, "%s: %s differs after the round trip", what, #f)
    SAME(vocab_size);
    SAME(hidden_size);
    SAME(intermediate_size);
    SAME(num_hidden_layers);
    SAME(num_attention_heads);
    SAME(num_key_value_heads);
    SAME(head_dim);
    SAME(max_position_embeddings);
    SAME(rope_theta);
    SAME(rms_norm_eps);
    SAME(rope_scaling.type);
    SAME(rope_scaling.factor);
    SAME(rope_scaling.low_freq_factor);
    SAME(rope_scaling.high_freq_factor);
    SAME(rope_scaling.original_max_position_embeddings);
    SAME(tie_word_embeddings);
    SAME(sliding_window);
    SAME(attention_bias);
    SAME(mlp_bias);
    SAME(bos_token_id);
    SAME(eos_token_id);
#undef SAME
    CHECK_MSG(strcmp(a->torch_dtype, b->torch_dtype) == 0, "%s: torch_dtype", what);
}

/* One fixture: parse equals transformers; written config parses back identically. */
static void test_fixture(const char *name, const char *write_dir) {
    char path[512], exp_path[512];
    snprintf(path, sizeof path, "%s/%s.config.json", CONFIGS, name);
    snprintf(exp_path, sizeof exp_path, "%s/%s.expected.json", CONFIGS, name);
    cJSON *expected = hf_read_json(exp_path);
    CHECK_MSG(expected != NULL, "%s", exp_path);
    qf_model_config c;
    qf_status st = qf_hf_config_load(path, &c);
    CHECK_MSG(st == QF_STATUS_OK, "%s: %s", name, qf_error_message());
    if (st != QF_STATUS_OK || !expected) {
        cJSON_Delete(expected);
        return;
    }
    hf_check_config(name, &c, expected);
    cJSON_Delete(expected);

    char *text = NULL;
    CHECK_OK(qf_hf_config_to_json(&c, NULL, &text));
    if (!text) return;
    qf_model_config back;
    memset(&back, 0xAB, sizeof back);
    CHECK_OK(qf_hf_config_parse(text, strlen(text), name, &back));
    check_same_config(name, &c, &back);
    char *again = NULL;
    CHECK_OK(qf_hf_config_to_json(&back, NULL, &again));
    CHECK_MSG(again && strcmp(text, again) == 0, "%s: writer output not stable", name);
    if (write_dir) {
        char out[512];
        snprintf(out, sizeof out, "%s/%s.config.json", write_dir, name);
        CHECK_OK(qf_hf_config_write(&c, NULL, out, 1));
    }
    free(again);
    free(text);
}

static int is_config_fixture(const char *n) {
    size_t len = strlen(n), suf = strlen(".config.json");
    return len > suf && strcmp(n + len - suf, ".config.json") == 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_fixtures(const char *write_dir) {
    DIR *d = opendir(CONFIGS);
    CHECK_MSG(d != NULL, "cannot open %s", CONFIGS);
    if (!d) return;
    char *names[256];
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 256;) {
        if (!is_config_fixture(e->d_name)) continue;
        names[n] = strdup(e->d_name);
        names[n][strlen(names[n]) - strlen(".config.json")] = '\0';
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    CHECK_MSG(n >= 14, "only %zu config fixtures", n);
    for (size_t i = 0; i < n; i++) {
        test_fixture(names[i], write_dir);
        free(names[i]);
    }
}

/* Parses `json` expecting failure `code` with `needle` in the message. */
#define BAD(json, code, needle)                                                          \
    do {                                                                                 \
        qf_model_config c_;                                                              \
        const char *j_ = (json);                                                         \
        CHECK_FAILS(qf_hf_config_parse(j_, strlen(j_), "bad/config.json", &c_), code, needle); \
    } while (0)

#define LLAMA "\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\""
#define QWEN2 "\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\""

static void test_bad_configs(void) {
    /* unsupported architecture: the message names it and lists the supported ones */
    BAD("{\"architectures\":[\"GemmaForCausalLM\"],\"model_type\":\"gemma\"}",
        QF_STATUS_UNSUPPORTED, "'GemmaForCausalLM' is not supported");
    BAD("{\"architectures\":[\"GemmaForCausalLM\"]}", QF_STATUS_UNSUPPORTED,
        "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM");
    BAD("{\"model_type\":\"gpt2\"}", QF_STATUS_UNSUPPORTED, "model_type 'gpt2'");
    BAD("{\"architectures\":[\"LlamaForSequenceClassification\"],\"model_type\":\"llama\"}",
        QF_STATUS_UNSUPPORTED, "LlamaForSequenceClassification");
    BAD("{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"qwen2\"}", QF_STATUS_FORMAT,
        "does not match model_type");
    BAD("{\"hidden_size\":16}", QF_STATUS_FORMAT, "neither 'architectures' nor 'model_type'");
    BAD("{\"architectures\":\"LlamaForCausalLM\"}", QF_STATUS_FORMAT, "'architectures'");
    BAD("{\"model_type\":7}", QF_STATUS_FORMAT, "'model_type' must be a string");

    /* malformed JSON */
    BAD("{\"model_type\": \"llama\",", QF_STATUS_FORMAT, "bad/config.json': invalid JSON");
    BAD("", QF_STATUS_FORMAT, "invalid JSON");
    BAD("{\"model_type\":\"llama\"} {", QF_STATUS_FORMAT, "trailing data");
    BAD("[1, 2]", QF_STATUS_FORMAT, "not a JSON object");
    BAD("{" LLAMA ",\"hidden_size\":32,\"hidden_size\":64}", QF_STATUS_FORMAT,
        "duplicate key 'hidden_size'");

    /* wrong field types: the message names the field and the file */
    BAD("{" LLAMA ",\"hidden_size\":\"4096\"}", QF_STATUS_FORMAT,
        "'bad/config.json': field 'hidden_size' must be an integer");
    BAD("{" LLAMA ",\"vocab_size\":1.5}", QF_STATUS_FORMAT, "'vocab_size' must be an integer");
    BAD("{" LLAMA ",\"vocab_size\":null}", QF_STATUS_FORMAT, "'vocab_size' must be an integer");
    BAD("{" LLAMA ",\"num_hidden_layers\":true}", QF_STATUS_FORMAT, "'num_hidden_layers'");
    BAD("{" LLAMA ",\"rms_norm_eps\":\"1e-5\"}", QF_STATUS_FORMAT, "'rms_norm_eps' must be a number");
    BAD("{" LLAMA ",\"tie_word_embeddings\":1}", QF_STATUS_FORMAT,
        "'tie_word_embeddings' must be true or false");
    BAD("{" LLAMA ",\"attention_bias\":\"no\"}", QF_STATUS_FORMAT, "'attention_bias'");
    BAD("{" LLAMA ",\"eos_token_id\":[1,\"x\"]}", QF_STATUS_FORMAT, "'eos_token_id'");
    BAD("{" LLAMA ",\"rope_scaling\":[2.0]}", QF_STATUS_FORMAT, "must be an object");
    BAD("{" LLAMA ",\"rope_scaling\":{\"rope_type\":\"linear\",\"factor\":\"2\"}}",
        QF_STATUS_FORMAT, "'rope_scaling.factor' must be a number");
    BAD("{" LLAMA ",\"torch_dtype\":16}", QF_STATUS_FORMAT, "'torch_dtype' must be a string");
    BAD("{" QWEN2 ",\"layer_types\":\"full_attention\"}", QF_STATUS_FORMAT, "'layer_types'");

    /* values transformers accepts but that are wrong or that qforge does not implement */
    BAD("{" LLAMA ",\"num_attention_heads\":32,\"num_key_value_heads\":5}", QF_STATUS_FORMAT,
        "num_attention_heads 32 is not divisible by num_key_value_heads 5");
    BAD("{" LLAMA ",\"hidden_size\":100,\"num_attention_heads\":32}", QF_STATUS_FORMAT,
        "hidden_size 100 is not divisible by num_attention_heads 32");
    BAD("{" LLAMA ",\"num_attention_heads\":0}", QF_STATUS_FORMAT, "num_attention_heads");
    BAD("{" LLAMA ",\"vocab_size\":1e12}", QF_STATUS_FORMAT, "vocab_size");
    BAD("{" LLAMA ",\"vocab_size\":1e300}", QF_STATUS_FORMAT, "vocab_size");
    BAD("{" LLAMA ",\"num_hidden_layers\":100000000}", QF_STATUS_FORMAT,
        "'bad/config.json': config: num_hidden_layers");
    BAD("{" LLAMA ",\"intermediate_size\":-1}", QF_STATUS_FORMAT, "intermediate_size");
    BAD("{" LLAMA ",\"rms_norm_eps\":0}", QF_STATUS_FORMAT, "rms_norm_eps");
    BAD("{" LLAMA ",\"rope_theta\":-10000}", QF_STATUS_FORMAT, "rope_theta");
    BAD("{" LLAMA ",\"head_dim\":7}", QF_STATUS_FORMAT, "head_dim");
    BAD("{" LLAMA ",\"rope_scaling\":{\"rope_type\":\"longrope\",\"short_factor\":[1]}}",
        QF_STATUS_UNSUPPORTED, "rope type 'longrope'");
    BAD("{" LLAMA ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,"
        "\"low_freq_factor\":1.0}}",
        QF_STATUS_FORMAT, "needs 'high_freq_factor'");
    BAD("{" LLAMA ",\"rope_scaling\":{\"type\":\"linear\"}}", QF_STATUS_FORMAT, "needs 'factor'");
    BAD("{" QWEN2 ",\"rope_scaling\":{\"type\":\"yarn\",\"factor\":4.0,\"attention_factor\":0.8}}",
        QF_STATUS_UNSUPPORTED, "attention_factor");
    BAD("{" LLAMA ",\"rope_parameters\":{\"full_attention\":{\"rope_type\":\"default\"}}}",
        QF_STATUS_UNSUPPORTED, "per-layer rope");
    BAD("{" LLAMA ",\"partial_rotary_factor\":0.5}", QF_STATUS_UNSUPPORTED,
        "partial_rotary_factor");
    BAD("{" LLAMA ",\"torch_dtype\":\"float64\"}", QF_STATUS_UNSUPPORTED, "dtype 'float64'");
    BAD("{" QWEN2 ",\"num_hidden_layers\":4,\"use_sliding_window\":true,"
        "\"max_window_layers\":2}",
        QF_STATUS_UNSUPPORTED, "sliding window on 2 of 4 layers");
    BAD("{" QWEN2 ",\"num_hidden_layers\":2,\"layer_types\":[\"full_attention\"]}",
        QF_STATUS_FORMAT, "layer_types has 1 entries");
    BAD("{" QWEN2 ",\"num_hidden_layers\":1,\"layer_types\":[\"chunked_attention\"]}",
        QF_STATUS_UNSUPPORTED, "chunked_attention");
}

/* Things transformers accepts that must parse the way it reads them. */
static void test_accepted(void) {
    qf_model_config c;
    const char *j;
    /* rope_scaling (legacy) wins over rope_parameters; its theta over the top-level one */
    j = "{" LLAMA ",\"rope_theta\":1000.0,\"rope_parameters\":{\"rope_type\":\"default\","
        "\"rope_theta\":5.0},\"rope_scaling\":{\"type\":\"dynamic\",\"factor\":2.0}}";
    CHECK_OK(qf_hf_config_parse(j, strlen(j), "x", &c));
    CHECK(c.rope_scaling.type == QF_ROPE_SCALING_DYNAMIC && c.rope_theta == 1000.0);
    /* an empty rope_scaling falls back to rope_parameters */
    j = "{" LLAMA ",\"rope_scaling\":{},\"rope_parameters\":{\"rope_type\":\"linear\","
        "\"factor\":3,\"rope_theta\":7.0}}";
    CHECK_OK(qf_hf_config_parse(j, strlen(j), "x", &c));
    CHECK(c.rope_scaling.type == QF_ROPE_SCALING_LINEAR && c.rope_scaling.factor == 3.0 &&
          c.rope_theta == 7.0);
    /* llama3 without original_max_position_embeddings: max_position_embeddings */
    j = "{" LLAMA ",\"max_position_embeddings\":4096,\"rope_scaling\":{\"rope_type\":\"llama3\","
        "\"factor\":8,\"low_freq_factor\":1,\"high_freq_factor\":4}}";
    CHECK_OK(qf_hf_config_parse(j, strlen(j), "x", &c));
    CHECK(c.rope_scaling.original_max_position_embeddings == 4096);
    /* "dtype" (transformers 5) wins over "torch_dtype"; empty eos list; negative ids */
    j = "{" LLAMA ",\"torch_dtype\":\"float32\",\"dtype\":\"bfloat16\",\"eos_token_id\":[],"
        "\"bos_token_id\":-1}";
    CHECK_OK(qf_hf_config_parse(j, strlen(j), "x", &c));
    CHECK(strcmp(c.torch_dtype, "bfloat16") == 0 && c.eos_token_id == -1 && c.bos_token_id == -1);
    /* Mistral ignores Llama's bias options, as MistralAttention does */
    j = "{\"model_type\":\"mistral\",\"attention_bias\":true,\"mlp_bias\":true}";
    CHECK_OK(qf_hf_config_parse(j, strlen(j), "x", &c));
    CHECK(!c.attention_bias && !c.mlp_bias && c.sliding_window == 4096);
    /* Qwen2: sliding window on every layer via layer_types */
    j = "{" QWEN2 ",\"num_hidden_layers\":2,\"num_key_value_heads\":4,\"use_sliding_window\":true,"
        "\"sliding_window\":512,\"layer_types\":[\"sliding_attention\",\"sliding_attention\"]}";
    CHECK_OK(qf_hf_config_parse(j, strlen(j), "x", &c));
    CHECK(c.sliding_window == 512 && c.num_key_value_heads == 4);
    /* null num_key_value_heads / head_dim: derived as in __post_init__ */
    j = "{" QWEN2 ",\"num_key_value_heads\":null,\"head_dim\":null,\"num_attention_heads\":8}";
    CHECK_OK(qf_hf_config_parse(j, strlen(j), "x", &c));
    CHECK(c.num_key_value_heads == 8 && c.head_dim == 512);
    /* whitespace after the document, unknown keys ignored */
    j = "{" LLAMA ",\"some_new_key\":{\"a\":[1,2]}}\n\n";
    CHECK_OK(qf_hf_config_parse(j, strlen(j), "x", &c));
}

static void test_writer(void) {
    qf_model_config c;
    const char *j = "{" LLAMA ",\"hidden_size\":64,\"num_attention_heads\":4}";
    CHECK_OK(qf_hf_config_parse(j, strlen(j), "x", &c));
    char *text = NULL;
    CHECK_OK(qf_hf_config_to_json(&c,
                                  "{\"quantization_config\":{\"bits\":4,\"quant_method\":\"gptq\"},"
                                  "\"hidden_act\":\"silu\"}",
                                  &text));
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    CHECK(o != NULL);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(o, "quantization_config");
    CHECK(cJSON_IsObject(q) && hf_num(q, "bits") == 4.0);
    CHECK(strcmp(hf_str(o, "hidden_act"), "silu") == 0);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "architectures")) == 1);
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "rope_scaling")));
    CHECK(strstr(text, "\"rope_theta\":\t10000.0,") && strstr(text, "\"rms_norm_eps\":\t1e-06,"));
    int n_act = 0;
    for (const cJSON *e = o ? o->child : NULL; e; e = e->next) n_act += strcmp(e->string, "hidden_act") == 0;
    CHECK(n_act == 1);
    cJSON_Delete(o);
    qf_model_config back;
    CHECK_OK(qf_hf_config_parse(text, strlen(text), "written", &back));
    check_same_config("writer+extra", &c, &back);
    free(text);

    /* floats round-trip bit-exactly (an f32 epsilon from a GGUF file, a third) and are
     * written as Python's json writes floats */
    qf_model_config odd = c;
    odd.rms_norm_eps = (double)1e-5f;
    odd.rope_theta = 1e6 / 3.0;
    odd.rope_scaling.type = QF_ROPE_SCALING_LLAMA3;
    odd.rope_scaling.factor = 8.0;
    odd.max_position_embeddings = 4096;
    odd.rope_scaling.low_freq_factor = 0.1;
    odd.rope_scaling.high_freq_factor = 4.0 + 1e-15;
    odd.rope_scaling.original_max_position_embeddings = 1024;
    CHECK_OK(qf_hf_config_to_json(&odd, NULL, &text));
    CHECK_OK(qf_hf_config_parse(text, strlen(text), "odd", &back));
    check_same_config("odd floats", &odd, &back);
    CHECK(text && strstr(text, "\"rms_norm_eps\":\t9.999999747378752e-06") != NULL);
    CHECK(text && strstr(text, "\"factor\":\t8.0,") != NULL);
    CHECK(text && strstr(text, "\"low_freq_factor\":\t0.1,") != NULL);
    CHECK(text && strstr(text, "\"hidden_size\":\t64,") != NULL);
    CHECK(text && strstr(text, "\"rope_theta\":\t333333.3333333333,") != NULL);
    free(text);

    text = (char *)1;
    CHECK_FAILS(qf_hf_config_to_json(&c, "[1]", &text), QF_STATUS_INVALID_ARG, "extra JSON");
    CHECK(text == NULL);
    CHECK_FAILS(qf_hf_config_to_json(&c, "{bad", &text), QF_STATUS_INVALID_ARG, "extra JSON");
    qf_model_config bad = c;
    bad.num_key_value_heads = 3;
    CHECK_FAILS(qf_hf_config_to_json(&bad, NULL, &text), QF_STATUS_FORMAT, "not divisible");

    /* files: atomic write, refuses to overwrite unless asked, loads back */
    char dir[] = "/tmp/qf_hf_config_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK_OK(qf_hf_config_write(&c, NULL, path, 0));
    CHECK(qf_hf_config_write(&c, NULL, path, 0) != QF_STATUS_OK);
    CHECK_OK(qf_hf_config_write(&c, NULL, path, 1));
    CHECK_OK(qf_hf_config_load(path, &back));
    check_same_config("written file", &c, &back);

    /* file errors: missing file (IO naming it), over the size limit */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/nope.json", dir);
    CHECK_FAILS(qf_hf_config_load(missing, &back), QF_STATUS_IO, "nope.json");
    char big[300];
    snprintf(big, sizeof big, "%s/big.json", dir);
    int fd = open(big, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)QF_HF_CONFIG_MAX_BYTES + 1) == 0);
    if (fd >= 0) close(fd);
    CHECK_FAILS(qf_hf_config_load(big, &back), QF_STATUS_FORMAT, "limit");
    hf_rm_rf(dir);
}

int main(int argc, char **argv) {
    const char *write_dir = argc > 1 ? argv[1] : NULL;
    test_fixtures(write_dir);
    test_bad_configs();
    test_accepted();
    test_writer();
    TEST_END();
}
