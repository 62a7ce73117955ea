/* Hugging Face checkpoints as qf_model: a directory with config.json and either
 * model.safetensors or model.safetensors.index.json + shards, or a bare .safetensors
 * file. Tensors stay in the mapped files (nothing is copied).
 *
 * Sharded checkpoints: every shard named in weight_map is opened once; every weight_map
 * entry must exist in its shard. Tensors a shard holds but weight_map does not list are
 * registered too, as transformers loads every tensor of every listed shard; a tensor
 * found in two shards is an error. Shard names must be plain file names inside the
 * directory. Model metadata: the safetensors __metadata__ of a single file, the index's
 * "metadata" object of a sharded checkpoint. Quantized checkpoints: config.json
 * "quantization_config" (or quantize_config.json) is kept as JSON text. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "formats/hf_config.h"
#include "formats/model_build.h"
#include "formats/safetensors.h"

#define QF_HF_INDEX_MAX_BYTES (64u << 20) /* index files of the largest models are ~1 MB */
#define QF_HF_INDEX_MAX_ENTRIES 1000000   /* weight_map entries */
#define QF_HF_SHARD_NAME_MAX 255

_Static_assert(QF_ST_MAX_DIMS <= QF_MODEL_MAX_DIMS, "safetensors rank must fit qf_model");

static void qf_hf_close_st(void *f) { qf_st_close(f); }

/* "<dir>/<name>", malloc'd. */
static char *qf_hf_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* Opens a safetensors file and hands it to the model (closed by qf_model_free). */
static qf_status qf_hf_open_st(qf_model *m, const char *path, qf_st_file **out) {
    QF_FORWARD(qf_st_open(path, out));
    return qf_model_add_resource(m, *out, qf_hf_close_st);
}

static qf_status qf_hf_register_tensors(qf_model *m, const qf_st_file *f, const char *path) {
    for (size_t i = 0; i < qf_st_count(f); i++) {
        const qf_st_tensor *t = qf_st_get(f, i);
        QF_RETURN_IF(strlen(t->name) != t->name_len, QF_STATUS_FORMAT,
                     "'%s': a tensor name contains a NUL character", path);
        qf_model_tensor mt = {
            .name = t->name,
            .dtype = t->dtype,
            .ndim = t->ndim,
            .numel = t->numel,
            .nbytes = t->end - t->begin,
            .data = t->data,
            .file = path,
            .source_name = t->name,
        };
        for (int d = 0; d < t->ndim; d++) mt.shape[d] = t->shape[d];
        QF_FORWARD(qf_model_add_tensor(m, &mt));
    }
    return QF_STATUS_OK;
}

qf_status qf_model_open_safetensors(qf_model *m, const char *path) {
    m->source = QF_MODEL_SOURCE_SAFETENSORS;
    m->has_config = 0;
    qf_st_file *f = NULL;
    QF_FORWARD(qf_hf_open_st(m, path, &f));
    QF_FORWARD(qf_hf_register_tensors(m, f, path));
    for (size_t i = 0; i < qf_st_meta_count(f); i++) {
        const qf_st_meta *kv = qf_st_meta_get(f, i);
        QF_FORWARD(qf_model_add_meta(m, kv->key, kv->value));
    }
    return QF_STATUS_OK;
}

typedef struct qf_hf_shard {
    const char *name; /* as written in weight_map (owned by the parsed index) */
    qf_st_file *file;
} qf_hf_shard;

static int qf_hf_shard_cmp(const void *a, const void *b) {
    return strcmp(((const qf_hf_shard *)a)->name, ((const qf_hf_shard *)b)->name);
}

/* A shard must be a plain file name: no directory part, no "." or "..". */
static int qf_hf_shard_name_ok(const char *s) {
    size_t n = strlen(s);
    return n > 0 && n <= QF_HF_SHARD_NAME_MAX && !strchr(s, '/') && !strchr(s, '\\') &&
           strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static qf_status qf_hf_add_index_meta(qf_model *m, const cJSON *meta, const char *index) {
    if (!meta || cJSON_IsNull(meta)) return QF_STATUS_OK;
    QF_RETURN_IF(!cJSON_IsObject(meta), QF_STATUS_FORMAT,
                 "'%s': field 'metadata' must be an object", index);
    for (const cJSON *e = meta->child; e; e = e->next) {
        if (cJSON_IsString(e)) {
            QF_FORWARD(qf_model_add_meta(m, e->string, e->valuestring));
            continue;
        }
        char *text = cJSON_PrintUnformatted(e);
        QF_RETURN_IF(!text, QF_STATUS_NOMEM, "'%s': out of memory", index);
        qf_status st = qf_model_add_meta(m, e->string, text);
        cJSON_free(text);
        QF_FORWARD(st);
    }
    return QF_STATUS_OK;
}

/* Collects the distinct shard names of weight_map (validated), sorted. */
static qf_status qf_hf_collect_shards(const cJSON *map, const char *index, qf_hf_shard **out,
                                      size_t *n_out) {
    size_t n = 0;
    for (const cJSON *e = map->child; e; e = e->next) {
        QF_RETURN_IF(++n > QF_HF_INDEX_MAX_ENTRIES, QF_STATUS_FORMAT,
                     "'%s': weight_map has more than %d entries", index,
                     QF_HF_INDEX_MAX_ENTRIES);
        QF_RETURN_IF(!cJSON_IsString(e), QF_STATUS_FORMAT,
                     "'%s': weight_map entry '%s' must be a file name string", index, e->string);
        QF_RETURN_IF(!qf_hf_shard_name_ok(e->valuestring), QF_STATUS_FORMAT,
                     "'%s': shard '%s' of tensor '%s' is not a plain file name in the "
                     "checkpoint directory",
                     index, e->valuestring, e->string);
    }
    QF_RETURN_IF(n == 0, QF_STATUS_FORMAT, "'%s': weight_map is empty", index);
    qf_hf_shard *shards = calloc(n, sizeof *shards);
    QF_RETURN_IF(!shards, QF_STATUS_NOMEM, "'%s': out of memory", index);
    size_t i = 0;
    for (const cJSON *e = map->child; e; e = e->next) shards[i++].name = e->valuestring;
    qsort(shards, n, sizeof *shards, qf_hf_shard_cmp);
    size_t u = 0;
    for (i = 0; i < n; i++)
        if (u == 0 || strcmp(shards[u - 1].name, shards[i].name) != 0) shards[u++] = shards[i];
    *out = shards;
    *n_out = u;
    return QF_STATUS_OK;
}

static qf_status qf_hf_open_shards(qf_model *m, const char *dir, const char *index,
                                   qf_hf_shard *shards, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char *path = qf_hf_join(dir, shards[i].name);
        QF_RETURN_IF(!path, QF_STATUS_NOMEM, "'%s': out of memory", index);
        qf_status st = QF_STATUS_OK;
        if (!qf_path_exists(path))
            st = qf_error_set(QF_STATUS_NOT_FOUND,
                              "'%s': shard '%s' listed in weight_map does not exist", index,
                              shards[i].name);
        if (st == QF_STATUS_OK) st = qf_hf_open_st(m, path, &shards[i].file);
        if (st == QF_STATUS_OK) st = qf_hf_register_tensors(m, shards[i].file, path);
        free(path);
        QF_FORWARD(st);
    }
    return QF_STATUS_OK;
}

static qf_status qf_hf_check_weight_map(const cJSON *map, const char *index,
                                        const qf_hf_shard *shards, size_t n) {
    for (const cJSON *e = map->child; e; e = e->next) {
        qf_hf_shard key = {.name = e->valuestring};
        const qf_hf_shard *s = bsearch(&key, shards, n, sizeof *shards, qf_hf_shard_cmp);
        QF_RETURN_IF(!s || !qf_st_find(s->file, e->string, strlen(e->string)),
                     QF_STATUS_FORMAT,
                     "'%s': tensor '%s' is mapped to shard '%s', which does not contain it",
                     index, e->string, e->valuestring);
    }
    return QF_STATUS_OK;
}

static qf_status qf_hf_open_index(qf_model *m, const char *dir, const char *index) {
    char *text = NULL;
    size_t len = 0;
    QF_FORWARD(qf_file_read_all(index, QF_HF_INDEX_MAX_BYTES, &text, &len));
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    QF_RETURN_IF(!root, QF_STATUS_FORMAT, "'%s': invalid JSON", index);
    qf_status st = QF_STATUS_OK;
    qf_hf_shard *shards = NULL;
    size_t n = 0;
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(root) || !cJSON_IsObject(map))
        st = qf_error_set(QF_STATUS_FORMAT, "'%s': no 'weight_map' object", index);
    if (st == QF_STATUS_OK) st = qf_hf_collect_shards(map, index, &shards, &n);
    if (st == QF_STATUS_OK) st = qf_hf_open_shards(m, dir, index, shards, n);
    if (st == QF_STATUS_OK) st = qf_hf_check_weight_map(map, index, shards, n);
    if (st == QF_STATUS_OK)
        st = qf_hf_add_index_meta(m, cJSON_GetObjectItemCaseSensitive(root, "metadata"), index);
    free(shards);
    cJSON_Delete(root);
    return st;
}

/* Which weights file the directory has, in transformers' order of preference. */
static qf_status qf_hf_open_weights(qf_model *m, const char *dir) {
    char *single = qf_hf_join(dir, "model.safetensors");
    char *index = qf_hf_join(dir, "model.safetensors.index.json");
    char *bin = qf_hf_join(dir, "pytorch_model.bin");
    char *bin_index = qf_hf_join(dir, "pytorch_model.bin.index.json");
    qf_status st;
    if (!single || !index || !bin || !bin_index) {
        st = qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", dir);
    } else if (qf_path_exists(single)) {
        qf_st_file *f = NULL;
        st = qf_hf_open_st(m, single, &f);
        if (st == QF_STATUS_OK) st = qf_hf_register_tensors(m, f, single);
        for (size_t i = 0; st == QF_STATUS_OK && i < qf_st_meta_count(f); i++)
            st = qf_model_add_meta(m, qf_st_meta_get(f, i)->key, qf_st_meta_get(f, i)->value);
    } else if (qf_path_exists(index)) {
        st = qf_hf_open_index(m, dir, index);
    } else if (qf_path_exists(bin) || qf_path_exists(bin_index)) {
        st = qf_error_set(QF_STATUS_UNSUPPORTED,
                          "'%s': only safetensors weights are supported (found "
                          "pytorch_model.bin; re-save with safe_serialization=True)",
                          dir);
    } else {
        st = qf_error_set(QF_STATUS_NOT_FOUND,
                          "'%s': no model.safetensors or model.safetensors.index.json", dir);
    }
    free(single);
    free(index);
    free(bin);
    free(bin_index);
    return st;
}

/* The "quantization_config" object of config.json as JSON text into
 * m->quant_config_json, or, when config.json has none, the whole of quantize_config.json
 * (older AutoGPTQ checkpoints). Left NULL when neither exists. */
static qf_status qf_hf_read_quant_config(qf_model *m, const char *dir, const char *cfg_path) {
    char *text = NULL;
    size_t len = 0;
    QF_FORWARD(qf_file_read_all(cfg_path, QF_HF_CONFIG_MAX_BYTES, &text, &len));
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    QF_RETURN_IF(!root, QF_STATUS_FORMAT, "'%s': invalid JSON", cfg_path);
    const cJSON *qc = cJSON_GetObjectItemCaseSensitive(root, "quantization_config");
    qf_status st = QF_STATUS_OK;
    if (qc && !cJSON_IsNull(qc)) {
        if (!cJSON_IsObject(qc))
            st = qf_error_set(QF_STATUS_FORMAT, "'%s': quantization_config must be an object",
                              cfg_path);
        else if (!(m->quant_config_json = cJSON_PrintUnformatted(qc)))
            st = qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", cfg_path);
    }
    cJSON_Delete(root);
    if (st != QF_STATUS_OK || m->quant_config_json) return st;
    char *qpath = qf_hf_join(dir, "quantize_config.json");
    QF_RETURN_IF(!qpath, QF_STATUS_NOMEM, "'%s': out of memory", dir);
    if (qf_path_exists(qpath)) {
        st = qf_file_read_all(qpath, QF_HF_CONFIG_MAX_BYTES, &text, &len);
        cJSON *q = st == QF_STATUS_OK ? cJSON_ParseWithLength(text, len) : NULL;
        free(text);
        if (st == QF_STATUS_OK && !cJSON_IsObject(q))
            st = qf_error_set(QF_STATUS_FORMAT, "'%s': not a JSON object", qpath);
        if (st == QF_STATUS_OK && !(m->quant_config_json = cJSON_PrintUnformatted(q)))
            st = qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", qpath);
        cJSON_Delete(q);
    }
    free(qpath);
    return st;
}

qf_status qf_model_open_hf_dir(qf_model *m, const char *dir) {
    m->source = QF_MODEL_SOURCE_HF_DIR;
    char *cfg_path = qf_hf_join(dir, "config.json");
    QF_RETURN_IF(!cfg_path, QF_STATUS_NOMEM, "'%s': out of memory", dir);
    qf_status st = QF_STATUS_OK;
    if (!qf_path_exists(cfg_path))
        st = qf_error_set(QF_STATUS_NOT_FOUND, "'%s': no config.json in the checkpoint directory",
                          dir);
    if (st == QF_STATUS_OK) st = qf_hf_config_load(cfg_path, &m->config);
    if (st == QF_STATUS_OK) st = qf_hf_read_quant_config(m, dir, cfg_path);
    free(cfg_path);
    QF_FORWARD(st);
    m->has_config = 1;
    return qf_hf_open_weights(m, dir);
}
