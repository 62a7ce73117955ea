/* GGUF v2/v3 reader: parses and fully validates the header, key-value pairs and tensor
 * infos of a mapped file (or a caller's buffer) inside qf_gguf_open, so that every
 * pointer it hands out is inside the buffer. Facts from ggml docs/gguf.md,
 * ggml/src/gguf.cpp and ggml.h (type ids, block sizes). */
#include "formats/gguf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"

#define QF_GGUF_MAGIC "GGUF"
#define QF_GGUF_MSG_NAME 160 /* bytes of a key/tensor name quoted in an error message */
#define QF_GGUF_MSG_BUF (QF_GGUF_MSG_NAME + 4)

/* ggml type ids → name, block size, bytes per block, qforge dtype (-1: none).
 * Ids ggml never defined or has removed (4, 5, 31-33, 36-38) have name NULL. */
typedef struct qf_ggml_type_info {
    const char *name;
    uint32_t blck;
    uint32_t size;
    int dtype;
} qf_ggml_type_info;

static const qf_ggml_type_info qf_ggml_types[] = {
    [0] = {"F32", 1, 4, QF_DTYPE_F32},
    [1] = {"F16", 1, 2, QF_DTYPE_F16},
    [2] = {"Q4_0", 32, 18, QF_DTYPE_Q4_0},
    [3] = {"Q4_1", 32, 20, QF_DTYPE_Q4_1},
    [6] = {"Q5_0", 32, 22, -1},
    [7] = {"Q5_1", 32, 24, -1},
    [8] = {"Q8_0", 32, 34, QF_DTYPE_Q8_0},
    [9] = {"Q8_1", 32, 36, -1},
    [10] = {"Q2_K", 256, 84, -1},
    [11] = {"Q3_K", 256, 110, -1},
    [12] = {"Q4_K", 256, 144, QF_DTYPE_Q4_K},
    [13] = {"Q5_K", 256, 176, -1},
    [14] = {"Q6_K", 256, 210, QF_DTYPE_Q6_K},
    [15] = {"Q8_K", 256, 292, -1},
    [16] = {"IQ2_XXS", 256, 66, -1},
    [17] = {"IQ2_XS", 256, 74, -1},
    [18] = {"IQ3_XXS", 256, 98, -1},
    [19] = {"IQ1_S", 256, 50, -1},
    [20] = {"IQ4_NL", 32, 18, -1},
    [21] = {"IQ3_S", 256, 110, -1},
    [22] = {"IQ2_S", 256, 82, -1},
    [23] = {"IQ4_XS", 256, 136, -1},
    [24] = {"I8", 1, 1, QF_DTYPE_I8},
    [25] = {"I16", 1, 2, QF_DTYPE_I16},
    [26] = {"I32", 1, 4, QF_DTYPE_I32},
    [27] = {"I64", 1, 8, QF_DTYPE_I64},
    [28] = {"F64", 1, 8, QF_DTYPE_F64},
    [29] = {"IQ1_M", 256, 56, -1},
    [30] = {"BF16", 1, 2, QF_DTYPE_BF16},
    [34] = {"TQ1_0", 256, 54, -1},
    [35] = {"TQ2_0", 256, 66, -1},
    [39] = {"MXFP4", 32, 17, -1},
    [40] = {"NVFP4", 64, 36, -1},
    [41] = {"Q1_0", 128, 18, -1},
};
#define QF_GGML_TYPE_SLOTS (sizeof qf_ggml_types / sizeof qf_ggml_types[0])

static const qf_ggml_type_info *qf_ggml_type_get(uint32_t t) {
    if (t >= QF_GGML_TYPE_SLOTS || !qf_ggml_types[t].name) return NULL;
    return &qf_ggml_types[t];
}

int qf_gguf_dtype_from_ggml(uint32_t ggml_type) {
    const qf_ggml_type_info *i = qf_ggml_type_get(ggml_type);
    return i ? i->dtype : -1;
}

const char *qf_gguf_ggml_type_name(uint32_t ggml_type) {
    const qf_ggml_type_info *i = qf_ggml_type_get(ggml_type);
    return i ? i->name : "unknown";
}

static const char *const qf_gguf_type_names[] = {
    "uint8", "int8",   "uint16", "int16",  "uint32", "int32",   "float32",
    "bool",  "string", "array",  "uint64", "int64",  "float64",
};

const char *qf_gguf_type_name(qf_gguf_type t) {
    if ((unsigned)t > QF_GGUF_TYPE_FLOAT64) return "?";
    return qf_gguf_type_names[t];
}

/* Bytes of one scalar of a fixed-size type; 0 for STRING/ARRAY/unknown. */
static size_t qf_gguf_type_size(uint32_t t) {
    switch (t) {
    case QF_GGUF_TYPE_UINT8:
    case QF_GGUF_TYPE_INT8:
    case QF_GGUF_TYPE_BOOL: return 1;
    case QF_GGUF_TYPE_UINT16:
    case QF_GGUF_TYPE_INT16: return 2;
    case QF_GGUF_TYPE_UINT32:
    case QF_GGUF_TYPE_INT32:
    case QF_GGUF_TYPE_FLOAT32: return 4;
    case QF_GGUF_TYPE_UINT64:
    case QF_GGUF_TYPE_INT64:
    case QF_GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

struct qf_gguf_file {
    char *name;
    qf_mapped_file map; /* data == NULL when opened over memory */
    const uint8_t *base;
    size_t size;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;
    size_t n_kv;
    qf_gguf_kv *kv;
    size_t *kv_sorted; /* kv indices sorted by key */
    size_t n_tensors;
    qf_gguf_tensor *tensors;
    size_t *tensor_sorted; /* tensor indices sorted by name */
};

/* ---- little-endian decoding ------------------------------------------------------- */

static uint16_t qf_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t qf_le32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t qf_le64(const uint8_t *p) { return qf_le32(p) | ((uint64_t)qf_le32(p + 4) << 32); }

/* ---- the cursor: every read is checked against the bytes left ----------------------- */

typedef struct qf_gguf_cursor {
    const uint8_t *base;
    size_t size;
    size_t pos;
    const char *name;     /* file name for messages */
    const char *ctx_kind; /* "key" / "tensor" / NULL: what is being read */
    qf_gguf_str ctx_name;
} qf_gguf_cursor;

/* A key or tensor name for an error message: at most QF_GGUF_MSG_NAME bytes, control
 * bytes (and NUL) shown as '?', "..." when cut. buf holds QF_GGUF_MSG_BUF bytes. */
static const char *qf_msg_name(qf_gguf_str s, char *buf) {
    size_t n = s.len > QF_GGUF_MSG_NAME ? QF_GGUF_MSG_NAME : (size_t)s.len;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        buf[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    memcpy(buf + n, s.len > n ? "..." : "", s.len > n ? 4 : 1);
    return buf;
}

/* Sets an error "'file': key 'k': <message>" with the cursor's context. */
static qf_status qf_gguf_fail(const qf_gguf_cursor *c, qf_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static qf_status qf_gguf_fail(const qf_gguf_cursor *c, qf_status code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char nbuf[QF_GGUF_MSG_BUF];
    if (c->ctx_kind)
        return qf_error_set(code, "'%s': %s '%s': %s", c->name, c->ctx_kind,
                            qf_msg_name(c->ctx_name, nbuf), msg);
    return qf_error_set(code, "'%s': %s", c->name, msg);
}

static qf_status qf_gguf_take(qf_gguf_cursor *c, size_t n, const char *what, const uint8_t **out) {
    *out = NULL;
    if (n > c->size - c->pos)
        return qf_gguf_fail(c, QF_STATUS_FORMAT,
                            "truncated: %s needs %zu bytes at offset %zu, only %zu left "
                            "(file size %zu)",
                            what, n, c->pos, c->size - c->pos, c->size);
    *out = c->base + c->pos;
    c->pos += n;
    return QF_STATUS_OK;
}

static qf_status qf_gguf_read_u32(qf_gguf_cursor *c, const char *what, uint32_t *out) {
    const uint8_t *p = NULL;
    QF_FORWARD(qf_gguf_take(c, 4, what, &p));
    *out = qf_le32(p);
    return QF_STATUS_OK;
}

static qf_status qf_gguf_read_u64(qf_gguf_cursor *c, const char *what, uint64_t *out) {
    const uint8_t *p = NULL;
    QF_FORWARD(qf_gguf_take(c, 8, what, &p));
    *out = qf_le64(p);
    return QF_STATUS_OK;
}

static qf_status qf_gguf_read_str(qf_gguf_cursor *c, const char *what, uint64_t max_len,
                                  qf_gguf_str *out) {
    uint64_t len = 0;
    size_t at = c->pos;
    QF_FORWARD(qf_gguf_read_u64(c, what, &len));
    if (len > max_len)
        return qf_gguf_fail(c, QF_STATUS_FORMAT,
                            "%s at offset %zu: length %llu exceeds the limit of %llu bytes", what,
                            at, (unsigned long long)len, (unsigned long long)max_len);
    if (len > c->size - c->pos)
        return qf_gguf_fail(c, QF_STATUS_FORMAT,
                            "%s at offset %zu: length %llu runs past the end of the file "
                            "(size %zu)",
                            what, at, (unsigned long long)len, c->size);
    out->ptr = (const char *)c->base + c->pos;
    out->len = len;
    c->pos += (size_t)len;
    return QF_STATUS_OK;
}

/* ---- name comparison and sorted indices ------------------------------------------- */

static int qf_gguf_str_cmp(qf_gguf_str a, qf_gguf_str b) {
    size_t n = a.len < b.len ? (size_t)a.len : (size_t)b.len;
    int r = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (r) return r;
    return a.len < b.len ? -1 : a.len > b.len;
}

/* qsort has no context argument: the array being indexed is passed through this
 * thread-local while sorting. */
static _Thread_local const qf_gguf_str *qf_gguf_sort_names;
static _Thread_local size_t qf_gguf_sort_stride;

static const qf_gguf_str *qf_gguf_sort_name_at(size_t i) {
    return (const qf_gguf_str *)((const char *)qf_gguf_sort_names + i * qf_gguf_sort_stride);
}

static int qf_gguf_index_cmp(const void *a, const void *b) {
    size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
    int r = qf_gguf_str_cmp(*qf_gguf_sort_name_at(ia), *qf_gguf_sort_name_at(ib));
    if (r) return r;
    return ia < ib ? -1 : ia > ib;
}

/* Sorts indices 0..n-1 of an array of structs by their qf_gguf_str name (the first at
 * `names`, the next `stride` bytes further); returns the first duplicate pair in
 * *dup_a and *dup_b (SIZE_MAX if none). */
static qf_status qf_gguf_sort_index(const qf_gguf_str *names, size_t stride, size_t n, size_t **out,
                                    size_t *dup_a, size_t *dup_b) {
    *out = NULL;
    *dup_a = *dup_b = SIZE_MAX;
    if (n == 0) return QF_STATUS_OK;
    size_t *idx = malloc(n * sizeof *idx);
    QF_RETURN_IF(!idx, QF_STATUS_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) idx[i] = i;
    qf_gguf_sort_names = names;
    qf_gguf_sort_stride = stride;
    qsort(idx, n, sizeof *idx, qf_gguf_index_cmp);
    for (size_t i = 1; i < n; i++) {
        if (qf_gguf_str_cmp(*qf_gguf_sort_name_at(idx[i - 1]), *qf_gguf_sort_name_at(idx[i])) ==
            0) {
            *dup_a = idx[i - 1];
            *dup_b = idx[i];
            break;
        }
    }
    qf_gguf_sort_names = NULL;
    *out = idx;
    return QF_STATUS_OK;
}

/* ---- key-value pairs -------------------------------------------------------------- */

static qf_status qf_gguf_read_scalar(qf_gguf_cursor *c, uint32_t type, qf_gguf_kv *kv) {
    if (type == QF_GGUF_TYPE_STRING)
        return qf_gguf_read_str(c, "string value", QF_GGUF_MAX_STRING, &kv->v.str);
    const uint8_t *p;
    QF_FORWARD(qf_gguf_take(c, qf_gguf_type_size(type), "value", &p));
    switch (type) {
    case QF_GGUF_TYPE_UINT8: kv->v.u64 = p[0]; break;
    case QF_GGUF_TYPE_INT8: kv->v.i64 = (int8_t)p[0]; break;
    case QF_GGUF_TYPE_UINT16: kv->v.u64 = qf_le16(p); break;
    case QF_GGUF_TYPE_INT16: kv->v.i64 = (int16_t)qf_le16(p); break;
    case QF_GGUF_TYPE_UINT32: kv->v.u64 = qf_le32(p); break;
    case QF_GGUF_TYPE_INT32: kv->v.i64 = (int32_t)qf_le32(p); break;
    case QF_GGUF_TYPE_UINT64: kv->v.u64 = qf_le64(p); break;
    case QF_GGUF_TYPE_INT64: kv->v.i64 = (int64_t)qf_le64(p); break;
    case QF_GGUF_TYPE_BOOL: kv->v.b = p[0] != 0; break;
    case QF_GGUF_TYPE_FLOAT32: {
        uint32_t u = qf_le32(p);
        float f;
        memcpy(&f, &u, 4);
        kv->v.f64 = f;
        break;
    }
    case QF_GGUF_TYPE_FLOAT64: {
        uint64_t u = qf_le64(p);
        memcpy(&kv->v.f64, &u, 8);
        break;
    }
    default: break; /* unreachable: types are checked by the caller */
    }
    return QF_STATUS_OK;
}

static qf_status qf_gguf_read_array(qf_gguf_cursor *c, qf_gguf_kv *kv) {
    uint32_t et = 0;
    uint64_t n = 0;
    QF_FORWARD(qf_gguf_read_u32(c, "array element type", &et));
    if (et == QF_GGUF_TYPE_ARRAY)
        return qf_gguf_fail(c, QF_STATUS_FORMAT, "nested arrays are not supported");
    if (et > QF_GGUF_TYPE_FLOAT64) {
        return qf_gguf_fail(c, QF_STATUS_FORMAT, "unknown array element type %u (valid: 0..12)",
                            et);
    }
    QF_FORWARD(qf_gguf_read_u64(c, "array length", &n));
    if (n > QF_GGUF_MAX_ARRAY) {
        return qf_gguf_fail(c, QF_STATUS_FORMAT,
                            "array length %llu exceeds the limit of %u elements",
                            (unsigned long long)n, (unsigned)QF_GGUF_MAX_ARRAY);
    }
    kv->arr_type = (qf_gguf_type)et;
    kv->arr_len = n;
    kv->arr_data = c->base + c->pos;
    /* every element takes at least this many bytes: check before allocating */
    size_t min_elem = et == QF_GGUF_TYPE_STRING ? 8 : qf_gguf_type_size(et);
    if (n > (c->size - c->pos) / min_elem) {
        return qf_gguf_fail(
            c, QF_STATUS_FORMAT,
            "array of %llu %s at offset %zu runs past the end of the file (size %zu)",
            (unsigned long long)n, qf_gguf_type_name((qf_gguf_type)et), c->pos, c->size);
    }
    if (et != QF_GGUF_TYPE_STRING) {
        c->pos += (size_t)n * min_elem;
        return QF_STATUS_OK;
    }
    if (n == 0) return QF_STATUS_OK;
    qf_gguf_str *strs = malloc((size_t)n * sizeof *strs);
    QF_RETURN_IF(!strs, QF_STATUS_NOMEM, "'%s': out of memory for a %llu-string array", c->name,
                 (unsigned long long)n);
    kv->arr_strs = strs;
    for (uint64_t i = 0; i < n; i++)
        QF_FORWARD(qf_gguf_read_str(c, "array string", QF_GGUF_MAX_STRING, &strs[i]));
    return QF_STATUS_OK;
}

static qf_status qf_gguf_read_kv(qf_gguf_cursor *c, uint64_t i, qf_gguf_kv *kv) {
    char what[64];
    snprintf(what, sizeof what, "key %llu", (unsigned long long)i);
    QF_FORWARD(qf_gguf_read_str(c, what, QF_GGUF_MAX_NAME, &kv->key));
    if (kv->key.len == 0)
        return qf_gguf_fail(c, QF_STATUS_FORMAT, "key %llu at offset %zu is empty",
                            (unsigned long long)i, c->pos - 8);
    c->ctx_kind = "key";
    c->ctx_name = kv->key;
    uint32_t type = 0;
    QF_FORWARD(qf_gguf_read_u32(c, "value type", &type));
    if (type > QF_GGUF_TYPE_FLOAT64)
        return qf_gguf_fail(c, QF_STATUS_FORMAT, "unknown value type %u (valid: 0..12)", type);
    kv->type = (qf_gguf_type)type;
    if (type == QF_GGUF_TYPE_ARRAY) return qf_gguf_read_array(c, kv);
    return qf_gguf_read_scalar(c, type, kv);
}

/* ---- tensor infos ----------------------------------------------------------------- */

static qf_status qf_gguf_read_tensor_info(qf_gguf_cursor *c, uint64_t i, uint64_t alignment,
                                          qf_gguf_tensor *t) {
    char what[64];
    snprintf(what, sizeof what, "tensor %llu name", (unsigned long long)i);
    QF_FORWARD(qf_gguf_read_str(c, what, QF_GGUF_MAX_NAME, &t->name));
    if (t->name.len == 0)
        return qf_gguf_fail(c, QF_STATUS_FORMAT, "tensor %llu at offset %zu has an empty name",
                            (unsigned long long)i, c->pos - 8);
    c->ctx_kind = "tensor";
    c->ctx_name = t->name;

    uint32_t n_dims;
    QF_FORWARD(qf_gguf_read_u32(c, "n_dims", &n_dims));
    if (n_dims > QF_GGUF_MAX_DIMS) {
        return qf_gguf_fail(c, QF_STATUS_FORMAT, "n_dims %u exceeds the maximum of %d", n_dims,
                            QF_GGUF_MAX_DIMS);
    }
    t->ndim = (int)n_dims;
    uint64_t numel = 1;
    for (uint32_t d = 0; d < QF_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        uint64_t ne;
        QF_FORWARD(qf_gguf_read_u64(c, "dimension", &ne));
        if (ne > (uint64_t)INT64_MAX) {
            return qf_gguf_fail(c, QF_STATUS_FORMAT, "dimension %u is %llu (negative as int64)", d,
                                (unsigned long long)ne);
        }
        t->ne[d] = (int64_t)ne;
        if (ne != 0 && numel > (uint64_t)INT64_MAX / ne) {
            return qf_gguf_fail(c, QF_STATUS_FORMAT,
                                "element count overflows int64 (shape %lld x %lld x %lld x %lld)",
                                (long long)t->ne[0], (long long)(d >= 1 ? t->ne[1] : 0),
                                (long long)(d >= 2 ? t->ne[2] : 0),
                                (long long)(d >= 3 ? t->ne[3] : 0));
        }
        numel *= ne;
    }
    t->numel = numel;

    QF_FORWARD(qf_gguf_read_u32(c, "ggml type", &t->ggml_type));
    const qf_ggml_type_info *ti = qf_ggml_type_get(t->ggml_type);
    if (!ti) {
        return qf_gguf_fail(c, QF_STATUS_FORMAT, "unknown ggml type %u", t->ggml_type);
    }
    t->dtype = ti->dtype >= 0 ? (qf_dtype)ti->dtype : QF_DTYPE_COUNT;
    if (t->ne[0] % ti->blck != 0) {
        return qf_gguf_fail(c, QF_STATUS_FORMAT,
                            "row length %lld is not a multiple of the %s block size %u",
                            (long long)t->ne[0], ti->name, ti->blck);
    }
    uint64_t blocks = numel / ti->blck;
    if (blocks > UINT64_MAX / ti->size || blocks * ti->size > SIZE_MAX) {
        return qf_gguf_fail(c, QF_STATUS_FORMAT, "size in bytes of %llu %s elements overflows",
                            (unsigned long long)numel, ti->name);
    }
    t->nbytes = blocks * ti->size;

    QF_FORWARD(qf_gguf_read_u64(c, "data offset", &t->offset));
    if (t->offset % alignment != 0) {
        return qf_gguf_fail(c, QF_STATUS_FORMAT,
                            "data offset %llu is not a multiple of the alignment %llu",
                            (unsigned long long)t->offset, (unsigned long long)alignment);
    }
    c->ctx_kind = NULL;
    return QF_STATUS_OK;
}

static _Thread_local const qf_gguf_tensor *qf_gguf_sort_tensors;

/* By offset, then size (zero-size tensors first), then index. */
static int qf_gguf_offset_cmp(const void *a, const void *b) {
    size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
    const qf_gguf_tensor *ta = &qf_gguf_sort_tensors[ia], *tb = &qf_gguf_sort_tensors[ib];
    if (ta->offset != tb->offset) return ta->offset < tb->offset ? -1 : 1;
    if (ta->nbytes != tb->nbytes) return ta->nbytes < tb->nbytes ? -1 : 1;
    return ia < ib ? -1 : ia > ib;
}

/* Every tensor's bytes inside the file, none overlapping another's. */
static qf_status qf_gguf_check_tensor_data(qf_gguf_file *f) {
    char nbuf[QF_GGUF_MSG_BUF], nbuf2[QF_GGUF_MSG_BUF];
    uint64_t avail = f->size - f->data_offset; /* data_offset <= size checked by caller */
    for (size_t i = 0; i < f->n_tensors; i++) {
        qf_gguf_tensor *t = &f->tensors[i];
        if (t->offset > avail || t->nbytes > avail - t->offset)
            return qf_error_set(QF_STATUS_FORMAT,
                                "'%s': tensor '%s': offset %llu + %llu bytes past end of file "
                                "(data section starts at %llu, file size %zu)",
                                f->name, qf_msg_name(t->name, nbuf), (unsigned long long)t->offset,
                                (unsigned long long)t->nbytes, (unsigned long long)f->data_offset,
                                f->size);
        t->data = f->base + f->data_offset + t->offset;
    }
    if (f->n_tensors < 2) return QF_STATUS_OK;
    size_t *idx = malloc(f->n_tensors * sizeof *idx);
    QF_RETURN_IF(!idx, QF_STATUS_NOMEM, "out of memory");
    for (size_t i = 0; i < f->n_tensors; i++) idx[i] = i;
    qf_gguf_sort_tensors = f->tensors;
    qsort(idx, f->n_tensors, sizeof *idx, qf_gguf_offset_cmp);
    qf_gguf_sort_tensors = NULL;
    const qf_gguf_tensor *prev = NULL; /* the tensor reaching furthest so far */
    qf_status st = QF_STATUS_OK;
    for (size_t k = 0; k < f->n_tensors; k++) {
        const qf_gguf_tensor *t = &f->tensors[idx[k]];
        if (t->nbytes == 0) continue; /* occupies no bytes */
        if (prev && t->offset < prev->offset + prev->nbytes) {
            st = qf_error_set(QF_STATUS_FORMAT,
                              "'%s': tensors '%s' (offset %llu, %llu bytes) and '%s' "
                              "(offset %llu, %llu bytes) overlap",
                              f->name, qf_msg_name(prev->name, nbuf),
                              (unsigned long long)prev->offset, (unsigned long long)prev->nbytes,
                              qf_msg_name(t->name, nbuf2), (unsigned long long)t->offset,
                              (unsigned long long)t->nbytes);
            break;
        }
        if (!prev || t->offset + t->nbytes > prev->offset + prev->nbytes) prev = t;
    }
    free(idx);
    return st;
}

/* ---- open ------------------------------------------------------------------------- */

static qf_status qf_gguf_parse(qf_gguf_file *f) {
    char nbuf[QF_GGUF_MSG_BUF];
    qf_gguf_cursor c = {.base = f->base, .size = f->size, .name = f->name};
    const uint8_t *p;

    QF_RETURN_IF(f->size < 4, QF_STATUS_FORMAT,
                 "'%s': not a GGUF file: %zu bytes, too short for the magic", f->name, f->size);
    QF_FORWARD(qf_gguf_take(&c, 4, "magic", &p));
    QF_RETURN_IF(memcmp(p, QF_GGUF_MAGIC, 4) != 0, QF_STATUS_FORMAT,
                 "'%s': not a GGUF file: bad magic %02x %02x %02x %02x (expected 'GGUF')", f->name,
                 p[0], p[1], p[2], p[3]);
    QF_FORWARD(qf_gguf_read_u32(&c, "version", &f->version));
    QF_RETURN_IF(f->version == 1, QF_STATUS_UNSUPPORTED,
                 "'%s': GGUF version 1 is not supported (only versions 2 and 3)", f->name);
    QF_RETURN_IF(f->version != 0 && (f->version & 0xFFFFu) == 0, QF_STATUS_UNSUPPORTED,
                 "'%s': GGUF version field 0x%08x looks byte-swapped: big-endian GGUF files "
                 "are not supported",
                 f->name, f->version);
    QF_RETURN_IF(f->version != 2 && f->version != 3, QF_STATUS_UNSUPPORTED,
                 "'%s': GGUF version %u is not supported (only versions 2 and 3)", f->name,
                 f->version);

    uint64_t n_tensors, n_kv;
    QF_FORWARD(qf_gguf_read_u64(&c, "tensor count", &n_tensors));
    QF_FORWARD(qf_gguf_read_u64(&c, "kv count", &n_kv));
    QF_RETURN_IF(n_tensors > QF_GGUF_MAX_TENSORS, QF_STATUS_FORMAT,
                 "'%s': tensor count %llu exceeds the limit of %d", f->name,
                 (unsigned long long)n_tensors, QF_GGUF_MAX_TENSORS);
    QF_RETURN_IF(n_kv > QF_GGUF_MAX_KV, QF_STATUS_FORMAT,
                 "'%s': kv count %llu exceeds the limit of %d", f->name, (unsigned long long)n_kv,
                 QF_GGUF_MAX_KV);
    /* smallest encodings: kv = key len + 1 byte + type + 1 byte; tensor info = name len +
     * 1 byte + n_dims + type + offset */
    uint64_t left = c.size - c.pos;
    QF_RETURN_IF(n_kv * 14 + n_tensors * 25 > left, QF_STATUS_FORMAT,
                 "'%s': %llu key-value pairs and %llu tensor infos cannot fit in the %llu bytes "
                 "left after the header (file size %zu)",
                 f->name, (unsigned long long)n_kv, (unsigned long long)n_tensors,
                 (unsigned long long)left, f->size);

    f->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *f->kv);
    f->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *f->tensors);
    QF_RETURN_IF(!f->kv || !f->tensors, QF_STATUS_NOMEM, "'%s': out of memory", f->name);

    for (uint64_t i = 0; i < n_kv; i++) {
        f->n_kv = (size_t)i + 1; /* so that close frees a partially read array */
        QF_FORWARD(qf_gguf_read_kv(&c, i, &f->kv[i]));
        c.ctx_kind = NULL;
    }
    size_t da, db;
    QF_FORWARD(qf_gguf_sort_index(&f->kv[0].key, sizeof *f->kv, f->n_kv, &f->kv_sorted, &da, &db));
    QF_RETURN_IF(da != SIZE_MAX, QF_STATUS_FORMAT, "'%s': duplicate key '%s' (pairs %zu and %zu)",
                 f->name, qf_msg_name(f->kv[da].key, nbuf), da, db);

    f->alignment = QF_GGUF_DEFAULT_ALIGNMENT;
    const qf_gguf_kv *akv = qf_gguf_kv_find(f, "general.alignment");
    if (akv) {
        QF_RETURN_IF(akv->type != QF_GGUF_TYPE_UINT32, QF_STATUS_FORMAT,
                     "'%s': general.alignment must be a uint32, not %s", f->name,
                     qf_gguf_type_name(akv->type));
        QF_RETURN_IF(akv->v.u64 == 0 || (akv->v.u64 & (akv->v.u64 - 1)) != 0, QF_STATUS_FORMAT,
                     "'%s': general.alignment %llu is not a non-zero power of two", f->name,
                     (unsigned long long)akv->v.u64);
        f->alignment = akv->v.u64;
    }

    for (uint64_t i = 0; i < n_tensors; i++) {
        QF_FORWARD(qf_gguf_read_tensor_info(&c, i, f->alignment, &f->tensors[i]));
        f->n_tensors = (size_t)i + 1;
    }
    QF_FORWARD(qf_gguf_sort_index(&f->tensors[0].name, sizeof *f->tensors, f->n_tensors,
                                  &f->tensor_sorted, &da, &db));
    QF_RETURN_IF(da != SIZE_MAX, QF_STATUS_FORMAT,
                 "'%s': duplicate tensor name '%s' (tensors %zu and %zu)", f->name,
                 qf_msg_name(f->tensors[da].name, nbuf), da, db);

    /* the data section starts at the next multiple of the alignment */
    uint64_t pad = (f->alignment - c.pos % f->alignment) % f->alignment;
    f->data_offset = (uint64_t)c.pos + pad;
    if (f->n_tensors == 0) return QF_STATUS_OK;
    if (f->data_offset > f->size) {
        return qf_gguf_fail(
            &c, QF_STATUS_FORMAT,
            "data section would start at offset %llu (header end %zu aligned to %llu), "
            "past the end of the file (size %zu)",
            (unsigned long long)f->data_offset, c.pos, (unsigned long long)f->alignment, f->size);
    }
    return qf_gguf_check_tensor_data(f);
}

static qf_status qf_gguf_init(const char *name, qf_gguf_file **out) {
    *out = NULL;
    qf_gguf_file *f = calloc(1, sizeof *f);
    QF_RETURN_IF(!f, QF_STATUS_NOMEM, "out of memory");
    f->name = strdup(name ? name : "<memory>");
    if (!f->name) {
        free(f);
        return qf_error_set(QF_STATUS_NOMEM, "out of memory");
    }
    *out = f;
    return QF_STATUS_OK;
}

static qf_status qf_gguf_finish(qf_gguf_file *f, qf_gguf_file **out) {
    qf_status st = qf_gguf_parse(f);
    if (st != QF_STATUS_OK) {
        qf_gguf_close(f);
        return st;
    }
    *out = f;
    return QF_STATUS_OK;
}

qf_status qf_gguf_open_memory(const void *buf, size_t size, const char *name, qf_gguf_file **out) {
    QF_RETURN_IF(!out || (!buf && size), QF_STATUS_INVALID_ARG,
                 "qf_gguf_open_memory: bad arguments");
    qf_gguf_file *f;
    QF_FORWARD(qf_gguf_init(name, &f));
    *out = NULL;
    f->base = buf;
    f->size = buf ? size : 0;
    return qf_gguf_finish(f, out);
}

qf_status qf_gguf_open(const char *path, qf_gguf_file **out) {
    QF_RETURN_IF(!path || !out, QF_STATUS_INVALID_ARG, "qf_gguf_open: bad arguments");
    qf_gguf_file *f;
    QF_FORWARD(qf_gguf_init(path, &f));
    *out = NULL;
    qf_status st = qf_file_map(path, &f->map);
    if (st != QF_STATUS_OK) {
        qf_gguf_close(f);
        return st;
    }
    f->base = f->map.data;
    f->size = f->map.size;
    return qf_gguf_finish(f, out);
}

void qf_gguf_close(qf_gguf_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_kv; i++) free((void *)f->kv[i].arr_strs);
    free(f->kv);
    free(f->kv_sorted);
    free(f->tensors);
    free(f->tensor_sorted);
    qf_file_unmap(&f->map);
    free(f->name);
    free(f);
}

/* ---- accessors -------------------------------------------------------------------- */

const char *qf_gguf_name(const qf_gguf_file *f) { return f->name; }
uint32_t qf_gguf_version(const qf_gguf_file *f) { return f->version; }
uint64_t qf_gguf_alignment(const qf_gguf_file *f) { return f->alignment; }
uint64_t qf_gguf_data_offset(const qf_gguf_file *f) { return f->data_offset; }
size_t qf_gguf_kv_count(const qf_gguf_file *f) { return f->n_kv; }
size_t qf_gguf_tensor_count(const qf_gguf_file *f) { return f->n_tensors; }

const qf_gguf_kv *qf_gguf_kv_get(const qf_gguf_file *f, size_t i) {
    return i < f->n_kv ? &f->kv[i] : NULL;
}

const qf_gguf_tensor *qf_gguf_tensor_get(const qf_gguf_file *f, size_t i) {
    return i < f->n_tensors ? &f->tensors[i] : NULL;
}

/* Binary search of a sorted index; returns the element index or SIZE_MAX. */
static size_t qf_gguf_bsearch(const size_t *sorted, size_t n, const qf_gguf_str *names,
                              size_t stride, const char *key) {
    if (!sorted || !key) return SIZE_MAX;
    qf_gguf_str k = {key, strlen(key)};
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const qf_gguf_str *s = (const qf_gguf_str *)((const char *)names + sorted[mid] * stride);
        int r = qf_gguf_str_cmp(*s, k);
        if (r == 0) return sorted[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SIZE_MAX;
}

const qf_gguf_kv *qf_gguf_kv_find(const qf_gguf_file *f, const char *key) {
    if (f->n_kv == 0) return NULL;
    size_t i = qf_gguf_bsearch(f->kv_sorted, f->n_kv, &f->kv[0].key, sizeof *f->kv, key);
    return i == SIZE_MAX ? NULL : &f->kv[i];
}

const qf_gguf_tensor *qf_gguf_tensor_find(const qf_gguf_file *f, const char *name) {
    if (f->n_tensors == 0) return NULL;
    size_t i = qf_gguf_bsearch(f->tensor_sorted, f->n_tensors, &f->tensors[0].name,
                               sizeof *f->tensors, name);
    return i == SIZE_MAX ? NULL : &f->tensors[i];
}

static int qf_gguf_is_unsigned(uint32_t t) {
    return t == QF_GGUF_TYPE_UINT8 || t == QF_GGUF_TYPE_UINT16 || t == QF_GGUF_TYPE_UINT32 ||
           t == QF_GGUF_TYPE_UINT64;
}

static int qf_gguf_is_signed(uint32_t t) {
    return t == QF_GGUF_TYPE_INT8 || t == QF_GGUF_TYPE_INT16 || t == QF_GGUF_TYPE_INT32 ||
           t == QF_GGUF_TYPE_INT64;
}

static int qf_gguf_is_float(uint32_t t) {
    return t == QF_GGUF_TYPE_FLOAT32 || t == QF_GGUF_TYPE_FLOAT64;
}

static qf_status qf_gguf_find_typed(const qf_gguf_file *f, const char *key,
                                    const qf_gguf_kv **out) {
    *out = qf_gguf_kv_find(f, key);
    QF_RETURN_IF(!*out, QF_STATUS_NOT_FOUND, "'%s': key '%s' not found", f->name, key);
    return QF_STATUS_OK;
}

qf_status qf_gguf_get_u64(const qf_gguf_file *f, const char *key, uint64_t *out) {
    const qf_gguf_kv *kv;
    QF_FORWARD(qf_gguf_find_typed(f, key, &kv));
    if (qf_gguf_is_unsigned(kv->type)) {
        *out = kv->v.u64;
        return QF_STATUS_OK;
    }
    if (qf_gguf_is_signed(kv->type)) {
        QF_RETURN_IF(kv->v.i64 < 0, QF_STATUS_FORMAT, "'%s': key '%s' is negative (%lld)", f->name,
                     key, (long long)kv->v.i64);
        *out = (uint64_t)kv->v.i64;
        return QF_STATUS_OK;
    }
    return qf_error_set(QF_STATUS_FORMAT, "'%s': key '%s' is a %s, expected an integer", f->name,
                        key, qf_gguf_type_name(kv->type));
}

qf_status qf_gguf_get_f64(const qf_gguf_file *f, const char *key, double *out) {
    const qf_gguf_kv *kv;
    QF_FORWARD(qf_gguf_find_typed(f, key, &kv));
    if (qf_gguf_is_float(kv->type))
        *out = kv->v.f64;
    else if (qf_gguf_is_unsigned(kv->type))
        *out = (double)kv->v.u64;
    else if (qf_gguf_is_signed(kv->type))
        *out = (double)kv->v.i64;
    else
        return qf_error_set(QF_STATUS_FORMAT, "'%s': key '%s' is a %s, expected a number", f->name,
                            key, qf_gguf_type_name(kv->type));
    return QF_STATUS_OK;
}

qf_status qf_gguf_get_str(const qf_gguf_file *f, const char *key, qf_gguf_str *out) {
    const qf_gguf_kv *kv;
    QF_FORWARD(qf_gguf_find_typed(f, key, &kv));
    QF_RETURN_IF(kv->type != QF_GGUF_TYPE_STRING, QF_STATUS_FORMAT,
                 "'%s': key '%s' is a %s, expected a string", f->name, key,
                 qf_gguf_type_name(kv->type));
    *out = kv->v.str;
    return QF_STATUS_OK;
}

qf_status qf_gguf_get_bool(const qf_gguf_file *f, const char *key, int *out) {
    const qf_gguf_kv *kv;
    QF_FORWARD(qf_gguf_find_typed(f, key, &kv));
    QF_RETURN_IF(kv->type != QF_GGUF_TYPE_BOOL, QF_STATUS_FORMAT,
                 "'%s': key '%s' is a %s, expected a bool", f->name, key,
                 qf_gguf_type_name(kv->type));
    *out = kv->v.b;
    return QF_STATUS_OK;
}

/* Element i of a fixed-size array as a bit pattern (zero-extended). */
static qf_status qf_gguf_arr_raw(const qf_gguf_kv *kv, uint64_t i, uint64_t *out) {
    char nbuf[QF_GGUF_MSG_BUF];
    QF_RETURN_IF(kv->type != QF_GGUF_TYPE_ARRAY, QF_STATUS_INVALID_ARG, "key '%s' is not an array",
                 qf_msg_name(kv->key, nbuf));
    QF_RETURN_IF(i >= kv->arr_len, QF_STATUS_INVALID_ARG,
                 "key '%s': index %llu out of range (%llu elements)", qf_msg_name(kv->key, nbuf),
                 (unsigned long long)i, (unsigned long long)kv->arr_len);
    size_t sz = qf_gguf_type_size(kv->arr_type);
    QF_RETURN_IF(sz == 0, QF_STATUS_INVALID_ARG, "key '%s': array of %s, not numbers",
                 qf_msg_name(kv->key, nbuf), qf_gguf_type_name(kv->arr_type));
    const uint8_t *p = kv->arr_data + (size_t)i * sz;
    *out = sz == 1 ? p[0] : sz == 2 ? qf_le16(p) : sz == 4 ? qf_le32(p) : qf_le64(p);
    return QF_STATUS_OK;
}

qf_status qf_gguf_arr_get_int(const qf_gguf_kv *kv, uint64_t i, int64_t *out) {
    char nbuf[QF_GGUF_MSG_BUF];
    uint64_t u = 0;
    QF_FORWARD(qf_gguf_arr_raw(kv, i, &u));
    switch (kv->arr_type) {
    case QF_GGUF_TYPE_UINT8:
    case QF_GGUF_TYPE_UINT16:
    case QF_GGUF_TYPE_UINT32: *out = (int64_t)u; return QF_STATUS_OK;
    case QF_GGUF_TYPE_BOOL: *out = u != 0; return QF_STATUS_OK;
    case QF_GGUF_TYPE_UINT64:
        QF_RETURN_IF(u > (uint64_t)INT64_MAX, QF_STATUS_FORMAT,
                     "key '%s': element %llu (%llu) does not fit in int64",
                     qf_msg_name(kv->key, nbuf), (unsigned long long)i, (unsigned long long)u);
        *out = (int64_t)u;
        return QF_STATUS_OK;
    case QF_GGUF_TYPE_INT8: *out = (int8_t)u; return QF_STATUS_OK;
    case QF_GGUF_TYPE_INT16: *out = (int16_t)u; return QF_STATUS_OK;
    case QF_GGUF_TYPE_INT32: *out = (int32_t)u; return QF_STATUS_OK;
    case QF_GGUF_TYPE_INT64: *out = (int64_t)u; return QF_STATUS_OK;
    default:
        return qf_error_set(QF_STATUS_INVALID_ARG, "key '%s': array of %s, not integers",
                            qf_msg_name(kv->key, nbuf), qf_gguf_type_name(kv->arr_type));
    }
}

qf_status qf_gguf_arr_get_f64(const qf_gguf_kv *kv, uint64_t i, double *out) {
    if (kv->type == QF_GGUF_TYPE_ARRAY && kv->arr_type == QF_GGUF_TYPE_FLOAT32) {
        uint64_t u = 0;
        QF_FORWARD(qf_gguf_arr_raw(kv, i, &u));
        uint32_t u32 = (uint32_t)u;
        float v;
        memcpy(&v, &u32, 4);
        *out = v;
        return QF_STATUS_OK;
    }
    if (kv->type == QF_GGUF_TYPE_ARRAY && kv->arr_type == QF_GGUF_TYPE_FLOAT64) {
        uint64_t u = 0;
        QF_FORWARD(qf_gguf_arr_raw(kv, i, &u));
        memcpy(out, &u, 8);
        return QF_STATUS_OK;
    }
    if (kv->type == QF_GGUF_TYPE_ARRAY && kv->arr_type == QF_GGUF_TYPE_UINT64) {
        uint64_t u = 0;
        QF_FORWARD(qf_gguf_arr_raw(kv, i, &u));
        *out = (double)u;
        return QF_STATUS_OK;
    }
    int64_t v = 0;
    QF_FORWARD(qf_gguf_arr_get_int(kv, i, &v));
    *out = (double)v;
    return QF_STATUS_OK;
}
