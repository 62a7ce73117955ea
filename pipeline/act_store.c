/* Activation store: per-sample f32 buffers in memory under a byte budget, spilled to
 * zstd files beyond it; zstd file read/write shared with the layer checkpoints. */
#include "pipeline/act_store.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "core/fileio.h"

#define QF_ACT_PATH_MAX 4096
#define QF_ACT_ZSTD_LEVEL 1

/* Where compressed bytes go: an atomic file or a plain FILE. */
typedef struct qf_act_sink {
    qf_atomic_file af;
    FILE *fp;
    const char *path;
} qf_act_sink;

static qf_status qf_act_sink_write(qf_act_sink *k, const void *buf, size_t n) {
    if (!k->fp) return qf_atomic_write(&k->af, buf, n);
    QF_RETURN_IF(fwrite(buf, 1, n, k->fp) != n, QF_STATUS_IO, "'%s': write failed: %s", k->path,
                 strerror(errno));
    return QF_STATUS_OK;
}

static qf_status qf_act_compress(ZSTD_CCtx *cc, qf_act_sink *k, const float *x, size_t n) {
    size_t cap = ZSTD_CStreamOutSize();
    void *out = malloc(cap);
    QF_RETURN_IF(!out, QF_STATUS_NOMEM, "'%s': out of memory", k->path);
    ZSTD_inBuffer in = {x, n * sizeof(float), 0};
    qf_status st = QF_STATUS_OK;
    for (size_t left = 1; left && st == QF_STATUS_OK;) {
        ZSTD_outBuffer ob = {out, cap, 0};
        left = ZSTD_compressStream2(cc, &ob, &in, ZSTD_e_end);
        if (ZSTD_isError(left))
            st = qf_error_set(QF_STATUS_IO, "'%s': zstd: %s", k->path, ZSTD_getErrorName(left));
        else
            st = qf_act_sink_write(k, out, ob.pos);
    }
    free(out);
    return st;
}

qf_status qf_act_zstd_write(const char *path, const float *x, size_t n, int durable) {
    QF_RETURN_IF(n > SIZE_MAX / sizeof(float), QF_STATUS_NOMEM, "'%s': too large", path);
    qf_act_sink k = {.path = path};
    if (durable) {
        QF_FORWARD(qf_atomic_open(path, 1, &k.af));
    } else {
        k.fp = fopen(path, "wb");
        QF_RETURN_IF(!k.fp, QF_STATUS_IO, "'%s': cannot create: %s", path, strerror(errno));
    }
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    qf_status st = cc ? QF_STATUS_OK : qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", path);
    if (st == QF_STATUS_OK) ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, QF_ACT_ZSTD_LEVEL);
    if (st == QF_STATUS_OK) st = qf_act_compress(cc, &k, x, n);
    ZSTD_freeCCtx(cc);
    if (durable) {
        if (st == QF_STATUS_OK) return qf_atomic_commit(&k.af);
        qf_atomic_abort(&k.af);
        return st;
    }
    if (fclose(k.fp) != 0 && st == QF_STATUS_OK)
        st = qf_error_set(QF_STATUS_IO, "'%s': write failed: %s", path, strerror(errno));
    if (st != QF_STATUS_OK) unlink(path);
    return st;
}

static qf_status qf_act_decompress(ZSTD_DCtx *dc, FILE *fp, const char *path, float *x,
                                   size_t n) {
    size_t cap = ZSTD_DStreamInSize();
    void *buf = malloc(cap);
    QF_RETURN_IF(!buf, QF_STATUS_NOMEM, "'%s': out of memory", path);
    ZSTD_outBuffer ob = {x, n * sizeof(float), 0};
    size_t last = 0, got;
    qf_status st = QF_STATUS_OK;
    while (st == QF_STATUS_OK && (got = fread(buf, 1, cap, fp)) > 0) {
        ZSTD_inBuffer in = {buf, got, 0};
        while (in.pos < in.size) {
            size_t pos0 = ob.pos, in0 = in.pos;
            last = ZSTD_decompressStream(dc, &ob, &in);
            if (ZSTD_isError(last)) {
                st = qf_error_set(QF_STATUS_FORMAT, "'%s': corrupt zstd data: %s", path,
                                  ZSTD_getErrorName(last));
                break;
            }
            if (ob.pos == ob.size && pos0 == ob.pos && in0 == in.pos) {
                st = qf_error_set(QF_STATUS_FORMAT, "'%s': holds more than %zu floats", path, n);
                break;
            }
        }
    }
    if (st == QF_STATUS_OK && ferror(fp))
        st = qf_error_set(QF_STATUS_IO, "'%s': read failed: %s", path, strerror(errno));
    if (st == QF_STATUS_OK && (last != 0 || ob.pos != ob.size))
        st = qf_error_set(QF_STATUS_FORMAT, "'%s': truncated: %zu of %zu bytes", path, ob.pos,
                          ob.size);
    free(buf);
    return st;
}

qf_status qf_act_zstd_read(const char *path, float *x, size_t n) {
    QF_RETURN_IF(n > SIZE_MAX / sizeof(float), QF_STATUS_NOMEM, "'%s': too large", path);
    FILE *fp = fopen(path, "rb");
    QF_RETURN_IF(!fp, QF_STATUS_IO, "'%s': cannot open: %s", path, strerror(errno));
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    qf_status st = dc ? qf_act_decompress(dc, fp, path, x, n)
                      : qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", path);
    ZSTD_freeDCtx(dc);
    fclose(fp);
    return st;
}

static qf_status qf_act_spill_path(const qf_act_store *s, int64_t i, char *buf) {
    int n = snprintf(buf, QF_ACT_PATH_MAX, "%s-%lld.zst", s->prefix, (long long)i);
    QF_RETURN_IF(n < 0 || n >= QF_ACT_PATH_MAX, QF_STATUS_INVALID_ARG, "path too long: %s",
                 s->prefix);
    return QF_STATUS_OK;
}

qf_status qf_act_store_init(qf_act_store *s, const char *dir, const char *name,
                            int64_t n_samples, size_t sample_floats, qf_act_budget *budget) {
    memset(s, 0, sizeof *s);
    QF_RETURN_IF(n_samples <= 0 || sample_floats == 0 ||
                     sample_floats > SIZE_MAX / sizeof(float),
                 QF_STATUS_INVALID_ARG, "activation store '%s': bad size", name);
    size_t plen = strlen(dir) + strlen(name) + 2;
    QF_RETURN_IF(plen + 32 > QF_ACT_PATH_MAX, QF_STATUS_INVALID_ARG, "path too long: %s/%s", dir,
                 name);
    s->n_samples = n_samples;
    s->sample_floats = sample_floats;
    s->budget = budget;
    s->mem = calloc((size_t)n_samples, sizeof *s->mem);
    s->spilled = calloc((size_t)n_samples, 1);
    s->prefix = malloc(plen);
    if (!s->mem || !s->spilled || !s->prefix) {
        qf_act_store_free(s);
        return qf_error_set(QF_STATUS_NOMEM, "activation store '%s': out of memory", name);
    }
    snprintf(s->prefix, plen, "%s/%s", dir, name);
    return QF_STATUS_OK;
}

/* Takes bytes from the budget if they fit (1), else leaves it as it is (0). */
static int qf_act_reserve(qf_act_budget *b, size_t bytes) {
    if (!b) return 1;
    size_t used = atomic_load(&b->used);
    do {
        if (b->limit != 0 && (used > b->limit || bytes > b->limit - used)) return 0;
    } while (!atomic_compare_exchange_weak(&b->used, &used, used + bytes));
    return 1;
}

qf_status qf_act_store_put(qf_act_store *s, int64_t i, const float *x) {
    QF_RETURN_IF(i < 0 || i >= s->n_samples, QF_STATUS_INVALID_ARG,
                 "activation store: sample %lld out of range", (long long)i);
    const size_t bytes = s->sample_floats * sizeof(float);
    if (!s->mem[i] && !s->spilled[i] && qf_act_reserve(s->budget, bytes)) {
        s->mem[i] = malloc(bytes);
        if (!s->mem[i] && s->budget) atomic_fetch_sub(&s->budget->used, bytes);
    }
    if (s->mem[i]) {
        memcpy(s->mem[i], x, bytes);
        return QF_STATUS_OK;
    }
    char path[QF_ACT_PATH_MAX];
    QF_FORWARD(qf_act_spill_path(s, i, path));
    QF_FORWARD(qf_act_zstd_write(path, x, s->sample_floats, 0));
    s->spilled[i] = 1;
    return QF_STATUS_OK;
}

qf_status qf_act_store_get(const qf_act_store *s, int64_t i, float *x) {
    QF_RETURN_IF(i < 0 || i >= s->n_samples || (!s->mem[i] && !s->spilled[i]),
                 QF_STATUS_INVALID_ARG, "activation store: sample %lld not stored", (long long)i);
    if (s->mem[i]) {
        memcpy(x, s->mem[i], s->sample_floats * sizeof(float));
        return QF_STATUS_OK;
    }
    char path[QF_ACT_PATH_MAX];
    QF_FORWARD(qf_act_spill_path(s, i, path));
    return qf_act_zstd_read(path, x, s->sample_floats);
}

int qf_act_store_is_spilled(const qf_act_store *s, int64_t i) {
    return i >= 0 && i < s->n_samples && s->spilled[i];
}

void qf_act_store_free(qf_act_store *s) {
    char path[QF_ACT_PATH_MAX];
    for (int64_t i = 0; s->mem && i < s->n_samples; i++) {
        if (s->mem[i]) {
            free(s->mem[i]);
            if (s->budget) atomic_fetch_sub(&s->budget->used, s->sample_floats * sizeof(float));
        }
        if (s->spilled && s->spilled[i] && qf_act_spill_path(s, i, path) == QF_STATUS_OK)
            unlink(path);
    }
    free(s->mem);
    free(s->spilled);
    free(s->prefix);
    memset(s, 0, sizeof *s);
}
