/* Finds and loads a checkpoint's tokenizer (model_tokenizer.h). */
#include "runtime/model_tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "formats/gguf_tokenizer.h"

static qf_status qf_load_from_gguf(const qf_model *m, qf_tokenizer **out) {
    char *tok = NULL, *cfg = NULL;
    qf_status st = qf_gguf_tokenizer_export_file(m->path, &tok, &cfg);
    if (st == QF_STATUS_OK) st = qf_tokenizer_load_json(tok, strlen(tok), cfg, m->path, out);
    free(tok);
    free(cfg);
    return st;
}

qf_status qf_model_load_tokenizer(const qf_model *m, qf_tokenizer **out) {
    *out = NULL;
    qf_status st;
    if (m->source == QF_MODEL_SOURCE_GGUF) {
        st = qf_load_from_gguf(m, out);
    } else if (m->source == QF_MODEL_SOURCE_HF_DIR) {
        char path[4096];
        int n = snprintf(path, sizeof path, "%s/tokenizer.json", m->path);
        QF_RETURN_IF(n < 0 || (size_t)n >= sizeof path, QF_STATUS_INVALID_ARG, "path too long: %s", m->path);
        QF_RETURN_IF(!qf_path_exists(path), QF_STATUS_NOT_FOUND,
                     "'%s': no tokenizer.json in the checkpoint directory", m->path);
        st = qf_tokenizer_load(m->path, out);
    } else {
        return qf_error_set(QF_STATUS_NOT_FOUND,
                            "'%s': a bare safetensors file has no tokenizer; use its directory", m->path);
    }
    QF_FORWARD(st);
    int64_t tv = qf_tokenizer_vocab_size(*out), mv = m->config.vocab_size;
    if (m->has_config && tv > mv) {
        qf_tokenizer_free(*out);
        *out = NULL;
        return qf_error_set(QF_STATUS_FORMAT,
                            "'%s': the tokenizer has %lld token ids but the model's vocabulary has %lld rows",
                            m->path, (long long)tv, (long long)mv);
    }
    return QF_STATUS_OK;
}
