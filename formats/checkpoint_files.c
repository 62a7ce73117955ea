/* Tokenizer files and generation_config.json of a written checkpoint (checkpoint_files.h). */
#include "formats/checkpoint_files.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "formats/gguf_tokenizer.h"

#define QF_CKPT_PATH_MAX 4096
#define QF_CKPT_TOKENIZER_MAX (64u << 20)

static const char *const qf_ckpt_tokenizer_files[] = {
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
    "vocab.json",     "merges.txt",            "chat_template.jinja",     "generation_config.json",
};

static qf_status qf_ckpt_join(char *buf, const char *dir, const char *name) {
    const int n = snprintf(buf, QF_CKPT_PATH_MAX, "%s/%s", dir, name);
    QF_RETURN_IF(n < 0 || n >= QF_CKPT_PATH_MAX, QF_STATUS_INVALID_ARG, "path too long: %s/%s",
                 dir, name);
    return QF_STATUS_OK;
}

static qf_status qf_ckpt_write_text(const char *dir, const char *name, const char *text) {
    char p[QF_CKPT_PATH_MAX];
    QF_FORWARD(qf_ckpt_join(p, dir, name));
    return qf_file_write_atomic(p, text, strlen(text), 0);
}

qf_status qf_checkpoint_write_tokenizer(const qf_model *m, const char *dir) {
    if (m->source == QF_MODEL_SOURCE_GGUF) {
        char *tok = NULL, *cfg = NULL;
        qf_status st = qf_gguf_tokenizer_export_file(m->path, &tok, &cfg);
        if (st == QF_STATUS_OK) st = qf_ckpt_write_text(dir, "tokenizer.json", tok);
        if (st == QF_STATUS_OK) st = qf_ckpt_write_text(dir, "tokenizer_config.json", cfg);
        free(tok);
        free(cfg);
        return st;
    }
    if (m->source != QF_MODEL_SOURCE_HF_DIR) return QF_STATUS_OK;
    char src[QF_CKPT_PATH_MAX], dst[QF_CKPT_PATH_MAX];
    for (size_t i = 0; i < sizeof qf_ckpt_tokenizer_files / sizeof *qf_ckpt_tokenizer_files; i++) {
        QF_FORWARD(qf_ckpt_join(src, m->path, qf_ckpt_tokenizer_files[i]));
        if (!qf_path_exists(src)) continue;
        char *buf = NULL;
        size_t n = 0;
        QF_FORWARD(qf_file_read_all(src, QF_CKPT_TOKENIZER_MAX, &buf, &n));
        qf_status st = qf_ckpt_join(dst, dir, qf_ckpt_tokenizer_files[i]);
        if (st == QF_STATUS_OK) st = qf_file_write_atomic(dst, buf, n, 0);
        free(buf);
        QF_FORWARD(st);
    }
    return QF_STATUS_OK;
}

qf_status qf_checkpoint_write_generation_config(const qf_model_config *c, const char *dir) {
    char p[QF_CKPT_PATH_MAX];
    QF_FORWARD(qf_ckpt_join(p, dir, "generation_config.json"));
    if (qf_path_exists(p) || (c->bos_token_id < 0 && c->eos_token_id < 0)) return QF_STATUS_OK;
    cJSON *o = cJSON_CreateObject();
    QF_RETURN_IF(!o, QF_STATUS_NOMEM, "out of memory");
    if (c->bos_token_id >= 0) cJSON_AddNumberToObject(o, "bos_token_id", (double)c->bos_token_id);
    if (c->eos_token_id >= 0) cJSON_AddNumberToObject(o, "eos_token_id", (double)c->eos_token_id);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    QF_RETURN_IF(!s, QF_STATUS_NOMEM, "out of memory");
    qf_status st = qf_file_write_atomic(p, s, strlen(s), 0);
    free(s);
    return st;
}
