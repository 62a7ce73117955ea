/* Normalizers of tokenizer.json: Sequence, NFC/NFD/NFKC/NFKD (utf8proc), Prepend,
 * Replace (string or regex pattern) and Lowercase, with the HF library's semantics:
 * Prepend only touches non-empty text; Replace substitutes every non-overlapping match;
 * Lowercase is Rust's per-character to_lowercase (simple mapping, plus U+0130 -> "i̇"). */
#include <utf8proc.h>

#include "runtime/tokenizer_internal.h"

static qf_status qf_norm_push(const qf_tok_ctx *c, qf_tok_normalizer *n, qf_tok_norm_step **step) {
    QF_RETURN_IF(n->n >= QF_TOK_MAX_STEPS, QF_STATUS_UNSUPPORTED,
                 "'%s': normalizer has more than %d steps", c->name, QF_TOK_MAX_STEPS);
    qf_tok_norm_step *s = realloc(n->steps, (n->n + 1) * sizeof *s);
    QF_RETURN_IF(!s, QF_STATUS_NOMEM, "'%s': out of memory", c->name);
    n->steps = s;
    *step = &s[n->n++];
    memset(*step, 0, sizeof **step);
    return QF_STATUS_OK;
}

static qf_status qf_norm_text(const qf_tok_ctx *c, qf_tok_norm_step *s, const char *text) {
    s->text_len = strlen(text);
    s->text = malloc(s->text_len + 1);
    QF_RETURN_IF(!s->text, QF_STATUS_NOMEM, "'%s': out of memory", c->name);
    memcpy(s->text, text, s->text_len + 1);
    return QF_STATUS_OK;
}

static qf_status qf_norm_add(const qf_tok_ctx *c, const cJSON *j, int depth, qf_tok_normalizer *n) {
    const char *type;
    QF_FORWARD(qf_tok_json_type(c, j, "normalizer", &type));
    if (strcmp(type, "Sequence") == 0) {
        QF_RETURN_IF(depth >= QF_TOK_MAX_DEPTH, QF_STATUS_UNSUPPORTED,
                     "'%s': normalizer Sequences nested deeper than %d", c->name, QF_TOK_MAX_DEPTH);
        const cJSON *list = qf_tok_json_get(j, "normalizers");
        QF_RETURN_IF(!cJSON_IsArray(list), QF_STATUS_FORMAT,
                     "'%s': normalizer Sequence has no 'normalizers' array", c->name);
        for (const cJSON *it = list->child; it; it = it->next)
            QF_FORWARD(qf_norm_add(c, it, depth + 1, n));
        return QF_STATUS_OK;
    }
    static const struct {
        const char *type;
        qf_tok_norm_kind kind;
    } simple[] = {{"NFC", QF_TOK_NORM_NFC},
                  {"NFD", QF_TOK_NORM_NFD},
                  {"NFKC", QF_TOK_NORM_NFKC},
                  {"NFKD", QF_TOK_NORM_NFKD},
                  {"Lowercase", QF_TOK_NORM_LOWERCASE}};
    qf_tok_norm_step *s = NULL;
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        if (strcmp(type, simple[i].type) == 0) {
            QF_FORWARD(qf_norm_push(c, n, &s));
            s->kind = simple[i].kind;
            return QF_STATUS_OK;
        }
    }
    if (strcmp(type, "Prepend") == 0) {
        const char *text;
        QF_FORWARD(qf_tok_json_str(c, j, "prepend", "normalizer Prepend", &text));
        QF_FORWARD(qf_norm_push(c, n, &s));
        s->kind = QF_TOK_NORM_PREPEND;
        return qf_norm_text(c, s, text);
    }
    if (strcmp(type, "Replace") == 0) {
        const char *pattern, *content;
        int literal;
        QF_FORWARD(qf_tok_json_pattern(c, j, "normalizer Replace", &pattern, &literal));
        QF_FORWARD(qf_tok_json_str(c, j, "content", "normalizer Replace", &content));
        QF_FORWARD(qf_norm_push(c, n, &s));
        s->kind = QF_TOK_NORM_REPLACE;
        QF_FORWARD(qf_norm_text(c, s, content));
        return qf_tok_regex_compile(c->name, "normalizer Replace", pattern, strlen(pattern),
                                    literal, &s->re);
    }
    return qf_error_set(
        QF_STATUS_UNSUPPORTED,
        "'%s': normalizer type '%s' is not supported (supported: Sequence, NFC, NFD, "
        "NFKC, NFKD, Prepend, Replace, Lowercase)",
        c->name, type);
}

qf_status qf_tok_normalizer_parse(const qf_tok_ctx *c, const cJSON *j, qf_tok_normalizer *out) {
    memset(out, 0, sizeof *out);
    if (!j || cJSON_IsNull(j)) return QF_STATUS_OK;
    qf_status st = qf_norm_add(c, j, 0, out);
    if (st != QF_STATUS_OK) qf_tok_normalizer_free(out);
    return st;
}

void qf_tok_normalizer_free(qf_tok_normalizer *n) {
    if (!n) return;
    for (size_t i = 0; i < n->n; i++) {
        free(n->steps[i].text);
        qf_tok_regex_free(&n->steps[i].re);
    }
    free(n->steps);
    memset(n, 0, sizeof *n);
}

static qf_status qf_norm_unicode(qf_tok_norm_kind kind, const char *s, size_t len,
                                 qf_tok_buf *out) {
    size_t i = 0;
    while (i < len && (unsigned char)s[i] < 0x80) i++;
    if (i == len) return qf_tok_buf_append(out, s, len); /* ASCII is invariant */
    QF_RETURN_IF(len > (size_t)PTRDIFF_MAX, QF_STATUS_NOMEM,
                 "tokenizer: text too long to normalize");
    int opts = UTF8PROC_STABLE;
    if (kind == QF_TOK_NORM_NFC || kind == QF_TOK_NORM_NFKC)
        opts |= UTF8PROC_COMPOSE;
    else
        opts |= UTF8PROC_DECOMPOSE;
    if (kind == QF_TOK_NORM_NFKC || kind == QF_TOK_NORM_NFKD) opts |= UTF8PROC_COMPAT;
    utf8proc_uint8_t *res = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &res,
                                      (utf8proc_option_t)opts);
    if (n < 0) {
        free(res);
        return qf_error_set(QF_STATUS_NOMEM, "tokenizer: Unicode normalization failed: %s",
                            utf8proc_errmsg(n));
    }
    qf_status st = qf_tok_buf_append(out, res, (size_t)n);
    free(res);
    return st;
}

static qf_status qf_norm_lowercase(const char *s, size_t len, qf_tok_buf *out) {
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = qf_utf8_decode(s + i, &cp);
        i += n;
        char enc[4];
        if (cp == 0x130) { /* SpecialCasing: LATIN CAPITAL LETTER I WITH DOT ABOVE */
            QF_FORWARD(qf_tok_buf_append(out, "i\xCC\x87", 3));
            continue;
        }
        uint32_t lc = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
        QF_FORWARD(qf_tok_buf_append(out, enc, qf_utf8_encode(lc, enc)));
    }
    return QF_STATUS_OK;
}

static qf_status qf_norm_replace(const qf_tok_norm_step *st, qf_tok_match_ctx *mc, const char *s,
                                 size_t len, qf_tok_buf *out) {
    qf_tok_spans spans = {0};
    qf_status rc = qf_tok_regex_spans(&st->re, mc, s, len, &spans);
    for (size_t i = 0; rc == QF_STATUS_OK && i < spans.n; i++) {
        const qf_tok_span *sp = &spans.v[i];
        rc = sp->match ? qf_tok_buf_append(out, st->text, st->text_len)
                       : qf_tok_buf_append(out, s + sp->start, sp->end - sp->start);
    }
    free(spans.v);
    return rc;
}

static qf_status qf_norm_step(const qf_tok_norm_step *st, qf_tok_match_ctx *mc, const char *s,
                              size_t len, qf_tok_buf *out) {
    switch (st->kind) {
    case QF_TOK_NORM_PREPEND:
        if (len) QF_FORWARD(qf_tok_buf_append(out, st->text, st->text_len));
        return qf_tok_buf_append(out, s, len);
    case QF_TOK_NORM_REPLACE:
        return qf_norm_replace(st, mc, s, len, out);
    case QF_TOK_NORM_LOWERCASE:
        return qf_norm_lowercase(s, len, out);
    default:
        return qf_norm_unicode(st->kind, s, len, out);
    }
}

qf_status qf_tok_normalize(const qf_tok_normalizer *n, qf_tok_match_ctx *mc, const char *s,
                           size_t len, qf_tok_buf *out) {
    out->len = 0;
    if (n->n == 0) return qf_tok_buf_append(out, s, len);
    qf_tok_buf tmp = {0};
    qf_status st = QF_STATUS_OK;
    /* Step i reads from the input (i == 0) or `tmp`, and writes to `out`. */
    for (size_t i = 0; i < n->n && st == QF_STATUS_OK; i++) {
        if (i > 0) {
            qf_tok_buf t = tmp;
            tmp = *out;
            *out = t;
            s = tmp.p;
            len = tmp.len;
        }
        out->len = 0;
        st = qf_norm_step(&n->steps[i], mc, s ? s : "", len, out);
    }
    if (st == QF_STATUS_OK && !out->p) st = qf_tok_buf_append(out, "", 0);
    qf_tok_buf_free(&tmp);
    return st;
}
