/* Pre-tokenizers of tokenizer.json: Sequence, Split (regex or string, all five
 * delimiter behaviors, invert), ByteLevel (optional prefix space, the GPT-2 regex, the
 * byte -> printable-character map), Digits and Metaspace, with the HF library's
 * semantics (the pre_tokenizers module, NormalizedString::split): every step splits each
 * current piece, and empty pieces are dropped. */
#include "runtime/tokenizer_internal.h"

/* The regex ByteLevel splits with when use_regex is set (GPT-2's). */
static const char qf_gpt2_regex[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

uint32_t qf_tok_byte_level_char(uint8_t b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    if (b <= 0x20) return 256u + b;               /* 0x00..0x20 -> U+0100..U+0120 */
    if (b <= 0xA0) return 256u + 33 + (b - 0x7F); /* 0x7F..0xA0 -> U+0121..U+0142 */
    return 256u + 33 + 34;                        /* 0xAD -> U+0143 */
}

int qf_tok_byte_level_byte(uint32_t cp) {
    if (cp < 256) return qf_tok_byte_level_char((uint8_t)cp) == cp ? (int)cp : -1;
    if (cp <= 256 + 32) return (int)(cp - 256);
    if (cp <= 256 + 33 + 33) return (int)(cp - 256 - 33 + 0x7F);
    if (cp == 256 + 33 + 34) return 0xAD;
    return -1;
}

static qf_status qf_pretok_add(const qf_tok_ctx *c, const cJSON *j, int depth, qf_tok_pretok *p) {
    const char *type;
    QF_FORWARD(qf_tok_json_type(c, j, "pre_tokenizer", &type));
    if (strcmp(type, "Sequence") == 0) {
        QF_RETURN_IF(depth >= QF_TOK_MAX_DEPTH, QF_STATUS_UNSUPPORTED,
                     "'%s': pre_tokenizer Sequences nested deeper than %d", c->name,
                     QF_TOK_MAX_DEPTH);
        const cJSON *list = qf_tok_json_get(j, "pretokenizers");
        QF_RETURN_IF(!cJSON_IsArray(list), QF_STATUS_FORMAT,
                     "'%s': pre_tokenizer Sequence has no 'pretokenizers' array", c->name);
        for (const cJSON *it = list->child; it; it = it->next)
            QF_FORWARD(qf_pretok_add(c, it, depth + 1, p));
        return QF_STATUS_OK;
    }
    int known = strcmp(type, "Split") == 0 || strcmp(type, "ByteLevel") == 0 ||
                strcmp(type, "Digits") == 0 || strcmp(type, "Metaspace") == 0;
    QF_RETURN_IF(!known, QF_STATUS_UNSUPPORTED,
                 "'%s': pre_tokenizer type '%s' is not supported (supported: Sequence, Split, "
                 "ByteLevel, Digits, Metaspace)",
                 c->name, type);
    QF_RETURN_IF(p->n >= QF_TOK_MAX_STEPS, QF_STATUS_UNSUPPORTED,
                 "'%s': pre_tokenizer has more than %d steps", c->name, QF_TOK_MAX_STEPS);
    qf_tok_pretok_step *steps = realloc(p->steps, (p->n + 1) * sizeof *steps);
    QF_RETURN_IF(!steps, QF_STATUS_NOMEM, "'%s': out of memory", c->name);
    p->steps = steps;
    qf_tok_pretok_step *s = &steps[p->n++];
    memset(s, 0, sizeof *s);

    if (strcmp(type, "Split") == 0) {
        s->kind = QF_TOK_PRETOK_SPLIT;
        const char *pattern, *behavior;
        int literal;
        QF_FORWARD(qf_tok_json_pattern(c, j, "pre_tokenizer Split", &pattern, &literal));
        QF_FORWARD(qf_tok_json_str(c, j, "behavior", "pre_tokenizer Split", &behavior));
        static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious",
                                            "MergedWithNext", "Contiguous"};
        size_t b = 0;
        while (b < 5 && strcmp(names[b], behavior) != 0) b++;
        QF_RETURN_IF(b == 5, QF_STATUS_UNSUPPORTED,
                     "'%s': pre_tokenizer Split behavior '%s' is not supported", c->name, behavior);
        s->behavior = (qf_tok_split_behavior)b;
        QF_FORWARD(qf_tok_json_bool(c, j, "invert", "pre_tokenizer Split", 0, &s->invert));
        return qf_tok_regex_compile(c->name, "pre_tokenizer Split", pattern, strlen(pattern),
                                    literal, &s->re);
    }
    if (strcmp(type, "ByteLevel") == 0) {
        s->kind = QF_TOK_PRETOK_BYTE_LEVEL;
        QF_FORWARD(qf_tok_json_bool(c, j, "add_prefix_space", "pre_tokenizer ByteLevel", 1,
                                    &s->add_prefix_space));
        QF_FORWARD(
            qf_tok_json_bool(c, j, "use_regex", "pre_tokenizer ByteLevel", 1, &s->use_regex));
        if (!s->use_regex) return QF_STATUS_OK;
        return qf_tok_regex_compile(c->name, "pre_tokenizer ByteLevel", qf_gpt2_regex,
                                    strlen(qf_gpt2_regex), 0, &s->re);
    }
    if (strcmp(type, "Digits") == 0) {
        s->kind = QF_TOK_PRETOK_DIGITS;
        return qf_tok_json_bool(c, j, "individual_digits", "pre_tokenizer Digits", 0,
                                &s->individual);
    }
    s->kind = QF_TOK_PRETOK_METASPACE;
    const char *rep;
    QF_FORWARD(qf_tok_json_str(c, j, "replacement", "pre_tokenizer Metaspace", &rep));
    size_t rl = strlen(rep);
    QF_RETURN_IF(rl == 0 || rl > 4 || qf_utf8_decode(rep, &s->replacement_cp) != rl,
                 QF_STATUS_FORMAT,
                 "'%s': pre_tokenizer Metaspace replacement must be one character", c->name);
    memcpy(s->replacement, rep, rl);
    s->replacement_len = rl;
    QF_FORWARD(qf_tok_json_bool(c, j, "split", "pre_tokenizer Metaspace", 1, &s->split));
    const cJSON *scheme = qf_tok_json_get(j, "prepend_scheme");
    if (scheme) {
        QF_RETURN_IF(!cJSON_IsString(scheme), QF_STATUS_FORMAT,
                     "'%s': pre_tokenizer Metaspace prepend_scheme must be a string", c->name);
        if (strcmp(scheme->valuestring, "always") == 0)
            s->prepend_scheme = QF_TOK_PREPEND_ALWAYS;
        else if (strcmp(scheme->valuestring, "never") == 0)
            s->prepend_scheme = QF_TOK_PREPEND_NEVER;
        else if (strcmp(scheme->valuestring, "first") == 0)
            s->prepend_scheme = QF_TOK_PREPEND_FIRST;
        else
            return qf_error_set(
                QF_STATUS_UNSUPPORTED,
                "'%s': pre_tokenizer Metaspace prepend_scheme '%s' is not supported", c->name,
                scheme->valuestring);
    } else { /* older files: add_prefix_space */
        int add;
        QF_FORWARD(qf_tok_json_bool(c, j, "add_prefix_space", "pre_tokenizer Metaspace", 1, &add));
        s->prepend_scheme = add ? QF_TOK_PREPEND_ALWAYS : QF_TOK_PREPEND_NEVER;
    }
    return QF_STATUS_OK;
}

qf_status qf_tok_pretok_parse(const qf_tok_ctx *c, const cJSON *j, qf_tok_pretok *out) {
    memset(out, 0, sizeof *out);
    if (!j || cJSON_IsNull(j)) return QF_STATUS_OK;
    qf_status st = qf_pretok_add(c, j, 0, out);
    if (st != QF_STATUS_OK) qf_tok_pretok_free(out);
    return st;
}

void qf_tok_pretok_free(qf_tok_pretok *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) qf_tok_regex_free(&p->steps[i].re);
    free(p->steps);
    memset(p, 0, sizeof *p);
}

/* Spans of s where single characters satisfying pred (or equal to cp when pred is
 * NULL) are matches (HF's Pattern for Fn(char) -> bool and for char). */
static qf_status qf_char_spans(const char *s, size_t len, int (*pred)(uint32_t), uint32_t cp,
                               qf_tok_spans *out) {
    if (len == 0) return qf_tok_spans_push(out, 0, 0, 0);
    size_t gap = 0;
    for (size_t i = 0; i < len;) {
        uint32_t ch;
        size_t n = qf_utf8_decode(s + i, &ch);
        if (pred ? pred(ch) : ch == cp) {
            if (gap < i) QF_FORWARD(qf_tok_spans_push(out, gap, i, 0));
            QF_FORWARD(qf_tok_spans_push(out, i, i + n, 1));
            gap = i + n;
        }
        i += n;
    }
    if (gap < len) QF_FORWARD(qf_tok_spans_push(out, gap, len, 0));
    return QF_STATUS_OK;
}

/* Applies a delimiter behavior to spans (in place): merged spans, removed ones dropped
 * (NormalizedString::split), then adds the non-empty results to out. */
static qf_status qf_split_apply(qf_tok_spans *sp, qf_tok_split_behavior b, const char *s,
                                int at_start, qf_tok_pieces *out) {
    size_t n = 0; /* spans kept so far, compacted at the front of sp->v */
    int prev_match = 0;
    if (b == QF_TOK_SPLIT_MERGED_WITH_NEXT) { /* walk backwards; the result is reversed */
        for (size_t k = sp->n; k-- > 0;) {
            qf_tok_span o = sp->v[k];
            if (n && o.match && !prev_match)
                sp->v[sp->n - n].start = o.start;
            else
                sp->v[sp->n - ++n] = (qf_tok_span){o.start, o.end, 0};
            prev_match = o.match;
        }
        memmove(sp->v, sp->v + sp->n - n, n * sizeof *sp->v);
    } else {
        for (size_t k = 0; k < sp->n; k++) {
            qf_tok_span o = sp->v[k];
            int extend = n && ((b == QF_TOK_SPLIT_CONTIGUOUS && o.match == prev_match) ||
                               (b == QF_TOK_SPLIT_MERGED_WITH_PREVIOUS && o.match && !prev_match));
            prev_match = o.match;
            if (extend)
                sp->v[n - 1].end = o.end;
            else if (b == QF_TOK_SPLIT_REMOVED && o.match)
                continue;
            else
                sp->v[n++] = (qf_tok_span){o.start, o.end, 0};
        }
    }
    for (size_t k = 0; k < n; k++) {
        const qf_tok_span *o = &sp->v[k];
        if (o->end > o->start)
            QF_FORWARD(
                qf_tok_pieces_add(out, s + o->start, o->end - o->start, at_start && o->start == 0));
    }
    return QF_STATUS_OK;
}

/* Appends s mapped byte by byte to the ByteLevel alphabet. */
static qf_status qf_byte_level_map(const char *s, size_t len, int at_start, qf_tok_pieces *out) {
    QF_FORWARD(qf_tok_pieces_add(out, "", 0, at_start));
    qf_tok_piece *pc = &out->v[out->n - 1];
    QF_FORWARD(qf_tok_buf_reserve(&out->text, 2 * len));
    char *dst = out->text.p + out->text.len;
    for (size_t i = 0; i < len; i++) {
        char enc[4];
        size_t n = qf_utf8_encode(qf_tok_byte_level_char((uint8_t)s[i]), enc);
        memcpy(dst, enc, n);
        dst += n;
    }
    pc->len = (size_t)(dst - (out->text.p + out->text.len));
    out->text.len += pc->len;
    out->text.p[out->text.len] = '\0';
    return QF_STATUS_OK;
}

static qf_status qf_pretok_byte_level(const qf_tok_pretok_step *st, qf_tok_match_ctx *mc,
                                      const char *s, size_t len, int at_start, qf_tok_spans *sp,
                                      qf_tok_buf *tmp, qf_tok_pieces *out) {
    if (st->add_prefix_space && (len == 0 || s[0] != ' ')) {
        tmp->len = 0;
        QF_FORWARD(qf_tok_buf_append(tmp, " ", 1));
        QF_FORWARD(qf_tok_buf_append(tmp, s, len));
        s = tmp->p;
        len = tmp->len;
    }
    if (!st->use_regex) return len ? qf_byte_level_map(s, len, at_start, out) : QF_STATUS_OK;
    sp->n = 0;
    QF_FORWARD(qf_tok_regex_spans(&st->re, mc, s, len, sp));
    for (size_t k = 0; k < sp->n; k++)
        if (sp->v[k].end > sp->v[k].start)
            QF_FORWARD(qf_byte_level_map(s + sp->v[k].start, sp->v[k].end - sp->v[k].start,
                                         at_start && sp->v[k].start == 0, out));
    return QF_STATUS_OK;
}

static qf_status qf_pretok_metaspace(const qf_tok_pretok_step *st, const char *s, size_t len,
                                     int at_start, qf_tok_spans *sp, qf_tok_buf *tmp,
                                     qf_tok_pieces *out) {
    tmp->len = 0;
    int starts_with_rep =
        len >= st->replacement_len && memcmp(s, st->replacement, st->replacement_len) == 0;
    int prepend = st->prepend_scheme == QF_TOK_PREPEND_ALWAYS ||
                  (st->prepend_scheme == QF_TOK_PREPEND_FIRST && at_start);
    /* the replacement of spaces happens first, so a leading ' ' counts as a replacement */
    if (prepend && !starts_with_rep && !(len && s[0] == ' '))
        QF_FORWARD(qf_tok_buf_append(tmp, st->replacement, st->replacement_len));
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ')
            QF_FORWARD(qf_tok_buf_append(tmp, st->replacement, st->replacement_len));
        else
            QF_FORWARD(qf_tok_buf_append(tmp, &s[i], 1));
    }
    if (!tmp->len) return QF_STATUS_OK;
    if (!st->split) return qf_tok_pieces_add(out, tmp->p, tmp->len, at_start);
    sp->n = 0;
    QF_FORWARD(qf_char_spans(tmp->p, tmp->len, NULL, st->replacement_cp, sp));
    return qf_split_apply(sp, QF_TOK_SPLIT_MERGED_WITH_NEXT, tmp->p, at_start, out);
}

static qf_status qf_pretok_step(const qf_tok_pretok_step *st, qf_tok_match_ctx *mc, const char *s,
                                size_t len, int at_start, qf_tok_spans *sp, qf_tok_buf *tmp,
                                qf_tok_pieces *out) {
    sp->n = 0;
    switch (st->kind) {
    case QF_TOK_PRETOK_SPLIT:
        QF_FORWARD(qf_tok_regex_spans(&st->re, mc, s, len, sp));
        if (st->invert)
            for (size_t k = 0; k < sp->n; k++) sp->v[k].match = !sp->v[k].match;
        return qf_split_apply(sp, st->behavior, s, at_start, out);
    case QF_TOK_PRETOK_DIGITS:
        QF_FORWARD(qf_char_spans(s, len, qf_unicode_is_numeric, 0, sp));
        return qf_split_apply(sp, st->individual ? QF_TOK_SPLIT_ISOLATED : QF_TOK_SPLIT_CONTIGUOUS,
                              s, at_start, out);
    case QF_TOK_PRETOK_BYTE_LEVEL:
        return qf_pretok_byte_level(st, mc, s, len, at_start, sp, tmp, out);
    case QF_TOK_PRETOK_METASPACE:
        return qf_pretok_metaspace(st, s, len, at_start, sp, tmp, out);
    }
    return QF_STATUS_OK;
}

qf_status qf_tok_pretokenize(const qf_tok_pretok *p, qf_tok_match_ctx *mc, const char *s,
                             size_t len, int at_start, qf_tok_pieces *work, qf_tok_pieces *out) {
    if (p->n == 0) return len ? qf_tok_pieces_add(out, s, len, at_start) : QF_STATUS_OK;
    qf_tok_spans sp = {0};
    qf_tok_buf tmp = {0};
    qf_tok_pieces next = {0};
    qf_status st = QF_STATUS_OK;
    /* cur holds the pieces before step i; the last step appends straight to out. */
    qf_tok_pieces *cur = work;
    qf_tok_pieces_clear(cur);
    st = qf_tok_pieces_add(cur, s, len, at_start);
    for (size_t i = 0; i < p->n && st == QF_STATUS_OK; i++) {
        qf_tok_pieces *dst = (i + 1 == p->n) ? out : &next;
        if (dst == &next) qf_tok_pieces_clear(&next);
        for (size_t k = 0; k < cur->n && st == QF_STATUS_OK; k++) {
            const qf_tok_piece *pc = &cur->v[k];
            st = qf_pretok_step(&p->steps[i], mc, cur->text.p + pc->off, pc->len, pc->at_start, &sp,
                                &tmp, dst);
        }
        if (dst == &next) { /* swap contents of cur (work) and next */
            qf_tok_pieces t = *cur;
            *cur = next;
            next = t;
        }
    }
    free(sp.v);
    qf_tok_buf_free(&tmp);
    qf_tok_pieces_free(&next);
    return st;
}
