/* Helpers shared by the Hugging Face checkpoint tests: comparing a parsed config with
 * the values transformers produced (fixtures/hf/.../expected.json), temp directories,
 * file copies, and a minimal safetensors writer to build bad checkpoints. */
#ifndef QF_TEST_HF_UTIL_H
#define QF_TEST_HF_UTIL_H

#include <cjson/cJSON.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fileio.h"
#include "runtime/arch.h"
#include "test.h"

#define HF_FIXTURES QF_FIXTURES_DIR "/hf"

static inline char *hf_read_text(const char *path, size_t *len) {
    char *buf = NULL;
    size_t n = 0;
    if (qf_file_read_all(path, 64u << 20, &buf, &n) != QF_STATUS_OK) {
        fprintf(stderr, "cannot read %s: %s\n", path, qf_error_message());
        return NULL;
    }
    if (len) *len = n;
    return buf;
}

static inline cJSON *hf_read_json(const char *path) {
    char *text = hf_read_text(path, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!j) fprintf(stderr, "cannot parse %s\n", path);
    return j;
}

static inline int hf_write_text(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(buf, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

static inline int hf_copy(const char *src, const char *dst) {
    size_t n = 0;
    char *buf = hf_read_text(src, &n);
    int rc = buf ? hf_write_text(dst, buf, n) : -1;
    free(buf);
    return rc;
}

static inline int hf_rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static inline void hf_rm_rf(const char *dir) { nftw(dir, hf_rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static inline const char *hf_rope_type_name(qf_rope_scaling_type t) {
    switch (t) {
    case QF_ROPE_SCALING_NONE: return "default";
    case QF_ROPE_SCALING_LINEAR: return "linear";
    case QF_ROPE_SCALING_DYNAMIC: return "dynamic";
    case QF_ROPE_SCALING_LLAMA3: return "llama3";
    case QF_ROPE_SCALING_YARN: return "yarn";
    }
    return "?";
}

static inline double hf_num(const cJSON *o, const char *k) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsBool(it)) return cJSON_IsTrue(it) ? 1.0 : 0.0;
    if (!cJSON_IsNumber(it)) {
        fprintf(stderr, "expected.json: no number '%s'\n", k);
        return NAN;
    }
    return it->valuedouble;
}

static inline const char *hf_str(const cJSON *o, const char *k) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(it) ? it->valuestring : "<missing>";
}

/* Checks every field of `c` against the expected values written by the fixture script
 * from transformers' config object. */
static inline void hf_check_config(const char *what, const qf_model_config *c, const cJSON *e) {
#define HF_EQ_INT(field)                                                                 \
    CHECK_MSG((double)c->field == hf_num(e, #field), "%s: %s = %lld, transformers: %.17g", \
              what, #field, (long long)c->field, hf_num(e, #field))
#define HF_EQ_NUM(field, key)                                                            \
    CHECK_MSG(c->field == hf_num(e, key), "%s: %s = %.17g, transformers: %.17g", what, key, \
              (double)c->field, hf_num(e, key))
    CHECK_MSG(c->arch && strcmp(c->arch->hf_class, hf_str(e, "hf_class")) == 0, "%s: class %s",
              what, c->arch ? c->arch->hf_class : "NULL");
    CHECK_MSG(c->arch && strcmp(c->arch->model_type, hf_str(e, "model_type")) == 0,
              "%s: model_type", what);
    HF_EQ_INT(vocab_size);
    HF_EQ_INT(hidden_size);
    HF_EQ_INT(intermediate_size);
    HF_EQ_INT(num_hidden_layers);
    HF_EQ_INT(num_attention_heads);
    HF_EQ_INT(num_key_value_heads);
    HF_EQ_INT(head_dim);
    HF_EQ_INT(max_position_embeddings);
    HF_EQ_NUM(rope_theta, "rope_theta");
    HF_EQ_NUM(rms_norm_eps, "rms_norm_eps");
    CHECK_MSG(strcmp(hf_rope_type_name(c->rope_scaling.type), hf_str(e, "rope_type")) == 0,
              "%s: rope type %s, transformers %s", what,
              hf_rope_type_name(c->rope_scaling.type), hf_str(e, "rope_type"));
    HF_EQ_NUM(rope_scaling.factor, "rope_factor");
    HF_EQ_NUM(rope_scaling.low_freq_factor, "rope_low_freq_factor");
    HF_EQ_NUM(rope_scaling.high_freq_factor, "rope_high_freq_factor");
    HF_EQ_NUM(rope_scaling.original_max_position_embeddings,
              "rope_original_max_position_embeddings");
    HF_EQ_INT(tie_word_embeddings);
    HF_EQ_INT(sliding_window);
    HF_EQ_INT(attention_bias);
    HF_EQ_INT(mlp_bias);
    HF_EQ_INT(bos_token_id);
    HF_EQ_INT(eos_token_id);
    CHECK_MSG(strcmp(c->torch_dtype, hf_str(e, "torch_dtype")) == 0, "%s: torch_dtype '%s'",
              what, c->torch_dtype);
#undef HF_EQ_INT
#undef HF_EQ_NUM
}

/* A tensor of a safetensors file being built by hf_st_write. */
typedef struct hf_st_entry {
    char name[128];
    char dtype[8];
    int ndim;
    int64_t shape[8];
    const void *data;
    size_t nbytes;
} hf_st_entry;

/* Writes a valid safetensors file (header padded to 8, data in entry order). */
static inline int hf_st_write(const char *path, const hf_st_entry *e, size_t n) {
    char *hdr = NULL;
    size_t hlen = 0;
    FILE *h = open_memstream(&hdr, &hlen);
    if (!h) return -1;
    fputs("{\"__metadata__\":{\"format\":\"pt\"}", h);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        fprintf(h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", e[i].name, e[i].dtype);
        for (int d = 0; d < e[i].ndim; d++) fprintf(h, "%s%lld", d ? "," : "", (long long)e[i].shape[d]);
        fprintf(h, "],\"data_offsets\":[%zu,%zu]}", off, off + e[i].nbytes);
        off += e[i].nbytes;
    }
    fputc('}', h);
    while ((ftell(h) % 8) != 0) fputc(' ', h);
    fclose(h);
    FILE *f = fopen(path, "wb");
    int rc = f ? 0 : -1;
    if (f) {
        uint64_t n8 = hlen;
        unsigned char le[8];
        for (int i = 0; i < 8; i++) le[i] = (unsigned char)(n8 >> (8 * i));
        if (fwrite(le, 1, 8, f) != 8 || fwrite(hdr, 1, hlen, f) != hlen) rc = -1;
        for (size_t i = 0; i < n && rc == 0; i++)
            if (e[i].nbytes && fwrite(e[i].data, 1, e[i].nbytes, f) != e[i].nbytes) rc = -1;
        if (fclose(f) != 0) rc = -1;
    }
    free(hdr);
    return rc;
}

#endif
