/* Tokenizer of the verification runtime (runtime/tokenizer.h): loading tokenizer.json
 * (or GPT-2's vocab.json + merges.txt) and dispatching its components, and the
 * encode/decode drivers (pipeline described in runtime/tokenizer_internal.h).
 * Input text that is not valid UTF-8 is repaired first: every maximal ill-formed
 * subsequence becomes U+FFFD, as Python's bytes.decode("utf-8", "replace") does before
 * a string can reach the HF library (Rust strings are always valid UTF-8). */
#include <math.h>
#include <stdio.h>

#include "core/fileio.h"
#include "runtime/tokenizer_internal.h"

/* ---- JSON helpers -------------------------------------------------------------------- */

const cJSON *qf_tok_json_get(const cJSON *obj, const char *key) {
    const cJSON *it = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    return cJSON_IsNull(it) ? NULL : it;
}

qf_status qf_tok_json_type(const qf_tok_ctx *c, const cJSON *obj, const char *what,
                           const char **type) {
    QF_RETURN_IF(!cJSON_IsObject(obj), QF_STATUS_FORMAT, "'%s': %s is not an object", c->name,
                 what);
    const cJSON *t = qf_tok_json_get(obj, "type");
    QF_RETURN_IF(!cJSON_IsString(t), QF_STATUS_FORMAT, "'%s': %s has no 'type' string", c->name,
                 what);
    *type = t->valuestring;
    return QF_STATUS_OK;
}

qf_status qf_tok_json_bool(const qf_tok_ctx *c, const cJSON *obj, const char *key, const char *what,
                           int dflt, int *out) {
    const cJSON *it = qf_tok_json_get(obj, key);
    *out = dflt;
    if (!it) return QF_STATUS_OK;
    QF_RETURN_IF(!cJSON_IsBool(it), QF_STATUS_FORMAT, "'%s': %s '%s' must be true or false",
                 c->name, what, key);
    *out = cJSON_IsTrue(it);
    return QF_STATUS_OK;
}

qf_status qf_tok_json_str(const qf_tok_ctx *c, const cJSON *obj, const char *key, const char *what,
                          const char **out) {
    const cJSON *it = qf_tok_json_get(obj, key);
    QF_RETURN_IF(!cJSON_IsString(it), QF_STATUS_FORMAT, "'%s': %s has no '%s' string", c->name,
                 what, key);
    *out = it->valuestring;
    return QF_STATUS_OK;
}

qf_status qf_tok_json_uint(const qf_tok_ctx *c, const cJSON *it, const char *what, double limit,
                           int64_t *out) {
    double d = cJSON_IsNumber(it) ? it->valuedouble : NAN;
    QF_RETURN_IF(!(d >= 0 && d < limit && d == floor(d)), QF_STATUS_FORMAT,
                 "'%s': %s must be an integer in [0, %.0f)", c->name, what, limit);
    *out = (int64_t)d;
    return QF_STATUS_OK;
}

qf_status qf_tok_json_pattern(const qf_tok_ctx *c, const cJSON *obj, const char *what,
                              const char **pattern, int *literal) {
    const cJSON *p = qf_tok_json_get(obj, "pattern");
    const cJSON *s = qf_tok_json_get(p, "String"), *r = qf_tok_json_get(p, "Regex");
    QF_RETURN_IF(!cJSON_IsString(s) && !cJSON_IsString(r), QF_STATUS_FORMAT,
                 "'%s': %s needs a pattern {\"String\": ...} or {\"Regex\": ...}", c->name, what);
    *literal = cJSON_IsString(s);
    *pattern = *literal ? s->valuestring : r->valuestring;
    return QF_STATUS_OK;
}

/* ---- loading ------------------------------------------------------------------------- */

void qf_tokenizer_free(qf_tokenizer *t) {
    if (!t) return;
    qf_tok_normalizer_free(&t->norm);
    qf_tok_pretok_free(&t->pretok);
    qf_tok_bpe_free(&t->bpe);
    qf_tok_added_free(&t->added);
    qf_tok_decoder_free(&t->dec);
    free(t->added_index);
    free(t->name);
    free(t);
}

static qf_status qf_tok_model(const qf_tok_ctx *c, const cJSON *model, qf_tok_bpe *bpe) {
    QF_RETURN_IF(!cJSON_IsObject(model), QF_STATUS_FORMAT, "'%s': no 'model' object", c->name);
    const cJSON *type = qf_tok_json_get(model, "type");
    QF_RETURN_IF(type && !cJSON_IsString(type), QF_STATUS_FORMAT,
                 "'%s': model 'type' is not a string", c->name);
    /* files from old library versions leave out the type of a BPE model */
    QF_RETURN_IF(!type && !qf_tok_json_get(model, "merges"), QF_STATUS_FORMAT,
                 "'%s': model has no 'type'", c->name);
    QF_RETURN_IF(type && strcmp(type->valuestring, "BPE") != 0, QF_STATUS_UNSUPPORTED,
                 "'%s': model type '%s' is not supported (supported: BPE)", c->name,
                 type->valuestring);
    return qf_tok_bpe_parse(c, model, bpe);
}

/* vocab_size, the id -> added token table, and the range of the template ids. */
static qf_status qf_tok_finish(const qf_tok_ctx *c, qf_tokenizer *t) {
    int64_t n = t->bpe.n_ids;
    for (size_t i = 0; i < t->added.n; i++)
        if (t->added.tokens[i].id >= n) n = (int64_t)t->added.tokens[i].id + 1;
    t->vocab_size = n;
    t->added_index = malloc((n ? (size_t)n : 1) * sizeof *t->added_index);
    QF_RETURN_IF(!t->added_index, QF_STATUS_NOMEM, "'%s': out of memory", c->name);
    for (int64_t i = 0; i < n; i++) t->added_index[i] = -1;
    for (size_t i = 0; i < t->added.n; i++) t->added_index[t->added.tokens[i].id] = (int32_t)i;
    const qf_tok_post *p = &t->post;
    for (size_t i = 0; i < p->n_prefix + p->n_suffix; i++) {
        int32_t id = i < p->n_prefix ? p->prefix[i] : p->suffix[i - p->n_prefix];
        QF_RETURN_IF(id >= n, QF_STATUS_FORMAT,
                     "'%s': post_processor adds id %d, outside the vocabulary (%lld ids)", c->name,
                     (int)id, (long long)n);
    }
    return QF_STATUS_OK;
}

qf_status qf_tok_load_cjson(const cJSON *root, const cJSON *config, const char *name,
                            qf_tokenizer **out) {
    *out = NULL;
    qf_tok_ctx c = {name};
    QF_RETURN_IF(!cJSON_IsObject(root), QF_STATUS_FORMAT, "'%s': not a JSON object", name);
    qf_tokenizer *t = calloc(1, sizeof *t);
    QF_RETURN_IF(!t, QF_STATUS_NOMEM, "'%s': out of memory", name);
    size_t nl = strlen(name);
    t->name = malloc(nl + 1);
    qf_status st =
        t->name ? QF_STATUS_OK : qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", name);
    if (st == QF_STATUS_OK) memcpy(t->name, name, nl + 1);
    if (st == QF_STATUS_OK) st = qf_tok_model(&c, qf_tok_json_get(root, "model"), &t->bpe);
    if (st == QF_STATUS_OK)
        st = qf_tok_normalizer_parse(&c, qf_tok_json_get(root, "normalizer"), &t->norm);
    if (st == QF_STATUS_OK)
        st = qf_tok_pretok_parse(&c, qf_tok_json_get(root, "pre_tokenizer"), &t->pretok);
    if (st == QF_STATUS_OK && t->pretok.n == 0) st = qf_tok_bpe_index_pairs(&t->bpe);
    if (st == QF_STATUS_OK)
        st = qf_tok_added_parse(&c, qf_tok_json_get(root, "added_tokens"), &t->norm, &t->bpe,
                                &t->added);
    if (st == QF_STATUS_OK)
        st = qf_tok_decoder_parse(&c, qf_tok_json_get(root, "decoder"), &t->dec);
    if (st == QF_STATUS_OK)
        st = qf_tok_post_parse(&c, qf_tok_json_get(root, "post_processor"), config, &t->added,
                               &t->bpe, &t->post);
    if (st == QF_STATUS_OK) st = qf_tok_finish(&c, t);
    if (st != QF_STATUS_OK) {
        qf_tokenizer_free(t);
        return st;
    }
    *out = t;
    return QF_STATUS_OK;
}

qf_status qf_tok_json_parse(const char *text, size_t len, const char *name, cJSON **out) {
    size_t ok = qf_utf8_valid_prefix(text, len);
    QF_RETURN_IF(ok != len, QF_STATUS_FORMAT, "'%s': invalid UTF-8 at byte %zu", name, ok);
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
    QF_RETURN_IF(!*out, QF_STATUS_FORMAT, "'%s': invalid JSON near byte %zu", name, at);
    while (at < len && strchr(" \t\r\n", text[at]) && text[at]) at++;
    if (at < len) { /* cJSON stops after the value; JSON allows only whitespace there */
        cJSON_Delete(*out);
        *out = NULL;
        return qf_error_set(QF_STATUS_FORMAT, "'%s': text after the JSON value at byte %zu", name, at);
    }
    return QF_STATUS_OK;
}

qf_status qf_tokenizer_load_json(const char *tokenizer_json, size_t len, const char *config_json,
                                 const char *name, qf_tokenizer **out) {
    QF_RETURN_IF(!out, QF_STATUS_INVALID_ARG, "qf_tokenizer_load_json: out is NULL");
    *out = NULL;
    if (!name) name = "tokenizer.json";
    QF_RETURN_IF(!tokenizer_json, QF_STATUS_INVALID_ARG, "'%s': no JSON text", name);
    QF_RETURN_IF(len > QF_TOK_MAX_JSON_BYTES, QF_STATUS_UNSUPPORTED,
                 "'%s': %zu bytes is larger than "
                 "the limit of %zu",
                 name, len, QF_TOK_MAX_JSON_BYTES);
    cJSON *root = NULL, *config = NULL;
    qf_status st = qf_tok_json_parse(tokenizer_json, len, name, &root);
    if (st == QF_STATUS_OK && config_json) {
        char cname[1024];
        snprintf(cname, sizeof cname, "%s (tokenizer_config.json)", name);
        size_t clen = strlen(config_json);
        st = clen > QF_TOK_MAX_CONFIG_BYTES
                 ? qf_error_set(QF_STATUS_UNSUPPORTED, "'%s': larger than %zu bytes", cname,
                                QF_TOK_MAX_CONFIG_BYTES)
                 : qf_tok_json_parse(config_json, clen, cname, &config);
    }
    if (st == QF_STATUS_OK) st = qf_tok_load_cjson(root, config, name, out);
    cJSON_Delete(root);
    cJSON_Delete(config);
    return st;
}

static qf_status qf_tok_join(char *buf, size_t size, const char *dir, const char *file) {
    int n = snprintf(buf, size, "%s/%s", dir, file);
    QF_RETURN_IF(n < 0 || (size_t)n >= size, QF_STATUS_INVALID_ARG, "'%s': path too long", dir);
    return QF_STATUS_OK;
}

qf_status qf_tokenizer_load(const char *path, qf_tokenizer **out) {
    QF_RETURN_IF(!path || !out, QF_STATUS_INVALID_ARG, "qf_tokenizer_load: NULL argument");
    *out = NULL;
    char tj[4096], cj[4096], vj[4096], mt[4096];
    const char *json_path = path, *config_path = NULL;
    if (qf_path_is_dir(path)) {
        QF_FORWARD(qf_tok_join(tj, sizeof tj, path, "tokenizer.json"));
        QF_FORWARD(qf_tok_join(cj, sizeof cj, path, "tokenizer_config.json"));
        QF_FORWARD(qf_tok_join(vj, sizeof vj, path, "vocab.json"));
        QF_FORWARD(qf_tok_join(mt, sizeof mt, path, "merges.txt"));
        if (!qf_path_exists(tj) && qf_path_exists(vj) && qf_path_exists(mt)) {
            cJSON *root, *config;
            QF_FORWARD(qf_tok_gpt2_build(path, &root, &config));
            qf_status st = qf_tok_load_cjson(root, config, vj, out);
            cJSON_Delete(root);
            cJSON_Delete(config);
            return st;
        }
        QF_RETURN_IF(!qf_path_exists(tj), QF_STATUS_NOT_FOUND,
                     "'%s': no tokenizer.json (nor vocab.json + merges.txt) in this directory",
                     path);
        json_path = tj;
        if (qf_path_exists(cj)) config_path = cj;
    }
    char *json = NULL, *config = NULL;
    size_t len, clen;
    qf_status st = qf_file_read_all(json_path, QF_TOK_MAX_JSON_BYTES, &json, &len);
    if (st == QF_STATUS_OK && config_path)
        st = qf_file_read_all(config_path, QF_TOK_MAX_CONFIG_BYTES, &config, &clen);
    if (st == QF_STATUS_OK && config && strlen(config) != clen)
        st = qf_error_set(QF_STATUS_FORMAT, "'%s': holds a NUL byte", config_path);
    if (st == QF_STATUS_OK) st = qf_tokenizer_load_json(json, len, config, json_path, out);
    free(json);
    free(config);
    return st;
}

/* ---- encoding ------------------------------------------------------------------------ */

typedef struct qf_tok_scratch {
    qf_tok_match_ctx mc;
    qf_tok_bpe_scratch *bpe;
    qf_tok_segs raw, norm;
    qf_tok_buf normalized;
    qf_tok_pieces work, words;
} qf_tok_scratch;

static void qf_tok_scratch_free(qf_tok_scratch *s) {
    qf_tok_match_ctx_free(&s->mc);
    qf_tok_bpe_scratch_free(s->bpe);
    free(s->raw.v);
    free(s->norm.v);
    qf_tok_buf_free(&s->normalized);
    qf_tok_pieces_free(&s->work);
    qf_tok_pieces_free(&s->words);
}

/* Pre-tokenizes and BPE-encodes one piece of normalized text. */
static qf_status qf_tok_encode_words(const qf_tokenizer *t, qf_tok_scratch *s, const char *p,
                                     size_t len, int at_start, qf_tok_ids *ids) {
    qf_tok_pieces_clear(&s->words);
    QF_FORWARD(qf_tok_pretokenize(&t->pretok, &s->mc, p, len, at_start, &s->work, &s->words));
    for (size_t k = 0; k < s->words.n; k++)
        QF_FORWARD(qf_tok_bpe_encode(&t->bpe, s->bpe, s->words.text.p + s->words.v[k].off,
                                     s->words.v[k].len, ids));
    return QF_STATUS_OK;
}

/* Normalizes one run of text between raw-matched added tokens, splits it on the
 * normalized added tokens, and encodes the rest. */
static qf_status qf_tok_encode_run(const qf_tokenizer *t, qf_tok_scratch *s, const char *p,
                                   size_t len, int at_start, qf_tok_ids *ids) {
    if (t->norm.n) {
        QF_FORWARD(qf_tok_normalize(&t->norm, &s->mc, p, len, &s->normalized));
        p = s->normalized.p;
        len = s->normalized.len;
    }
    if (!t->added.norm.n) return qf_tok_encode_words(t, s, p, len, at_start, ids);
    QF_FORWARD(qf_tok_added_split(&t->added, 1, p, len, &s->norm));
    for (size_t i = 0; i < s->norm.n; i++) {
        const qf_tok_seg *g = &s->norm.v[i];
        if (g->id >= 0)
            QF_FORWARD(qf_tok_ids_push(ids, g->id));
        else
            QF_FORWARD(qf_tok_encode_words(t, s, p + g->start, g->end - g->start,
                                           at_start && g->start == 0, ids));
    }
    return QF_STATUS_OK;
}

static qf_status qf_tok_encode_text(const qf_tokenizer *t, qf_tok_scratch *s, const char *text,
                                    size_t len, qf_tok_ids *ids) {
    QF_FORWARD(qf_tok_match_ctx_init(&s->mc));
    QF_FORWARD(qf_tok_bpe_scratch_init(&s->bpe));
    QF_FORWARD(qf_tok_added_split(&t->added, 0, text, len, &s->raw));
    for (size_t i = 0; i < s->raw.n; i++) {
        const qf_tok_seg *g = &s->raw.v[i];
        if (g->id >= 0)
            QF_FORWARD(qf_tok_ids_push(ids, g->id));
        else
            QF_FORWARD(
                qf_tok_encode_run(t, s, text + g->start, g->end - g->start, g->start == 0, ids));
    }
    return QF_STATUS_OK;
}

qf_status qf_tokenizer_encode(const qf_tokenizer *t, const char *text, size_t len, int add_special,
                              int32_t **ids, size_t *n_ids) {
    QF_RETURN_IF(!t || !ids || !n_ids || (!text && len), QF_STATUS_INVALID_ARG,
                 "qf_tokenizer_encode: NULL argument");
    *ids = NULL;
    *n_ids = 0;
    QF_RETURN_IF(len > QF_TOK_MAX_TEXT_BYTES, QF_STATUS_INVALID_ARG,
                 "'%s': text of %zu bytes is longer than the limit of %zu", t->name, len,
                 QF_TOK_MAX_TEXT_BYTES);
    qf_tok_buf repaired = {0};
    qf_tok_ids out = {0};
    qf_tok_scratch s = {0};
    qf_status st = QF_STATUS_OK;
    if (len && qf_utf8_valid_prefix(text, len) != len) {
        st = qf_utf8_append_lossy(&repaired, text, len);
        text = repaired.p;
        len = repaired.len;
    }
    for (size_t i = 0; add_special && i < t->post.n_prefix && st == QF_STATUS_OK; i++)
        st = qf_tok_ids_push(&out, t->post.prefix[i]);
    if (st == QF_STATUS_OK) st = qf_tok_encode_text(t, &s, text ? text : "", len, &out);
    for (size_t i = 0; add_special && i < t->post.n_suffix && st == QF_STATUS_OK; i++)
        st = qf_tok_ids_push(&out, t->post.suffix[i]);
    if (st == QF_STATUS_OK && !out.v) { /* *ids is never NULL on success */
        st = qf_tok_ids_push(&out, 0);
        out.n = 0;
    }
    qf_tok_scratch_free(&s);
    qf_tok_buf_free(&repaired);
    if (st != QF_STATUS_OK) {
        free(out.v);
        return st;
    }
    *ids = out.v;
    *n_ids = out.n;
    return QF_STATUS_OK;
}

/* ---- decoding ------------------------------------------------------------------------ */

qf_status qf_tokenizer_decode(const qf_tokenizer *t, const int32_t *ids, size_t n, char **out,
                              size_t *out_len) {
    QF_RETURN_IF(!t || !out || (!ids && n), QF_STATUS_INVALID_ARG,
                 "qf_tokenizer_decode: NULL argument");
    *out = NULL;
    if (out_len) *out_len = 0;
    qf_tok_pieces toks = {0};
    qf_tok_buf text = {0};
    qf_tok_match_ctx mc = {0};
    qf_status st = qf_tok_match_ctx_init(&mc);
    for (size_t i = 0; i < n && st == QF_STATUS_OK; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->vocab_size) {
            st = qf_error_set(QF_STATUS_INVALID_ARG,
                              "'%s': id %d at position %zu is outside the "
                              "vocabulary (%lld ids)",
                              t->name, (int)id, i, (long long)t->vocab_size);
            break;
        }
        int32_t a = t->added_index[id];
        if (a >= 0 && t->added.tokens[a].normalized) /* HF gives these in their normalized form */
            st = qf_tok_pieces_add(&toks, t->added.norm_content[a], t->added.norm_len[a], 0);
        else if (a >= 0)
            st = qf_tok_pieces_add(&toks, t->added.tokens[a].content, t->added.tokens[a].len, 0);
        else if (id < t->bpe.n_ids && t->bpe.id_off[id] != SIZE_MAX) /* HF skips unknown ids */
            st = qf_tok_pieces_add(&toks, t->bpe.strings.p + t->bpe.id_off[id], t->bpe.id_len[id],
                                   0);
    }
    if (st == QF_STATUS_OK) st = qf_tok_decoder_run(&t->dec, &mc, &toks, &text);
    if (st == QF_STATUS_OK && !text.p) st = qf_tok_buf_append(&text, "", 0);
    qf_tok_pieces_free(&toks);
    qf_tok_match_ctx_free(&mc);
    if (st != QF_STATUS_OK) {
        qf_tok_buf_free(&text);
        return st;
    }
    *out = text.p;
    if (out_len) *out_len = text.len;
    return QF_STATUS_OK;
}

int64_t qf_tokenizer_vocab_size(const qf_tokenizer *t) {
    return t ? t->vocab_size : 0;
}
int32_t qf_tokenizer_bos_id(const qf_tokenizer *t) {
    return t ? t->post.bos_id : -1;
}
int32_t qf_tokenizer_eos_id(const qf_tokenizer *t) {
    return t ? t->post.eos_id : -1;
}
