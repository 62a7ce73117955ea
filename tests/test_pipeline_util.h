/* Test helper: writes a small random Llama checkpoint (F32) that uses a real tokenizer
 * (the shared llama2 tokenizer.json, vocabulary 32000) so the calibration path can run:
 * config.json + model.safetensors + tokenizer files. Deterministic for a given seed. */
#ifndef QF_TEST_PIPELINE_UTIL_H
#define QF_TEST_PIPELINE_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "core/fileio.h"
#include "formats/hf_config.h"
#include "formats/model.h"
#include "formats/safetensors.h"

static qf_status qf_test_copy_file(const char *src, const char *dst) {
    char *buf = NULL;
    size_t n = 0;
    QF_FORWARD(qf_file_read_all(src, 64u << 20, &buf, &n));
    qf_status st = qf_file_write_atomic(dst, buf, n, 1);
    free(buf);
    return st;
}

/* A (layers)-layer model, hidden `hidden`, 4 heads of hidden/4, kv_heads kv heads,
 * intermediate 1.5 hidden. outliers: every 8th channel of the norm weights is 8x larger
 * (activation outlier channels, the case AWQ is for). */
static qf_status qf_test_make_model_kv(const char *dir, int layers, int64_t hidden,
                                       int kv_heads, int outliers, uint32_t seed) {
    char json[1024], path[1024];
    snprintf(json, sizeof json,
             "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\","
             "\"hidden_size\":%lld,\"intermediate_size\":%lld,\"num_hidden_layers\":%d,"
             "\"num_attention_heads\":4,\"num_key_value_heads\":%d,\"head_dim\":%lld,"
             "\"vocab_size\":32000,\"max_position_embeddings\":256,\"rms_norm_eps\":1e-5,"
             "\"rope_theta\":10000.0,\"tie_word_embeddings\":false,\"bos_token_id\":1,"
             "\"eos_token_id\":2,\"torch_dtype\":\"float32\"}",
             (long long)hidden, (long long)(hidden * 3 / 2), layers, kv_heads,
             (long long)(hidden / 4));
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/config.json", dir);
    QF_FORWARD(qf_file_write_atomic(path, json, strlen(json), 1));
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    QF_FORWARD(qf_test_copy_file(QF_SHARED_DIR "/tokenizers/llama2/tokenizer.json", path));
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    QF_FORWARD(qf_test_copy_file(QF_SHARED_DIR "/tokenizers/llama2/tokenizer_config.json", path));
    qf_model_config cfg;
    QF_FORWARD(qf_hf_config_parse(json, strlen(json), "config.json", &cfg));
    qf_tensor_spec *specs = NULL;
    size_t n = 0;
    QF_FORWARD(qf_arch_tensor_specs(&cfg, &specs, &n));
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    qf_st_writer *w = NULL;
    qf_status st = qf_st_writer_open(path, 1, &w);
    for (size_t i = 0; i < n && st == QF_STATUS_OK; i++)
        st = qf_st_writer_declare(w, specs[i].name, QF_DTYPE_F32, specs[i].ndim, specs[i].shape);
    if (st == QF_STATUS_OK) st = qf_st_writer_write_header(w);
    uint32_t r = seed * 2654435761u + 1;
    for (size_t i = 0; i < n && st == QF_STATUS_OK; i++) {
        const qf_tensor_spec *s = &specs[i];
        size_t cnt = (size_t)s->shape[0] * (size_t)(s->ndim == 2 ? s->shape[1] : 1);
        float *x = malloc(cnt * sizeof *x);
        const int norm = s->ndim == 1;
        for (size_t k = 0; k < cnt; k++) {
            r = r * 1664525u + 1013904223u;
            const float u = (float)(r >> 8) / (float)(1u << 24) - 0.5f;
            x[k] = norm ? 1.0f + 0.2f * u : 0.25f * u;
            if (norm && outliers && k % 8 == 0) x[k] *= 8.0f;
        }
        st = qf_st_writer_write(w, s->name, x, cnt * sizeof *x);
        free(x);
    }
    free(specs);
    if (st != QF_STATUS_OK) {
        if (w) qf_st_writer_abort(w);
        return st;
    }
    return qf_st_writer_finish(w);
}

/* hidden/4-wide heads, 2 kv heads, no outliers. */
static inline qf_status qf_test_make_model(const char *dir, int layers, int64_t hidden,
                                           uint32_t seed) {
    return qf_test_make_model_kv(dir, layers, hidden, 2, 0, seed);
}

/* Tensor `name` of m as F32 (malloc'ed), or NULL (missing / unreadable). */
static inline float *qf_test_read_tensor(const qf_model *m, const char *name) {
    const qf_model_tensor *t = qf_model_find_tensor(m, name);
    float *v = t ? malloc(t->numel * sizeof *v) : NULL;
    if (v && qf_model_tensor_read_f32(t, v) != QF_STATUS_OK) {
        free(v);
        v = NULL;
    }
    return v;
}

/* Layer 0's attention input for every token of the calibration windows that
 * `--save-calib` wrote to calib: rmsnorm(embedding) * input_layernorm, computed in double,
 * (rows, hidden) f32 malloc'ed; *rows = samples * seqlen, *seqlen from the file. NULL on
 * any failure. An independent reference for what the pipeline sees first. */
static inline float *qf_test_layer0_inputs(const char *model, const char *calib, int64_t *rows,
                                           int64_t *seqlen) {
    qf_model *m = NULL;
    qf_st_file *f = NULL;
    float *x = NULL, *emb = NULL, *ln1 = NULL;
    if (qf_model_open(model, &m) != QF_STATUS_OK || qf_st_open(calib, &f) != QF_STATUS_OK)
        goto done;
    const qf_st_tensor *tok = qf_st_find(f, "tokens", 6);
    if (!tok || tok->dtype != QF_DTYPE_I32 || tok->ndim != 2) goto done;
    const int64_t hid = m->config.hidden_size, vocab = m->config.vocab_size;
    emb = qf_test_read_tensor(m, "model.embed_tokens.weight");
    ln1 = qf_test_read_tensor(m, "model.layers.0.input_layernorm.weight");
    x = emb && ln1 ? malloc(tok->numel * (size_t)hid * sizeof *x) : NULL;
    const int32_t *ids = tok->data;
    for (uint64_t t = 0; x && t < tok->numel; t++) {
        if (ids[t] < 0 || ids[t] >= vocab) {
            free(x);
            x = NULL;
            break;
        }
        const float *e = emb + (int64_t)ids[t] * hid;
        double ss = 0.0;
        for (int64_t k = 0; k < hid; k++) ss += (double)e[k] * e[k];
        const double inv = 1.0 / sqrt(ss / (double)hid + m->config.rms_norm_eps);
        for (int64_t k = 0; k < hid; k++) x[t * hid + k] = (float)(e[k] * inv * ln1[k]);
    }
    if (x) {
        *rows = (int64_t)tok->numel;
        *seqlen = tok->shape[1];
    }
done:
    free(emb), free(ln1);
    qf_st_close(f);
    qf_model_free(m);
    return x;
}

#endif
