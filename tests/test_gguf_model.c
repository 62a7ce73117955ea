/* Unit tests of the GGUF -> qf_model adapter on fixtures/gguf/tiny_llama.gguf (written by
 * gguf-py's GGUFWriter from random HF-order weights, q/k permuted like
 * convert_hf_to_gguf.py): config, HF names and shapes, values read back in HF order
 * (bit-exact against gguf-py + transformers' reverse_permute_weights), metadata text;
 * and the adapter's errors on copies of the file with one thing changed. */
#include <unistd.h>

#include "formats/gguf.h"
#include "formats/model.h"
#include "tests/test_gguf_util.h"

#define TINY QF_FIXTURES_DIR "/gguf/tiny_llama.gguf"

static const char *meta_get(const qf_model *m, const char *key) {
    for (size_t i = 0; i < m->n_meta; i++)
        if (strcmp(m->meta[i].key, key) == 0) return m->meta[i].value;
    return NULL;
}

#define CHECK_META(m, key, want)                                                                   \
    do {                                                                                           \
        const char *qf__v = meta_get(m, key);                                                      \
        CHECK_MSG(qf__v &&strcmp(qf__v, want) == 0, "meta %s = '%s', want '%s'", key,              \
                  qf__v ? qf__v : "(missing)", want);                                              \
    } while (0)

static void check_row(const char *what, const float *got, const char *hex, size_t n) {
    float *want;
    size_t k = qf_test_unhex_f32(hex, &want);
    CHECK_MSG(k == n, "%s: fixture has %zu values, expected %zu", what, k, n);
    CHECK_MSG(qf_test_bits_diff(what, got, want, k < n ? k : n) == 0, "%s differs", what);
    free(want);
}

/* Opens a tiny model and checks it against its JSON (config, tensors, values). */
static qf_model *check_tiny(const char *path, const char *json) {
    qf_model *m = NULL;
    CHECK_OK(qf_model_open(path, &m));
    if (!m) return NULL;
    cJSON *j = qf_test_load_json(json);
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(j, "config");
    const qf_model_config *c = &m->config;
    CHECK(m->source == QF_MODEL_SOURCE_GGUF && m->has_config);
    CHECK(c->arch && strcmp(c->arch->hf_class, qf_test_json_str(cfg, "hf_class")) == 0);
    CHECK(c->vocab_size == (int64_t)qf_test_json_num(cfg, "vocab_size"));
    CHECK(c->hidden_size == (int64_t)qf_test_json_num(cfg, "hidden_size"));
    CHECK(c->intermediate_size == (int64_t)qf_test_json_num(cfg, "intermediate_size"));
    CHECK(c->num_hidden_layers == (int64_t)qf_test_json_num(cfg, "num_hidden_layers"));
    CHECK(c->num_attention_heads == (int64_t)qf_test_json_num(cfg, "num_attention_heads"));
    CHECK(c->num_key_value_heads == (int64_t)qf_test_json_num(cfg, "num_key_value_heads"));
    CHECK(c->head_dim == (int64_t)qf_test_json_num(cfg, "head_dim"));
    CHECK(c->max_position_embeddings == (int64_t)qf_test_json_num(cfg, "max_position_embeddings"));
    CHECK(c->rope_theta == qf_test_json_num(cfg, "rope_theta"));
    CHECK(c->rms_norm_eps == qf_test_json_num(cfg, "rms_norm_eps"));
    CHECK(c->bos_token_id == 1 && c->eos_token_id == 2);
    CHECK(c->tie_word_embeddings == (int)qf_test_json_num(cfg, "tie_word_embeddings"));
    CHECK(c->attention_bias == (int)qf_test_json_num(cfg, "attention_bias"));
    CHECK(c->mlp_bias == 0);
    CHECK(c->rope_scaling.type == QF_ROPE_SCALING_NONE && c->sliding_window == 0);

    const cJSON *tensors = cJSON_GetObjectItemCaseSensitive(j, "tensors"), *e;
    CHECK(m->n_tensors == (size_t)cJSON_GetArraySize(tensors));
    cJSON_ArrayForEach(e, tensors) {
        const char *name = e->string;
        const qf_model_tensor *t = qf_model_find_tensor(m, name);
        CHECK_MSG(t != NULL, "tensor %s missing", name);
        if (!t) continue;
        CHECK(strcmp(t->source_name, qf_test_json_str(e, "source")) == 0);
        CHECK(strcmp(t->file, path) == 0);
        const char *type = qf_test_json_str(e, "type");
        CHECK_MSG(strcmp(qf_dtype_name(t->dtype), type) == 0, "%s: dtype %s, want %s", name,
                  qf_dtype_name(t->dtype), type);
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
        CHECK(t->ndim == cJSON_GetArraySize(shape));
        for (int k = 0; k < t->ndim; k++)
            CHECK_MSG(t->shape[k] == (int64_t)cJSON_GetArrayItem(shape, k)->valuedouble,
                      "%s dim %d", name, k);
        CHECK_MSG(t->rope_unpermute_heads == (int)qf_test_json_num(e, "heads"), "%s heads", name);

        float *w = malloc(t->numel * sizeof *w);
        CHECK_OK(qf_model_tensor_read_f32(t, w));
        double sum = 0, sumsq = 0;
        for (uint64_t i = 0; i < t->numel; i++) {
            sum += w[i];
            sumsq += (double)w[i] * w[i];
        }
        double tol = 1e-9 * qf_test_json_num(e, "sumabs") + 1e-12;
        CHECK_NEAR(sum, qf_test_json_num(e, "sum"), tol);
        CHECK_NEAR(sumsq, qf_test_json_num(e, "sumsq"),
                   1e-9 * qf_test_json_num(e, "sumsq") + 1e-12);
        size_t row = (size_t)t->shape[t->ndim - 1];
        if (cJSON_GetObjectItemCaseSensitive(e, "values")) {
            check_row(name, w, qf_test_json_str(e, "values"), (size_t)t->numel);
        } else {
            check_row(name, w, qf_test_json_str(e, "first_row"), row);
            check_row(name, w + t->numel - row, qf_test_json_str(e, "last_row"), row);
        }
        free(w);
    }
    cJSON_Delete(j);
    return m;
}

static void test_tiny_llama(void) {
    qf_model *m = check_tiny(TINY, QF_FIXTURES_DIR "/gguf/tiny_llama.json");
    if (!m) return;
    CHECK_META(m, "general.architecture", "llama");
    CHECK_META(m, "general.name", "tiny-llama");
    CHECK_META(m, "llama.block_count", "2");
    CHECK_META(m, "llama.attention.layer_norm_rms_epsilon", "1e-06");
    CHECK_META(m, "test.u8", "200");
    CHECK_META(m, "test.i8", "-100");
    CHECK_META(m, "test.i64", "-1099511627776");
    CHECK_META(m, "test.u64", "9223372036854775813");
    CHECK_META(m, "test.f32", "0.1");
    CHECK_META(m, "test.f64", "0.1");
    CHECK_META(m, "test.bool", "true");
    CHECK_META(m, "test.empty", "");
    CHECK_META(m, "test.arr_f64", "[1.5, -2.25]");
    CHECK_META(m, "test.arr_bool", "[true, false, true]");
    CHECK_META(m, "test.arr_u64", "[18446744073709551615, 0]");
    CHECK_META(m, "test.arr_i16", "[-5, 7]");
    CHECK_META(m, "tokenizer.ggml.tokens",
               "[\"t0\", \"t1\", \"t2\", \"t3\", \"t4\", \"t5\", \"t6\", \"t7\", \"t8\", \"t9\", "
               "\"t10\", \"t11\", \"t12\", \"t13\", \"q\\\"uote\", \"nl\\u000a\xc3\xa9\"]");
    CHECK_META(m, "tokenizer.ggml.scores",
               "[0, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12, -13, -14, -15]");
    qf_model_free(m);
}

/* ---- errors, on patched copies of the tiny file ------------------------------------ */

static uint8_t *tiny_bytes(size_t *n) {
    char *b;
    if (qf_file_read_all(TINY, 1u << 20, &b, n) != QF_STATUS_OK) {
        fprintf(stderr, "%s\n", qf_error_message());
        exit(1);
    }
    return (uint8_t *)b;
}

/* Replaces the first occurrence of the k bytes `from` by `to`. */
static void patch(uint8_t *b, size_t n, const char *from, const char *to, size_t k) {
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(b + i, from, k) == 0) {
            memcpy(b + i, to, k);
            return;
        }
    fprintf(stderr, "patch: '%s' not found\n", from);
    exit(1);
}

static void expect_open_fails(const char *from, const char *to, size_t k, qf_status code,
                              const char *needle) {
    size_t n;
    uint8_t *b = tiny_bytes(&n);
    patch(b, n, from, to, k);
    char dir[] = "/tmp/qf_test_gguf_model_XXXXXX", path[256], full[512];
    if (!mkdtemp(dir)) exit(1);
    snprintf(path, sizeof path, "%s/bad.gguf", dir);
    CHECK_OK(qf_file_write_atomic(path, b, n, 1));
    free(b);
    snprintf(full, sizeof full, "'%s': %s", path, needle);
    qf_model *m = NULL;
    CHECK_FAILS(qf_model_open(path, &m), code, full);
    CHECK(m == NULL);
    unlink(path);
    rmdir(dir);
}

/* from and to: string literals of the same length (they may hold NUL bytes) */
#define EXPECT_OPEN_FAILS(from, to, code, needle)                                                  \
    do {                                                                                           \
        _Static_assert(sizeof(from) == sizeof(to), "patch must keep the length");                  \
        expect_open_fails(from, to, sizeof(from) - 1, code, needle);                               \
    } while (0)

static void test_errors(void) {
    EXPECT_OPEN_FAILS("blk.1.ffn_up.weight", "blk.1.ffn_xx.weight", QF_STATUS_UNSUPPORTED,
                      "tensor 'blk.1.ffn_xx.weight' has no Hugging Face name for architecture "
                      "'llama' (layers 0..1)");
    EXPECT_OPEN_FAILS("blk.1.ffn_up.weight", "blk.7.ffn_up.weight", QF_STATUS_UNSUPPORTED,
                      "tensor 'blk.7.ffn_up.weight' has no Hugging Face name");
    EXPECT_OPEN_FAILS("blk.1.ffn_up.weight", "blk.1.ffn_up.weighs", QF_STATUS_UNSUPPORTED,
                      "tensor 'blk.1.ffn_up.weighs' has no Hugging Face name");
    EXPECT_OPEN_FAILS("blk.1.ffn_up.weight", "blk01.ffn_up.weight", QF_STATUS_UNSUPPORTED,
                      "tensor 'blk01.ffn_up.weight' has no Hugging Face name");
    EXPECT_OPEN_FAILS("llama.block_count", "llama.block_cnunt", QF_STATUS_FORMAT,
                      "required key 'llama.block_count' is missing");
    EXPECT_OPEN_FAILS("general.architecture", "general.architectura", QF_STATUS_FORMAT,
                      "required key 'general.architecture' is missing");
    /* the architecture value "llama" is the first string after its key */
    EXPECT_OPEN_FAILS("\x05\0\0\0\0\0\0\0llama", "\x05\0\0\0\0\0\0\0gemma", QF_STATUS_UNSUPPORTED,
                      "GGUF architecture 'gemma' is not supported");
    EXPECT_OPEN_FAILS("token_embd.weight", "rope_freqs.weight", QF_STATUS_UNSUPPORTED,
                      "tensor 'rope_freqs.weight' has type F16, expected F32");
    EXPECT_OPEN_FAILS("output_norm.weight", "output_norm.weig\0t", QF_STATUS_FORMAT,
                      "tensor name 'output_norm.weig...' contains a NUL byte");
    /* output_norm.weight: n_dims 1, ne 32, type F32 -> IQ4_NL (20), same block of 32 */
    EXPECT_OPEN_FAILS(
        "output_norm.weight\x01\0\0\0\x20\0\0\0\0\0\0\0\0\0\0\0",
        "output_norm.weight\x01\0\0\0\x20\0\0\0\0\0\0\0\x14\0\0\0", QF_STATUS_UNSUPPORTED,
        "tensor 'output_norm.weight' has ggml type IQ4_NL, which qforge cannot decode");
    EXPECT_OPEN_FAILS("blk.1.ffn_up.weight", "blk.0.ffn_up.weight", QF_STATUS_FORMAT,
                      "duplicate tensor name 'blk.0.ffn_up.weight'");
}

static void test_tiny_qwen2(void) {
    qf_model *m = check_tiny(QF_FIXTURES_DIR "/gguf/tiny_qwen2.gguf",
                             QF_FIXTURES_DIR "/gguf/tiny_qwen2.json");
    if (!m) return;
    CHECK_META(m, "general.architecture", "qwen2");
    CHECK_META(m, "qwen2.rope.freq_base", "1000000");
    CHECK(qf_model_find_tensor(m, "lm_head.weight") == NULL);
    const qf_model_tensor *t = qf_model_find_tensor(m, "model.layers.0.self_attn.k_proj.bias");
    CHECK(t && t->ndim == 1 && t->shape[0] == 16 && t->rope_unpermute_heads == 0);
    qf_model_free(m);
}

int main(void) {
    test_tiny_llama();
    test_tiny_qwen2();
    test_errors();
    TEST_END();
}
