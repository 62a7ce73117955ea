/* Decoders of tokenizer.json: ByteLevel, Sequence, Replace, ByteFallback, Fuse, Strip
 * and Metaspace, each a transformation of the list of token strings as in the HF
 * library's decode_chain; the final list is concatenated. */
#include "runtime/tokenizer_internal.h"

static qf_status qf_dec_add(const qf_tok_ctx *c, const cJSON *j, int depth, qf_tok_decoder *d) {
    const char *type;
    QF_FORWARD(qf_tok_json_type(c, j, "decoder", &type));
    if (strcmp(type, "Sequence") == 0) {
        QF_RETURN_IF(depth >= QF_TOK_MAX_DEPTH, QF_STATUS_UNSUPPORTED,
                     "'%s': decoder Sequences nested deeper than %d", c->name, QF_TOK_MAX_DEPTH);
        const cJSON *list = qf_tok_json_get(j, "decoders");
        QF_RETURN_IF(!cJSON_IsArray(list), QF_STATUS_FORMAT,
                     "'%s': decoder Sequence has no 'decoders' array", c->name);
        for (const cJSON *it = list->child; it; it = it->next)
            QF_FORWARD(qf_dec_add(c, it, depth + 1, d));
        return QF_STATUS_OK;
    }
    static const struct {
        const char *type;
        qf_tok_dec_kind kind;
    } kinds[] = {{"ByteLevel", QF_TOK_DEC_BYTE_LEVEL},
                 {"Replace", QF_TOK_DEC_REPLACE},
                 {"ByteFallback", QF_TOK_DEC_BYTE_FALLBACK},
                 {"Fuse", QF_TOK_DEC_FUSE},
                 {"Strip", QF_TOK_DEC_STRIP},
                 {"Metaspace", QF_TOK_DEC_METASPACE}};
    size_t k = 0;
    while (k < sizeof kinds / sizeof kinds[0] && strcmp(kinds[k].type, type) != 0) k++;
    QF_RETURN_IF(
        k == sizeof kinds / sizeof kinds[0], QF_STATUS_UNSUPPORTED,
        "'%s': decoder type '%s' is not supported (supported: Sequence, ByteLevel, Replace, "
        "ByteFallback, Fuse, Strip, Metaspace)",
        c->name, type);
    QF_RETURN_IF(d->n >= QF_TOK_MAX_STEPS, QF_STATUS_UNSUPPORTED,
                 "'%s': decoder has more than %d steps", c->name, QF_TOK_MAX_STEPS);
    qf_tok_dec_step *steps = realloc(d->steps, (d->n + 1) * sizeof *steps);
    QF_RETURN_IF(!steps, QF_STATUS_NOMEM, "'%s': out of memory", c->name);
    d->steps = steps;
    qf_tok_dec_step *s = &steps[d->n++];
    memset(s, 0, sizeof *s);
    s->kind = kinds[k].kind;
    if (s->kind == QF_TOK_DEC_REPLACE) {
        const char *pattern, *content;
        int literal;
        QF_FORWARD(qf_tok_json_pattern(c, j, "decoder Replace", &pattern, &literal));
        QF_FORWARD(qf_tok_json_str(c, j, "content", "decoder Replace", &content));
        s->text_len = strlen(content);
        s->text = malloc(s->text_len + 1);
        QF_RETURN_IF(!s->text, QF_STATUS_NOMEM, "'%s': out of memory", c->name);
        memcpy(s->text, content, s->text_len + 1);
        return qf_tok_regex_compile(c->name, "decoder Replace", pattern, strlen(pattern), literal,
                                    &s->re);
    }
    if (s->kind == QF_TOK_DEC_STRIP || s->kind == QF_TOK_DEC_METASPACE) {
        const char *ch;
        const char *key = s->kind == QF_TOK_DEC_STRIP ? "content" : "replacement";
        QF_FORWARD(qf_tok_json_str(c, j, key, "decoder", &ch));
        size_t n = strlen(ch);
        QF_RETURN_IF(n == 0 || n > 4 || qf_utf8_decode(ch, &s->cp) != n, QF_STATUS_FORMAT,
                     "'%s': decoder %s '%s' must be one character", c->name, type, key);
    }
    if (s->kind == QF_TOK_DEC_STRIP) {
        const cJSON *a = qf_tok_json_get(j, "start"), *b = qf_tok_json_get(j, "stop");
        QF_RETURN_IF(!a || !b, QF_STATUS_FORMAT, "'%s': decoder Strip needs 'start' and 'stop'",
                     c->name);
        QF_FORWARD(qf_tok_json_uint(c, a, "decoder Strip start", 1e9, &s->start));
        QF_FORWARD(qf_tok_json_uint(c, b, "decoder Strip stop", 1e9, &s->stop));
    }
    if (s->kind == QF_TOK_DEC_METASPACE) {
        const cJSON *scheme = qf_tok_json_get(j, "prepend_scheme");
        if (scheme) {
            QF_RETURN_IF(!cJSON_IsString(scheme), QF_STATUS_FORMAT,
                         "'%s': decoder Metaspace prepend_scheme must be a string", c->name);
            s->prepend = strcmp(scheme->valuestring, "never") != 0;
        } else {
            QF_FORWARD(
                qf_tok_json_bool(c, j, "add_prefix_space", "decoder Metaspace", 1, &s->prepend));
        }
    }
    return QF_STATUS_OK;
}

qf_status qf_tok_decoder_parse(const qf_tok_ctx *c, const cJSON *j, qf_tok_decoder *out) {
    memset(out, 0, sizeof *out);
    if (!j || cJSON_IsNull(j)) return QF_STATUS_OK;
    out->present = 1;
    qf_status st = qf_dec_add(c, j, 0, out);
    if (st != QF_STATUS_OK) qf_tok_decoder_free(out);
    return st;
}

void qf_tok_decoder_free(qf_tok_decoder *d) {
    if (!d) return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->steps[i].text);
        qf_tok_regex_free(&d->steps[i].re);
    }
    free(d->steps);
    memset(d, 0, sizeof *d);
}

/* ---- steps: each reads `in` and appends the new token list to `out` -------------------- */

static const char *qf_piece(const qf_tok_pieces *p, size_t i) {
    return p->text.p + p->v[i].off;
}

static qf_status qf_dec_byte_level(const qf_tok_pieces *in, qf_tok_buf *bytes, qf_tok_pieces *out) {
    bytes->len = 0;
    for (size_t i = 0; i < in->n; i++) {
        const char *t = qf_piece(in, i);
        size_t len = in->v[i].len, start = bytes->len, k = 0;
        int mapped = 1;
        while (k < len && mapped) {
            uint32_t cp;
            k += qf_utf8_decode(t + k, &cp);
            int b = qf_tok_byte_level_byte(cp);
            char byte = (char)b;
            if (b < 0)
                mapped = 0;
            else
                QF_FORWARD(qf_tok_buf_append(bytes, &byte, 1));
        }
        if (!mapped) {
            bytes->len = start; /* a character outside the map: the token's own bytes */
            QF_FORWARD(qf_tok_buf_append(bytes, t, len));
        }
    }
    qf_tok_buf text = {0};
    qf_status st = qf_utf8_append_lossy(&text, bytes->p ? bytes->p : "", bytes->len);
    if (st == QF_STATUS_OK) st = qf_tok_pieces_add(out, text.p ? text.p : "", text.len, 0);
    qf_tok_buf_free(&text);
    return st;
}

static int qf_hex_digit(char ch) {
    return (ch >= '0' && ch <= '9')   ? ch - '0'
           : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
           : (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10
                                      : -1;
}

/* The byte of a "<0xXX>" token, or -1 (u8::from_str_radix also accepts "+X"). */
static int qf_fallback_byte(const char *t, size_t len) {
    if (len != 6 || memcmp(t, "<0x", 3) != 0 || t[5] != '>') return -1;
    int hi = qf_hex_digit(t[3]), lo = qf_hex_digit(t[4]);
    if (lo < 0) return -1;
    if (t[3] == '+') return lo;
    return hi < 0 ? -1 : hi * 16 + lo;
}

static qf_status qf_dec_flush_bytes(qf_tok_buf *bytes, qf_tok_pieces *out) {
    if (!bytes->len) return QF_STATUS_OK;
    if (qf_utf8_valid_prefix(bytes->p, bytes->len) == bytes->len) {
        QF_FORWARD(qf_tok_pieces_add(out, bytes->p, bytes->len, 0));
    } else {
        for (size_t i = 0; i < bytes->len; i++)
            QF_FORWARD(qf_tok_pieces_add(out, "\xEF\xBF\xBD", 3, 0));
    }
    bytes->len = 0;
    return QF_STATUS_OK;
}

static qf_status qf_dec_byte_fallback(const qf_tok_pieces *in, qf_tok_buf *bytes,
                                      qf_tok_pieces *out) {
    bytes->len = 0;
    for (size_t i = 0; i < in->n; i++) {
        int b = qf_fallback_byte(qf_piece(in, i), in->v[i].len);
        if (b >= 0) {
            char byte = (char)b;
            QF_FORWARD(qf_tok_buf_append(bytes, &byte, 1));
            continue;
        }
        QF_FORWARD(qf_dec_flush_bytes(bytes, out));
        QF_FORWARD(qf_tok_pieces_add(out, qf_piece(in, i), in->v[i].len, 0));
    }
    return qf_dec_flush_bytes(bytes, out);
}

static qf_status qf_dec_strip(const qf_tok_dec_step *st, const char *t, size_t len,
                              qf_tok_pieces *out) {
    size_t nchars = 0;
    for (size_t k = 0; k < len; nchars++) {
        uint32_t cp;
        k += qf_utf8_decode(t + k, &cp);
    }
    size_t b = 0, cut_chars = 0;
    for (int64_t i = 0; i < st->start && b < len; i++) {
        uint32_t cp;
        size_t n = qf_utf8_decode(t + b, &cp);
        if (cp != st->cp) break;
        b += n;
        cut_chars++;
    }
    size_t e = len;
    for (int64_t i = 0; i < st->stop && (size_t)i < nchars - cut_chars; i++) {
        size_t p = e - 1;
        while (p > 0 && ((unsigned char)t[p] & 0xC0) == 0x80) p--;
        uint32_t cp;
        qf_utf8_decode(t + p, &cp);
        if (cp != st->cp) break;
        e = p;
    }
    return qf_tok_pieces_add(out, t + b, e - b, 0);
}

static qf_status qf_dec_metaspace(const qf_tok_dec_step *st, const char *t, size_t len, int first,
                                  qf_tok_buf *tmp, qf_tok_pieces *out) {
    tmp->len = 0;
    for (size_t k = 0; k < len;) {
        uint32_t cp;
        size_t n = qf_utf8_decode(t + k, &cp);
        if (cp != st->cp)
            QF_FORWARD(qf_tok_buf_append(tmp, t + k, n));
        else if (!(first && st->prepend))
            QF_FORWARD(qf_tok_buf_append(tmp, " ", 1));
        k += n;
    }
    return qf_tok_pieces_add(out, tmp->p ? tmp->p : "", tmp->len, 0);
}

static qf_status qf_dec_step(const qf_tok_dec_step *st, qf_tok_match_ctx *mc,
                             const qf_tok_pieces *in, qf_tok_buf *tmp, qf_tok_spans *sp,
                             qf_tok_pieces *out) {
    switch (st->kind) {
    case QF_TOK_DEC_BYTE_LEVEL:
        return qf_dec_byte_level(in, tmp, out);
    case QF_TOK_DEC_BYTE_FALLBACK:
        return qf_dec_byte_fallback(in, tmp, out);
    case QF_TOK_DEC_FUSE:
        tmp->len = 0;
        for (size_t i = 0; i < in->n; i++)
            QF_FORWARD(qf_tok_buf_append(tmp, qf_piece(in, i), in->v[i].len));
        return qf_tok_pieces_add(out, tmp->p ? tmp->p : "", tmp->len, 0);
    case QF_TOK_DEC_REPLACE:
        for (size_t i = 0; i < in->n; i++) {
            const char *t = qf_piece(in, i);
            sp->n = 0;
            tmp->len = 0;
            QF_FORWARD(qf_tok_regex_spans(&st->re, mc, t, in->v[i].len, sp));
            for (size_t k = 0; k < sp->n; k++)
                QF_FORWARD(sp->v[k].match ? qf_tok_buf_append(tmp, st->text, st->text_len)
                                          : qf_tok_buf_append(tmp, t + sp->v[k].start,
                                                              sp->v[k].end - sp->v[k].start));
            QF_FORWARD(qf_tok_pieces_add(out, tmp->p ? tmp->p : "", tmp->len, 0));
        }
        return QF_STATUS_OK;
    case QF_TOK_DEC_STRIP:
        for (size_t i = 0; i < in->n; i++)
            QF_FORWARD(qf_dec_strip(st, qf_piece(in, i), in->v[i].len, out));
        return QF_STATUS_OK;
    case QF_TOK_DEC_METASPACE:
        for (size_t i = 0; i < in->n; i++)
            QF_FORWARD(qf_dec_metaspace(st, qf_piece(in, i), in->v[i].len, i == 0, tmp, out));
        return QF_STATUS_OK;
    }
    return QF_STATUS_OK;
}

qf_status qf_tok_decoder_run(const qf_tok_decoder *d, qf_tok_match_ctx *mc, qf_tok_pieces *toks,
                             qf_tok_buf *out) {
    qf_tok_pieces next = {0};
    qf_tok_buf tmp = {0};
    qf_tok_spans sp = {0};
    qf_status st = QF_STATUS_OK;
    for (size_t i = 0; i < d->n && st == QF_STATUS_OK; i++) {
        qf_tok_pieces_clear(&next);
        st = qf_dec_step(&d->steps[i], mc, toks, &tmp, &sp, &next);
        qf_tok_pieces t = *toks;
        *toks = next;
        next = t;
    }
    for (size_t i = 0; i < toks->n && st == QF_STATUS_OK; i++) {
        if (!d->present && i > 0) st = qf_tok_buf_append(out, " ", 1);
        if (st == QF_STATUS_OK) st = qf_tok_buf_append(out, qf_piece(toks, i), toks->v[i].len);
    }
    qf_tok_pieces_free(&next);
    qf_tok_buf_free(&tmp);
    free(sp.v);
    return st;
}
