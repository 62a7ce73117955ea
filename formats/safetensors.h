/* safetensors reader (over mmap) and streaming atomic writer, in one header.
 *
 * Define QF_SAFETENSORS_IMPLEMENTATION in exactly one .c file (formats/safetensors.c)
 * before including it. No third-party dependency: the header JSON is parsed here.
 *
 * Every rule of the official parser (huggingface/safetensors src/tensor.rs) is
 * enforced inside qf_st_open: a file that opens is fully valid. qforge is stricter
 * than the official parser in a few places, each a rejection, never an acceptance:
 * the header must start with '{' (no leading whitespace); duplicate tensor names,
 * duplicate fields in a tensor entry and duplicate __metadata__ keys are rejected
 * even when the official parser would silently keep the last one; JSON nesting is
 * limited to QF_ST_MAX_JSON_DEPTH (the official parser allows 128); and the qforge
 * limits below (rank, name length, counts, dims beyond int64) apply. Dtypes the
 * official parser knows but qforge does not (F8_E4M3FNUZ, F8_E5M2FNUZ) fail with
 * QF_STATUS_UNSUPPORTED. */
#ifndef QF_SAFETENSORS_H
#define QF_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"
#include "core/fileio.h"
#include "core/status.h"

#define QF_ST_MAX_HEADER 100000000ull /* official limit on the JSON header size */
#define QF_ST_MAX_DIMS 8              /* qforge limit on tensor rank */
/* Containers nest at most this deep: header object > tensor entry > shape array. */
#define QF_ST_MAX_JSON_DEPTH 3
#define QF_ST_MAX_TENSORS 1000000u /* qforge limit on tensors per file */
#define QF_ST_MAX_NAME_LEN 4096u   /* qforge limit on a tensor name, in bytes */
#define QF_ST_MAX_META 65536u      /* qforge limit on __metadata__ entries */

typedef struct qf_st_tensor {
    const char *name; /* NUL-terminated copy owned by the file */
    size_t name_len;  /* names may contain NUL (JSON "\u0000"): use name_len */
    qf_dtype dtype;
    int ndim;
    int64_t shape[QF_ST_MAX_DIMS]; /* outermost first, as written */
    uint64_t numel;
    uint64_t begin, end; /* data_offsets, relative to the data buffer */
    const void *data;    /* points into the mapping; NULL when end == begin */
} qf_st_tensor;

typedef struct qf_st_meta {
    const char *key;   /* NUL-terminated copies owned by the file */
    const char *value;
    size_t key_len, value_len;
} qf_st_meta;

typedef struct qf_st_file qf_st_file;

/* Maps and fully validates `path`. Errors name the file and the problem. */
qf_status qf_st_open(const char *path, qf_st_file **out);
/* Same over a caller-owned buffer (tests, fuzzing); `name` is used in messages.
 * The buffer must outlive the file handle. */
qf_status qf_st_open_memory(const void *buf, size_t size, const char *name, qf_st_file **out);
void qf_st_close(qf_st_file *f);

size_t qf_st_count(const qf_st_file *f);
/* Tensors in file order of data offsets (ties, i.e. zero-size tensors, by name);
 * NULL if i is out of range. */
const qf_st_tensor *qf_st_get(const qf_st_file *f, size_t i);
/* Exact-length lookup: "a.weight" does not match "a.weight2" or "a.weigh". */
const qf_st_tensor *qf_st_find(const qf_st_file *f, const char *name, size_t name_len);

size_t qf_st_meta_count(const qf_st_file *f);
/* __metadata__ entries sorted by key (bytewise); NULL if i is out of range. */
const qf_st_meta *qf_st_meta_get(const qf_st_file *f, size_t i);
/* NULL if absent. */
const char *qf_st_meta_find(const qf_st_file *f, const char *key);

/* Streaming writer:
 *   qf_st_writer_open(path) -> declare every tensor (+ metadata) -> write header
 *   -> write each tensor's bytes (any order, one at a time) -> finish (fsync+rename).
 * Tensors are laid out sorted by descending dtype alignment then name (the official
 * writer's order), header padded to a multiple of 8 with spaces,
 * __metadata__.format = "pt" always present (add_meta("format", ...) replaces it).
 * Any failure, or qf_st_writer_abort, removes the temp file: no partial output.
 * After a failure every call fails; finish and abort free the writer. */
typedef struct qf_st_writer qf_st_writer;

qf_status qf_st_writer_open(const char *path, int overwrite, qf_st_writer **out);
qf_status qf_st_writer_add_meta(qf_st_writer *w, const char *key, const char *value);
qf_status qf_st_writer_declare(qf_st_writer *w, const char *name, qf_dtype dtype, int ndim,
                               const int64_t *shape);
qf_status qf_st_writer_write_header(qf_st_writer *w);
/* Writes the data of a declared tensor; nbytes must equal its size. Every declared
 * tensor is written exactly once (zero-size ones too, data may then be NULL). */
qf_status qf_st_writer_write(qf_st_writer *w, const char *name, const void *data, size_t nbytes);
/* Fails (and removes the temp file) if a declared tensor was never written. */
qf_status qf_st_writer_finish(qf_st_writer *w);
void qf_st_writer_abort(qf_st_writer *w);

#endif /* QF_SAFETENSORS_H */

/* ======================================================================================
 * Implementation
 * ==================================================================================== */
#if defined(QF_SAFETENSORS_IMPLEMENTATION) && !defined(QF_SAFETENSORS_IMPLEMENTED)
#define QF_SAFETENSORS_IMPLEMENTED

#include <stdlib.h>
#include <string.h>

/* Tensor names in messages are cut to this many bytes. */
#define QF_ST_MSG_NAME 200
#define QF_ST_NAME_ARGS(p, n) (int)((n) < QF_ST_MSG_NAME ? (n) : QF_ST_MSG_NAME), (p)

struct qf_st_file {
    qf_mapped_file map;           /* zeroed when opened over memory */
    char *arena;                  /* decoded names, metadata keys and values */
    qf_st_tensor *tensors;        /* sorted by (begin, end, name) */
    size_t n_tensors, cap_tensors;
    const qf_st_tensor **by_name; /* sorted by name, for qf_st_find */
    qf_st_meta *meta;             /* sorted by key */
    size_t n_meta, cap_meta;
};

/* ---- helpers shared by reader and writer ---------------------------------------- */

static int qf_st_cmp_bytes(const char *a, size_t alen, const char *b, size_t blen) {
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0) return c;
    return alen < blen ? -1 : alen > blen;
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates,
 * at most U+10FFFF), or 0 if invalid. */
static size_t qf_st_utf8_seq(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

/* Offset of the first invalid UTF-8 byte, or n if all valid. */
static size_t qf_st_utf8_check(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = qf_st_utf8_seq(s + i, n - i);
        if (k == 0) return i;
        i += k;
    }
    return n;
}

static int qf_st_dtype_is_plain(qf_dtype t) {
    const qf_dtype_info *info = qf_dtype_get_info(t);
    return info && info->block_elems == 1;
}

/* Elements and bytes of a shape, overflow-checked in the official order (running
 * product left to right, then bits, then whole bytes). Returns a static reason on
 * failure. */
static const char *qf_st_shape_size(qf_dtype t, int ndim, const uint64_t *dims, uint64_t *numel,
                                    uint64_t *nbytes) {
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] != 0 && n > UINT64_MAX / dims[i]) return "element count overflows 64 bits";
        n *= dims[i];
    }
    uint64_t bits = qf_dtype_get_info(t)->block_bits;
    if (n > UINT64_MAX / bits) return "size in bits overflows 64 bits";
    if ((n * bits) % 8 != 0) return "size is not a whole number of bytes";
    *numel = n;
    *nbytes = n * bits / 8;
    return NULL;
}

/* ---- reader: JSON header parser -------------------------------------------------- */

typedef struct qf_st_parser {
    const char *fname;
    const uint8_t *begin, *p, *end; /* the header */
    char *arena;                    /* capacity header size + 1: never overflows, see
                                       qf_st_json_string */
    size_t arena_used;
    qf_st_file *file;
    int have_meta;
} qf_st_parser;

typedef struct qf_st_key {
    const char *s;
    size_t len;
} qf_st_key;

static qf_status qf_st_json_error(qf_st_parser *ps, const char *what) {
    return qf_error_set(QF_STATUS_FORMAT, "'%s': invalid JSON in header at byte %zu: %s",
                        ps->fname, (size_t)(ps->p - ps->begin), what);
}

static void qf_st_json_ws(qf_st_parser *ps) {
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static qf_status qf_st_json_expect(qf_st_parser *ps, char c, const char *what) {
    qf_st_json_ws(ps);
    if (ps->p >= ps->end || *ps->p != (uint8_t)c) return qf_st_json_error(ps, what);
    ps->p++;
    qf_st_json_ws(ps);
    return QF_STATUS_OK;
}

static int qf_st_json_hex4(qf_st_parser *ps, uint32_t *out) {
    if (ps->end - ps->p < 4) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = ps->p[i];
        uint32_t d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return 0;
        v = v * 16 + d;
    }
    ps->p += 4;
    *out = v;
    return 1;
}

static size_t qf_st_utf8_put(uint32_t cp, char *dst) {
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xC0 | (cp >> 6));
        dst[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xE0 | (cp >> 12));
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        dst[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    dst[0] = (char)(0xF0 | (cp >> 18));
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    dst[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the string at p into the arena's free space (NUL-terminated) without
 * reserving it; qf_st_json_keep reserves it. A decoded string is never longer than
 * its source, so the bytes reserved never exceed the header bytes consumed and an
 * arena of header size + 1 always has room. */
static qf_status qf_st_json_string(qf_st_parser *ps, const char **out, size_t *out_len) {
    if (ps->p >= ps->end || *ps->p != '"') return qf_st_json_error(ps, "expected a string");
    ps->p++;
    char *dst = ps->arena + ps->arena_used;
    size_t n = 0;
    for (;;) {
        if (ps->p >= ps->end) return qf_st_json_error(ps, "unterminated string");
        uint8_t c = *ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20) return qf_st_json_error(ps, "control character in string");
        ps->p++;
        if (c != '\\') {
            dst[n++] = (char)c;
            continue;
        }
        if (ps->p >= ps->end) return qf_st_json_error(ps, "unterminated string");
        c = *ps->p++;
        switch (c) {
        case '"': case '\\': case '/': dst[n++] = (char)c; break;
        case 'b': dst[n++] = '\b'; break;
        case 'f': dst[n++] = '\f'; break;
        case 'n': dst[n++] = '\n'; break;
        case 'r': dst[n++] = '\r'; break;
        case 't': dst[n++] = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (!qf_st_json_hex4(ps, &cp)) return qf_st_json_error(ps, "invalid \\u escape");
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return qf_st_json_error(ps, "lone surrogate in \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
                    return qf_st_json_error(ps, "lone surrogate in \\u escape");
                ps->p += 2;
                if (!qf_st_json_hex4(ps, &lo)) return qf_st_json_error(ps, "invalid \\u escape");
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return qf_st_json_error(ps, "lone surrogate in \\u escape");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            n += qf_st_utf8_put(cp, dst + n);
            break;
        }
        default: return qf_st_json_error(ps, "invalid escape in string");
        }
    }
    dst[n] = '\0';
    *out = dst;
    *out_len = n;
    return QF_STATUS_OK;
}

static void qf_st_json_keep(qf_st_parser *ps, size_t len) { ps->arena_used += len + 1; }

typedef struct qf_st_number {
    int is_uint;   /* plain non-negative integer literal (no '-', fraction, exponent) */
    int overflow;  /* is_uint but larger than UINT64_MAX */
    uint64_t value;
} qf_st_number;

static int qf_st_is_digit(const qf_st_parser *ps) {
    return ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9';
}

/* 1 if the decimal number with significant digits from `digits` (skipping '.') and
 * value 0.DIGITS x 10^e10 overflows a double. serde_json (the official parser's JSON
 * library) rejects such numbers anywhere in the header. */
static int qf_st_number_too_large(const uint8_t *digits, const uint8_t *end, int64_t e10) {
    /* Largest decimal significand accepted at e10 == 309, measured against
     * serde_json: 1.7976931348623157e308 passes, 1.7976931348623158e308 fails. */
    static const char limit[] = "17976931348623158";
    if (e10 != 309) return e10 > 309;
    size_t k = 0;
    for (const uint8_t *q = digits; q < end && k < sizeof limit - 1; q++) {
        if (*q == '.') continue;
        if (*q < '0' || *q > '9') break;
        if (*q != (uint8_t)limit[k]) return *q > (uint8_t)limit[k];
        k++;
    }
    return k == sizeof limit - 1;
}

/* Parses a JSON number (RFC 8259 grammar) and rejects values out of double range. */
static qf_status qf_st_json_number(qf_st_parser *ps, qf_st_number *num) {
    memset(num, 0, sizeof *num);
    int neg = 0, frac = 0, has_exp = 0;
    if (ps->p < ps->end && *ps->p == '-') {
        neg = 1;
        ps->p++;
    }
    if (!qf_st_is_digit(ps)) return qf_st_json_error(ps, "invalid number");
    const uint8_t *int_start = ps->p;
    if (*ps->p == '0') {
        ps->p++;
        if (qf_st_is_digit(ps)) return qf_st_json_error(ps, "invalid number (leading zero)");
    } else {
        while (qf_st_is_digit(ps)) ps->p++;
    }
    const uint8_t *int_end = ps->p;
    if (ps->p < ps->end && *ps->p == '.') {
        frac = 1;
        ps->p++;
        if (!qf_st_is_digit(ps)) return qf_st_json_error(ps, "invalid number");
        while (qf_st_is_digit(ps)) ps->p++;
    }
    const uint8_t *digits_end = ps->p;
    int64_t exp = 0;
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        has_exp = 1;
        int eneg = 0;
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) eneg = *ps->p++ == '-';
        if (!qf_st_is_digit(ps)) return qf_st_json_error(ps, "invalid number");
        while (qf_st_is_digit(ps)) {
            if (exp < 1000000000) exp = exp * 10 + (*ps->p - '0'); /* saturates */
            ps->p++;
        }
        if (eneg) exp = -exp;
    }
    /* Decimal exponent of the first significant digit: value = 0.D x 10^e10. */
    const uint8_t *q = int_start;
    int64_t e10 = (int64_t)(int_end - int_start);
    while (q < digits_end && (*q == '0' || *q == '.')) {
        if (*q == '0') e10--;
        q++;
    }
    if (q < digits_end && qf_st_number_too_large(q, digits_end, e10 + exp))
        return qf_st_json_error(ps, "number out of range");
    if (!neg && !frac && !has_exp) {
        num->is_uint = 1;
        for (const uint8_t *d = int_start; d < int_end; d++) {
            uint64_t v = (uint64_t)(*d - '0');
            if (num->value > (UINT64_MAX - v) / 10) {
                num->overflow = 1;
                break;
            }
            num->value = num->value * 10 + v;
        }
    }
    return QF_STATUS_OK;
}

static qf_status qf_st_json_literal(qf_st_parser *ps, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, lit, n) != 0)
        return qf_st_json_error(ps, "expected a value");
    ps->p += n;
    return QF_STATUS_OK;
}

static qf_status qf_st_json_depth_error(qf_st_parser *ps) {
    return qf_error_set(QF_STATUS_FORMAT,
                        "'%s': JSON nesting deeper than %d levels at header byte %zu",
                        ps->fname, QF_ST_MAX_JSON_DEPTH, (size_t)(ps->p - ps->begin));
}

/* Validates and skips any value; `depth` is the nesting level a container here has. */
static qf_status qf_st_json_skip(qf_st_parser *ps, int depth) {
    if (ps->p >= ps->end) return qf_st_json_error(ps, "expected a value");
    uint8_t c = *ps->p;
    if (c == '{' || c == '[') {
        if (depth > QF_ST_MAX_JSON_DEPTH) return qf_st_json_depth_error(ps);
        uint8_t close = c == '{' ? '}' : ']';
        ps->p++;
        qf_st_json_ws(ps);
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return QF_STATUS_OK;
        }
        for (;;) {
            if (c == '{') {
                const char *k;
                size_t klen;
                QF_FORWARD(qf_st_json_string(ps, &k, &klen));
                QF_FORWARD(qf_st_json_expect(ps, ':', "expected ':'"));
            }
            QF_FORWARD(qf_st_json_skip(ps, depth + 1));
            qf_st_json_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                qf_st_json_ws(ps);
                continue;
            }
            if (ps->p < ps->end && *ps->p == close) {
                ps->p++;
                return QF_STATUS_OK;
            }
            return qf_st_json_error(ps, c == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    if (c == '"') {
        const char *s;
        size_t len;
        return qf_st_json_string(ps, &s, &len);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        qf_st_number num;
        return qf_st_json_number(ps, &num);
    }
    if (c == 't') return qf_st_json_literal(ps, "true");
    if (c == 'f') return qf_st_json_literal(ps, "false");
    if (c == 'n') return qf_st_json_literal(ps, "null");
    return qf_st_json_error(ps, "expected a value");
}

/* After an element: consumes ',' (returns 1) or `close` (returns 0). */
static qf_status qf_st_json_next(qf_st_parser *ps, char close, int *more) {
    qf_st_json_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
        ps->p++;
        qf_st_json_ws(ps);
        *more = 1;
        return QF_STATUS_OK;
    }
    if (ps->p < ps->end && *ps->p == (uint8_t)close) {
        ps->p++;
        *more = 0;
        return QF_STATUS_OK;
    }
    return qf_st_json_error(ps, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

/* An array (at nesting level 3) of non-negative integers: shape or data_offsets. */
static qf_status qf_st_parse_uints(qf_st_parser *ps, const qf_st_tensor *t, const char *field,
                                   uint64_t *out, int max, int *count) {
    if (ps->p >= ps->end || *ps->p != '[') {
        QF_FORWARD(qf_st_json_skip(ps, 3));
        return qf_error_set(QF_STATUS_FORMAT,
                            "'%s': tensor '%.*s': '%s' must be an array of non-negative integers",
                            ps->fname, QF_ST_NAME_ARGS(t->name, t->name_len), field);
    }
    ps->p++;
    qf_st_json_ws(ps);
    *count = 0;
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return QF_STATUS_OK;
    }
    for (int more = 1; more;) {
        if (*count >= max) {
            if (max == QF_ST_MAX_DIMS)
                return qf_error_set(QF_STATUS_UNSUPPORTED,
                                    "'%s': tensor '%.*s': more than %d dimensions", ps->fname,
                                    QF_ST_NAME_ARGS(t->name, t->name_len), QF_ST_MAX_DIMS);
            return qf_error_set(QF_STATUS_FORMAT,
                                "'%s': tensor '%.*s': '%s' must have exactly %d elements",
                                ps->fname, QF_ST_NAME_ARGS(t->name, t->name_len), field, max);
        }
        qf_st_number num = {0};
        if (ps->p < ps->end && (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))) {
            QF_FORWARD(qf_st_json_number(ps, &num));
        } else {
            QF_FORWARD(qf_st_json_skip(ps, QF_ST_MAX_JSON_DEPTH + 1));
        }
        if (!num.is_uint || num.overflow)
            return qf_error_set(QF_STATUS_FORMAT,
                                "'%s': tensor '%.*s': %s[%d] is not a non-negative integer "
                                "below 2^64",
                                ps->fname, QF_ST_NAME_ARGS(t->name, t->name_len), field, *count);
        out[(*count)++] = num.value;
        QF_FORWARD(qf_st_json_next(ps, ']', &more));
    }
    return QF_STATUS_OK;
}

static int qf_st_cmp_key(const void *a, const void *b) {
    const qf_st_key *x = a, *y = b;
    return qf_st_cmp_bytes(x->s, x->len, y->s, y->len);
}

/* Returns a duplicate among `keys` (sorted in place), or NULL. */
static const qf_st_key *qf_st_find_duplicate(qf_st_key *keys, size_t n) {
    if (n < 2) return NULL;
    qsort(keys, n, sizeof *keys, qf_st_cmp_key);
    for (size_t i = 1; i < n; i++)
        if (qf_st_cmp_key(&keys[i - 1], &keys[i]) == 0) return &keys[i];
    return NULL;
}

static int qf_st_key_is(const char *s, size_t len, const char *lit) {
    return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

/* Unsupported-but-official dtype names: known to the official parser, not to qforge. */
static int qf_st_dtype_is_official_only(const char *s, size_t len) {
    return qf_st_key_is(s, len, "F8_E4M3FNUZ") || qf_st_key_is(s, len, "F8_E5M2FNUZ");
}

static qf_status qf_st_parse_dtype(qf_st_parser *ps, qf_st_tensor *t) {
    const char *s;
    size_t len;
    if (ps->p >= ps->end || *ps->p != '"') {
        QF_FORWARD(qf_st_json_skip(ps, 3));
        return qf_error_set(QF_STATUS_FORMAT, "'%s': tensor '%.*s': 'dtype' must be a string",
                            ps->fname, QF_ST_NAME_ARGS(t->name, t->name_len));
    }
    QF_FORWARD(qf_st_json_string(ps, &s, &len));
    int d = qf_dtype_from_name(s, len);
    if (d >= 0 && qf_st_dtype_is_plain((qf_dtype)d)) {
        t->dtype = (qf_dtype)d;
        return QF_STATUS_OK;
    }
    if (qf_st_dtype_is_official_only(s, len))
        return qf_error_set(QF_STATUS_UNSUPPORTED,
                            "'%s': tensor '%.*s': dtype '%s' is not supported by qforge",
                            ps->fname, QF_ST_NAME_ARGS(t->name, t->name_len), s);
    return qf_error_set(QF_STATUS_FORMAT, "'%s': tensor '%.*s': unknown dtype '%.*s'", ps->fname,
                        QF_ST_NAME_ARGS(t->name, t->name_len), QF_ST_NAME_ARGS(s, len));
}

/* Parses the tensor entry object at p (nesting level 2) into t. */
static qf_status qf_st_parse_entry_fields(qf_st_parser *ps, qf_st_tensor *t, qf_st_key **unknown,
                                          size_t *n_unknown, size_t *cap_unknown) {
    int have_dtype = 0, have_shape = 0, have_offsets = 0, more = 1;
    uint64_t dims[QF_ST_MAX_DIMS], offs[2];
    int ndims = 0, noffs = 0;
    ps->p++; /* '{' */
    qf_st_json_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        more = 0;
    }
    while (more) {
        const char *k;
        size_t klen;
        QF_FORWARD(qf_st_json_string(ps, &k, &klen));
        int *seen = qf_st_key_is(k, klen, "dtype")          ? &have_dtype
                    : qf_st_key_is(k, klen, "shape")        ? &have_shape
                    : qf_st_key_is(k, klen, "data_offsets") ? &have_offsets
                                                            : NULL;
        if (seen && *seen)
            return qf_error_set(QF_STATUS_FORMAT, "'%s': tensor '%.*s': duplicate field '%s'",
                                ps->fname, QF_ST_NAME_ARGS(t->name, t->name_len), k);
        if (!seen) { /* unknown fields are ignored, but kept to detect duplicates */
            if (*n_unknown == *cap_unknown) {
                size_t ncap = *cap_unknown ? *cap_unknown * 2 : 8;
                qf_st_key *nk = realloc(*unknown, ncap * sizeof *nk);
                if (!nk) return qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", ps->fname);
                *unknown = nk;
                *cap_unknown = ncap;
            }
            (*unknown)[(*n_unknown)++] = (qf_st_key){k, klen};
            qf_st_json_keep(ps, klen);
        }
        QF_FORWARD(qf_st_json_expect(ps, ':', "expected ':'"));
        if (seen == &have_dtype) {
            QF_FORWARD(qf_st_parse_dtype(ps, t));
        } else if (seen == &have_shape) {
            QF_FORWARD(qf_st_parse_uints(ps, t, "shape", dims, QF_ST_MAX_DIMS, &ndims));
        } else if (seen == &have_offsets) {
            QF_FORWARD(qf_st_parse_uints(ps, t, "data_offsets", offs, 2, &noffs));
            if (noffs != 2)
                return qf_error_set(QF_STATUS_FORMAT,
                                    "'%s': tensor '%.*s': 'data_offsets' must have exactly 2 "
                                    "elements",
                                    ps->fname, QF_ST_NAME_ARGS(t->name, t->name_len));
        } else {
            QF_FORWARD(qf_st_json_skip(ps, 3));
        }
        if (seen) *seen = 1;
        QF_FORWARD(qf_st_json_next(ps, '}', &more));
    }
    const char *missing = !have_dtype ? "dtype" : !have_shape ? "shape"
                          : !have_offsets ? "data_offsets" : NULL;
    if (missing)
        return qf_error_set(QF_STATUS_FORMAT, "'%s': tensor '%.*s': missing field '%s'",
                            ps->fname, QF_ST_NAME_ARGS(t->name, t->name_len), missing);
    const qf_st_key *dup = qf_st_find_duplicate(*unknown, *n_unknown);
    if (dup)
        return qf_error_set(QF_STATUS_FORMAT, "'%s': tensor '%.*s': duplicate field '%.*s'",
                            ps->fname, QF_ST_NAME_ARGS(t->name, t->name_len),
                            QF_ST_NAME_ARGS(dup->s, dup->len));
    t->ndim = ndims;
    for (int i = 0; i < ndims; i++) {
        if (dims[i] > (uint64_t)INT64_MAX)
            return qf_error_set(QF_STATUS_UNSUPPORTED,
                                "'%s': tensor '%.*s': shape[%d] = %llu exceeds the int64 range",
                                ps->fname, QF_ST_NAME_ARGS(t->name, t->name_len), i,
                                (unsigned long long)dims[i]);
        t->shape[i] = (int64_t)dims[i];
    }
    t->begin = offs[0];
    t->end = offs[1];
    uint64_t nbytes;
    const char *why = qf_st_shape_size(t->dtype, ndims, dims, &t->numel, &nbytes);
    if (why)
        return qf_error_set(QF_STATUS_FORMAT, "'%s': tensor '%.*s': %s shape: %s", ps->fname,
                            QF_ST_NAME_ARGS(t->name, t->name_len), qf_dtype_name(t->dtype), why);
    if (t->end < t->begin)
        return qf_error_set(QF_STATUS_FORMAT,
                            "'%s': tensor '%.*s': data_offsets end %llu < begin %llu", ps->fname,
                            QF_ST_NAME_ARGS(t->name, t->name_len), (unsigned long long)t->end,
                            (unsigned long long)t->begin);
    if (t->end - t->begin != nbytes)
        return qf_error_set(QF_STATUS_FORMAT,
                            "'%s': tensor '%.*s': %s shape of %llu elements is %llu bytes but "
                            "data_offsets [%llu, %llu] span %llu",
                            ps->fname, QF_ST_NAME_ARGS(t->name, t->name_len),
                            qf_dtype_name(t->dtype), (unsigned long long)t->numel,
                            (unsigned long long)nbytes, (unsigned long long)t->begin,
                            (unsigned long long)t->end, (unsigned long long)(t->end - t->begin));
    return QF_STATUS_OK;
}

static qf_status qf_st_parse_entry(qf_st_parser *ps, qf_st_tensor *t) {
    if (ps->p >= ps->end || *ps->p != '{') {
        QF_FORWARD(qf_st_json_skip(ps, 2));
        return qf_error_set(QF_STATUS_FORMAT, "'%s': tensor '%.*s': entry must be an object",
                            ps->fname, QF_ST_NAME_ARGS(t->name, t->name_len));
    }
    size_t mark = ps->arena_used;
    qf_st_key *unknown = NULL;
    size_t n_unknown = 0, cap_unknown = 0;
    qf_status st = qf_st_parse_entry_fields(ps, t, &unknown, &n_unknown, &cap_unknown);
    free(unknown);
    ps->arena_used = mark; /* unknown field names are not kept */
    return st;
}

static qf_status qf_st_parse_metadata(qf_st_parser *ps) {
    qf_st_file *f = ps->file;
    if (ps->p < ps->end && *ps->p == 'n') return qf_st_json_literal(ps, "null"); /* = absent */
    if (ps->p >= ps->end || *ps->p != '{') {
        QF_FORWARD(qf_st_json_skip(ps, 2));
        return qf_error_set(QF_STATUS_FORMAT,
                            "'%s': '__metadata__' must be an object of strings", ps->fname);
    }
    ps->p++;
    qf_st_json_ws(ps);
    int more = 1;
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        more = 0;
    }
    while (more) {
        if (f->n_meta == QF_ST_MAX_META)
            return qf_error_set(QF_STATUS_NOMEM, "'%s': more than %u __metadata__ entries",
                                ps->fname, QF_ST_MAX_META);
        if (f->n_meta == f->cap_meta) {
            size_t ncap = f->cap_meta ? f->cap_meta * 2 : 8;
            qf_st_meta *nm = realloc(f->meta, ncap * sizeof *nm);
            if (!nm) return qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", ps->fname);
            f->meta = nm;
            f->cap_meta = ncap;
        }
        qf_st_meta *m = &f->meta[f->n_meta];
        QF_FORWARD(qf_st_json_string(ps, &m->key, &m->key_len));
        qf_st_json_keep(ps, m->key_len);
        QF_FORWARD(qf_st_json_expect(ps, ':', "expected ':'"));
        if (ps->p >= ps->end || *ps->p != '"') {
            QF_FORWARD(qf_st_json_skip(ps, 3));
            return qf_error_set(QF_STATUS_FORMAT,
                                "'%s': '__metadata__' value of '%.*s' is not a string", ps->fname,
                                QF_ST_NAME_ARGS(m->key, m->key_len));
        }
        QF_FORWARD(qf_st_json_string(ps, &m->value, &m->value_len));
        qf_st_json_keep(ps, m->value_len);
        f->n_meta++;
        QF_FORWARD(qf_st_json_next(ps, '}', &more));
    }
    return QF_STATUS_OK;
}

static qf_status qf_st_parse_header(qf_st_parser *ps) {
    qf_st_file *f = ps->file;
    ps->p++; /* '{', checked by the caller */
    qf_st_json_ws(ps);
    int more = 1;
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        more = 0;
    }
    while (more) {
        const char *k;
        size_t klen;
        QF_FORWARD(qf_st_json_string(ps, &k, &klen));
        if (qf_st_key_is(k, klen, "__metadata__")) {
            if (ps->have_meta)
                return qf_error_set(QF_STATUS_FORMAT, "'%s': duplicate '__metadata__'",
                                    ps->fname);
            ps->have_meta = 1;
            QF_FORWARD(qf_st_json_expect(ps, ':', "expected ':'"));
            QF_FORWARD(qf_st_parse_metadata(ps));
        } else {
            if (klen > QF_ST_MAX_NAME_LEN)
                return qf_error_set(QF_STATUS_NOMEM,
                                    "'%s': tensor name of %zu bytes exceeds the limit of %u",
                                    ps->fname, klen, QF_ST_MAX_NAME_LEN);
            if (f->n_tensors == QF_ST_MAX_TENSORS)
                return qf_error_set(QF_STATUS_NOMEM, "'%s': more than %u tensors", ps->fname,
                                    QF_ST_MAX_TENSORS);
            if (f->n_tensors == f->cap_tensors) {
                size_t ncap = f->cap_tensors ? f->cap_tensors * 2 : 16;
                qf_st_tensor *nt = realloc(f->tensors, ncap * sizeof *nt);
                if (!nt) return qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", ps->fname);
                f->tensors = nt;
                f->cap_tensors = ncap;
            }
            qf_st_tensor *t = &f->tensors[f->n_tensors];
            memset(t, 0, sizeof *t);
            t->name = k;
            t->name_len = klen;
            qf_st_json_keep(ps, klen);
            QF_FORWARD(qf_st_json_expect(ps, ':', "expected ':'"));
            QF_FORWARD(qf_st_parse_entry(ps, t));
            f->n_tensors++;
        }
        QF_FORWARD(qf_st_json_next(ps, '}', &more));
    }
    qf_st_json_ws(ps);
    if (ps->p != ps->end)
        return qf_st_json_error(ps, "trailing characters after the header object");
    return QF_STATUS_OK;
}

/* ---- reader: validation and lookup ------------------------------------------------ */

static int qf_st_cmp_offsets(const void *a, const void *b) {
    const qf_st_tensor *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return qf_st_cmp_bytes(x->name, x->name_len, y->name, y->name_len);
}

static int qf_st_cmp_tensor_names(const void *a, const void *b) {
    const qf_st_tensor *x = *(const qf_st_tensor *const *)a, *y = *(const qf_st_tensor *const *)b;
    return qf_st_cmp_bytes(x->name, x->name_len, y->name, y->name_len);
}

static int qf_st_cmp_meta(const void *a, const void *b) {
    const qf_st_meta *x = a, *y = b;
    return qf_st_cmp_bytes(x->key, x->key_len, y->key, y->key_len);
}

/* Sorts the tensors by offsets and indexes them by name; rejects duplicate names
 * and duplicate metadata keys. */
static qf_status qf_st_build_indexes(qf_st_file *f, const char *fname) {
    if (f->n_tensors > 1) qsort(f->tensors, f->n_tensors, sizeof *f->tensors, qf_st_cmp_offsets);
    if (f->n_tensors) {
        f->by_name = malloc(f->n_tensors * sizeof *f->by_name);
        if (!f->by_name) return qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", fname);
        for (size_t i = 0; i < f->n_tensors; i++) f->by_name[i] = &f->tensors[i];
        qsort(f->by_name, f->n_tensors, sizeof *f->by_name, qf_st_cmp_tensor_names);
        for (size_t i = 1; i < f->n_tensors; i++) {
            const qf_st_tensor *t = f->by_name[i];
            if (qf_st_cmp_tensor_names(&f->by_name[i - 1], &f->by_name[i]) == 0)
                return qf_error_set(QF_STATUS_FORMAT, "'%s': duplicate tensor name '%.*s'", fname,
                                    QF_ST_NAME_ARGS(t->name, t->name_len));
        }
    }
    if (f->n_meta > 1) {
        qsort(f->meta, f->n_meta, sizeof *f->meta, qf_st_cmp_meta);
        for (size_t i = 1; i < f->n_meta; i++)
            if (qf_st_cmp_meta(&f->meta[i - 1], &f->meta[i]) == 0)
                return qf_error_set(QF_STATUS_FORMAT, "'%s': duplicate '__metadata__' key '%.*s'",
                                    fname, QF_ST_NAME_ARGS(f->meta[i].key, f->meta[i].key_len));
    }
    return QF_STATUS_OK;
}

/* The offsets (tensors sorted by them) must tile the data buffer exactly: from 0, no
 * gap, no overlap, inside the file, nothing after the last tensor. */
static qf_status qf_st_validate_layout(qf_st_file *f, const char *fname, const uint8_t *data,
                                       uint64_t data_size) {
    uint64_t pos = 0;
    for (size_t i = 0; i < f->n_tensors; i++) {
        qf_st_tensor *t = &f->tensors[i];
        if (t->end > data_size)
            return qf_error_set(QF_STATUS_FORMAT,
                                "'%s': tensor '%.*s': data_offsets end %llu > data size %llu",
                                fname, QF_ST_NAME_ARGS(t->name, t->name_len),
                                (unsigned long long)t->end, (unsigned long long)data_size);
        if (t->begin > pos)
            return qf_error_set(QF_STATUS_FORMAT,
                                "'%s': tensor '%.*s': data_offsets begin %llu leaves a gap after "
                                "offset %llu",
                                fname, QF_ST_NAME_ARGS(t->name, t->name_len),
                                (unsigned long long)t->begin, (unsigned long long)pos);
        if (t->begin < pos)
            return qf_error_set(QF_STATUS_FORMAT,
                                "'%s': tensor '%.*s': data_offsets [%llu, %llu] overlap the "
                                "previous tensor ending at %llu",
                                fname, QF_ST_NAME_ARGS(t->name, t->name_len),
                                (unsigned long long)t->begin, (unsigned long long)t->end,
                                (unsigned long long)pos);
        pos = t->end;
        t->data = t->end > t->begin ? data + t->begin : NULL;
    }
    if (pos != data_size)
        return qf_error_set(QF_STATUS_FORMAT,
                            "'%s': %llu trailing bytes after the last tensor (tensors end at "
                            "%llu, data size %llu)",
                            fname, (unsigned long long)(data_size - pos), (unsigned long long)pos,
                            (unsigned long long)data_size);
    return QF_STATUS_OK;
}

static qf_status qf_st_open_buffer(const uint8_t *buf, size_t size, const char *fname,
                                   qf_st_file *f) {
    QF_RETURN_IF(size < 8, QF_STATUS_FORMAT,
                 "'%s': file is %zu bytes, smaller than the 8-byte header length", fname, size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | buf[i];
    QF_RETURN_IF(n > QF_ST_MAX_HEADER, QF_STATUS_FORMAT,
                 "'%s': header size %llu exceeds the limit of %llu bytes", fname,
                 (unsigned long long)n, (unsigned long long)QF_ST_MAX_HEADER);
    QF_RETURN_IF(n > SIZE_MAX - 8, QF_STATUS_FORMAT, "'%s': header size %llu overflows", fname,
                 (unsigned long long)n);
    size_t stop = (size_t)n + 8;
    QF_RETURN_IF(stop > size, QF_STATUS_FORMAT,
                 "'%s': header of %llu bytes extends past the end of the file (%zu bytes)", fname,
                 (unsigned long long)n, size);
    const uint8_t *hdr = buf + 8;
    size_t bad = qf_st_utf8_check(hdr, (size_t)n);
    QF_RETURN_IF(bad != n, QF_STATUS_FORMAT, "'%s': header is not valid UTF-8 (at byte %zu)",
                 fname, bad);
    QF_RETURN_IF(n == 0 || hdr[0] != '{', QF_STATUS_FORMAT,
                 "'%s': header does not start with '{'", fname);
    f->arena = malloc((size_t)n + 1);
    QF_RETURN_IF(!f->arena, QF_STATUS_NOMEM, "'%s': out of memory", fname);
    qf_st_parser ps = {fname, hdr, hdr, hdr + n, f->arena, 0, f, 0};
    QF_FORWARD(qf_st_parse_header(&ps));
    QF_FORWARD(qf_st_build_indexes(f, fname));
    return qf_st_validate_layout(f, fname, buf + stop, (uint64_t)(size - stop));
}

qf_status qf_st_open_memory(const void *buf, size_t size, const char *name, qf_st_file **out) {
    QF_RETURN_IF(!out || (!buf && size), QF_STATUS_INVALID_ARG, "qf_st_open_memory: no buffer");
    *out = NULL;
    qf_st_file *f = calloc(1, sizeof *f);
    QF_RETURN_IF(!f, QF_STATUS_NOMEM, "out of memory");
    qf_status st = qf_st_open_buffer(buf, size, name ? name : "<memory>", f);
    if (st != QF_STATUS_OK) {
        qf_st_close(f);
        return st;
    }
    *out = f;
    return QF_STATUS_OK;
}

qf_status qf_st_open(const char *path, qf_st_file **out) {
    QF_RETURN_IF(!path || !out, QF_STATUS_INVALID_ARG, "qf_st_open: no path");
    *out = NULL;
    qf_mapped_file map;
    QF_FORWARD(qf_file_map(path, &map));
    qf_st_file *f = calloc(1, sizeof *f);
    if (!f) {
        qf_file_unmap(&map);
        return qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", path);
    }
    f->map = map;
    qf_status st = qf_st_open_buffer(map.data, map.size, path, f);
    if (st != QF_STATUS_OK) {
        qf_st_close(f);
        return st;
    }
    *out = f;
    return QF_STATUS_OK;
}

void qf_st_close(qf_st_file *f) {
    if (!f) return;
    qf_file_unmap(&f->map);
    free(f->arena);
    free(f->tensors);
    free(f->by_name);
    free(f->meta);
    free(f);
}

size_t qf_st_count(const qf_st_file *f) { return f ? f->n_tensors : 0; }

const qf_st_tensor *qf_st_get(const qf_st_file *f, size_t i) {
    return f && i < f->n_tensors ? &f->tensors[i] : NULL;
}

const qf_st_tensor *qf_st_find(const qf_st_file *f, const char *name, size_t name_len) {
    if (!f || (!name && name_len)) return NULL;
    size_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const qf_st_tensor *t = f->by_name[mid];
        int c = qf_st_cmp_bytes(t->name, t->name_len, name ? name : "", name_len);
        if (c == 0) return t;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

size_t qf_st_meta_count(const qf_st_file *f) { return f ? f->n_meta : 0; }

const qf_st_meta *qf_st_meta_get(const qf_st_file *f, size_t i) {
    return f && i < f->n_meta ? &f->meta[i] : NULL;
}

const char *qf_st_meta_find(const qf_st_file *f, const char *key) {
    if (!f || !key) return NULL;
    size_t len = strlen(key), lo = 0, hi = f->n_meta;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const qf_st_meta *m = &f->meta[mid];
        int c = qf_st_cmp_bytes(m->key, m->key_len, key, len);
        if (c == 0) return m->value;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* ---- writer ------------------------------------------------------------------------ */

typedef struct qf_st_wtensor {
    char *name;
    size_t name_len;
    qf_dtype dtype;
    int ndim;
    int64_t shape[QF_ST_MAX_DIMS];
    uint64_t nbytes, offset; /* offset within the data buffer */
    int written;
} qf_st_wtensor;

typedef struct qf_st_wmeta {
    char *key, *value;
} qf_st_wmeta;

struct qf_st_writer {
    qf_atomic_file af;
    char *path;
    int failed, header_done;
    qf_st_wtensor *t; /* in layout order once the header is written */
    size_t n, cap;
    qf_st_wtensor **by_name;
    qf_st_wmeta *meta;
    size_t n_meta, cap_meta;
    uint64_t data_start; /* 8 + header size */
};

typedef struct qf_st_buf {
    char *p;
    size_t len, cap;
    int oom;
} qf_st_buf;

static void qf_st_buf_put(qf_st_buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (n > SIZE_MAX / 2 - b->len) {
        b->oom = 1;
        return;
    }
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n) ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void qf_st_buf_str(qf_st_buf *b, const char *s) { qf_st_buf_put(b, s, strlen(s)); }

static void qf_st_buf_u64(qf_st_buf *b, uint64_t v) {
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    qf_st_buf_put(b, tmp + i, sizeof tmp - i);
}

/* A JSON string escaped exactly as serde_json does (so headers match the official
 * writer's byte for byte): \" \\ \b \f \n \r \t, other controls as \u00xx. */
static void qf_st_buf_json_string(qf_st_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    qf_st_buf_put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        qf_st_buf_put(b, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        qf_st_buf_put(b, esc, elen);
    }
    qf_st_buf_put(b, s + run, n - run);
    qf_st_buf_put(b, "\"", 1);
}

/* The official Dtype enum order (safetensors/src/tensor.rs), which its writer sorts
 * by (descending) before the name. */
static const int qf_st_dtype_rank[QF_DTYPE_COUNT] = {
    [QF_DTYPE_BOOL] = 0,     [QF_DTYPE_F4] = 1,       [QF_DTYPE_F6_E2M3] = 2,
    [QF_DTYPE_F6_E3M2] = 3,  [QF_DTYPE_U8] = 4,       [QF_DTYPE_I8] = 5,
    [QF_DTYPE_F8_E5M2] = 6,  [QF_DTYPE_F8_E4M3] = 7,  [QF_DTYPE_F8_E8M0] = 8,
    [QF_DTYPE_I16] = 11,     [QF_DTYPE_U16] = 12,     [QF_DTYPE_F16] = 13,
    [QF_DTYPE_BF16] = 14,    [QF_DTYPE_I32] = 15,     [QF_DTYPE_U32] = 16,
    [QF_DTYPE_F32] = 17,     [QF_DTYPE_C64] = 18,     [QF_DTYPE_F64] = 19,
    [QF_DTYPE_I64] = 20,     [QF_DTYPE_U64] = 21,
};

static int qf_st_cmp_layout(const void *a, const void *b) {
    const qf_st_wtensor *x = a, *y = b;
    int rx = qf_st_dtype_rank[x->dtype], ry = qf_st_dtype_rank[y->dtype];
    if (rx != ry) return rx > ry ? -1 : 1;
    return qf_st_cmp_bytes(x->name, x->name_len, y->name, y->name_len);
}

static int qf_st_cmp_wnames(const void *a, const void *b) {
    const qf_st_wtensor *x = *(qf_st_wtensor *const *)a, *y = *(qf_st_wtensor *const *)b;
    return qf_st_cmp_bytes(x->name, x->name_len, y->name, y->name_len);
}

static int qf_st_cmp_wmeta(const void *a, const void *b) {
    const qf_st_wmeta *x = a, *y = b;
    return strcmp(x->key, y->key);
}

/* Removes the temp file and poisons the writer; returns st (message already set). */
static qf_status qf_st_writer_fail(qf_st_writer *w, qf_status st) {
    qf_atomic_abort(&w->af);
    w->failed = 1;
    return st;
}

#define QF_ST_WFAIL(w, code, ...) qf_st_writer_fail((w), qf_error_set((code), __VA_ARGS__))

static qf_status qf_st_writer_usable(qf_st_writer *w, const char *fn) {
    QF_RETURN_IF(!w, QF_STATUS_INVALID_ARG, "%s: no writer", fn);
    QF_RETURN_IF(w->failed, QF_STATUS_INVALID_ARG,
                 "'%s': %s: the writer already failed; nothing was written", w->path, fn);
    return QF_STATUS_OK;
}

static void qf_st_writer_free(qf_st_writer *w) {
    if (!w) return;
    qf_atomic_abort(&w->af);
    for (size_t i = 0; i < w->n; i++) free(w->t[i].name);
    for (size_t i = 0; i < w->n_meta; i++) {
        free(w->meta[i].key);
        free(w->meta[i].value);
    }
    free(w->t);
    free(w->by_name);
    free(w->meta);
    free(w->path);
    free(w);
}

qf_status qf_st_writer_open(const char *path, int overwrite, qf_st_writer **out) {
    QF_RETURN_IF(!path || !out, QF_STATUS_INVALID_ARG, "qf_st_writer_open: no path");
    *out = NULL;
    qf_st_writer *w = calloc(1, sizeof *w);
    QF_RETURN_IF(!w, QF_STATUS_NOMEM, "'%s': out of memory", path);
    w->af.fd = -1;
    w->path = strdup(path);
    if (!w->path) {
        qf_st_writer_free(w);
        return qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", path);
    }
    qf_status st = qf_atomic_open(path, overwrite, &w->af);
    if (st != QF_STATUS_OK) {
        qf_st_writer_free(w);
        return st;
    }
    *out = w;
    return QF_STATUS_OK;
}

static int qf_st_valid_utf8_str(const char *s, size_t n) {
    return qf_st_utf8_check((const uint8_t *)s, n) == n;
}

qf_status qf_st_writer_add_meta(qf_st_writer *w, const char *key, const char *value) {
    QF_FORWARD(qf_st_writer_usable(w, "qf_st_writer_add_meta"));
    if (w->header_done)
        return QF_ST_WFAIL(w, QF_STATUS_INVALID_ARG,
                           "'%s': metadata added after the header was written", w->path);
    if (!key || !value)
        return QF_ST_WFAIL(w, QF_STATUS_INVALID_ARG, "'%s': metadata key or value is NULL",
                           w->path);
    if (!qf_st_valid_utf8_str(key, strlen(key)) || !qf_st_valid_utf8_str(value, strlen(value)))
        return QF_ST_WFAIL(w, QF_STATUS_INVALID_ARG,
                           "'%s': metadata '%.*s' is not valid UTF-8", w->path,
                           QF_ST_NAME_ARGS(key, strlen(key)));
    if (w->n_meta >= QF_ST_MAX_META)
        return QF_ST_WFAIL(w, QF_STATUS_NOMEM, "'%s': more than %u metadata entries", w->path,
                           QF_ST_MAX_META);
    if (w->n_meta == w->cap_meta) {
        size_t ncap = w->cap_meta ? w->cap_meta * 2 : 8;
        qf_st_wmeta *nm = realloc(w->meta, ncap * sizeof *nm);
        if (!nm) return QF_ST_WFAIL(w, QF_STATUS_NOMEM, "'%s': out of memory", w->path);
        w->meta = nm;
        w->cap_meta = ncap;
    }
    qf_st_wmeta m = {strdup(key), strdup(value)};
    if (!m.key || !m.value) {
        free(m.key);
        free(m.value);
        return QF_ST_WFAIL(w, QF_STATUS_NOMEM, "'%s': out of memory", w->path);
    }
    w->meta[w->n_meta++] = m;
    return QF_STATUS_OK;
}

qf_status qf_st_writer_declare(qf_st_writer *w, const char *name, qf_dtype dtype, int ndim,
                               const int64_t *shape) {
    QF_FORWARD(qf_st_writer_usable(w, "qf_st_writer_declare"));
    if (w->header_done)
        return QF_ST_WFAIL(w, QF_STATUS_INVALID_ARG,
                           "'%s': tensor declared after the header was written", w->path);
    if (!name) return QF_ST_WFAIL(w, QF_STATUS_INVALID_ARG, "'%s': tensor name is NULL", w->path);
    size_t len = strlen(name);
    if (len > QF_ST_MAX_NAME_LEN || !qf_st_valid_utf8_str(name, len) ||
        strcmp(name, "__metadata__") == 0)
        return QF_ST_WFAIL(w, QF_STATUS_INVALID_ARG,
                           "'%s': invalid tensor name '%.*s' (UTF-8, at most %u bytes, not "
                           "'__metadata__')",
                           w->path, QF_ST_NAME_ARGS(name, len), QF_ST_MAX_NAME_LEN);
    if (!qf_st_dtype_is_plain(dtype))
        return QF_ST_WFAIL(w, QF_STATUS_INVALID_ARG,
                           "'%s': tensor '%.*s': dtype %s cannot be stored in safetensors",
                           w->path, QF_ST_NAME_ARGS(name, len), qf_dtype_name(dtype));
    if (ndim < 0 || ndim > QF_ST_MAX_DIMS || (ndim > 0 && !shape))
        return QF_ST_WFAIL(w, QF_STATUS_INVALID_ARG, "'%s': tensor '%.*s': invalid rank %d",
                           w->path, QF_ST_NAME_ARGS(name, len), ndim);
    uint64_t dims[QF_ST_MAX_DIMS];
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return QF_ST_WFAIL(w, QF_STATUS_INVALID_ARG,
                               "'%s': tensor '%.*s': negative shape[%d]", w->path,
                               QF_ST_NAME_ARGS(name, len), i);
        dims[i] = (uint64_t)shape[i];
    }
    qf_st_wtensor t = {NULL, len, dtype, ndim, {0}, 0, 0, 0};
    uint64_t numel;
    const char *why = qf_st_shape_size(dtype, ndim, dims, &numel, &t.nbytes);
    if (why)
        return QF_ST_WFAIL(w, QF_STATUS_INVALID_ARG, "'%s': tensor '%.*s': %s shape: %s",
                           w->path, QF_ST_NAME_ARGS(name, len), qf_dtype_name(dtype), why);
    if (w->n >= QF_ST_MAX_TENSORS)
        return QF_ST_WFAIL(w, QF_STATUS_NOMEM, "'%s': more than %u tensors", w->path,
                           QF_ST_MAX_TENSORS);
    if (w->n == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 16;
        qf_st_wtensor *nt = realloc(w->t, ncap * sizeof *nt);
        if (!nt) return QF_ST_WFAIL(w, QF_STATUS_NOMEM, "'%s': out of memory", w->path);
        w->t = nt;
        w->cap = ncap;
    }
    if (ndim > 0) memcpy(t.shape, shape, (size_t)ndim * sizeof *shape);
    t.name = strdup(name);
    if (!t.name) return QF_ST_WFAIL(w, QF_STATUS_NOMEM, "'%s': out of memory", w->path);
    w->t[w->n++] = t;
    return QF_STATUS_OK;
}

/* Lays the tensors out and serializes the header JSON (unpadded) into b. */
static qf_status qf_st_writer_layout(qf_st_writer *w, qf_st_buf *b) {
    if (w->n > 1) qsort(w->t, w->n, sizeof *w->t, qf_st_cmp_layout);
    if (w->n) {
        w->by_name = malloc(w->n * sizeof *w->by_name);
        QF_RETURN_IF(!w->by_name, QF_STATUS_NOMEM, "'%s': out of memory", w->path);
        for (size_t i = 0; i < w->n; i++) w->by_name[i] = &w->t[i];
        qsort(w->by_name, w->n, sizeof *w->by_name, qf_st_cmp_wnames);
        for (size_t i = 1; i < w->n; i++)
            QF_RETURN_IF(qf_st_cmp_wnames(&w->by_name[i - 1], &w->by_name[i]) == 0,
                         QF_STATUS_INVALID_ARG, "'%s': tensor '%.*s' declared twice", w->path,
                         QF_ST_NAME_ARGS(w->by_name[i]->name, w->by_name[i]->name_len));
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        QF_RETURN_IF(w->t[i].nbytes > UINT64_MAX - off, QF_STATUS_INVALID_ARG,
                     "'%s': total tensor size overflows", w->path);
        w->t[i].offset = off;
        off += w->t[i].nbytes;
    }
    int have_format = 0;
    for (size_t i = 0; i < w->n_meta; i++) have_format |= strcmp(w->meta[i].key, "format") == 0;
    if (!have_format) {
        QF_FORWARD(qf_st_writer_add_meta(w, "format", "pt"));
    }
    qsort(w->meta, w->n_meta, sizeof *w->meta, qf_st_cmp_wmeta);
    for (size_t i = 1; i < w->n_meta; i++)
        QF_RETURN_IF(strcmp(w->meta[i - 1].key, w->meta[i].key) == 0, QF_STATUS_INVALID_ARG,
                     "'%s': duplicate metadata key '%.*s'", w->path,
                     QF_ST_NAME_ARGS(w->meta[i].key, strlen(w->meta[i].key)));

    qf_st_buf_str(b, "{\"__metadata__\":{");
    for (size_t i = 0; i < w->n_meta; i++) {
        if (i) qf_st_buf_put(b, ",", 1);
        qf_st_buf_json_string(b, w->meta[i].key, strlen(w->meta[i].key));
        qf_st_buf_put(b, ":", 1);
        qf_st_buf_json_string(b, w->meta[i].value, strlen(w->meta[i].value));
    }
    qf_st_buf_put(b, "}", 1);
    for (size_t i = 0; i < w->n; i++) {
        const qf_st_wtensor *t = &w->t[i];
        qf_st_buf_put(b, ",", 1);
        qf_st_buf_json_string(b, t->name, t->name_len);
        qf_st_buf_str(b, ":{\"dtype\":\"");
        qf_st_buf_str(b, qf_dtype_name(t->dtype));
        qf_st_buf_str(b, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) qf_st_buf_put(b, ",", 1);
            qf_st_buf_u64(b, (uint64_t)t->shape[d]);
        }
        qf_st_buf_str(b, "],\"data_offsets\":[");
        qf_st_buf_u64(b, t->offset);
        qf_st_buf_put(b, ",", 1);
        qf_st_buf_u64(b, t->offset + t->nbytes);
        qf_st_buf_str(b, "]}");
    }
    qf_st_buf_put(b, "}", 1);
    while (b->len % 8 != 0) qf_st_buf_put(b, " ", 1);
    QF_RETURN_IF(b->oom, QF_STATUS_NOMEM, "'%s': out of memory building the header", w->path);
    QF_RETURN_IF(b->len > QF_ST_MAX_HEADER, QF_STATUS_INVALID_ARG,
                 "'%s': header of %zu bytes exceeds the limit of %llu", w->path, b->len,
                 (unsigned long long)QF_ST_MAX_HEADER);
    return QF_STATUS_OK;
}

qf_status qf_st_writer_write_header(qf_st_writer *w) {
    QF_FORWARD(qf_st_writer_usable(w, "qf_st_writer_write_header"));
    if (w->header_done)
        return QF_ST_WFAIL(w, QF_STATUS_INVALID_ARG, "'%s': header written twice", w->path);
    qf_st_buf b = {0};
    qf_status st = qf_st_writer_layout(w, &b);
    if (st == QF_STATUS_OK) {
        uint8_t len[8];
        for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)b.len >> (8 * i));
        st = qf_atomic_pwrite(&w->af, len, 8, 0);
        if (st == QF_STATUS_OK) st = qf_atomic_pwrite(&w->af, b.p, b.len, 8);
    }
    free(b.p);
    if (st != QF_STATUS_OK) return w->failed ? st : qf_st_writer_fail(w, st);
    w->data_start = 8 + (uint64_t)b.len;
    w->header_done = 1;
    return QF_STATUS_OK;
}

qf_status qf_st_writer_write(qf_st_writer *w, const char *name, const void *data, size_t nbytes) {
    QF_FORWARD(qf_st_writer_usable(w, "qf_st_writer_write"));
    if (!w->header_done)
        return QF_ST_WFAIL(w, QF_STATUS_INVALID_ARG,
                           "'%s': tensor data written before the header", w->path);
    if (!name) return QF_ST_WFAIL(w, QF_STATUS_INVALID_ARG, "'%s': tensor name is NULL", w->path);
    size_t len = strlen(name), lo = 0, hi = w->n;
    qf_st_wtensor *t = NULL;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = qf_st_cmp_bytes(w->by_name[mid]->name, w->by_name[mid]->name_len, name, len);
        if (c == 0) {
            t = w->by_name[mid];
            break;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    if (!t)
        return QF_ST_WFAIL(w, QF_STATUS_NOT_FOUND, "'%s': tensor '%.*s' was not declared",
                           w->path, QF_ST_NAME_ARGS(name, len));
    if (t->written)
        return QF_ST_WFAIL(w, QF_STATUS_INVALID_ARG, "'%s': tensor '%.*s' written twice", w->path,
                           QF_ST_NAME_ARGS(name, len));
    if ((uint64_t)nbytes != t->nbytes)
        return QF_ST_WFAIL(w, QF_STATUS_INVALID_ARG,
                           "'%s': tensor '%.*s': got %zu bytes of data, its shape needs %llu",
                           w->path, QF_ST_NAME_ARGS(name, len), nbytes,
                           (unsigned long long)t->nbytes);
    if (nbytes && !data)
        return QF_ST_WFAIL(w, QF_STATUS_INVALID_ARG, "'%s': tensor '%.*s': data is NULL",
                           w->path, QF_ST_NAME_ARGS(name, len));
    if (nbytes) {
        qf_status st = qf_atomic_pwrite(&w->af, data, nbytes, w->data_start + t->offset);
        if (st != QF_STATUS_OK) return qf_st_writer_fail(w, st);
    }
    t->written = 1;
    return QF_STATUS_OK;
}

qf_status qf_st_writer_finish(qf_st_writer *w) {
    QF_RETURN_IF(!w, QF_STATUS_INVALID_ARG, "qf_st_writer_finish: no writer");
    qf_status st = qf_st_writer_usable(w, "qf_st_writer_finish");
    if (st == QF_STATUS_OK && !w->header_done)
        st = qf_error_set(QF_STATUS_INVALID_ARG, "'%s': finished before the header was written",
                          w->path);
    for (size_t i = 0; st == QF_STATUS_OK && i < w->n; i++)
        if (!w->t[i].written)
            st = qf_error_set(QF_STATUS_INVALID_ARG, "'%s': tensor '%.*s' was never written",
                              w->path, QF_ST_NAME_ARGS(w->t[i].name, w->t[i].name_len));
    if (st == QF_STATUS_OK) st = qf_atomic_commit(&w->af); /* removes the temp file on failure */
    qf_st_writer_free(w);
    return st;
}

void qf_st_writer_abort(qf_st_writer *w) { qf_st_writer_free(w); }

#endif /* QF_SAFETENSORS_IMPLEMENTATION */
