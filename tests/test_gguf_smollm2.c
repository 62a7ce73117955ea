/* Real-model test (label "model"): SmolLM2-135M-Instruct.Q4_1.gguf from scripts/get-model.sh
 * against what gguf-py 0.19.0 reports about it (fixtures/gguf/smollm2_q4_1.json):
 *  - header, every KV pair (type, value; arrays: length and sampled elements) and every
 *    tensor info (type, dims, offset, bytes);
 *  - dequantized rows of tensors of each ggml type in the file (F32, Q4_1, Q8_0), bit
 *    for bit (0 ulp), and per-tensor sum / sum of squares over every element
 *    (relative tolerance 1e-9: only the summation order differs);
 *  - qf_model_open: config, all 272 tensors under their HF names with HF shapes, q/k rows
 *    in HF order (against transformers' reverse_permute_weights), metadata text.
 * A missing model is a failure, not a skip. */
#include "formats/gguf.h"
#include "formats/model.h"
#include "tests/test_gguf_util.h"

static void check_kv(const qf_gguf_file *g, const char *key, const cJSON *want) {
    const qf_gguf_kv *kv = qf_gguf_kv_find(g, key);
    CHECK_MSG(kv != NULL, "key %s missing", key);
    if (!kv) return;
    const char *type = qf_test_json_str(want, "type");
    if (strcmp(type, "array") == 0) {
        CHECK_MSG(kv->type == QF_GGUF_TYPE_ARRAY, "%s: not an array", key);
        CHECK_MSG(strcmp(qf_gguf_type_name(kv->arr_type), qf_test_json_str(want, "elem")) == 0,
                  "%s: element type %s", key, qf_gguf_type_name(kv->arr_type));
        CHECK_MSG(kv->arr_len == (uint64_t)qf_test_json_num(want, "len"), "%s: length", key);
        const cJSON *s;
        cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(want, "samples")) {
            uint64_t i = strtoull(s->string, NULL, 10);
            if (i >= kv->arr_len) continue;
            if (kv->arr_type == QF_GGUF_TYPE_STRING) {
                qf_gguf_str v = kv->arr_strs[i];
                CHECK_MSG(cJSON_IsString(s) && strlen(s->valuestring) == v.len &&
                              memcmp(s->valuestring, v.ptr, (size_t)v.len) == 0,
                          "%s[%llu]", key, (unsigned long long)i);
            } else {
                double d = NAN;
                CHECK_OK(qf_gguf_arr_get_f64(kv, i, &d));
                CHECK_MSG(d == s->valuedouble, "%s[%llu] = %g", key, (unsigned long long)i, d);
            }
        }
        return;
    }
    CHECK_MSG(strcmp(qf_gguf_type_name(kv->type), type) == 0, "%s: type %s, want %s", key,
              qf_gguf_type_name(kv->type), type);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(want, "value");
    if (kv->type == QF_GGUF_TYPE_STRING) {
        CHECK_MSG(cJSON_IsString(v) && strlen(v->valuestring) == kv->v.str.len &&
                      memcmp(v->valuestring, kv->v.str.ptr, (size_t)kv->v.str.len) == 0,
                  "%s: string value", key);
    } else if (kv->type == QF_GGUF_TYPE_BOOL) {
        CHECK_MSG(cJSON_IsBool(v) && kv->v.b == cJSON_IsTrue(v), "%s: bool value", key);
    } else {
        double d = NAN;
        CHECK_OK(qf_gguf_get_f64(g, key, &d));
        CHECK_MSG(d == v->valuedouble, "%s = %.17g, want %.17g", key, d, v->valuedouble);
    }
}

static void test_reader(const qf_gguf_file *g, const cJSON *j) {
    CHECK(qf_gguf_version(g) == (uint32_t)qf_test_json_num(j, "version"));
    CHECK(qf_gguf_tensor_count(g) == (size_t)qf_test_json_num(j, "tensor_count"));
    CHECK(qf_gguf_kv_count(g) == (size_t)qf_test_json_num(j, "kv_count"));
    CHECK(qf_gguf_alignment(g) == (uint64_t)qf_test_json_num(j, "alignment"));
    CHECK(qf_gguf_data_offset(g) == (uint64_t)qf_test_json_num(j, "data_offset"));
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "kv")) check_kv(g, e->string, e);
    size_t i = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "tensors")) {
        /* [name, ggml type, ne (innermost first), offset, bytes], in file order */
        const qf_gguf_tensor *t = qf_gguf_tensor_get(g, i++);
        const char *name = cJSON_GetArrayItem(e, 0)->valuestring;
        CHECK_MSG(t && t->name.len == strlen(name) && memcmp(t->name.ptr, name, t->name.len) == 0,
                  "tensor %zu is not %s", i - 1, name);
        if (!t) continue;
        CHECK(t->ggml_type == (uint32_t)cJSON_GetArrayItem(e, 1)->valuedouble);
        const cJSON *ne = cJSON_GetArrayItem(e, 2);
        CHECK(t->ndim == cJSON_GetArraySize(ne));
        for (int d = 0; d < t->ndim; d++)
            CHECK(t->ne[d] == (int64_t)cJSON_GetArrayItem(ne, d)->valuedouble);
        CHECK(t->offset == (uint64_t)cJSON_GetArrayItem(e, 3)->valuedouble);
        CHECK(t->nbytes == (uint64_t)cJSON_GetArrayItem(e, 4)->valuedouble);
    }
}

static void test_dequant(const qf_gguf_file *g, const cJSON *j) {
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(j, "samples")) {
        const char *name = qf_test_json_str(s, "name");
        const qf_gguf_tensor *t = qf_gguf_tensor_find(g, name);
        CHECK_MSG(t != NULL, "tensor %s missing", name);
        if (!t) continue;
        CHECK(strcmp(qf_gguf_ggml_type_name(t->ggml_type), qf_test_json_str(s, "type")) == 0);
        float *w = malloc(t->numel * sizeof *w);
        CHECK_OK(qf_gguf_dequant_ref(t->dtype, t->data, (size_t)t->numel, w));
        double sum = 0, sumsq = 0;
        for (uint64_t i = 0; i < t->numel; i++) {
            sum += w[i];
            sumsq += (double)w[i] * w[i];
        }
        CHECK_NEAR(sum, qf_test_json_num(s, "sum"), 1e-9 * qf_test_json_num(s, "sumabs"));
        CHECK_NEAR(sumsq, qf_test_json_num(s, "sumsq"), 1e-9 * qf_test_json_num(s, "sumsq"));
        size_t prefix = (size_t)qf_test_json_num(s, "prefix");
        const cJSON *rows = cJSON_GetObjectItemCaseSensitive(s, "rows");
        const cJSON *vals = cJSON_GetObjectItemCaseSensitive(s, "values");
        for (int r = 0; r < cJSON_GetArraySize(rows); r++) {
            size_t row = (size_t)cJSON_GetArrayItem(rows, r)->valuedouble;
            float *want;
            size_t n = qf_test_unhex_f32(cJSON_GetArrayItem(vals, r)->valuestring, &want);
            size_t len = (size_t)t->ne[0] < prefix ? (size_t)t->ne[0] : prefix;
            CHECK(n == len);
            char what[160];
            snprintf(what, sizeof what, "%s row %zu", name, row);
            CHECK_MSG(qf_test_bits_diff(what, w + row * (size_t)t->ne[0], want, n) == 0,
                      "%s differs from gguf-py", what);
            free(want);
        }
        free(w);
    }
}

static const char *meta_get(const qf_model *m, const char *key) {
    for (size_t i = 0; i < m->n_meta; i++)
        if (strcmp(m->meta[i].key, key) == 0) return m->meta[i].value;
    return "(missing)";
}

static void test_model(const cJSON *j) {
    qf_model *m = NULL;
    CHECK_OK(qf_model_open(QF_TEST_SMOLLM2_GGUF, &m));
    if (!m) return;
    const qf_model_config *c = &m->config;
    CHECK(c->arch && strcmp(c->arch->hf_class, "LlamaForCausalLM") == 0);
    CHECK(c->vocab_size == 49152 && c->hidden_size == 576 && c->intermediate_size == 1536);
    CHECK(c->num_hidden_layers == 30 && c->num_attention_heads == 9 && c->num_key_value_heads == 3);
    CHECK(c->head_dim == 64 && c->max_position_embeddings == 8192);
    CHECK(c->rope_theta == 100000.0 && c->rms_norm_eps == (double)1e-5f);
    CHECK(c->bos_token_id == 1 && c->eos_token_id == 2 && c->tie_word_embeddings == 1);
    CHECK(c->rope_scaling.type == QF_ROPE_SCALING_NONE);

    /* every tensor under its HF name, HF shape = ggml dims reversed */
    CHECK(m->n_tensors == 272);
    const cJSON *e;
    size_t mapped = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const qf_model_tensor *t = &m->tensors[i];
        CHECK_MSG(strncmp(t->name, "model.", 6) == 0, "unexpected name %s", t->name);
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "tensors")) {
            if (strcmp(cJSON_GetArrayItem(e, 0)->valuestring, t->source_name) != 0) continue;
            const cJSON *ne = cJSON_GetArrayItem(e, 2);
            int nd = cJSON_GetArraySize(ne);
            int ok = t->ndim == nd;
            for (int d = 0; ok && d < nd; d++)
                ok = t->shape[d] == (int64_t)cJSON_GetArrayItem(ne, nd - 1 - d)->valuedouble;
            CHECK_MSG(ok, "%s: shape", t->name);
            mapped++;
        }
    }
    CHECK(mapped == 272);
    const qf_model_tensor *t = qf_model_find_tensor(m, "model.embed_tokens.weight");
    CHECK(t && t->dtype == QF_DTYPE_Q8_0 && t->shape[0] == 49152 && t->shape[1] == 576 &&
          strcmp(t->source_name, "token_embd.weight") == 0);
    CHECK(qf_model_find_tensor(m, "lm_head.weight") == NULL);
    t = qf_model_find_tensor(m, "model.layers.29.mlp.down_proj.weight");
    CHECK(t && t->dtype == QF_DTYPE_Q4_1 && t->shape[0] == 576 && t->shape[1] == 1536 &&
          t->rope_unpermute_heads == 0);
    t = qf_model_find_tensor(m, "model.norm.weight");
    CHECK(t && t->dtype == QF_DTYPE_F32 && t->ndim == 1 && t->shape[0] == 576);

    /* q/k rows in HF order */
    const cJSON *u;
    cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(j, "unpermute")) {
        const char *hf = qf_test_json_str(u, "hf_name");
        t = qf_model_find_tensor(m, hf);
        CHECK_MSG(t != NULL, "%s missing", hf);
        if (!t) continue;
        CHECK(t->rope_unpermute_heads == (int)qf_test_json_num(u, "heads"));
        float *w = malloc(t->numel * sizeof *w);
        CHECK_OK(qf_model_tensor_read_f32(t, w));
        const cJSON *rows = cJSON_GetObjectItemCaseSensitive(u, "rows");
        const cJSON *vals = cJSON_GetObjectItemCaseSensitive(u, "values");
        for (int r = 0; r < cJSON_GetArraySize(rows); r++) {
            size_t row = (size_t)cJSON_GetArrayItem(rows, r)->valuedouble;
            float *want;
            size_t n = qf_test_unhex_f32(cJSON_GetArrayItem(vals, r)->valuestring, &want);
            char what[160];
            snprintf(what, sizeof what, "%s HF row %zu", hf, row);
            CHECK_MSG(qf_test_bits_diff(what, w + row * (size_t)t->shape[1], want, n) == 0,
                      "%s differs from transformers' reverse_permute_weights", what);
            free(want);
        }
        free(w);
    }

    CHECK(m->n_meta == 33);
    CHECK(strcmp(meta_get(m, "tokenizer.ggml.tokens"), "[49152 x string]") == 0);
    CHECK(strcmp(meta_get(m, "tokenizer.ggml.token_type"), "[49152 x int32]") == 0);
    CHECK(strcmp(meta_get(m, "tokenizer.ggml.pre"), "smollm") == 0);
    CHECK(strcmp(meta_get(m, "general.languages"), "[\"en\"]") == 0);
    CHECK(strcmp(meta_get(m, "llama.rope.freq_base"), "100000") == 0);
    CHECK(strcmp(meta_get(m, "tokenizer.ggml.add_bos_token"), "false") == 0);
    qf_model_free(m);
}

int main(void) {
    if (!qf_path_exists(QF_TEST_SMOLLM2_GGUF)) {
        fprintf(stderr, "FAIL: %s is missing: run scripts/get-model.sh\n", QF_TEST_SMOLLM2_GGUF);
        return 1;
    }
    cJSON *j = qf_test_load_json(QF_FIXTURES_DIR "/gguf/smollm2_q4_1.json");
    qf_gguf_file *g = NULL;
    CHECK_OK(qf_gguf_open(QF_TEST_SMOLLM2_GGUF, &g));
    if (g) {
        test_reader(g, j);
        test_dequant(g, j);
        qf_gguf_close(g);
    }
    test_model(j);
    cJSON_Delete(j);
    TEST_END();
}
