/* Added tokens of tokenizer.json (special and not): ids assigned as the HF library's
 * AddedVocabulary does when it loads a file (the "id" fields are not used: a token
 * already in the vocabulary keeps its vocabulary id, a new one gets the next free id;
 * the library only warns when these differ), and the split of a text on them: leftmost-longest
 * matching (HF uses Aho-Corasick with MatchKind::LeftmostLongest), single_word (no
 * \w character touching either end), lstrip/rstrip (absorb White_Space on that side).
 * Tokens with normalized=false match the raw input; the others match normalized text. */
#include "runtime/tokenizer_internal.h"

#define QF_TOK_MAX_ADDED ((size_t)1 << 20)

int32_t qf_tok_added_find(const qf_tok_added *a, const char *content, size_t len) {
    int32_t i;
    return qf_strmap_get(&a->index, content, len, &i) ? a->tokens[i].id : -1;
}

static qf_status qf_added_one(const qf_tok_ctx *c, const cJSON *t, size_t index,
                              qf_tok_added_token *out) {
    memset(out, 0, sizeof *out);
    QF_RETURN_IF(!cJSON_IsObject(t), QF_STATUS_FORMAT, "'%s': added_tokens[%zu] is not an object",
                 c->name, index);
    const char *content;
    QF_FORWARD(qf_tok_json_str(c, t, "content", "added token", &content));
    int64_t id;
    const cJSON *idj = qf_tok_json_get(t, "id");
    QF_RETURN_IF(!idj, QF_STATUS_FORMAT, "'%s': added_tokens[%zu] has no 'id'", c->name, index);
    QF_FORWARD(qf_tok_json_uint(c, idj, "added token id", (double)QF_TOK_MAX_VOCAB, &id));
    int special, single_word, lstrip, rstrip, normalized;
    QF_FORWARD(qf_tok_json_bool(c, t, "special", "added token", 0, &special));
    QF_FORWARD(qf_tok_json_bool(c, t, "single_word", "added token", 0, &single_word));
    QF_FORWARD(qf_tok_json_bool(c, t, "lstrip", "added token", 0, &lstrip));
    QF_FORWARD(qf_tok_json_bool(c, t, "rstrip", "added token", 0, &rstrip));
    QF_FORWARD(qf_tok_json_bool(c, t, "normalized", "added token", !special, &normalized));
    size_t len = strlen(content);
    QF_RETURN_IF(len > QF_TOK_MAX_TOKEN_BYTES, QF_STATUS_FORMAT,
                 "'%s': added_tokens[%zu] is %zu bytes long (limit %d)", c->name, index, len,
                 QF_TOK_MAX_TOKEN_BYTES);
    out->content = malloc(len + 1);
    QF_RETURN_IF(!out->content, QF_STATUS_NOMEM, "'%s': out of memory", c->name);
    memcpy(out->content, content, len + 1);
    out->len = len;
    out->id = (int32_t)id;
    out->single_word = (uint8_t)single_word;
    out->lstrip = (uint8_t)lstrip;
    out->rstrip = (uint8_t)rstrip;
    out->normalized = (uint8_t)normalized;
    return QF_STATUS_OK;
}

/* The id the HF library gives a new added token (AddedVocabulary::add_tokens): its
 * vocabulary id, else the next id after the vocabulary and the tokens added so far. */
static int32_t qf_added_id(const qf_tok_added *a, const qf_tok_bpe *b, const qf_tok_added_token *t,
                           int64_t max_added) {
    int32_t id;
    if (qf_strmap_get(&b->vocab, t->content, t->len, &id)) return id;
    int64_t vocab_len = (int64_t)b->vocab.count;
    if (a->n == 0) return (int32_t)vocab_len;
    return (int32_t)((max_added >= vocab_len || vocab_len == 0) ? max_added + 1 : vocab_len);
}

/* Second sort key of a pattern: its second byte, or 256 for one-byte patterns. */
static unsigned qf_pat_key2(const char *p, size_t len) {
    return len > 1 ? (unsigned char)p[1] : 256u;
}

static int qf_cmp_pattern(const void *x, const void *y, void *ctx) {
    const qf_tok_matcher *m = ctx;
    uint32_t i = *(const uint32_t *)x, j = *(const uint32_t *)y;
    unsigned a = (unsigned char)m->pat[i][0], b = (unsigned char)m->pat[j][0];
    if (a != b) return a < b ? -1 : 1;
    a = qf_pat_key2(m->pat[i], m->pat_len[i]);
    b = qf_pat_key2(m->pat[j], m->pat_len[j]);
    if (a != b) return a < b ? -1 : 1;
    if (m->pat_len[i] != m->pat_len[j]) return m->pat_len[i] > m->pat_len[j] ? -1 : 1;
    return i < j ? -1 : i > j; /* equal strings: the earlier token wins */
}

/* The longest pattern matching at s[i] (index into the matcher), or -1. Patterns are
 * sorted by first byte, second byte (one-byte patterns last) and decreasing length. */
static int64_t qf_match_at(const qf_tok_matcher *m, const char *s, size_t len, size_t i) {
    unsigned char b0 = (unsigned char)s[i];
    size_t lo = m->first[b0], hi = m->first[b0 + 1];
    if (lo == hi) return -1;
    if (i + 1 < len) {
        unsigned b1 = (unsigned char)s[i + 1];
        size_t l = lo, h = hi; /* first pattern whose second key is >= b1 */
        while (l < h) {
            size_t mid = l + (h - l) / 2;
            if (qf_pat_key2(m->pat[mid], m->pat_len[mid]) < b1) l = mid + 1;
            else h = mid;
        }
        for (size_t k = l; k < hi && qf_pat_key2(m->pat[k], m->pat_len[k]) == b1; k++)
            if (m->pat_len[k] <= len - i && memcmp(s + i, m->pat[k], m->pat_len[k]) == 0)
                return (int64_t)k;
    }
    return m->pat_len[hi - 1] == 1 ? (int64_t)(hi - 1) : -1;
}

/* Builds a matcher over the tokens selected by `normalized` (order: qf_cmp_pattern). */
static qf_status qf_matcher_build(const qf_tok_ctx *c, const qf_tok_added *a, int normalized,
                                  qf_tok_matcher *m) {
    memset(m, 0, sizeof *m);
    size_t n = 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->tokens[i].normalized == normalized &&
            (normalized ? a->norm_len[i] : a->tokens[i].len))
            n++;
    m->pat = malloc((n ? n : 1) * sizeof *m->pat);
    m->pat_len = malloc((n ? n : 1) * sizeof *m->pat_len);
    m->token = malloc((n ? n : 1) * sizeof *m->token);
    uint32_t *order = malloc((n ? n : 1) * sizeof *order);
    const char **pat = malloc((n ? n : 1) * sizeof *pat);
    size_t *plen = malloc((n ? n : 1) * sizeof *plen);
    uint32_t *tok = malloc((n ? n : 1) * sizeof *tok);
    if (!m->pat || !m->pat_len || !m->token || !order || !pat || !plen || !tok) {
        free(order), free(pat), free(plen), free(tok);
        return qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", c->name);
    }
    size_t k = 0;
    for (size_t i = 0; i < a->n; i++) {
        const qf_tok_added_token *t = &a->tokens[i];
        const char *p = normalized ? a->norm_content[i] : t->content;
        size_t pl = normalized ? a->norm_len[i] : t->len;
        if (t->normalized != normalized || !pl) continue;
        pat[k] = p, plen[k] = pl, tok[k] = (uint32_t)i, order[k] = (uint32_t)k;
        k++;
    }
    qf_tok_matcher tmp = {pat, plen, tok, n, {0}};
    qsort_r(order, n, sizeof *order, qf_cmp_pattern, &tmp);
    for (size_t i = 0; i < n; i++) {
        m->pat[i] = pat[order[i]];
        m->pat_len[i] = plen[order[i]];
        m->token[i] = tok[order[i]];
    }
    m->n = n;
    size_t i = 0;
    for (int byte = 0; byte < 256; byte++) {
        m->first[byte] = (uint32_t)i;
        while (i < n && (unsigned char)m->pat[i][0] == byte) i++;
    }
    m->first[256] = (uint32_t)n;
    free(order), free(pat), free(plen), free(tok);
    return QF_STATUS_OK;
}

static void qf_matcher_free(qf_tok_matcher *m) {
    free(m->pat);
    free(m->pat_len);
    free(m->token);
    memset(m, 0, sizeof *m);
}

qf_status qf_tok_added_parse(const qf_tok_ctx *c, const cJSON *arr, const qf_tok_normalizer *norm,
                             const qf_tok_bpe *b, qf_tok_added *a) {
    memset(a, 0, sizeof *a);
    qf_status st = QF_STATUS_OK;
    size_t n = cJSON_IsArray(arr) ? (size_t)cJSON_GetArraySize(arr) : 0;
    if (arr && !cJSON_IsArray(arr))
        st = qf_error_set(QF_STATUS_FORMAT, "'%s': added_tokens must be an array", c->name);
    if (st == QF_STATUS_OK && n > QF_TOK_MAX_ADDED)
        st = qf_error_set(QF_STATUS_UNSUPPORTED, "'%s': more than %zu added tokens", c->name,
                          QF_TOK_MAX_ADDED);
    if (st == QF_STATUS_OK) {
        a->tokens = calloc(n ? n : 1, sizeof *a->tokens);
        a->norm_content = calloc(n ? n : 1, sizeof *a->norm_content);
        a->norm_len = calloc(n ? n : 1, sizeof *a->norm_len);
        if (!a->tokens || !a->norm_content || !a->norm_len)
            st = qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", c->name);
    }
    if (st == QF_STATUS_OK) st = qf_strmap_init(&a->index, n);
    size_t index = 0;
    int64_t max_added = -1;
    for (const cJSON *t = arr ? arr->child : NULL; t && st == QF_STATUS_OK; t = t->next, index++) {
        qf_tok_added_token tok;
        st = qf_added_one(c, t, index, &tok);
        if (st != QF_STATUS_OK) break;
        int32_t known;
        if (tok.len && qf_strmap_get(&a->index, tok.content, tok.len, &known)) {
            /* a repeated token: the later entry's options replace the earlier ones */
            qf_tok_added_token *old = &a->tokens[known];
            free(tok.content);
            tok.content = old->content;
            tok.id = old->id;
            *old = tok;
            continue;
        }
        if (tok.len == 0) { /* HF ignores empty tokens */
            free(tok.content);
            continue;
        }
        tok.id = qf_added_id(a, b, &tok, max_added);
        if (tok.id > max_added) max_added = tok.id;
        a->tokens[a->n] = tok;
        st = qf_strmap_put(&a->index, tok.content, tok.len, (int32_t)a->n++, NULL);
    }
    /* normalized tokens match their normalized form */
    qf_tok_match_ctx mc = {0};
    int need_norm = 0;
    for (size_t i = 0; i < a->n; i++) need_norm |= a->tokens[i].normalized;
    if (st == QF_STATUS_OK && need_norm) st = qf_tok_match_ctx_init(&mc);
    for (size_t i = 0; i < a->n && st == QF_STATUS_OK; i++) {
        if (!a->tokens[i].normalized) continue;
        qf_tok_buf out = {0};
        st = qf_tok_normalize(norm, &mc, a->tokens[i].content, a->tokens[i].len, &out);
        a->norm_content[i] = out.p;
        a->norm_len[i] = out.len;
    }
    qf_tok_match_ctx_free(&mc);
    if (st == QF_STATUS_OK) st = qf_matcher_build(c, a, 0, &a->raw);
    if (st == QF_STATUS_OK) st = qf_matcher_build(c, a, 1, &a->norm);
    if (st != QF_STATUS_OK) qf_tok_added_free(a);
    return st;
}

void qf_tok_added_free(qf_tok_added *a) {
    if (!a) return;
    for (size_t i = 0; i < a->n; i++) {
        free(a->tokens[i].content);
        if (a->norm_content) free(a->norm_content[i]);
    }
    free(a->tokens);
    free(a->norm_content);
    free(a->norm_len);
    qf_strmap_free(&a->index);
    qf_matcher_free(&a->raw);
    qf_matcher_free(&a->norm);
    memset(a, 0, sizeof *a);
}

/* ---- splitting ----------------------------------------------------------------------- */

static qf_status qf_segs_push(qf_tok_segs *s, size_t start, size_t end, int32_t id) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        qf_tok_seg *v = realloc(s->v, cap * sizeof *v);
        QF_RETURN_IF(!v, QF_STATUS_NOMEM, "tokenizer: out of memory");
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (qf_tok_seg){start, end, id};
    return QF_STATUS_OK;
}

/* The code point that ends at s[end] (end > 0). */
static uint32_t qf_prev_char(const char *s, size_t end, size_t *start) {
    size_t i = end - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    uint32_t cp;
    qf_utf8_decode(s + i, &cp);
    *start = i;
    return cp;
}

qf_status qf_tok_added_split(const qf_tok_added *a, int normalized, const char *s, size_t len,
                             qf_tok_segs *out) {
    const qf_tok_matcher *m = normalized ? &a->norm : &a->raw;
    out->n = 0;
    size_t cursor = 0; /* end of the last segment pushed */
    size_t pos = 0;    /* where the search for the next match starts */
    while (m->n && pos < len) {
        size_t ms = 0, me = 0;
        uint32_t tok = 0;
        int found = 0;
        for (size_t i = pos; i < len && !found; i++) {
            int64_t k = qf_match_at(m, s, len, i);
            if (k >= 0) ms = i, me = i + m->pat_len[k], tok = m->token[k], found = 1;
        }
        if (!found) break;
        pos = me;
        const qf_tok_added_token *t = &a->tokens[tok];
        if (t->single_word) {
            size_t b;
            uint32_t cp;
            int start_ok = ms == 0 || !qf_unicode_is_word(qf_prev_char(s, ms, &b));
            int stop_ok = me == len || (qf_utf8_decode(s + me, &cp), !qf_unicode_is_word(cp));
            if (!start_ok || !stop_ok) continue;
        }
        if (t->lstrip) {
            size_t b = ms;
            while (b > 0) {
                size_t prev;
                if (!qf_unicode_is_whitespace(qf_prev_char(s, b, &prev))) break;
                b = prev;
            }
            ms = b > cursor ? b : cursor;
        }
        if (t->rstrip) {
            while (me < len) {
                uint32_t cp;
                size_t n = qf_utf8_decode(s + me, &cp);
                if (!qf_unicode_is_whitespace(cp)) break;
                me += n;
            }
        }
        if (cursor < ms) QF_FORWARD(qf_segs_push(out, cursor, ms, -1));
        QF_FORWARD(qf_segs_push(out, ms, me, t->id));
        cursor = me;
        /* HF's automaton resumes at the match end even after rstrip took more; matches
         * starting inside that whitespace (tokens that begin with whitespace) are skipped
         * here instead of producing overlapping splits */
        if (pos < cursor) pos = cursor;
    }
    if (cursor < len) QF_FORWARD(qf_segs_push(out, cursor, len, -1));
    return QF_STATUS_OK;
}
