/* Special tokens around an encoded sequence: the tokenizer.json post_processor
 * (TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence), and
 * tokenizer_config.json's add_bos_token / add_eos_token, which decide when present: the
 * template then becomes [bos] $A [eos] (transformers 4's LlamaTokenizerFast
 * update_post_processor; transformers 5 ignores these flags when a tokenizer.json
 * exists). BOS/EOS ids: the config's bos_token/eos_token, else the template's first
 * prefix / last suffix id. */
#include "runtime/tokenizer_internal.h"

int32_t qf_tok_token_id(const qf_tok_added *a, const qf_tok_bpe *b, const char *s, size_t len) {
    int32_t id = qf_tok_added_find(a, s, len);
    if (id >= 0 || qf_strmap_get(&b->vocab, s, len, &id)) return id;
    return -1;
}

static qf_status qf_post_push(const qf_tok_ctx *c, int32_t *ids, size_t *n, int32_t id) {
    QF_RETURN_IF(*n >= QF_TOK_MAX_TEMPLATE_IDS, QF_STATUS_UNSUPPORTED,
                 "'%s': post_processor adds more than %d special tokens", c->name,
                 QF_TOK_MAX_TEMPLATE_IDS);
    ids[(*n)++] = id;
    return QF_STATUS_OK;
}

/* TemplateProcessing's "single": special tokens before and after the one Sequence. */
static qf_status qf_post_template(const qf_tok_ctx *c, const cJSON *j, int32_t *pre, size_t *n_pre,
                                  int32_t *suf, size_t *n_suf) {
    const cJSON *single = qf_tok_json_get(j, "single");
    const cJSON *specials = qf_tok_json_get(j, "special_tokens");
    QF_RETURN_IF(!cJSON_IsArray(single), QF_STATUS_FORMAT,
                 "'%s': post_processor TemplateProcessing has no 'single' array", c->name);
    QF_RETURN_IF(specials && !cJSON_IsObject(specials), QF_STATUS_FORMAT,
                 "'%s': post_processor special_tokens must be an object", c->name);
    int seen_seq = 0;
    for (const cJSON *it = single->child; it; it = it->next) {
        const cJSON *seq = qf_tok_json_get(it, "Sequence"),
                    *sp = qf_tok_json_get(it, "SpecialToken");
        if (seq) {
            const char *id;
            QF_FORWARD(qf_tok_json_str(c, seq, "id", "post_processor Sequence", &id));
            QF_RETURN_IF(strcmp(id, "A") != 0 || seen_seq, QF_STATUS_FORMAT,
                         "'%s': post_processor 'single' template must hold $A once", c->name);
            seen_seq = 1;
            continue;
        }
        QF_RETURN_IF(!sp, QF_STATUS_FORMAT,
                     "'%s': post_processor template piece is neither Sequence nor SpecialToken",
                     c->name);
        const char *name;
        QF_FORWARD(qf_tok_json_str(c, sp, "id", "post_processor SpecialToken", &name));
        const cJSON *entry = specials ? cJSON_GetObjectItemCaseSensitive(specials, name) : NULL;
        const cJSON *ids = entry ? qf_tok_json_get(entry, "ids") : NULL;
        QF_RETURN_IF(!cJSON_IsArray(ids), QF_STATUS_FORMAT,
                     "'%s': post_processor special token '%s' has no ids in special_tokens",
                     c->name, name);
        for (const cJSON *x = ids->child; x; x = x->next) {
            int64_t v;
            QF_FORWARD(qf_tok_json_uint(c, x, "post_processor special token id",
                                        (double)QF_TOK_MAX_VOCAB, &v));
            if (seen_seq)
                QF_FORWARD(qf_post_push(c, suf, n_suf, (int32_t)v));
            else
                QF_FORWARD(qf_post_push(c, pre, n_pre, (int32_t)v));
        }
    }
    QF_RETURN_IF(!seen_seq, QF_STATUS_FORMAT, "'%s': post_processor 'single' template has no $A",
                 c->name);
    return QF_STATUS_OK;
}

/* RobertaProcessing / BertProcessing: "cls": [token, id] before, "sep": [token, id] after. */
static qf_status qf_post_cls_sep(const qf_tok_ctx *c, const cJSON *j, const char *key,
                                 int32_t *id) {
    const cJSON *pair = qf_tok_json_get(j, key);
    const cJSON *v = cJSON_IsArray(pair) && pair->child ? pair->child->next : NULL;
    QF_RETURN_IF(!v, QF_STATUS_FORMAT, "'%s': post_processor '%s' must be [token, id]", c->name,
                 key);
    int64_t x;
    QF_FORWARD(qf_tok_json_uint(c, v, "post_processor id", (double)QF_TOK_MAX_VOCAB, &x));
    *id = (int32_t)x;
    return QF_STATUS_OK;
}

static qf_status qf_post_add(const qf_tok_ctx *c, const cJSON *j, int depth, qf_tok_post *p) {
    const char *type;
    QF_FORWARD(qf_tok_json_type(c, j, "post_processor", &type));
    if (strcmp(type, "ByteLevel") == 0) return QF_STATUS_OK; /* offsets only */
    if (strcmp(type, "Sequence") == 0) {
        QF_RETURN_IF(depth >= QF_TOK_MAX_DEPTH, QF_STATUS_UNSUPPORTED,
                     "'%s': post_processor Sequences nested deeper than %d", c->name,
                     QF_TOK_MAX_DEPTH);
        const cJSON *list = qf_tok_json_get(j, "processors");
        QF_RETURN_IF(!cJSON_IsArray(list), QF_STATUS_FORMAT,
                     "'%s': post_processor Sequence has no 'processors' array", c->name);
        for (const cJSON *it = list->child; it; it = it->next)
            QF_FORWARD(qf_post_add(c, it, depth + 1, p));
        return QF_STATUS_OK;
    }
    int32_t pre[QF_TOK_MAX_TEMPLATE_IDS], suf[QF_TOK_MAX_TEMPLATE_IDS];
    size_t n_pre = 0, n_suf = 0;
    if (strcmp(type, "TemplateProcessing") == 0) {
        QF_FORWARD(qf_post_template(c, j, pre, &n_pre, suf, &n_suf));
    } else if (strcmp(type, "RobertaProcessing") == 0 || strcmp(type, "BertProcessing") == 0) {
        QF_FORWARD(qf_post_cls_sep(c, j, "cls", &pre[0]));
        QF_FORWARD(qf_post_cls_sep(c, j, "sep", &suf[0]));
        n_pre = n_suf = 1;
    } else {
        return qf_error_set(
            QF_STATUS_UNSUPPORTED,
            "'%s': post_processor type '%s' is not supported (supported: "
            "TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence)",
            c->name, type);
    }
    /* a later processor wraps what the earlier ones produced */
    QF_RETURN_IF(p->n_prefix + n_pre > QF_TOK_MAX_TEMPLATE_IDS ||
                     p->n_suffix + n_suf > QF_TOK_MAX_TEMPLATE_IDS,
                 QF_STATUS_UNSUPPORTED, "'%s': post_processor adds more than %d special tokens",
                 c->name, QF_TOK_MAX_TEMPLATE_IDS);
    memmove(p->prefix + n_pre, p->prefix, p->n_prefix * sizeof *p->prefix);
    memcpy(p->prefix, pre, n_pre * sizeof *pre);
    p->n_prefix += n_pre;
    memcpy(p->suffix + p->n_suffix, suf, n_suf * sizeof *suf);
    p->n_suffix += n_suf;
    return QF_STATUS_OK;
}

/* tokenizer_config.json's bos_token / eos_token: a string or {"content": string}.
 * *present is 0 when absent or null; *id is -1 when the token is unknown. */
static qf_status qf_config_token(const qf_tok_ctx *c, const cJSON *config, const char *key,
                                 const qf_tok_added *a, const qf_tok_bpe *b, int *present,
                                 int32_t *id) {
    *present = 0;
    *id = -1;
    const cJSON *t = qf_tok_json_get(config, key);
    if (!t) return QF_STATUS_OK;
    if (cJSON_IsObject(t)) t = qf_tok_json_get(t, "content");
    QF_RETURN_IF(!cJSON_IsString(t), QF_STATUS_FORMAT,
                 "'%s': tokenizer_config.json %s must be a string or an object with 'content'",
                 c->name, key);
    *present = 1;
    *id = qf_tok_token_id(a, b, t->valuestring, strlen(t->valuestring));
    return QF_STATUS_OK;
}

qf_status qf_tok_post_parse(const qf_tok_ctx *c, const cJSON *post, const cJSON *config,
                            const qf_tok_added *a, const qf_tok_bpe *b, qf_tok_post *p) {
    memset(p, 0, sizeof *p);
    if (post && !cJSON_IsNull(post)) QF_FORWARD(qf_post_add(c, post, 0, p));
    p->bos_id = p->n_prefix ? p->prefix[0] : -1;
    p->eos_id = p->n_suffix ? p->suffix[p->n_suffix - 1] : -1;
    if (!config) return QF_STATUS_OK;
    QF_RETURN_IF(!cJSON_IsObject(config), QF_STATUS_FORMAT,
                 "'%s': tokenizer_config.json is not an object", c->name);
    int has_bos, has_eos;
    int32_t bos, eos;
    QF_FORWARD(qf_config_token(c, config, "bos_token", a, b, &has_bos, &bos));
    QF_FORWARD(qf_config_token(c, config, "eos_token", a, b, &has_eos, &eos));
    if (has_bos) p->bos_id = bos;
    if (has_eos) p->eos_id = eos;
    const cJSON *add_bos = qf_tok_json_get(config, "add_bos_token");
    const cJSON *add_eos = qf_tok_json_get(config, "add_eos_token");
    if (!cJSON_IsBool(add_bos) && !cJSON_IsBool(add_eos)) return QF_STATUS_OK;
    int want_bos = cJSON_IsTrue(add_bos), want_eos = cJSON_IsTrue(add_eos);
    QF_RETURN_IF(
        want_bos && p->bos_id < 0, QF_STATUS_FORMAT,
        "'%s': tokenizer_config.json sets add_bos_token but bos_token is missing or unknown",
        c->name);
    QF_RETURN_IF(
        want_eos && p->eos_id < 0, QF_STATUS_FORMAT,
        "'%s': tokenizer_config.json sets add_eos_token but eos_token is missing or unknown",
        c->name);
    p->n_prefix = p->n_suffix = 0;
    if (want_bos) p->prefix[p->n_prefix++] = p->bos_id;
    if (want_eos) p->suffix[p->n_suffix++] = p->eos_id;
    return QF_STATUS_OK;
}
