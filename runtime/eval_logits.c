/* Saved top-k distributions: header + zstd-compressed records (see eval_logits.h). */
#include "runtime/eval_logits.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "core/fileio.h"

#define QF_LOGITS_MAGIC "QFLOGIT1"
#define QF_LOGITS_HEADER_SIZE 128
#define QF_LOGITS_MAX_VOCAB (1ull << 24)
#define QF_LOGITS_ZSTD_LEVEL 3

static size_t qf_record_size(uint32_t k) { return 4 + (size_t)k * 8; }

static void qf_put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void qf_put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t qf_get_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t qf_get_u64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void qf_header_encode(const qf_logits_header *h, uint8_t *b) {
    memset(b, 0, QF_LOGITS_HEADER_SIZE);
    memcpy(b, QF_LOGITS_MAGIC, 8);
    qf_put_u32(b + 8, h->topk);
    qf_put_u64(b + 16, h->vocab);
    qf_put_u64(b + 24, h->n_positions);
    qf_put_u64(b + 32, (uint64_t)h->ctx);
    qf_put_u64(b + 40, (uint64_t)h->stride);
    qf_put_u64(b + 48, (uint64_t)h->bos_id);
    memcpy(b + 56, h->text_sha256, 64);
}

struct qf_logits_writer {
    qf_atomic_file file;
    ZSTD_CCtx *cctx;
    qf_logits_header h;
    uint8_t *rec;
    uint8_t *out;
    size_t out_cap;
};

qf_status qf_logits_writer_open(const char *path, const qf_logits_header *h, qf_logits_writer **out) {
    *out = NULL;
    QF_RETURN_IF(h->topk == 0 || h->topk > QF_LOGITS_MAX_TOPK || h->topk > h->vocab,
                 QF_STATUS_INVALID_ARG, "top-k must be 1..%d and at most the vocabulary size",
                 QF_LOGITS_MAX_TOPK);
    qf_logits_writer *w = calloc(1, sizeof *w);
    QF_RETURN_IF(!w, QF_STATUS_NOMEM, "out of memory");
    w->h = *h;
    w->h.n_positions = 0;
    w->cctx = ZSTD_createCCtx();
    w->rec = malloc(qf_record_size(h->topk));
    w->out_cap = ZSTD_CStreamOutSize();
    w->out = malloc(w->out_cap);
    qf_status st = (!w->cctx || !w->rec || !w->out) ? qf_error_set(QF_STATUS_NOMEM, "out of memory")
                                                     : qf_atomic_open(path, 0, &w->file);
    if (st != QF_STATUS_OK) {
        ZSTD_freeCCtx(w->cctx);
        free(w->rec);
        free(w->out);
        free(w);
        return st;
    }
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, QF_LOGITS_ZSTD_LEVEL);
    uint8_t hb[QF_LOGITS_HEADER_SIZE];
    qf_header_encode(&w->h, hb);
    st = qf_atomic_write(&w->file, hb, sizeof hb);
    if (st != QF_STATUS_OK) {
        qf_logits_writer_abort(w);
        return st;
    }
    *out = w;
    return QF_STATUS_OK;
}

static qf_status qf_writer_push(qf_logits_writer *w, const void *src, size_t n, ZSTD_EndDirective mode) {
    ZSTD_inBuffer in = {src, n, 0};
    for (;;) {
        ZSTD_outBuffer ob = {w->out, w->out_cap, 0};
        size_t left = ZSTD_compressStream2(w->cctx, &ob, &in, mode);
        QF_RETURN_IF(ZSTD_isError(left), QF_STATUS_IO, "'%s': zstd: %s", w->file.final_path,
                     ZSTD_getErrorName(left));
        QF_FORWARD(qf_atomic_write(&w->file, w->out, ob.pos));
        if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) return QF_STATUS_OK;
    }
}

qf_status qf_logits_writer_add(qf_logits_writer *w, const qf_logits_record *r) {
    uint32_t k = w->h.topk;
    memcpy(w->rec, &r->nll, 4);
    memcpy(w->rec + 4, r->ids, (size_t)k * 4);
    memcpy(w->rec + 4 + (size_t)k * 4, r->logprobs, (size_t)k * 4);
    w->h.n_positions++;
    return qf_writer_push(w, w->rec, qf_record_size(k), ZSTD_e_continue);
}

static void qf_writer_free(qf_logits_writer *w) {
    ZSTD_freeCCtx(w->cctx);
    free(w->rec);
    free(w->out);
    free(w);
}

qf_status qf_logits_writer_finish(qf_logits_writer *w) {
    uint8_t hb[QF_LOGITS_HEADER_SIZE];
    qf_header_encode(&w->h, hb);
    qf_status st = qf_writer_push(w, NULL, 0, ZSTD_e_end);
    if (st == QF_STATUS_OK) st = qf_atomic_pwrite(&w->file, hb, sizeof hb, 0);
    if (st == QF_STATUS_OK) st = qf_atomic_commit(&w->file);
    else qf_atomic_abort(&w->file);
    qf_writer_free(w);
    return st;
}

void qf_logits_writer_abort(qf_logits_writer *w) {
    if (!w) return;
    qf_atomic_abort(&w->file);
    qf_writer_free(w);
}

struct qf_logits_reader {
    qf_mapped_file map;
    char *path;
    qf_logits_header h;
    ZSTD_DCtx *dctx;
    ZSTD_inBuffer in;
    uint8_t *rec;
    uint64_t read;
    size_t zret; /* last ZSTD_decompressStream result: 0 once the frame has ended */
};

qf_status qf_logits_reader_open(const char *path, qf_logits_reader **out) {
    *out = NULL;
    qf_logits_reader *r = calloc(1, sizeof *r);
    QF_RETURN_IF(!r, QF_STATUS_NOMEM, "out of memory");
    qf_status st = qf_file_map(path, &r->map);
    r->path = strdup(path);
    if (st == QF_STATUS_OK && !r->path) st = qf_error_set(QF_STATUS_NOMEM, "out of memory");
    if (st == QF_STATUS_OK && (r->map.size < QF_LOGITS_HEADER_SIZE ||
                               memcmp(r->map.data, QF_LOGITS_MAGIC, 8) != 0))
        st = qf_error_set(QF_STATUS_FORMAT, "'%s': not a qforge saved-logits file (bad magic or too short)",
                          path);
    if (st == QF_STATUS_OK) {
        const uint8_t *b = r->map.data;
        r->h.topk = qf_get_u32(b + 8);
        r->h.vocab = qf_get_u64(b + 16);
        r->h.n_positions = qf_get_u64(b + 24);
        r->h.ctx = (int64_t)qf_get_u64(b + 32);
        r->h.stride = (int64_t)qf_get_u64(b + 40);
        r->h.bos_id = (int64_t)qf_get_u64(b + 48);
        memcpy(r->h.text_sha256, b + 56, 64);
        r->h.text_sha256[64] = '\0';
        if (r->h.topk == 0 || r->h.topk > QF_LOGITS_MAX_TOPK || r->h.vocab == 0 ||
            r->h.vocab > QF_LOGITS_MAX_VOCAB || r->h.topk > r->h.vocab || r->h.ctx < 2 ||
            r->h.stride < 1 || r->h.stride > r->h.ctx)
            st = qf_error_set(QF_STATUS_FORMAT, "'%s': corrupt header (top-k %u, vocab %llu, ctx %lld, stride %lld)",
                              path, r->h.topk, (unsigned long long)r->h.vocab, (long long)r->h.ctx,
                              (long long)r->h.stride);
    }
    if (st == QF_STATUS_OK) {
        r->dctx = ZSTD_createDCtx();
        r->rec = malloc(qf_record_size(r->h.topk));
        if (!r->dctx || !r->rec) st = qf_error_set(QF_STATUS_NOMEM, "out of memory");
        r->in.src = r->map.data + QF_LOGITS_HEADER_SIZE;
        r->in.size = r->map.size - QF_LOGITS_HEADER_SIZE;
        r->in.pos = 0;
        r->zret = 1;
    }
    if (st != QF_STATUS_OK) {
        qf_logits_reader_free(r);
        return st;
    }
    *out = r;
    return QF_STATUS_OK;
}

const qf_logits_header *qf_logits_reader_header(const qf_logits_reader *r) { return &r->h; }

qf_status qf_logits_reader_next(qf_logits_reader *r, qf_logits_record *rec) {
    uint32_t k = r->h.topk;
    size_t need = qf_record_size(k);
    QF_RETURN_IF(r->read >= r->h.n_positions, QF_STATUS_FORMAT,
                 "'%s': more positions requested than the %llu saved", r->path,
                 (unsigned long long)r->h.n_positions);
    ZSTD_outBuffer ob = {r->rec, need, 0};
    while (ob.pos < need) {
        size_t before_in = r->in.pos, before_out = ob.pos;
        size_t ret = ZSTD_decompressStream(r->dctx, &ob, &r->in);
        QF_RETURN_IF(ZSTD_isError(ret), QF_STATUS_FORMAT, "'%s': corrupt data: %s", r->path,
                     ZSTD_getErrorName(ret));
        r->zret = ret;
        QF_RETURN_IF(ob.pos < need && r->in.pos == before_in && ob.pos == before_out,
                     QF_STATUS_FORMAT, "'%s': truncated after %llu of %llu positions", r->path,
                     (unsigned long long)r->read, (unsigned long long)r->h.n_positions);
    }
    memcpy(&rec->nll, r->rec, 4);
    memcpy(rec->ids, r->rec + 4, (size_t)k * 4);
    memcpy(rec->logprobs, r->rec + 4 + (size_t)k * 4, (size_t)k * 4);
    QF_RETURN_IF(!isfinite(rec->nll) || rec->nll < 0, QF_STATUS_FORMAT,
                 "'%s': position %llu: invalid NLL", r->path, (unsigned long long)r->read);
    for (uint32_t i = 0; i < k; i++)
        QF_RETURN_IF(rec->ids[i] >= r->h.vocab || !(rec->logprobs[i] <= 0.0f) ||
                         isnan(rec->logprobs[i]),
                     QF_STATUS_FORMAT, "'%s': position %llu: invalid token id or log-probability",
                     r->path, (unsigned long long)r->read);
    r->read++;
    return QF_STATUS_OK;
}

qf_status qf_logits_reader_finish(qf_logits_reader *r) {
    QF_RETURN_IF(r->read != r->h.n_positions, QF_STATUS_FORMAT,
                 "'%s': %llu positions saved, %llu compared", r->path,
                 (unsigned long long)r->h.n_positions, (unsigned long long)r->read);
    uint8_t extra;
    ZSTD_outBuffer ob = {&extra, 1, 0};
    size_t ret = r->zret;
    if (ret != 0) ret = ZSTD_decompressStream(r->dctx, &ob, &r->in); /* frame epilogue */
    QF_RETURN_IF(ZSTD_isError(ret) || ob.pos != 0 || ret != 0 || r->in.pos != r->in.size,
                 QF_STATUS_FORMAT, "'%s': trailing data after the last position", r->path);
    return QF_STATUS_OK;
}

void qf_logits_reader_free(qf_logits_reader *r) {
    if (!r) return;
    qf_file_unmap(&r->map);
    ZSTD_freeDCtx(r->dctx);
    free(r->rec);
    free(r->path);
    free(r);
}
