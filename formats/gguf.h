/* GGUF reader (versions 2 and 3) over mmap, hardened like the safetensors reader:
 * every count, length and offset is bounds- and overflow-checked inside qf_gguf_open.
 * Layout: ggml docs/gguf.md. Tensor dims are stored innermost first (ne[0] = row length).
 *
 * What qf_gguf_open rejects (FORMAT unless noted): bad magic; version 1 or > 3
 * (UNSUPPORTED; a byte-swapped version means a big-endian file, also UNSUPPORTED);
 * counts, string lengths or array lengths over the limits below or past the end of the
 * file; empty or duplicate keys; KV types outside 0..12; nested arrays; a
 * general.alignment that is not a u32 non-zero power of two; empty, over-long or
 * duplicate tensor names; n_dims > 4; a dim > INT64_MAX or an element count that
 * overflows int64; ggml type ids ggml does not define (or has removed); a row length
 * (ne[0]) that is not a whole number of blocks; offsets that are not multiples of the
 * alignment; tensor bytes past the end of the file; tensors whose bytes overlap.
 * Accepted like ggml does: dims of 0 (zero-element tensors), n_dims 0 (a scalar),
 * any non-zero bool byte as true, bytes after the last tensor, tensors in any order.
 * ggml types qforge cannot decode (Q5_K, IQ*, ...) still parse, since their block size
 * is known: such tensors get dtype QF_DTYPE_COUNT. general.architecture is not required
 * here (qf_model_open_gguf requires it). */
#ifndef QF_GGUF_H
#define QF_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"
#include "core/status.h"

#define QF_GGUF_MAX_DIMS 4
#define QF_GGUF_MAX_TENSORS 65536
#define QF_GGUF_MAX_KV 65536
#define QF_GGUF_MAX_STRING (64u << 20)      /* one string value or key */
#define QF_GGUF_MAX_ARRAY (16u << 20)       /* elements in one array value */
#define QF_GGUF_MAX_NAME 256                /* bytes in a key or a tensor name */
#define QF_GGUF_DEFAULT_ALIGNMENT 32

typedef enum qf_gguf_type {
    QF_GGUF_TYPE_UINT8 = 0,
    QF_GGUF_TYPE_INT8 = 1,
    QF_GGUF_TYPE_UINT16 = 2,
    QF_GGUF_TYPE_INT16 = 3,
    QF_GGUF_TYPE_UINT32 = 4,
    QF_GGUF_TYPE_INT32 = 5,
    QF_GGUF_TYPE_FLOAT32 = 6,
    QF_GGUF_TYPE_BOOL = 7,
    QF_GGUF_TYPE_STRING = 8,
    QF_GGUF_TYPE_ARRAY = 9,
    QF_GGUF_TYPE_UINT64 = 10,
    QF_GGUF_TYPE_INT64 = 11,
    QF_GGUF_TYPE_FLOAT64 = 12,
} qf_gguf_type;

typedef struct qf_gguf_str {
    const char *ptr; /* points into the mapping: NOT NUL-terminated */
    uint64_t len;
} qf_gguf_str;

typedef struct qf_gguf_kv {
    qf_gguf_str key;
    qf_gguf_type type;
    /* scalars, decoded: UINT* in u64, INT* in i64, FLOAT32/64 in f64, BOOL in b,
     * STRING in str */
    union {
        uint64_t u64;
        int64_t i64;
        double f64;
        int b;
        qf_gguf_str str;
    } v;
    /* arrays: element type, count and the raw little-endian bytes (unaligned: read
     * elements with qf_gguf_arr_get_int/_f64); string arrays are decoded in arr_strs */
    qf_gguf_type arr_type;
    uint64_t arr_len;
    const uint8_t *arr_data;
    const qf_gguf_str *arr_strs; /* decoded string array (arr_type == STRING), else NULL */
} qf_gguf_kv;

typedef struct qf_gguf_tensor {
    qf_gguf_str name;
    uint32_t ggml_type;  /* raw ggml type id */
    qf_dtype dtype;      /* qforge dtype of ggml_type; QF_DTYPE_COUNT if qforge has none */
    int ndim;
    int64_t ne[QF_GGUF_MAX_DIMS]; /* innermost first */
    uint64_t numel;
    uint64_t offset; /* relative to data section */
    uint64_t nbytes;
    const void *data; /* into the mapping (or the caller's buffer); not aligned in memory */
} qf_gguf_tensor;

typedef struct qf_gguf_file qf_gguf_file;

/* Maps and validates a file. Errors name the file and the problem. */
qf_status qf_gguf_open(const char *path, qf_gguf_file **out);
/* Same over a caller-owned buffer that must outlive the qf_gguf_file; `name` (copied;
 * NULL allowed) is used in error messages. */
qf_status qf_gguf_open_memory(const void *buf, size_t size, const char *name, qf_gguf_file **out);
void qf_gguf_close(qf_gguf_file *f);

const char *qf_gguf_name(const qf_gguf_file *f); /* the path or memory name */
uint32_t qf_gguf_version(const qf_gguf_file *f);
uint64_t qf_gguf_alignment(const qf_gguf_file *f);
uint64_t qf_gguf_data_offset(const qf_gguf_file *f); /* file offset of the data section */

size_t qf_gguf_kv_count(const qf_gguf_file *f);
const qf_gguf_kv *qf_gguf_kv_get(const qf_gguf_file *f, size_t i);
const qf_gguf_kv *qf_gguf_kv_find(const qf_gguf_file *f, const char *key);
/* Typed getters: NOT_FOUND if absent, FORMAT if the type does not fit (any integer type
 * is accepted for ints when the value fits, any float type for floats). */
qf_status qf_gguf_get_u64(const qf_gguf_file *f, const char *key, uint64_t *out);
qf_status qf_gguf_get_f64(const qf_gguf_file *f, const char *key, double *out);
qf_status qf_gguf_get_str(const qf_gguf_file *f, const char *key, qf_gguf_str *out);
qf_status qf_gguf_get_bool(const qf_gguf_file *f, const char *key, int *out);

/* Element i of an array value: _int for integer and bool elements (u64 > INT64_MAX is
 * FORMAT), _f64 for float and integer elements. INVALID_ARG if i is out of range or the
 * element type does not fit. */
qf_status qf_gguf_arr_get_int(const qf_gguf_kv *kv, uint64_t i, int64_t *out);
qf_status qf_gguf_arr_get_f64(const qf_gguf_kv *kv, uint64_t i, double *out);

/* "uint8", "int32", "float32", "bool", "string", "array", ...; "?" if out of range. */
const char *qf_gguf_type_name(qf_gguf_type t);

size_t qf_gguf_tensor_count(const qf_gguf_file *f);
const qf_gguf_tensor *qf_gguf_tensor_get(const qf_gguf_file *f, size_t i);
const qf_gguf_tensor *qf_gguf_tensor_find(const qf_gguf_file *f, const char *name);

/* Maps a ggml type id to a qforge dtype; -1 if qforge does not handle it. */
int qf_gguf_dtype_from_ggml(uint32_t ggml_type);
/* ggml's name ("Q4_K"); "unknown" for ids ggml does not define. */
const char *qf_gguf_ggml_type_name(uint32_t ggml_type);

/* Dequantizes n elements (a multiple of the block size) of a ggml type (F32, F16, BF16,
 * Q8_0, Q4_0, Q4_1, Q4_K, Q6_K) to F32. Scalar reference versions with ggml's exact
 * arithmetic (ggml-quants.c dequantize_row_*): results are bit-identical to ggml and to
 * gguf-py's gguf.quants.dequantize. src needs no alignment. INVALID_ARG if n is not a
 * whole number of blocks, UNSUPPORTED for other dtypes. */
qf_status qf_gguf_dequant_ref(qf_dtype t, const void *src, size_t n, float *dst);

#endif
