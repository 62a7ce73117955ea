/* A GPT-2 tokenizer given as vocab.json + merges.txt (the original OpenAI/HF files),
 * turned into the tokenizer.json that HF's GPT-2 fast tokenizer is built from: byte-level
 * BPE with the GPT-2 regex and no prefix space, "<|endoftext|>" as the special added
 * token and as BOS/EOS, nothing added around a sequence. merges.txt is read as the HF
 * library reads it: lines starting with "#version" skipped, every other line exactly two
 * tokens separated by one space. */
#include <stdio.h>

#include "core/fileio.h"
#include "runtime/tokenizer_internal.h"

#define QF_GPT2_EOT "<|endoftext|>"

static const char qf_gpt2_components[] =
    "{\"normalizer\":null,"
    "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,"
    "\"use_regex\":true},"
    "\"post_processor\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":false,"
    "\"use_regex\":true},"
    "\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,"
    "\"use_regex\":true}}";

static qf_status qf_gpt2_read(const char *dir, const char *file, char **text, size_t *len,
                              char *path, size_t path_size) {
    int n = snprintf(path, path_size, "%s/%s", dir, file);
    QF_RETURN_IF(n < 0 || (size_t)n >= path_size, QF_STATUS_INVALID_ARG, "'%s': path too long",
                 dir);
    QF_FORWARD(qf_file_read_all(path, QF_TOK_MAX_JSON_BYTES, text, len));
    size_t ok = qf_utf8_valid_prefix(*text, *len);
    if (ok != *len) {
        free(*text);
        *text = NULL;
        return qf_error_set(QF_STATUS_FORMAT, "'%s': invalid UTF-8 at byte %zu", path, ok);
    }
    return QF_STATUS_OK;
}

static qf_status qf_gpt2_merges(const char *path, char *text, size_t len, cJSON *merges) {
    size_t line = 0;
    for (size_t i = 0; i < len;) {
        char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t e = end > i && text[end - 1] == '\r' ? end - 1 : end;
        const char *l = text + i;
        line++;
        i = end + 1;
        QF_RETURN_IF(memchr(l, '\0', (size_t)(text + e - l)) != NULL, QF_STATUS_FORMAT,
                     "'%s': line %zu holds a NUL byte", path, line);
        text[e] = '\0';
        if (strncmp(l, "#version", 8) == 0) continue;
        const char *sp = strchr(l, ' ');
        QF_RETURN_IF(!sp || strchr(sp + 1, ' '), QF_STATUS_FORMAT,
                     "'%s': line %zu is not two tokens separated by one space", path, line);
        cJSON *s = cJSON_CreateString(l);
        QF_RETURN_IF(!s || !cJSON_AddItemToArray(merges, s), (cJSON_Delete(s), QF_STATUS_NOMEM),
                     "'%s': out of memory", path);
    }
    return QF_STATUS_OK;
}

/* The added token and config entries for "<|endoftext|>" when the vocabulary has it. */
static qf_status qf_gpt2_eot(const char *dir, const cJSON *vocab, cJSON *added, cJSON *cfg) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(vocab, QF_GPT2_EOT);
    if (!cJSON_IsNumber(v)) return QF_STATUS_OK;
    cJSON *t = cJSON_CreateObject();
    int ok = t && cJSON_AddItemToArray(added, t) &&
             cJSON_AddNumberToObject(t, "id", v->valuedouble) &&
             cJSON_AddStringToObject(t, "content", QF_GPT2_EOT) &&
             cJSON_AddBoolToObject(t, "single_word", 0) && cJSON_AddBoolToObject(t, "lstrip", 0) &&
             cJSON_AddBoolToObject(t, "rstrip", 0) && cJSON_AddBoolToObject(t, "normalized", 0) &&
             cJSON_AddBoolToObject(t, "special", 1) &&
             cJSON_AddStringToObject(cfg, "bos_token", QF_GPT2_EOT) &&
             cJSON_AddStringToObject(cfg, "eos_token", QF_GPT2_EOT);
    QF_RETURN_IF(!ok, QF_STATUS_NOMEM, "'%s': out of memory", dir);
    return QF_STATUS_OK;
}

qf_status qf_tok_gpt2_build(const char *dir, cJSON **tokenizer, cJSON **config) {
    *tokenizer = *config = NULL;
    char path[4096];
    char *text = NULL;
    size_t len;
    QF_FORWARD(qf_gpt2_read(dir, "vocab.json", &text, &len, path, sizeof path));
    cJSON *vocab = NULL;
    qf_status st = qf_tok_json_parse(text, len, path, &vocab);
    free(text);
    text = NULL;
    QF_FORWARD(st);
    if (!cJSON_IsObject(vocab)) {
        cJSON_Delete(vocab);
        return qf_error_set(QF_STATUS_FORMAT, "'%s': not a JSON object of token -> id", path);
    }
    cJSON *root = cJSON_Parse(qf_gpt2_components), *cfg = cJSON_CreateObject();
    cJSON *model = root ? cJSON_AddObjectToObject(root, "model") : NULL;
    cJSON *added = root ? cJSON_AddArrayToObject(root, "added_tokens") : NULL;
    cJSON *merges = model ? cJSON_AddArrayToObject(model, "merges") : NULL;
    if (!cfg || !added || !merges || !cJSON_AddStringToObject(model, "type", "BPE") ||
        !cJSON_AddItemToObject(model, "vocab", vocab)) {
        cJSON_Delete(vocab);
        st = qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", dir);
    }
    if (st == QF_STATUS_OK) st = qf_gpt2_read(dir, "merges.txt", &text, &len, path, sizeof path);
    if (st == QF_STATUS_OK) st = qf_gpt2_merges(path, text, len, merges);
    if (st == QF_STATUS_OK) st = qf_gpt2_eot(dir, vocab, added, cfg);
    free(text);
    if (st != QF_STATUS_OK) {
        cJSON_Delete(root);
        cJSON_Delete(cfg);
        return st;
    }
    *tokenizer = root;
    *config = cfg;
    return QF_STATUS_OK;
}
