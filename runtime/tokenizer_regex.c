/* Regular expressions of tokenizer.json (Split pre-tokenizer, Replace normalizer/decoder,
 * the GPT-2 regex of ByteLevel) on PCRE2 with Unicode properties.
 *
 * HF compiles these with Oniguruma, where \s is the Unicode White_Space property and \w
 * is letters, marks, decimal digits and connector punctuation. PCRE2 10.42's \s and \w
 * differ (e.g. \s misses U+0085), so \s \S \w \W are rewritten to explicit classes
 * before compiling; everything else in the patterns that occur in real files (\p{L},
 * \p{N}, (?i:...), lookahead) means the same in both. Matching iterates like the onig
 * crate's find_iter: non-overlapping, and an empty match right after the previous match
 * is skipped by advancing one character. */
#include "runtime/tokenizer_internal.h"

#define QF_TOK_REGEX_MAX_PATTERN 65536
#define QF_TOK_JIT_STACK_MAX (16u << 20)

/* White_Space, as the body of a character class. */
static const char qf_ws_class[] = "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}"
                                  "\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";
/* Oniguruma's Unicode \w, as the body of a character class. */
static const char qf_word_class[] = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";

/* Rewrites \s \S \w \W of an Oniguruma pattern for PCRE2 into out. */
static qf_status qf_regex_translate(const char *name, const char *what, const char *p, size_t len,
                                    qf_tok_buf *out) {
    int in_class = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = p[i];
        if (ch == '\\' && i + 1 < len) {
            char e = p[++i];
            const char *body = (e == 's' || e == 'S')   ? qf_ws_class
                               : (e == 'w' || e == 'W') ? qf_word_class
                                                        : NULL;
            if (!body) {
                char esc[2] = {'\\', e};
                QF_FORWARD(qf_tok_buf_append(out, esc, 2));
                continue;
            }
            int negated = (e == 'S' || e == 'W');
            QF_RETURN_IF(in_class && negated, QF_STATUS_UNSUPPORTED,
                         "'%s': %s: \\%c inside a character class is not supported", name, what, e);
            if (!in_class)
                QF_FORWARD(qf_tok_buf_append(out, negated ? "[^" : "[", negated ? 2 : 1));
            QF_FORWARD(qf_tok_buf_append(out, body, strlen(body)));
            if (!in_class) QF_FORWARD(qf_tok_buf_append(out, "]", 1));
            continue;
        }
        if (!in_class && ch == '[') {
            in_class = 1;
            QF_FORWARD(qf_tok_buf_append(out, "[", 1));
            if (i + 1 < len && p[i + 1] == '^') QF_FORWARD(qf_tok_buf_append(out, &p[++i], 1));
            if (i + 1 < len && p[i + 1] == ']') QF_FORWARD(qf_tok_buf_append(out, &p[++i], 1));
            continue;
        }
        if (in_class && ch == '[') {
            QF_RETURN_IF(!(i + 1 < len && p[i + 1] == ':'), QF_STATUS_UNSUPPORTED,
                         "'%s': %s: nested character classes are not supported", name, what);
        }
        if (in_class && ch == ']') in_class = 0;
        QF_FORWARD(qf_tok_buf_append(out, &ch, 1));
    }
    return QF_STATUS_OK;
}

qf_status qf_tok_regex_compile(const char *name, const char *what, const char *pattern, size_t len,
                               int literal, qf_tok_regex *out) {
    out->code = NULL;
    QF_RETURN_IF(len > QF_TOK_REGEX_MAX_PATTERN, QF_STATUS_UNSUPPORTED,
                 "'%s': %s: pattern of %zu bytes is longer than %d", name, what, len,
                 QF_TOK_REGEX_MAX_PATTERN);
    if (len == 0 && literal) return QF_STATUS_OK; /* HF: an empty string matches nothing */
    qf_tok_buf pat = {0};
    qf_status st = literal ? qf_tok_buf_append(&pat, pattern, len)
                           : qf_regex_translate(name, what, pattern, len, &pat);
    if (st != QF_STATUS_OK) {
        qf_tok_buf_free(&pat);
        return st;
    }
    int err;
    PCRE2_SIZE erroff;
    uint32_t opts = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    out->code = pcre2_compile((PCRE2_SPTR)pat.p, pat.len, opts, &err, &erroff, NULL);
    qf_tok_buf_free(&pat);
    if (!out->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return qf_error_set(QF_STATUS_FORMAT, "'%s': %s: invalid pattern '%.*s': %s", name, what,
                            (int)(len > 200 ? 200 : len), pattern, (const char *)msg);
    }
    pcre2_jit_compile(out->code, PCRE2_JIT_COMPLETE); /* the interpreter remains the fallback */
    return QF_STATUS_OK;
}

void qf_tok_regex_free(qf_tok_regex *r) {
    if (!r) return;
    pcre2_code_free(r->code);
    r->code = NULL;
}

qf_status qf_tok_match_ctx_init(qf_tok_match_ctx *c) {
    memset(c, 0, sizeof *c);
    c->md = pcre2_match_data_create(16, NULL);
    c->mc = pcre2_match_context_create(NULL);
    c->jit = pcre2_jit_stack_create(32 * 1024, QF_TOK_JIT_STACK_MAX, NULL);
    if (!c->md || !c->mc) {
        qf_tok_match_ctx_free(c);
        return qf_error_set(QF_STATUS_NOMEM, "tokenizer: out of memory for regex matching");
    }
    if (c->jit) pcre2_jit_stack_assign(c->mc, NULL, c->jit);
    return QF_STATUS_OK;
}

void qf_tok_match_ctx_free(qf_tok_match_ctx *c) {
    if (!c) return;
    pcre2_match_data_free(c->md);
    pcre2_match_context_free(c->mc);
    pcre2_jit_stack_free(c->jit);
    memset(c, 0, sizeof *c);
}

qf_status qf_tok_regex_spans(const qf_tok_regex *r, qf_tok_match_ctx *c, const char *s, size_t len,
                             qf_tok_spans *out) {
    if (len == 0) return qf_tok_spans_push(out, 0, 0, 0);
    size_t prev = 0;     /* end of the last span pushed */
    size_t search = 0;   /* where the next search starts */
    int have_last = 0;   /* a match has been found... */
    size_t last_end = 0; /* ...ending here */
    while (r->code && search <= len) {
        int rc = pcre2_match(r->code, (PCRE2_SPTR)s, len, search, PCRE2_NO_UTF_CHECK, c->md, c->mc);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return qf_error_set(QF_STATUS_NOMEM,
                                "tokenizer: regex matching failed on a %zu-byte "
                                "piece: %s",
                                len, (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
        size_t ms = ov[0], me = ov[1];
        if (ms == me && have_last && last_end == me) {
            if (search >= len) break;
            uint32_t cp;
            search += qf_utf8_decode(s + search, &cp);
            continue;
        }
        search = me;
        have_last = 1;
        last_end = me;
        if (prev != ms) QF_FORWARD(qf_tok_spans_push(out, prev, ms, 0));
        QF_FORWARD(qf_tok_spans_push(out, ms, me, 1));
        prev = me;
    }
    if (prev != len) QF_FORWARD(qf_tok_spans_push(out, prev, len, 0));
    return QF_STATUS_OK;
}
