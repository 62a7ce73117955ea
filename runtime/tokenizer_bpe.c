/* BPE model of tokenizer.json (models/bpe in the HF library): vocabulary and merge
 * ranks in hash tables, words split into characters (with continuing_subword_prefix /
 * end_of_word_suffix, byte_fallback to <0xXX> tokens, unk with fuse_unk), then merged
 * with a priority queue ordered by (rank, position) exactly like word.rs merge_all,
 * ignore_merges (a word that is itself a token is not merged), and a per-call cache of
 * tokenized words.
 *
 * Long words (SentencePiece-style files have no pre-tokenizer: the whole text is one
 * word) are cut where no merge can ever cross: between two characters that are tokens
 * themselves and that no vocabulary token holds next to each other. Every merge result
 * contains its parts' strings back to back, so a merge across such a cut would create
 * a token holding that character pair; none exists, so the pieces merge exactly as the
 * whole word would, and each piece can use the cache. */
#include "runtime/tokenizer_internal.h"

#define QF_TOK_BPE_CACHE_MAX_WORD 256          /* HF caches words shorter than this (MAX_LENGTH) */
#define QF_TOK_BPE_CACHE_MAX ((size_t)1 << 18) /* entries */
#define QF_TOK_BPE_KEY_CHUNK ((size_t)1 << 16)
#define QF_TOK_BPE_MAX_WORD ((size_t)1 << 30)
#define QF_TOK_BPE_CUT_MIN 64 /* words at least this long are cut (see above) */

typedef struct qf_bpe_symbol {
    int32_t id;
    int32_t prev, next; /* -1: none */
    uint32_t len;       /* bytes of input covered; 0: merged into its left neighbour */
} qf_bpe_symbol;

typedef struct qf_bpe_merge {
    uint32_t rank;
    uint32_t pos;
    int32_t new_id;
} qf_bpe_merge;

typedef struct qf_bpe_key_chunk {
    struct qf_bpe_key_chunk *next;
    size_t used;
    char data[];
} qf_bpe_key_chunk;

struct qf_tok_bpe_scratch {
    qf_bpe_symbol *sym;
    size_t n_sym, cap_sym;
    qf_bpe_merge *heap;
    size_t n_heap, cap_heap;
    qf_tok_buf tmp;
    qf_strmap cache; /* word -> offset in cache_ids of [count, ids...] */
    qf_tok_ids cache_ids;
    qf_bpe_key_chunk *keys;
};

/* ---- loading ------------------------------------------------------------------------- */

static qf_status qf_bpe_opt_str(const qf_tok_ctx *c, const cJSON *model, const char *key,
                                int keep_empty, char **out) {
    *out = NULL;
    const cJSON *it = qf_tok_json_get(model, key);
    if (!it) return QF_STATUS_OK;
    QF_RETURN_IF(!cJSON_IsString(it), QF_STATUS_FORMAT, "'%s': model.%s must be a string or null",
                 c->name, key);
    if (!keep_empty && !it->valuestring[0]) return QF_STATUS_OK;
    size_t n = strlen(it->valuestring);
    *out = malloc(n + 1);
    QF_RETURN_IF(!*out, QF_STATUS_NOMEM, "'%s': out of memory", c->name);
    memcpy(*out, it->valuestring, n + 1);
    return QF_STATUS_OK;
}

static qf_status qf_bpe_vocab(const qf_tok_ctx *c, const cJSON *vocab, qf_tok_bpe *b) {
    QF_RETURN_IF(!cJSON_IsObject(vocab), QF_STATUS_FORMAT, "'%s': model.vocab must be an object",
                 c->name);
    size_t n = 0, bytes = 0;
    int64_t max_id = -1;
    for (const cJSON *it = vocab->child; it; it = it->next) {
        QF_RETURN_IF(++n > QF_TOK_MAX_VOCAB, QF_STATUS_UNSUPPORTED,
                     "'%s': model.vocab has more than %zu tokens", c->name, QF_TOK_MAX_VOCAB);
        size_t len = strlen(it->string);
        QF_RETURN_IF(len > QF_TOK_MAX_TOKEN_BYTES, QF_STATUS_FORMAT,
                     "'%s': model.vocab token of %zu bytes (limit %d)", c->name, len,
                     QF_TOK_MAX_TOKEN_BYTES);
        int64_t id;
        QF_FORWARD(qf_tok_json_uint(c, it, "model.vocab id", (double)QF_TOK_MAX_VOCAB, &id));
        if (id > max_id) max_id = id;
        bytes += len + 1;
    }
    b->n_ids = max_id + 1;
    QF_FORWARD(qf_tok_buf_reserve(&b->strings, bytes));
    QF_FORWARD(qf_strmap_init(&b->vocab, n));
    size_t ids = b->n_ids ? (size_t)b->n_ids : 1;
    b->id_off = malloc(ids * sizeof *b->id_off);
    b->id_len = calloc(ids, sizeof *b->id_len);
    QF_RETURN_IF(!b->id_off || !b->id_len, QF_STATUS_NOMEM,
                 "'%s': out of memory for the vocabulary", c->name);
    for (size_t i = 0; i < ids; i++) b->id_off[i] = SIZE_MAX;
    for (const cJSON *it = vocab->child; it; it = it->next) {
        size_t len = strlen(it->string), off = b->strings.len;
        int32_t id = (int32_t)it->valuedouble, old;
        QF_RETURN_IF(b->id_off[id] != SIZE_MAX, QF_STATUS_FORMAT,
                     "'%s': model.vocab: id %d is given to '%s' and to '%s'", c->name, (int)id,
                     b->strings.p + b->id_off[id], it->string);
        /* with its NUL; no realloc happens (reserved above), so keys stay valid */
        QF_FORWARD(qf_tok_buf_append(&b->strings, it->string, len + 1));
        QF_FORWARD(qf_strmap_put(&b->vocab, b->strings.p + off, len, id, &old));
        if (old >= 0) b->id_off[old] = SIZE_MAX; /* a repeated key: the last one wins, as in HF */
        b->id_off[id] = off;
        b->id_len[id] = (uint32_t)len;
    }
    return QF_STATUS_OK;
}

static int32_t qf_bpe_lookup(const qf_tok_bpe *b, const char *s, size_t len) {
    int32_t id;
    return qf_strmap_get(&b->vocab, s, len, &id) ? id : -1;
}

/* One merges entry: "left right" (one space) or ["left", "right"]. */
static qf_status qf_bpe_merge_pair(const qf_tok_ctx *c, const cJSON *m, size_t rank, const char **l,
                                   size_t *ll, const char **r, size_t *rl) {
    if (cJSON_IsString(m)) {
        const char *sp = strchr(m->valuestring, ' ');
        QF_RETURN_IF(!sp || strchr(sp + 1, ' '), QF_STATUS_FORMAT,
                     "'%s': model.merges[%zu] '%.100s' is not two tokens separated by one space",
                     c->name, rank, m->valuestring);
        *l = m->valuestring;
        *ll = (size_t)(sp - m->valuestring);
        *r = sp + 1;
        *rl = strlen(sp + 1);
        return QF_STATUS_OK;
    }
    const cJSON *a = cJSON_IsArray(m) ? m->child : NULL;
    const cJSON *z = a ? a->next : NULL;
    QF_RETURN_IF(!cJSON_IsString(a) || !cJSON_IsString(z) || z->next, QF_STATUS_FORMAT,
                 "'%s': model.merges[%zu] is neither a string nor a pair of strings", c->name,
                 rank);
    *l = a->valuestring;
    *ll = strlen(a->valuestring);
    *r = z->valuestring;
    *rl = strlen(z->valuestring);
    return QF_STATUS_OK;
}

static qf_status qf_bpe_merges(const qf_tok_ctx *c, const cJSON *merges, qf_tok_bpe *b) {
    QF_RETURN_IF(!cJSON_IsArray(merges), QF_STATUS_FORMAT, "'%s': model.merges must be an array",
                 c->name);
    size_t n = (size_t)cJSON_GetArraySize(merges);
    QF_FORWARD(qf_u64map_init(&b->merges, n));
    size_t plen = b->prefix ? strlen(b->prefix) : 0;
    qf_tok_buf joined = {0};
    qf_status st = QF_STATUS_OK;
    size_t rank = 0;
    for (const cJSON *m = merges->child; m && st == QF_STATUS_OK; m = m->next, rank++) {
        const char *l = NULL, *r = NULL;
        size_t ll = 0, rl = 0;
        st = qf_bpe_merge_pair(c, m, rank, &l, &ll, &r, &rl);
        if (st != QF_STATUS_OK) break;
        if (rank >= UINT32_MAX) {
            st = qf_error_set(QF_STATUS_UNSUPPORTED, "'%s': too many merges", c->name);
            break;
        }
        int32_t a = qf_bpe_lookup(b, l, ll), z = qf_bpe_lookup(b, r, rl);
        if (a < 0 || z < 0 || rl < plen) {
            st = qf_error_set(QF_STATUS_FORMAT,
                              "'%s': model.merges[%zu]: token '%.*s' is not in the "
                              "vocabulary",
                              c->name, rank, (int)(a < 0 ? ll : rl), a < 0 ? l : r);
            break;
        }
        joined.len = 0;
        st = qf_tok_buf_append(&joined, l, ll);
        if (st == QF_STATUS_OK) st = qf_tok_buf_append(&joined, r + plen, rl - plen);
        if (st != QF_STATUS_OK) break;
        int32_t merged = qf_bpe_lookup(b, joined.p, joined.len);
        if (merged < 0) {
            st = qf_error_set(QF_STATUS_FORMAT,
                              "'%s': model.merges[%zu]: merged token '%.*s' is not "
                              "in the vocabulary",
                              c->name, rank, (int)joined.len, joined.p);
            break;
        }
        /* a repeated pair keeps the last rank, as HF's HashMap collect does */
        st = qf_u64map_put(&b->merges, (uint64_t)(uint32_t)a << 32 | (uint32_t)z,
                           (uint64_t)rank << 32 | (uint32_t)merged);
    }
    qf_tok_buf_free(&joined);
    return st;
}

qf_status qf_tok_bpe_parse(const qf_tok_ctx *c, const cJSON *model, qf_tok_bpe *b) {
    memset(b, 0, sizeof *b);
    qf_status st = QF_STATUS_OK;
    const cJSON *dropout = qf_tok_json_get(model, "dropout");
    if (dropout && !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0.0))
        st = qf_error_set(QF_STATUS_UNSUPPORTED,
                          "'%s': BPE dropout is not supported (it makes encoding random)", c->name);
    if (st == QF_STATUS_OK) st = qf_bpe_opt_str(c, model, "unk_token", 1, &b->unk_token);
    if (st == QF_STATUS_OK)
        st = qf_bpe_opt_str(c, model, "continuing_subword_prefix", 0, &b->prefix);
    if (st == QF_STATUS_OK) st = qf_bpe_opt_str(c, model, "end_of_word_suffix", 0, &b->suffix);
    if (st == QF_STATUS_OK) st = qf_tok_json_bool(c, model, "fuse_unk", "model", 0, &b->fuse_unk);
    if (st == QF_STATUS_OK)
        st = qf_tok_json_bool(c, model, "byte_fallback", "model", 0, &b->byte_fallback);
    if (st == QF_STATUS_OK)
        st = qf_tok_json_bool(c, model, "ignore_merges", "model", 0, &b->ignore_merges);
    if (st == QF_STATUS_OK) {
        const cJSON *vocab = qf_tok_json_get(model, "vocab");
        st = vocab ? qf_bpe_vocab(c, vocab, b)
                   : qf_error_set(QF_STATUS_FORMAT, "'%s': model has no 'vocab'", c->name);
    }
    if (st == QF_STATUS_OK) {
        const cJSON *merges = qf_tok_json_get(model, "merges");
        st = merges ? qf_bpe_merges(c, merges, b)
                    : qf_error_set(QF_STATUS_FORMAT, "'%s': model has no 'merges'", c->name);
    }
    for (int i = 0; i < 256 && st == QF_STATUS_OK; i++) {
        static const char hex[] = "0123456789ABCDEF";
        char code[6] = {'<', '0', 'x', hex[i >> 4], hex[i & 15], '>'};
        b->byte_ids[i] = qf_bpe_lookup(b, code, sizeof code);
    }
    if (st != QF_STATUS_OK) qf_tok_bpe_free(b);
    return st;
}

qf_status qf_tok_bpe_index_pairs(qf_tok_bpe *b) {
    if (b->prefix || b->suffix)
        return QF_STATUS_OK; /* merged strings are not plain concatenations */
    QF_FORWARD(qf_u64map_init(&b->pairs, b->vocab.count * 4));
    for (int64_t id = 0; id < b->n_ids; id++) {
        if (b->id_off[id] == SIZE_MAX) continue;
        const char *t = b->strings.p + b->id_off[id];
        size_t len = b->id_len[id];
        uint32_t prev, cp;
        size_t i = qf_utf8_decode(t, &prev);
        while (i < len) {
            i += qf_utf8_decode(t + i, &cp);
            QF_FORWARD(qf_u64map_put(&b->pairs, (uint64_t)prev << 32 | cp, 1));
            prev = cp;
        }
    }
    b->has_pairs = 1;
    return QF_STATUS_OK;
}

void qf_tok_bpe_free(qf_tok_bpe *b) {
    if (!b) return;
    qf_strmap_free(&b->vocab);
    qf_u64map_free(&b->merges);
    qf_u64map_free(&b->pairs);
    qf_tok_buf_free(&b->strings);
    free(b->id_off);
    free(b->id_len);
    free(b->unk_token);
    free(b->prefix);
    free(b->suffix);
    memset(b, 0, sizeof *b);
}

/* ---- scratch ------------------------------------------------------------------------- */

qf_status qf_tok_bpe_scratch_init(qf_tok_bpe_scratch **out) {
    qf_tok_bpe_scratch *s = calloc(1, sizeof *s);
    QF_RETURN_IF(!s, QF_STATUS_NOMEM, "tokenizer: out of memory");
    qf_status st = qf_strmap_init(&s->cache, 1024);
    if (st != QF_STATUS_OK) {
        free(s);
        return st;
    }
    *out = s;
    return QF_STATUS_OK;
}

void qf_tok_bpe_scratch_free(qf_tok_bpe_scratch *s) {
    if (!s) return;
    free(s->sym);
    free(s->heap);
    qf_tok_buf_free(&s->tmp);
    qf_strmap_free(&s->cache);
    free(s->cache_ids.v);
    while (s->keys) {
        qf_bpe_key_chunk *next = s->keys->next;
        free(s->keys);
        s->keys = next;
    }
    free(s);
}

/* ---- the merge loop ------------------------------------------------------------------ */

static int qf_merge_less(const qf_bpe_merge *a, const qf_bpe_merge *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static qf_status qf_heap_push(qf_tok_bpe_scratch *s, qf_bpe_merge m) {
    if (s->n_heap == s->cap_heap) {
        size_t cap = s->cap_heap ? 2 * s->cap_heap : 64;
        qf_bpe_merge *h = realloc(s->heap, cap * sizeof *h);
        QF_RETURN_IF(!h, QF_STATUS_NOMEM, "tokenizer: out of memory for BPE merges");
        s->heap = h;
        s->cap_heap = cap;
    }
    size_t i = s->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!qf_merge_less(&m, &s->heap[parent])) break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = m;
    return QF_STATUS_OK;
}

static qf_bpe_merge qf_heap_pop(qf_tok_bpe_scratch *s) {
    qf_bpe_merge top = s->heap[0], last = s->heap[--s->n_heap];
    size_t i = 0, n = s->n_heap;
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        const qf_bpe_merge *bm = &last;
        if (l < n && qf_merge_less(&s->heap[l], bm)) best = l, bm = &s->heap[l];
        if (l + 1 < n && qf_merge_less(&s->heap[l + 1], bm)) best = l + 1;
        if (best == i) break;
        s->heap[i] = s->heap[best];
        i = best;
    }
    if (n) s->heap[i] = last;
    return top;
}

/* Queues the merge of the pair starting at `pos` (left id a, right id z), if any. */
static qf_status qf_queue_pair(const qf_tok_bpe *b, qf_tok_bpe_scratch *s, size_t pos, int32_t a,
                               int32_t z) {
    uint64_t v;
    if (!qf_u64map_get(&b->merges, (uint64_t)(uint32_t)a << 32 | (uint32_t)z, &v))
        return QF_STATUS_OK;
    return qf_heap_push(s,
                        (qf_bpe_merge){(uint32_t)(v >> 32), (uint32_t)pos, (int32_t)(uint32_t)v});
}

static qf_status qf_merge_all(const qf_tok_bpe *b, qf_tok_bpe_scratch *s) {
    qf_bpe_symbol *sym = s->sym;
    size_t n = s->n_sym;
    s->n_heap = 0;
    for (size_t i = 0; i + 1 < n; i++) QF_FORWARD(qf_queue_pair(b, s, i, sym[i].id, sym[i + 1].id));
    while (s->n_heap) {
        qf_bpe_merge top = qf_heap_pop(s);
        qf_bpe_symbol *cur = &sym[top.pos];
        if (cur->len == 0 || cur->next < 0) continue;
        qf_bpe_symbol right = sym[cur->next];
        uint64_t v;
        if (!qf_u64map_get(&b->merges, (uint64_t)(uint32_t)cur->id << 32 | (uint32_t)right.id,
                           &v) ||
            (int32_t)(uint32_t)v != top.new_id)
            continue; /* an expired queue entry */
        sym[cur->next].len = 0;
        cur->id = top.new_id;
        cur->len += right.len;
        cur->next = right.next;
        if (right.next >= 0) sym[right.next].prev = (int32_t)top.pos;
        if (cur->prev >= 0)
            QF_FORWARD(qf_queue_pair(b, s, (size_t)cur->prev, sym[cur->prev].id, cur->id));
        if (cur->next >= 0) QF_FORWARD(qf_queue_pair(b, s, top.pos, cur->id, sym[cur->next].id));
    }
    return QF_STATUS_OK;
}

static qf_status qf_sym_add(qf_tok_bpe_scratch *s, int32_t id, size_t len) {
    if (s->n_sym == s->cap_sym) {
        size_t cap = s->cap_sym ? 2 * s->cap_sym : 64;
        qf_bpe_symbol *v = realloc(s->sym, cap * sizeof *v);
        QF_RETURN_IF(!v, QF_STATUS_NOMEM, "tokenizer: out of memory for BPE symbols");
        s->sym = v;
        s->cap_sym = cap;
    }
    int32_t i = (int32_t)s->n_sym;
    if (i > 0) s->sym[i - 1].next = i;
    s->sym[s->n_sym++] = (qf_bpe_symbol){id, i - 1, -1, (uint32_t)len};
    return QF_STATUS_OK;
}

/* merge_word: the word's characters as symbols, then merge_all. */
static qf_status qf_merge_word(const qf_tok_bpe *b, qf_tok_bpe_scratch *s, const char *w,
                               size_t len) {
    s->n_sym = 0;
    int32_t unk = -1;   /* a pending unk symbol... */
    size_t unk_len = 0; /* ...covering this many bytes */
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t cl = qf_utf8_decode(w + i, &cp);
        const char *t = w + i;
        size_t tl = cl;
        if ((b->prefix && i > 0) || (b->suffix && i + cl == len)) {
            s->tmp.len = 0;
            if (b->prefix && i > 0)
                QF_FORWARD(qf_tok_buf_append(&s->tmp, b->prefix, strlen(b->prefix)));
            QF_FORWARD(qf_tok_buf_append(&s->tmp, w + i, cl));
            if (b->suffix && i + cl == len)
                QF_FORWARD(qf_tok_buf_append(&s->tmp, b->suffix, strlen(b->suffix)));
            t = s->tmp.p;
            tl = s->tmp.len;
        }
        i += cl;
        int32_t id = qf_bpe_lookup(b, t, tl);
        if (id >= 0) {
            if (unk >= 0) QF_FORWARD(qf_sym_add(s, unk, unk_len));
            unk = -1;
            QF_FORWARD(qf_sym_add(s, id, cl));
            continue;
        }
        if (b->byte_fallback) {
            size_t k = 0;
            while (k < tl && b->byte_ids[(uint8_t)t[k]] >= 0) k++;
            if (k == tl) { /* HF adds these before a pending unk (model.rs merge_word) */
                for (k = 0; k < tl; k++) QF_FORWARD(qf_sym_add(s, b->byte_ids[(uint8_t)t[k]], 1));
                continue;
            }
        }
        if (!b->unk_token) continue; /* HF drops the character */
        int32_t unk_id = qf_bpe_lookup(b, b->unk_token, strlen(b->unk_token));
        QF_RETURN_IF(unk_id < 0, QF_STATUS_FORMAT,
                     "tokenizer: unk_token '%s' is not in the vocabulary", b->unk_token);
        if (unk >= 0 && b->fuse_unk) {
            unk_len += cl;
            continue;
        }
        if (unk >= 0) QF_FORWARD(qf_sym_add(s, unk, unk_len));
        unk = unk_id;
        unk_len = cl;
    }
    if (unk >= 0) QF_FORWARD(qf_sym_add(s, unk, unk_len));
    return qf_merge_all(b, s);
}

/* Copies a cache key into chunked storage that never moves. */
static const char *qf_cache_key(qf_tok_bpe_scratch *s, const char *w, size_t len) {
    if (!s->keys || s->keys->used + len > QF_TOK_BPE_KEY_CHUNK) {
        qf_bpe_key_chunk *c = malloc(sizeof *c + QF_TOK_BPE_KEY_CHUNK);
        if (!c) return NULL;
        c->next = s->keys;
        c->used = 0;
        s->keys = c;
    }
    char *k = s->keys->data + s->keys->used;
    memcpy(k, w, len);
    s->keys->used += len;
    return k;
}

/* Encodes one word (or one piece of a cut word), through the cache. */
static qf_status qf_bpe_encode_piece(const qf_tok_bpe *b, qf_tok_bpe_scratch *s, const char *w,
                                     size_t len, qf_tok_ids *out) {
    int32_t id;
    int cacheable = len < QF_TOK_BPE_CACHE_MAX_WORD;
    if (cacheable && qf_strmap_get(&s->cache, w, len, &id)) {
        const int32_t *e = s->cache_ids.v + id;
        for (int32_t k = 1; k <= e[0]; k++) QF_FORWARD(qf_tok_ids_push(out, e[k]));
        return QF_STATUS_OK;
    }
    QF_FORWARD(qf_merge_word(b, s, w, len));
    size_t first = out->n;
    for (size_t i = 0; i < s->n_sym; i++)
        if (s->sym[i].len) QF_FORWARD(qf_tok_ids_push(out, s->sym[i].id));
    if (!cacheable || s->cache.count >= QF_TOK_BPE_CACHE_MAX || s->cache_ids.n > INT32_MAX / 2)
        return QF_STATUS_OK;
    const char *key = qf_cache_key(s, w, len);
    QF_RETURN_IF(!key, QF_STATUS_NOMEM, "tokenizer: out of memory for the word cache");
    int32_t at = (int32_t)s->cache_ids.n;
    QF_FORWARD(qf_tok_ids_push(&s->cache_ids, (int32_t)(out->n - first)));
    for (size_t i = first; i < out->n; i++) QF_FORWARD(qf_tok_ids_push(&s->cache_ids, out->v[i]));
    return qf_strmap_put(&s->cache, key, len, at, NULL);
}

/* Encodes a long word piece by piece, cut where no merge can cross (see the top). */
static qf_status qf_bpe_encode_cut(const qf_tok_bpe *b, qf_tok_bpe_scratch *s, const char *w,
                                   size_t len, qf_tok_ids *out) {
    uint32_t prev;
    size_t start = 0, i = qf_utf8_decode(w, &prev);
    int32_t id;
    int prev_known = qf_strmap_get(&b->vocab, w, i, &id);
    while (i < len) {
        uint32_t cp;
        size_t n = qf_utf8_decode(w + i, &cp);
        int known = qf_strmap_get(&b->vocab, w + i, n, &id);
        uint64_t v;
        if (known && prev_known && !qf_u64map_get(&b->pairs, (uint64_t)prev << 32 | cp, &v)) {
            QF_FORWARD(qf_bpe_encode_piece(b, s, w + start, i - start, out));
            start = i;
        }
        prev = cp;
        prev_known = known;
        i += n;
    }
    return qf_bpe_encode_piece(b, s, w + start, len - start, out);
}

qf_status qf_tok_bpe_encode(const qf_tok_bpe *b, qf_tok_bpe_scratch *s, const char *w, size_t len,
                            qf_tok_ids *out) {
    if (len == 0) return QF_STATUS_OK;
    QF_RETURN_IF(len > QF_TOK_BPE_MAX_WORD, QF_STATUS_NOMEM,
                 "tokenizer: a word of %zu bytes is longer than the BPE limit", len);
    int32_t id;
    if (b->ignore_merges && qf_strmap_get(&b->vocab, w, len, &id)) return qf_tok_ids_push(out, id);
    if (b->has_pairs && len >= QF_TOK_BPE_CUT_MIN) return qf_bpe_encode_cut(b, s, w, len, out);
    return qf_bpe_encode_piece(b, s, w, len, out);
}
