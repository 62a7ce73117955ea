/* `qforge convert` on the real SmolLM2 GGUF against transformers' reference
 * (tests/fixtures/convert/smollm2_reference.json, made by make_convert_fixtures.py):
 * every tensor bit-identical in F32, config fields equal, BF16 output equal to rounding
 * the reference; the exported tokenizer.json, loaded by HF `tokenizers`, gives llama.cpp's
 * ids (check_tokenizer.py + make_tokenizer_fixtures.py); and the failure paths leave
 * nothing behind. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/sha256.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "test.h"

#define GGUF_PATH QF_CACHE_DIR "/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"

static cJSON *load_json(const char *path) {
    char *text = NULL;
    if (qf_file_read_all(path, 64u << 20, &text, NULL) != QF_STATUS_OK) return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    return j;
}

static int dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

static void check_f32_tensors(const char *st_path, const cJSON *ref) {
    qf_st_file *f = NULL;
    CHECK_OK(qf_st_open(st_path, &f));
    if (!f) return;
    const cJSON *tensors = cJSON_GetObjectItem(ref, "tensors");
    CHECK_MSG((size_t)cJSON_GetArraySize(tensors) == qf_st_count(f), "%d reference tensors, %zu written",
              cJSON_GetArraySize(tensors), qf_st_count(f));
    int identical = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tensors) {
        const qf_st_tensor *our = qf_st_find(f, t->string, strlen(t->string));
        CHECK_MSG(our != NULL, "tensor %s missing from the output", t->string);
        if (!our) continue;
        CHECK(our->dtype == QF_DTYPE_F32);
        const cJSON *shape = cJSON_GetObjectItem(t, "shape");
        CHECK(our->ndim == cJSON_GetArraySize(shape));
        for (int d = 0; d < our->ndim && d < cJSON_GetArraySize(shape); d++)
            CHECK(our->shape[d] == (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble);
        char sha[65];
        qf_sha256_hex(our->data, (size_t)(our->end - our->begin), sha);
        int same = strcmp(sha, cJSON_GetObjectItem(t, "sha256")->valuestring) == 0;
        CHECK_MSG(same, "tensor %s differs from transformers' (sha256 %s)", t->string, sha);
        identical += same;
    }
    printf("F32: %d/%d tensors bit-identical to transformers\n", identical, cJSON_GetArraySize(tensors));
    qf_st_close(f);
}

static void check_bf16_samples(const char *st_path, const cJSON *ref) {
    qf_st_file *f = NULL;
    CHECK_OK(qf_st_open(st_path, &f));
    if (!f) return;
    const cJSON *t;
    int n = 0;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(ref, "tensors")) {
        const qf_st_tensor *our = qf_st_find(f, t->string, strlen(t->string));
        CHECK(our && our->dtype == QF_DTYPE_BF16);
        if (!our) continue;
        const cJSON *s;
        cJSON_ArrayForEach(s, cJSON_GetObjectItem(t, "samples")) {
            size_t idx = (size_t)cJSON_GetArrayItem(s, 0)->valuedouble;
            float want = (float)cJSON_GetArrayItem(s, 1)->valuedouble;
            uint16_t got;
            memcpy(&got, (const uint8_t *)our->data + 2 * idx, 2);
            CHECK_MSG(got == qf_fp32_to_bf16(want), "%s[%zu]: bf16 %04x, want bf16(%g)", t->string,
                      idx, got, want);
            n++;
        }
    }
    printf("BF16: %d sampled values equal bf16(reference)\n", n);
    qf_st_close(f);
}

static void check_config(const char *path, const cJSON *ref) {
    qf_model_config c;
    CHECK_OK(qf_hf_config_load(path, &c));
    const cJSON *r = cJSON_GetObjectItem(ref, "config");
#define FIELD(name, val) CHECK_NEAR((double)(val), cJSON_GetObjectItem(r, name)->valuedouble, 0)
    CHECK(c.arch && strcmp(c.arch->hf_class, "LlamaForCausalLM") == 0);
    FIELD("vocab_size", c.vocab_size);
    FIELD("hidden_size", c.hidden_size);
    FIELD("intermediate_size", c.intermediate_size);
    FIELD("num_hidden_layers", c.num_hidden_layers);
    FIELD("num_attention_heads", c.num_attention_heads);
    FIELD("num_key_value_heads", c.num_key_value_heads);
    FIELD("head_dim", c.head_dim);
    FIELD("max_position_embeddings", c.max_position_embeddings);
    FIELD("rms_norm_eps", c.rms_norm_eps);
    FIELD("rope_theta", c.rope_theta);
    FIELD("bos_token_id", c.bos_token_id);
    FIELD("eos_token_id", c.eos_token_id);
#undef FIELD
    CHECK(c.tie_word_embeddings == cJSON_IsTrue(cJSON_GetObjectItem(r, "tie_word_embeddings")));
}

int main(void) {
    if (!qf_path_exists(GGUF_PATH)) {
        fprintf(stderr, "missing %s: run scripts/get-model.sh first\n", GGUF_PATH);
        return 1;
    }
    cJSON *ref = load_json(QF_FIXTURES_DIR "/convert/smollm2_reference.json");
    CHECK(ref != NULL);
    if (!ref) TEST_END();
    char sha[65];
    CHECK_OK(qf_sha256_file(GGUF_PATH, sha));
    CHECK(strcmp(sha, cJSON_GetObjectItem(ref, "gguf_sha256")->valuestring) == 0);

    char tmp[] = "/tmp/qf_test_convert.XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    char cmd[8192], path[4096], *out = NULL;

    /* F32: bit-identical to transformers */
    snprintf(cmd, sizeof cmd, "%s convert %s --to hf %s/f32", QF_QFORGE_BIN, GGUF_PATH, tmp);
    int rc = qf_test_run(cmd, &out);
    CHECK_MSG(rc == 0, "convert exited %d: %s", rc, out ? out : "");
    free(out);
    snprintf(path, sizeof path, "%s/f32/model.safetensors", tmp);
    check_f32_tensors(path, ref);
    snprintf(path, sizeof path, "%s/f32/config.json", tmp);
    check_config(path, ref);
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json",
                                        "generation_config.json"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/f32/%s", tmp, files[i]);
        CHECK_MSG(qf_path_exists(path), "%s missing", path);
    }
    /* tokenizer.json through HF tokenizers == llama.cpp's ids on the same GGUF */
    snprintf(cmd, sizeof cmd, "%s %s/../check_tokenizer.py %s/f32 %s/tokenizer/smollm2_llamacpp_ids.json",
             QF_TEST_PYTHON, QF_FIXTURES_DIR, tmp, QF_FIXTURES_DIR);
    rc = qf_test_run(cmd, &out);
    CHECK_MSG(rc == 0, "tokenizer check exited %d:\n%s", rc, out ? out : "");
    if (out) printf("tokenizer vs llama.cpp: %s", out);
    free(out);

    /* BF16: reference values rounded */
    snprintf(cmd, sizeof cmd, "%s convert %s --to hf %s/bf16 --dtype bf16", QF_QFORGE_BIN, GGUF_PATH, tmp);
    rc = qf_test_run(cmd, &out);
    CHECK_MSG(rc == 0, "convert --dtype bf16 exited %d: %s", rc, out ? out : "");
    free(out);
    snprintf(path, sizeof path, "%s/bf16/model.safetensors", tmp);
    check_bf16_samples(path, ref);

    /* Existing output: refused, untouched */
    char before[65], after[65];
    snprintf(path, sizeof path, "%s/f32/model.safetensors", tmp);
    CHECK_OK(qf_sha256_file(path, before));
    snprintf(cmd, sizeof cmd, "%s convert %s --to hf %s/f32", QF_QFORGE_BIN, GGUF_PATH, tmp);
    rc = qf_test_run(cmd, &out);
    CHECK_MSG(rc == 1 && out && strstr(out, "already exists"), "rc %d: %s", rc, out ? out : "");
    free(out);
    CHECK_OK(qf_sha256_file(path, after));
    CHECK(strcmp(before, after) == 0);

    /* Truncated GGUF: clear error, no output, no temp dir left */
    qf_mapped_file m;
    CHECK_OK(qf_file_map(GGUF_PATH, &m));
    snprintf(path, sizeof path, "%s/truncated.gguf", tmp);
    CHECK_OK(qf_file_write_atomic(path, m.data, m.size / 2, 0));
    qf_file_unmap(&m);
    int entries = dir_entries(tmp);
    snprintf(cmd, sizeof cmd, "%s convert %s --to hf %s/bad", QF_QFORGE_BIN, path, tmp);
    rc = qf_test_run(cmd, &out);
    CHECK_MSG(rc == 1 && out && strstr(out, "truncated.gguf"), "rc %d: %s", rc, out ? out : "");
    free(out);
    CHECK(dir_entries(tmp) == entries);

    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);
    cJSON_Delete(ref);
    TEST_END();
}
