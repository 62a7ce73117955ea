/* Hugging Face checkpoints through qf_model_open: tiny random checkpoints written by
 * transformers' save_pretrained (single file and sharded) load with every tensor's dtype,
 * shape and checksum as the safetensors package read them; bad checkpoints built from
 * them in a temp dir fail with the right status and a message naming the problem. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/dtype.h"
#include "formats/model.h"
#include "formats/model_build.h"
#include "formats/safetensors.h"
#include "test_hf_util.h"

/* sum and weighted sum (weights 1 + i % 13) of a tensor, as the fixture script does */
static int tensor_sums(const qf_model_tensor *t, double *sum, double *wsum, double *asum) {
    float *f = malloc((t->numel ? t->numel : 1) * sizeof *f);
    if (!f || qf_dtype_to_f32(t->dtype, t->data, (size_t)t->numel, f) != QF_STATUS_OK) {
        free(f);
        return -1;
    }
    *sum = *wsum = *asum = 0;
    for (uint64_t i = 0; i < t->numel; i++) {
        *sum += f[i];
        *wsum += f[i] * (double)(1 + i % 13);
        *asum += fabs(f[i]) * 13.0;
    }
    free(f);
    return 0;
}

static void check_checkpoint(const qf_model *m, const cJSON *exp, const char *what) {
    const cJSON *tensors = cJSON_GetObjectItemCaseSensitive(exp, "tensors");
    CHECK_MSG((int)m->n_tensors == cJSON_GetArraySize(tensors), "%s: %zu tensors, expected %d",
              what, m->n_tensors, cJSON_GetArraySize(tensors));
    hf_check_config(what, &m->config, cJSON_GetObjectItemCaseSensitive(exp, "config"));
    uint64_t params = 0;
    for (const cJSON *e = tensors ? tensors->child : NULL; e; e = e->next) {
        const qf_model_tensor *t = qf_model_find_tensor(m, e->string);
        CHECK_MSG(t != NULL, "%s: tensor %s not found", what, e->string);
        if (!t) continue;
        CHECK_MSG(strcmp(qf_dtype_name(t->dtype), hf_str(e, "dtype")) == 0, "%s: %s dtype %s",
                  what, e->string, qf_dtype_name(t->dtype));
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
        int same = t->ndim == cJSON_GetArraySize(shape);
        for (int d = 0; same && d < t->ndim; d++)
            same = (double)t->shape[d] == cJSON_GetArrayItem(shape, d)->valuedouble;
        CHECK_MSG(same, "%s: %s shape", what, e->string);
        const char *file = hf_str(e, "file");
        size_t fl = strlen(t->file), el = strlen(file);
        CHECK_MSG(fl > el && strcmp(t->file + fl - el, file) == 0 && t->file[fl - el - 1] == '/',
                  "%s: %s in %s, expected %s", what, e->string, t->file, file);
        CHECK(strcmp(t->source_name, t->name) == 0 && t->rope_unpermute_heads == 0);
        uint64_t nbytes = 0;
        CHECK(qf_dtype_nbytes(t->dtype, t->numel, &nbytes) == QF_STATUS_OK && nbytes == t->nbytes);
        double sum = 0, wsum = 0, asum = 0;
        CHECK(tensor_sums(t, &sum, &wsum, &asum) == 0);
        double tol = 1e-9 * (1.0 + asum);
        CHECK_MSG(fabs(sum - hf_num(e, "sum")) <= tol, "%s: %s sum %.17g vs %.17g", what,
                  e->string, sum, hf_num(e, "sum"));
        CHECK_MSG(fabs(wsum - hf_num(e, "wsum")) <= tol, "%s: %s wsum %.17g vs %.17g", what,
                  e->string, wsum, hf_num(e, "wsum"));
        params += t->numel;
    }
    CHECK(qf_model_param_count(m) == params);
    for (size_t i = 1; i < m->n_tensors; i++)
        CHECK(strcmp(m->tensors[i - 1].name, m->tensors[i].name) < 0);
    CHECK(qf_model_find_tensor(m, "model.norm.weigh") == NULL);
    CHECK(qf_model_find_tensor(m, "model.norm.weight2") == NULL);
    CHECK(qf_model_find_tensor(m, "") == NULL);
    CHECK_OK(qf_model_validate(m));
}

static const char *meta_find(const qf_model *m, const char *key) {
    for (size_t i = 0; i < m->n_meta; i++)
        if (strcmp(m->meta[i].key, key) == 0) return m->meta[i].value;
    return NULL;
}

static void test_good(void) {
    static const char *const dirs[] = {"tiny-llama", "tiny-mistral-sharded", "tiny-qwen2"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        char dir[512], exp_path[600];
        snprintf(dir, sizeof dir, "%s/%s", HF_FIXTURES, dirs[i]);
        snprintf(exp_path, sizeof exp_path, "%s/expected.json", dir);
        cJSON *exp = hf_read_json(exp_path);
        qf_model *m = NULL;
        CHECK_OK(qf_model_open(dir, &m));
        if (m && exp) {
            CHECK(m->source == QF_MODEL_SOURCE_HF_DIR && m->has_config);
            CHECK(strcmp(m->path, dir) == 0);
            check_checkpoint(m, exp, dirs[i]);
        }
        if (m && i == 1) { /* sharded: metadata comes from the index */
            const char *ts = meta_find(m, "total_size");
            CHECK(ts && strcmp(ts, "16032") == 0);
        }
        if (m && i == 2) { /* tied: no lm_head.weight in the file */
            CHECK(qf_model_find_tensor(m, "lm_head.weight") == NULL);
            CHECK(qf_model_find_tensor(m, "model.layers.1.self_attn.q_proj.bias") != NULL);
        }
        qf_model_free(m);
        cJSON_Delete(exp);
    }

    /* a bare safetensors file: no config, tensors and __metadata__ only */
    qf_model *m = NULL;
    CHECK_OK(qf_model_open(HF_FIXTURES "/tiny-llama/model.safetensors", &m));
    if (m) {
        CHECK(m->source == QF_MODEL_SOURCE_SAFETENSORS && !m->has_config);
        CHECK(m->n_tensors == 21);
        const char *fmt = meta_find(m, "format");
        CHECK(fmt && strcmp(fmt, "pt") == 0);
        const qf_model_tensor *t = qf_model_find_tensor(m, "model.layers.0.self_attn.k_proj.weight");
        CHECK(t && t->dtype == QF_DTYPE_BF16 && t->ndim == 2 && t->shape[0] == 16 &&
              t->shape[1] == 32 && t->numel == 512 && t->nbytes == 1024);
        CHECK_FAILS(qf_model_validate(m), QF_STATUS_INVALID_ARG, "no model config");
    }
    qf_model_free(m);
    qf_model_free(NULL);
}

/* ---- model_build.h storage helpers ------------------------------------------------- */

static int free_order[8], n_freed = 0;
static void record_free(void *h) { free_order[n_freed++] = (int)(intptr_t)h; }

static void test_build(void) {
    qf_model *m = calloc(1, sizeof *m);
    m->path = strdup("built");
    for (intptr_t i = 1; i <= 3; i++) CHECK_OK(qf_model_add_resource(m, (void *)i, record_free));
    const char *s = qf_model_strdup(m, "abcdef", 3);
    CHECK(s && strcmp(s, "abc") == 0);
    char big[100000];
    memset(big, 'x', sizeof big);
    const char *b = qf_model_strdup(m, big, sizeof big); /* larger than an arena block */
    CHECK(b && strlen(b) == sizeof big);
    /* many tensors: the name index grows; lookups work while building (unsorted) */
    for (int i = 999; i >= 0; i--) {
        char name[32];
        snprintf(name, sizeof name, "t.%d.weight", i);
        qf_model_tensor t = {.name = name, .dtype = QF_DTYPE_F32, .ndim = 1, .shape = {2},
                             .numel = 2, .nbytes = 8, .file = i % 2 ? "a.safetensors" : "b"};
        CHECK_OK(qf_model_add_tensor(m, &t));
    }
    CHECK(m->n_tensors == 1000);
    const qf_model_tensor *f = qf_model_find_tensor(m, "t.17.weight");
    CHECK(f && strcmp(f->file, "a.safetensors") == 0 && strcmp(f->source_name, "t.17.weight") == 0);
    CHECK(qf_model_find_tensor(m, "t.1000.weight") == NULL);
    qf_model_tensor dup = {.name = "t.17.weight", .file = "c.safetensors"};
    CHECK_FAILS(qf_model_add_tensor(m, &dup), QF_STATUS_FORMAT,
                "tensor 't.17.weight' appears twice: in 'a.safetensors' and in 'c.safetensors'");
    qf_model_tensor deep = {.name = "deep", .ndim = QF_MODEL_MAX_DIMS + 1, .file = "d"};
    CHECK_FAILS(qf_model_add_tensor(m, &deep), QF_STATUS_FORMAT, "dimensions");
    CHECK(m->n_tensors == 1000);
    CHECK_OK(qf_model_add_meta(m, "k", "v"));
    CHECK(m->n_meta == 1 && strcmp(m->meta[0].key, "k") == 0 && strcmp(m->meta[0].value, "v") == 0);
    CHECK(qf_model_param_count(m) == 2000);
    CHECK_FAILS(qf_model_validate(m), QF_STATUS_INVALID_ARG, "'built': no model config");
    qf_model_free(m);
    CHECK(n_freed == 3 && free_order[0] == 3 && free_order[1] == 2 && free_order[2] == 1);
}

/* ---- bad checkpoints --------------------------------------------------------------- */

static char tmp_root[] = "/tmp/qf_model_hf_XXXXXX";
static int case_no = 0;

/* A fresh copy of a fixture checkpoint in the temp dir (without expected.json). */
static void copy_fixture(const char *name, char *out, size_t cap) {
    snprintf(out, cap, "%s/case%d", tmp_root, case_no++);
    CHECK(mkdir(out, 0755) == 0);
    static const char *const files[] = {
        "config.json", "model.safetensors", "model.safetensors.index.json",
        "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
        "model-00003-of-00003.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char src[512], dst[512];
        snprintf(src, sizeof src, "%s/%s/%s", HF_FIXTURES, name, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", out, files[i]);
        if (qf_path_exists(src)) CHECK(hf_copy(src, dst) == 0);
    }
}

static void path_in(char *out, size_t cap, const char *dir, const char *file) {
    snprintf(out, cap, "%s/%s", dir, file);
}

/* Replaces the first occurrence of `from` with `to` in dir/file. */
static void edit_file(const char *dir, const char *file, const char *from, const char *to) {
    char p[512];
    path_in(p, sizeof p, dir, file);
    size_t n = 0;
    char *s = hf_read_text(p, &n);
    char *at = s ? strstr(s, from) : NULL;
    CHECK_MSG(at != NULL, "'%s' not in %s", from, p);
    if (!at) {
        free(s);
        return;
    }
    size_t fl = strlen(from), tl = strlen(to);
    char *o = malloc(n - fl + tl + 1);
    memcpy(o, s, (size_t)(at - s));
    memcpy(o + (at - s), to, tl);
    memcpy(o + (at - s) + tl, at + fl, n - (size_t)(at - s) - fl + 1);
    CHECK(hf_write_text(p, o, n - fl + tl) == 0);
    free(o);
    free(s);
}

/* Rewrites dir/file: `edit` may change the entries (drop: name[0] = 0) and append to
 * them (at most 4 more). */
typedef void (*st_edit_fn)(hf_st_entry *e, size_t *n);

static void rewrite_st(const char *dir, const char *file, st_edit_fn edit) {
    char src[512], dst[512];
    snprintf(src, sizeof src, "%s/%s.orig", dir, file);
    path_in(dst, sizeof dst, dir, file);
    CHECK(rename(dst, src) == 0);
    qf_st_file *f = NULL;
    CHECK_OK(qf_st_open(src, &f));
    if (!f) return;
    size_t n = qf_st_count(f);
    hf_st_entry *e = calloc(n + 4, sizeof *e);
    for (size_t i = 0; i < n; i++) {
        const qf_st_tensor *t = qf_st_get(f, i);
        snprintf(e[i].name, sizeof e[i].name, "%s", t->name);
        snprintf(e[i].dtype, sizeof e[i].dtype, "%s", qf_dtype_name(t->dtype));
        e[i].ndim = t->ndim;
        for (int d = 0; d < t->ndim; d++) e[i].shape[d] = t->shape[d];
        e[i].data = t->data;
        e[i].nbytes = (size_t)(t->end - t->begin);
    }
    edit(e, &n);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].name[0]) e[k++] = e[i];
    CHECK(hf_st_write(dst, e, k) == 0);
    free(e);
    qf_st_close(f);
    remove(src);
}

static hf_st_entry *entry(hf_st_entry *e, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i].name, name) == 0) return &e[i];
    CHECK_MSG(0, "no entry %s", name);
    return &e[n]; /* spare slot: harmless */
}

static void drop_up_proj(hf_st_entry *e, size_t *n) {
    entry(e, *n, "model.layers.1.mlp.up_proj.weight")->name[0] = '\0';
}
static void transpose_k_proj(hf_st_entry *e, size_t *n) {
    hf_st_entry *t = entry(e, *n, "model.layers.0.self_attn.k_proj.weight");
    int64_t d = t->shape[0];
    t->shape[0] = t->shape[1];
    t->shape[1] = d;
}
static void int_q_proj(hf_st_entry *e, size_t *n) {
    strcpy(entry(e, *n, "model.layers.1.self_attn.q_proj.weight")->dtype, "I16");
}
static void f64_norm(hf_st_entry *e, size_t *n) { /* F16 [16] -> F64 [16] */
    static const double zeros[16];
    hf_st_entry *t = entry(e, *n, "model.norm.weight");
    strcpy(t->dtype, "F64");
    t->data = zeros;
    t->nbytes = sizeof zeros;
}
static void add_unmapped(hf_st_entry *e, size_t *n) {
    e[*n] = e[0];
    snprintf(e[*n].name, sizeof e[*n].name, "extra.unmapped.weight");
    (*n)++;
}
static void add_duplicate_norm(hf_st_entry *e, size_t *n) {
    e[*n] = e[0];
    snprintf(e[*n].name, sizeof e[*n].name, "model.norm.weight");
    e[*n].ndim = 1;
    e[*n].shape[0] = (int64_t)(e[0].nbytes / 2);
    (*n)++;
}

#define OPEN_FAILS(dir, code, needle)                                        \
    do {                                                                     \
        qf_model *m_ = (qf_model *)1;                                        \
        CHECK_FAILS(qf_model_open(dir, &m_), code, needle);                  \
        CHECK(m_ == NULL);                                                   \
    } while (0)

static void test_bad(void) {
    CHECK(mkdtemp(tmp_root) != NULL);
    char d[256], p[512];

    OPEN_FAILS("/nonexistent/qforge/model", QF_STATUS_NOT_FOUND, "no such file");

    copy_fixture("tiny-llama", d, sizeof d);
    path_in(p, sizeof p, d, "config.json");
    remove(p);
    OPEN_FAILS(d, QF_STATUS_NOT_FOUND, "no config.json");

    copy_fixture("tiny-llama", d, sizeof d);
    edit_file(d, "config.json", "LlamaForCausalLM", "GemmaForCausalLM");
    OPEN_FAILS(d, QF_STATUS_UNSUPPORTED, "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM");

    copy_fixture("tiny-llama", d, sizeof d);
    edit_file(d, "config.json", "\"hidden_size\": 32,", "\"hidden_size\": 32");
    OPEN_FAILS(d, QF_STATUS_FORMAT, "config.json': invalid JSON");

    copy_fixture("tiny-llama", d, sizeof d);
    edit_file(d, "config.json", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": \"2\"");
    OPEN_FAILS(d, QF_STATUS_FORMAT, "field 'num_hidden_layers' must be an integer");

    copy_fixture("tiny-llama", d, sizeof d);
    edit_file(d, "config.json", "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3");
    OPEN_FAILS(d, QF_STATUS_FORMAT, "not divisible by num_key_value_heads 3");

    copy_fixture("tiny-llama", d, sizeof d);
    path_in(p, sizeof p, d, "model.safetensors");
    remove(p);
    OPEN_FAILS(d, QF_STATUS_NOT_FOUND, "no model.safetensors or model.safetensors.index.json");
    path_in(p, sizeof p, d, "pytorch_model.bin");
    CHECK(hf_write_text(p, "x", 1) == 0);
    OPEN_FAILS(d, QF_STATUS_UNSUPPORTED, "only safetensors");

    /* sharded: a missing shard, an entry its shard lacks, names escaping the directory */
    copy_fixture("tiny-mistral-sharded", d, sizeof d);
    path_in(p, sizeof p, d, "model-00002-of-00003.safetensors");
    remove(p);
    OPEN_FAILS(d, QF_STATUS_NOT_FOUND, "shard 'model-00002-of-00003.safetensors'");

    copy_fixture("tiny-mistral-sharded", d, sizeof d);
    edit_file(d, "model.safetensors.index.json",
              "\"model.norm.weight\": \"model-00002-of-00003.safetensors\"",
              "\"model.norm.weight\": \"model-00001-of-00003.safetensors\"");
    OPEN_FAILS(d, QF_STATUS_FORMAT,
               "tensor 'model.norm.weight' is mapped to shard 'model-00001-of-00003.safetensors'");

    copy_fixture("tiny-mistral-sharded", d, sizeof d);
    edit_file(d, "model.safetensors.index.json", "\"weight_map\": {",
              "\"weight_map\": {\"model.extra.weight\": \"model-00003-of-00003.safetensors\",");
    OPEN_FAILS(d, QF_STATUS_FORMAT, "tensor 'model.extra.weight' is mapped");

    copy_fixture("tiny-mistral-sharded", d, sizeof d);
    edit_file(d, "model.safetensors.index.json", "\"model-00003-of-00003.safetensors\"",
              "\"../case0/model.safetensors\"");
    OPEN_FAILS(d, QF_STATUS_FORMAT, "shard '../case0/model.safetensors' of tensor 'lm_head.weight'");

    copy_fixture("tiny-mistral-sharded", d, sizeof d);
    edit_file(d, "model.safetensors.index.json", "\"model-00003-of-00003.safetensors\"",
              "\"/etc/passwd\"");
    OPEN_FAILS(d, QF_STATUS_FORMAT, "not a plain file name");

    copy_fixture("tiny-mistral-sharded", d, sizeof d);
    edit_file(d, "model.safetensors.index.json", "\"model-00003-of-00003.safetensors\"",
              "\"..\"");
    OPEN_FAILS(d, QF_STATUS_FORMAT, "not a plain file name");

    copy_fixture("tiny-mistral-sharded", d, sizeof d);
    edit_file(d, "model.safetensors.index.json", "\"weight_map\"", "\"weight_mop\"");
    OPEN_FAILS(d, QF_STATUS_FORMAT, "no 'weight_map' object");

    copy_fixture("tiny-mistral-sharded", d, sizeof d);
    edit_file(d, "model.safetensors.index.json", "\"model-00003-of-00003.safetensors\"", "3");
    OPEN_FAILS(d, QF_STATUS_FORMAT, "weight_map entry 'lm_head.weight'");

    copy_fixture("tiny-mistral-sharded", d, sizeof d);
    edit_file(d, "model.safetensors.index.json", "{", "[");
    OPEN_FAILS(d, QF_STATUS_FORMAT, "invalid JSON");

    /* a tensor in a shard but not in weight_map is loaded (as transformers does) ... */
    copy_fixture("tiny-mistral-sharded", d, sizeof d);
    rewrite_st(d, "model-00003-of-00003.safetensors", add_unmapped);
    qf_model *m = NULL;
    CHECK_OK(qf_model_open(d, &m));
    CHECK(m && qf_model_find_tensor(m, "extra.unmapped.weight") != NULL);
    qf_model_free(m);
    /* ... so one in two shards is a duplicate */
    copy_fixture("tiny-mistral-sharded", d, sizeof d);
    rewrite_st(d, "model-00003-of-00003.safetensors", add_duplicate_norm);
    OPEN_FAILS(d, QF_STATUS_FORMAT, "tensor 'model.norm.weight' appears twice");

    /* tensors: missing, wrong shape, integer / unsupported float dtype */
    copy_fixture("tiny-llama", d, sizeof d);
    rewrite_st(d, "model.safetensors", drop_up_proj);
    OPEN_FAILS(d, QF_STATUS_NOT_FOUND,
               "required tensor 'model.layers.1.mlp.up_proj.weight' is missing");

    copy_fixture("tiny-llama", d, sizeof d);
    rewrite_st(d, "model.safetensors", transpose_k_proj);
    OPEN_FAILS(d, QF_STATUS_FORMAT, "model.safetensors': shape [32, 16], expected [16, 32]");
    OPEN_FAILS(d, QF_STATUS_FORMAT, "tensor 'model.layers.0.self_attn.k_proj.weight' in '");

    copy_fixture("tiny-llama", d, sizeof d);
    rewrite_st(d, "model.safetensors", int_q_proj);
    OPEN_FAILS(d, QF_STATUS_UNSUPPORTED,
               "tensor 'model.layers.1.self_attn.q_proj.weight' in '");
    OPEN_FAILS(d, QF_STATUS_UNSUPPORTED, "dtype I16 is not a supported weight type");

    copy_fixture("tiny-mistral-sharded", d, sizeof d);
    rewrite_st(d, "model-00002-of-00003.safetensors", f64_norm);
    OPEN_FAILS(d, QF_STATUS_UNSUPPORTED, "tensor 'model.norm.weight' in '");
    OPEN_FAILS(d, QF_STATUS_UNSUPPORTED, "dtype F64 is not a supported weight type (F16, BF16, F32)");

    /* lm_head is required when embeddings are not tied */
    copy_fixture("tiny-qwen2", d, sizeof d);
    edit_file(d, "config.json", "\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false");
    OPEN_FAILS(d, QF_STATUS_NOT_FOUND, "required tensor 'lm_head.weight' is missing");

    /* a corrupt safetensors file: the reader's error comes through */
    copy_fixture("tiny-llama", d, sizeof d);
    path_in(p, sizeof p, d, "model.safetensors");
    CHECK(hf_write_text(p, "\x08\0\0\0\0\0\0\0{}", 10) == 0);
    qf_model *bad = NULL;
    CHECK(qf_model_open(d, &bad) != QF_STATUS_OK && bad == NULL);

    hf_rm_rf(tmp_root);
}

int main(void) {
    test_build();
    test_good();
    test_bad();
    TEST_END();
}
