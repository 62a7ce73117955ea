/* Growable byte buffers, id vectors, piece lists and span lists of the tokenizer. */
#include "runtime/tokenizer_internal.h"

#include "core/alloc.h"

qf_status qf_tok_buf_reserve(qf_tok_buf *b, size_t extra) {
    QF_RETURN_IF(extra > SIZE_MAX - b->len - 1, QF_STATUS_NOMEM, "tokenizer: buffer size overflow");
    void *p = b->p;
    QF_FORWARD(qf_array_grow(&p, &b->cap, b->len + extra + 1, 1, "tokenizer"));
    b->p = p;
    return QF_STATUS_OK;
}

qf_status qf_tok_buf_append(qf_tok_buf *b, const void *data, size_t n) {
    QF_FORWARD(qf_tok_buf_reserve(b, n));
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return QF_STATUS_OK;
}

void qf_tok_buf_free(qf_tok_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

qf_status qf_tok_ids_push(qf_tok_ids *ids, int32_t id) {
    if (ids->n == ids->cap) {
        void *p = ids->v;
        QF_FORWARD(qf_array_grow(&p, &ids->cap, ids->n + 1, sizeof *ids->v, "tokenizer"));
        ids->v = p;
    }
    ids->v[ids->n++] = id;
    return QF_STATUS_OK;
}

qf_status qf_tok_pieces_add(qf_tok_pieces *p, const char *s, size_t len, int at_start) {
    if (p->n == p->cap) {
        void *v = p->v;
        QF_FORWARD(qf_array_grow(&v, &p->cap, p->n + 1, sizeof *p->v, "tokenizer"));
        p->v = v;
    }
    size_t off = p->text.len;
    QF_FORWARD(qf_tok_buf_append(&p->text, s, len));
    p->v[p->n++] = (qf_tok_piece){off, len, (uint8_t)(at_start != 0)};
    return QF_STATUS_OK;
}

void qf_tok_pieces_clear(qf_tok_pieces *p) {
    p->n = 0;
    p->text.len = 0;
}

void qf_tok_pieces_free(qf_tok_pieces *p) {
    free(p->v);
    qf_tok_buf_free(&p->text);
    memset(p, 0, sizeof *p);
}

qf_status qf_tok_spans_push(qf_tok_spans *s, size_t start, size_t end, int match) {
    if (s->n == s->cap) {
        void *v = s->v;
        QF_FORWARD(qf_array_grow(&v, &s->cap, s->n + 1, sizeof *s->v, "tokenizer"));
        s->v = v;
    }
    s->v[s->n++] = (qf_tok_span){start, end, match};
    return QF_STATUS_OK;
}
