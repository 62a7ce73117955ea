/* GGUF vocabulary -> tokenizer.json / tokenizer_config.json.
 *
 * tokenizer.ggml.model "gpt2" is byte-level BPE: tokens are already in the byte-level
 * alphabet and merges are "left right" strings. The pre-tokenizer follows llama.cpp's
 * meaning of tokenizer.ggml.pre (llama-vocab.cpp); e.g. "smollm" splits every digit
 * (\p{N}) before the GPT-2 regex, which is HF's Digits(individual) + ByteLevel.
 * Token types (llama.cpp): 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
 * 6 byte. Control and user-defined tokens become added_tokens. */
#include "formats/gguf_tokenizer.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QF_GGUF_TOKEN_TYPE_CONTROL 3
#define QF_GGUF_TOKEN_TYPE_USER_DEFINED 4

typedef struct qf_pre_entry {
    const char *names; /* space-separated tokenizer.ggml.pre values */
    const char *json;  /* HF pre_tokenizer */
    int ignore_merges; /* llama.cpp tokenizer_ignore_merges */
} qf_pre_entry;

static const qf_pre_entry qf_pre_table[] = {
    {" smollm starcoder refact codeshell ",
     "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\",\"individual_digits\":true},"
     "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}]}",
     0},
    {" gpt2 gpt-2 default mpt olmo jais ",
     "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}", 0},
    {" llama-bpe llama3 ",
     "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
     "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| "
     "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},"
     "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":"
     "false,\"trim_offsets\":true,\"use_regex\":false}]}",
     1},
    {" qwen2 ",
     "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
     "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| "
     "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},"
     "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":"
     "false,\"trim_offsets\":false,\"use_regex\":false}]}",
     0},
};

static const qf_pre_entry *qf_pre_find(const char *pre) {
    char key[80];
    if (strlen(pre) > sizeof key - 3) return NULL;
    snprintf(key, sizeof key, " %s ", pre);
    for (size_t i = 0; i < sizeof qf_pre_table / sizeof qf_pre_table[0]; i++)
        if (strstr(qf_pre_table[i].names, key)) return &qf_pre_table[i];
    return NULL;
}

const char *qf_gguf_tokenizer_pre_json(const char *pre) {
    const qf_pre_entry *e = qf_pre_find(pre);
    return e ? e->json : NULL;
}

/* Copies a GGUF string to a NUL-terminated buffer, rejecting embedded NULs and invalid
 * UTF-8 (JSON consumers require valid UTF-8). */
static char *qf_str_dup_utf8(qf_gguf_str s) {
    const unsigned char *p = (const unsigned char *)s.ptr;
    for (uint64_t i = 0; i < s.len;) {
        unsigned c = p[i];
        uint64_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (c == 0 || n == 0 || i + n > s.len) return NULL;
        for (uint64_t k = 1; k < n; k++)
            if ((p[i + k] & 0xC0) != 0x80) return NULL;
        i += n;
    }
    char *out = malloc(s.len + 1);
    if (!out) return NULL;
    memcpy(out, s.ptr, s.len);
    out[s.len] = '\0';
    return out;
}

typedef struct qf_vocab {
    uint64_t n;
    const qf_gguf_str *tokens;
    const uint8_t *types_bytes; /* little-endian int32 per token, or NULL */
} qf_vocab;

static int32_t qf_vocab_type(const qf_vocab *v, uint64_t i) {
    if (!v->types_bytes) return 1;
    const uint8_t *b = v->types_bytes + 4 * i;
    return (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                     (uint32_t)b[3] << 24);
}

static qf_status qf_get_token_id(const qf_gguf_file *g, const char *key, const qf_vocab *v,
                                 int64_t *out) {
    uint64_t id;
    *out = -1;
    qf_status st = qf_gguf_get_u64(g, key, &id);
    if (st == QF_STATUS_NOT_FOUND) {
        qf_error_clear();
        return QF_STATUS_OK;
    }
    QF_FORWARD(st);
    QF_RETURN_IF(id >= v->n, QF_STATUS_FORMAT, "%s = %llu is outside the vocabulary (%llu tokens)",
                 key, (unsigned long long)id, (unsigned long long)v->n);
    *out = (int64_t)id;
    return QF_STATUS_OK;
}

static int qf_get_flag(const qf_gguf_file *g, const char *key, int dflt) {
    int b;
    if (qf_gguf_get_bool(g, key, &b) != QF_STATUS_OK) {
        qf_error_clear();
        return dflt;
    }
    return b;
}

static qf_status qf_load_vocab(const qf_gguf_file *g, qf_vocab *v) {
    memset(v, 0, sizeof *v);
    const qf_gguf_kv *kv = qf_gguf_kv_find(g, "tokenizer.ggml.tokens");
    QF_RETURN_IF(!kv, QF_STATUS_NOT_FOUND, "no tokenizer.ggml.tokens: the file has no vocabulary");
    QF_RETURN_IF(kv->type != QF_GGUF_TYPE_ARRAY || kv->arr_type != QF_GGUF_TYPE_STRING,
                 QF_STATUS_FORMAT, "tokenizer.ggml.tokens is not an array of strings");
    v->n = kv->arr_len;
    v->tokens = kv->arr_strs;
    const qf_gguf_kv *tt = qf_gguf_kv_find(g, "tokenizer.ggml.token_type");
    if (tt) {
        QF_RETURN_IF(tt->type != QF_GGUF_TYPE_ARRAY || tt->arr_type != QF_GGUF_TYPE_INT32 ||
                         tt->arr_len != v->n,
                     QF_STATUS_FORMAT,
                     "tokenizer.ggml.token_type must be an int32 array of %llu entries",
                     (unsigned long long)v->n);
        v->types_bytes = tt->arr_data;
    }
    return QF_STATUS_OK;
}

static int qf_cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Rejects a vocabulary with the same token string twice (its JSON object would silently
 * keep only one of them). */
static qf_status qf_check_unique(char **strs, uint64_t n) {
    char **sorted = malloc((n ? n : 1) * sizeof *sorted);
    QF_RETURN_IF(!sorted, QF_STATUS_NOMEM, "out of memory");
    memcpy(sorted, strs, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, qf_cmp_str_ptr);
    qf_status st = QF_STATUS_OK;
    for (uint64_t i = 1; i < n && st == QF_STATUS_OK; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            st = qf_error_set(QF_STATUS_FORMAT, "tokenizer.ggml.tokens: token '%s' appears twice",
                              sorted[i]);
    free(sorted);
    return st;
}

static cJSON *qf_added_token(uint64_t id, const char *content, int special) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "id", (double)id);
    cJSON_AddStringToObject(t, "content", content);
    cJSON_AddBoolToObject(t, "single_word", 0);
    cJSON_AddBoolToObject(t, "lstrip", 0);
    cJSON_AddBoolToObject(t, "rstrip", 0);
    cJSON_AddBoolToObject(t, "normalized", 0);
    cJSON_AddBoolToObject(t, "special", special);
    return t;
}

/* Post-processor: BOS (and EOS) templates when the GGUF asks for them. */
static cJSON *qf_post_processor(const char *bos, int64_t bos_id, int add_bos, const char *eos,
                                int64_t eos_id, int add_eos) {
    if (!(add_bos && bos) && !(add_eos && eos))
        return cJSON_Parse("{\"type\":\"ByteLevel\",\"add_prefix_space\":true,"
                           "\"trim_offsets\":false,\"use_regex\":true}");
    cJSON *pp = cJSON_CreateObject();
    cJSON_AddStringToObject(pp, "type", "TemplateProcessing");
    cJSON *single = cJSON_AddArrayToObject(pp, "single");
    cJSON *pair = cJSON_AddArrayToObject(pp, "pair");
    cJSON *specials = cJSON_AddObjectToObject(pp, "special_tokens");
    for (int part = 0; part < 2; part++) {
        cJSON *seq = part == 0 ? single : pair;
        const char *ids[2] = {"A", "B"};
        for (int s = 0; s <= part; s++) {
            if (add_bos && bos) {
                cJSON *e = cJSON_CreateObject();
                cJSON *sp = cJSON_AddObjectToObject(e, "SpecialToken");
                cJSON_AddStringToObject(sp, "id", bos);
                cJSON_AddNumberToObject(sp, "type_id", s);
                cJSON_AddItemToArray(seq, e);
            }
            cJSON *e = cJSON_CreateObject();
            cJSON *sq = cJSON_AddObjectToObject(e, "Sequence");
            cJSON_AddStringToObject(sq, "id", ids[s]);
            cJSON_AddNumberToObject(sq, "type_id", s);
            cJSON_AddItemToArray(seq, e);
            if (add_eos && eos) {
                cJSON *x = cJSON_CreateObject();
                cJSON *sp = cJSON_AddObjectToObject(x, "SpecialToken");
                cJSON_AddStringToObject(sp, "id", eos);
                cJSON_AddNumberToObject(sp, "type_id", s);
                cJSON_AddItemToArray(seq, x);
            }
        }
    }
    const char *names[2] = {bos, eos};
    int64_t tids[2] = {bos_id, eos_id};
    int use[2] = {add_bos && bos, add_eos && eos};
    for (int k = 0; k < 2; k++) {
        if (!use[k] || cJSON_GetObjectItemCaseSensitive(specials, names[k])) continue;
        cJSON *o = cJSON_AddObjectToObject(specials, names[k]);
        cJSON_AddStringToObject(o, "id", names[k]);
        cJSON *ids = cJSON_AddArrayToObject(o, "ids");
        cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)tids[k]));
        cJSON *toks = cJSON_AddArrayToObject(o, "tokens");
        cJSON_AddItemToArray(toks, cJSON_CreateString(names[k]));
    }
    return pp;
}

static qf_status qf_build(const qf_gguf_file *g, const qf_vocab *v, char **strs, cJSON *tok,
                          cJSON *cfg) {
    qf_gguf_str model_s, pre_s = {"default", 7};
    QF_RETURN_IF(qf_gguf_get_str(g, "tokenizer.ggml.model", &model_s) != QF_STATUS_OK,
                 QF_STATUS_FORMAT, "tokenizer.ggml.model is missing or not a string");
    QF_RETURN_IF(!(model_s.len == 4 && memcmp(model_s.ptr, "gpt2", 4) == 0), QF_STATUS_UNSUPPORTED,
                 "tokenizer.ggml.model '%.*s' is not supported yet (supported: gpt2 byte-level BPE)",
                 (int)(model_s.len > 64 ? 64 : model_s.len), model_s.ptr);
    if (qf_gguf_get_str(g, "tokenizer.ggml.pre", &pre_s) != QF_STATUS_OK) qf_error_clear();
    char pre[64];
    QF_RETURN_IF(pre_s.len >= sizeof pre, QF_STATUS_UNSUPPORTED, "tokenizer.ggml.pre is too long");
    memcpy(pre, pre_s.ptr, pre_s.len);
    pre[pre_s.len] = '\0';
    const qf_pre_entry *pe = qf_pre_find(pre);
    QF_RETURN_IF(!pe, QF_STATUS_UNSUPPORTED,
                 "tokenizer.ggml.pre '%s' is not supported (supported: smollm, starcoder, refact, "
                 "codeshell, gpt2, default, mpt, olmo, jais, llama-bpe, qwen2)",
                 pre);

    const qf_gguf_kv *mk = qf_gguf_kv_find(g, "tokenizer.ggml.merges");
    QF_RETURN_IF(!mk || mk->type != QF_GGUF_TYPE_ARRAY || mk->arr_type != QF_GGUF_TYPE_STRING,
                 QF_STATUS_FORMAT, "tokenizer.ggml.merges is missing or not an array of strings");

    int64_t bos_id, eos_id, unk_id, pad_id;
    QF_FORWARD(qf_get_token_id(g, "tokenizer.ggml.bos_token_id", v, &bos_id));
    QF_FORWARD(qf_get_token_id(g, "tokenizer.ggml.eos_token_id", v, &eos_id));
    QF_FORWARD(qf_get_token_id(g, "tokenizer.ggml.unknown_token_id", v, &unk_id));
    QF_FORWARD(qf_get_token_id(g, "tokenizer.ggml.padding_token_id", v, &pad_id));
    int add_bos = qf_get_flag(g, "tokenizer.ggml.add_bos_token", 0);
    int add_eos = qf_get_flag(g, "tokenizer.ggml.add_eos_token", 0);

    cJSON_AddStringToObject(tok, "version", "1.0");
    cJSON_AddNullToObject(tok, "truncation");
    cJSON_AddNullToObject(tok, "padding");
    cJSON *added = cJSON_AddArrayToObject(tok, "added_tokens");
    for (uint64_t i = 0; i < v->n; i++) {
        int32_t t = qf_vocab_type(v, i);
        if (t == QF_GGUF_TOKEN_TYPE_CONTROL || t == QF_GGUF_TOKEN_TYPE_USER_DEFINED)
            cJSON_AddItemToArray(added,
                                 qf_added_token(i, strs[i], t == QF_GGUF_TOKEN_TYPE_CONTROL));
    }
    cJSON_AddNullToObject(tok, "normalizer");
    cJSON_AddItemToObject(tok, "pre_tokenizer", cJSON_Parse(pe->json));
    const char *bos = bos_id >= 0 ? strs[bos_id] : NULL;
    const char *eos = eos_id >= 0 ? strs[eos_id] : NULL;
    cJSON_AddItemToObject(tok, "post_processor",
                          qf_post_processor(bos, bos_id, add_bos, eos, eos_id, add_eos));
    cJSON_AddItemToObject(tok, "decoder",
                          cJSON_Parse("{\"type\":\"ByteLevel\",\"add_prefix_space\":true,"
                                      "\"trim_offsets\":true,\"use_regex\":true}"));
    cJSON *model = cJSON_AddObjectToObject(tok, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddBoolToObject(model, "fuse_unk", 0);
    cJSON_AddBoolToObject(model, "byte_fallback", 0);
    cJSON_AddBoolToObject(model, "ignore_merges", pe->ignore_merges);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    QF_FORWARD(qf_check_unique(strs, v->n));
    for (uint64_t i = 0; i < v->n; i++) cJSON_AddNumberToObject(vocab, strs[i], (double)i);
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    for (uint64_t i = 0; i < mk->arr_len; i++) {
        char *m = qf_str_dup_utf8(mk->arr_strs[i]);
        QF_RETURN_IF(!m, QF_STATUS_FORMAT, "tokenizer.ggml.merges[%llu] is not valid UTF-8",
                     (unsigned long long)i);
        char *sp = strchr(m, ' ');
        if (!sp || strchr(sp + 1, ' ')) {
            free(m);
            return qf_error_set(QF_STATUS_FORMAT,
                                "tokenizer.ggml.merges[%llu] is not two tokens separated by one space",
                                (unsigned long long)i);
        }
        *sp = '\0';
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateString(m));
        cJSON_AddItemToArray(pair, cJSON_CreateString(sp + 1));
        cJSON_AddItemToArray(merges, pair);
        free(m);
    }

    cJSON_AddBoolToObject(cfg, "add_bos_token", add_bos);
    cJSON_AddBoolToObject(cfg, "add_eos_token", add_eos);
    if (bos) cJSON_AddStringToObject(cfg, "bos_token", bos);
    if (eos) cJSON_AddStringToObject(cfg, "eos_token", eos);
    if (unk_id >= 0) cJSON_AddStringToObject(cfg, "unk_token", strs[unk_id]);
    if (pad_id >= 0) cJSON_AddStringToObject(cfg, "pad_token", strs[pad_id]);
    qf_gguf_str tmpl;
    if (qf_gguf_get_str(g, "tokenizer.chat_template", &tmpl) == QF_STATUS_OK) {
        char *t = qf_str_dup_utf8(tmpl);
        QF_RETURN_IF(!t, QF_STATUS_FORMAT, "tokenizer.chat_template is not valid UTF-8");
        cJSON_AddStringToObject(cfg, "chat_template", t);
        free(t);
    } else {
        qf_error_clear();
    }
    cJSON_AddBoolToObject(cfg, "clean_up_tokenization_spaces", 0);
    cJSON_AddStringToObject(cfg, "tokenizer_class", "PreTrainedTokenizerFast");
    return QF_STATUS_OK;
}

qf_status qf_gguf_tokenizer_export(const qf_gguf_file *g, char **tokenizer_json,
                                   char **tokenizer_config_json) {
    *tokenizer_json = *tokenizer_config_json = NULL;
    qf_vocab v;
    QF_FORWARD(qf_load_vocab(g, &v));
    char **strs = calloc(v.n ? v.n : 1, sizeof *strs);
    QF_RETURN_IF(!strs, QF_STATUS_NOMEM, "out of memory for %llu tokens", (unsigned long long)v.n);
    qf_status st = QF_STATUS_OK;
    for (uint64_t i = 0; i < v.n && st == QF_STATUS_OK; i++) {
        strs[i] = qf_str_dup_utf8(v.tokens[i]);
        if (!strs[i])
            st = qf_error_set(QF_STATUS_FORMAT, "tokenizer.ggml.tokens[%llu] is not valid UTF-8",
                              (unsigned long long)i);
    }
    cJSON *tok = cJSON_CreateObject(), *cfg = cJSON_CreateObject();
    if (st == QF_STATUS_OK && (!tok || !cfg)) st = qf_error_set(QF_STATUS_NOMEM, "out of memory");
    if (st == QF_STATUS_OK) st = qf_build(g, &v, strs, tok, cfg);
    if (st == QF_STATUS_OK) {
        *tokenizer_json = cJSON_PrintUnformatted(tok);
        *tokenizer_config_json = cJSON_Print(cfg);
        if (!*tokenizer_json || !*tokenizer_config_json) {
            free(*tokenizer_json);
            free(*tokenizer_config_json);
            *tokenizer_json = *tokenizer_config_json = NULL;
            st = qf_error_set(QF_STATUS_NOMEM, "out of memory rendering tokenizer.json");
        }
    }
    cJSON_Delete(tok);
    cJSON_Delete(cfg);
    for (uint64_t i = 0; i < v.n; i++) free(strs[i]);
    free(strs);
    return st;
}

qf_status qf_gguf_tokenizer_export_file(const char *path, char **tokenizer_json,
                                        char **tokenizer_config_json) {
    qf_gguf_file *g = NULL;
    *tokenizer_json = *tokenizer_config_json = NULL;
    QF_FORWARD(qf_gguf_open(path, &g));
    qf_status st = qf_gguf_tokenizer_export(g, tokenizer_json, tokenizer_config_json);
    qf_gguf_close(g);
    return st == QF_STATUS_OK ? st : qf_error_wrap(st, "'%s': tokenizer: ", path);
}
