/* GGUF reader (versions 2 and 3) over mmap, hardened like the safetensors reader:
 * every count, length and offset is bounds- and overflow-checked inside qf_gguf_open.
 * Layout: ggml docs/gguf.md. Tensor dims are stored innermost first (ne[0] = row length). */
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
    /* scalars: value decoded here */
    union {
        uint64_t u64;
        int64_t i64;
        double f64;
        int b;
        qf_gguf_str str;
    } v;
    /* arrays: element type, count and the raw bytes (strings: see qf_gguf_arr_str) */
    qf_gguf_type arr_type;
    uint64_t arr_len;
    const uint8_t *arr_data;
    const qf_gguf_str *arr_strs; /* decoded string array (arr_type == STRING), else NULL */
} qf_gguf_kv;

typedef struct qf_gguf_tensor {
    qf_gguf_str name;
    uint32_t ggml_type;  /* raw ggml type id */
    qf_dtype dtype;      /* qforge dtype of ggml_type */
    int ndim;
    int64_t ne[QF_GGUF_MAX_DIMS]; /* innermost first */
    uint64_t numel;
    uint64_t offset; /* relative to data section */
    uint64_t nbytes;
    const void *data;
} qf_gguf_tensor;

typedef struct qf_gguf_file qf_gguf_file;

qf_status qf_gguf_open(const char *path, qf_gguf_file **out);
qf_status qf_gguf_open_memory(const void *buf, size_t size, const char *name, qf_gguf_file **out);
void qf_gguf_close(qf_gguf_file *f);

uint32_t qf_gguf_version(const qf_gguf_file *f);
uint64_t qf_gguf_alignment(const qf_gguf_file *f);

size_t qf_gguf_kv_count(const qf_gguf_file *f);
const qf_gguf_kv *qf_gguf_kv_get(const qf_gguf_file *f, size_t i);
const qf_gguf_kv *qf_gguf_kv_find(const qf_gguf_file *f, const char *key);
/* Typed getters: NOT_FOUND if absent, FORMAT if the type does not fit (any integer type
 * is accepted for ints when the value fits, any float type for floats). */
qf_status qf_gguf_get_u64(const qf_gguf_file *f, const char *key, uint64_t *out);
qf_status qf_gguf_get_f64(const qf_gguf_file *f, const char *key, double *out);
qf_status qf_gguf_get_str(const qf_gguf_file *f, const char *key, qf_gguf_str *out);
qf_status qf_gguf_get_bool(const qf_gguf_file *f, const char *key, int *out);

size_t qf_gguf_tensor_count(const qf_gguf_file *f);
const qf_gguf_tensor *qf_gguf_tensor_get(const qf_gguf_file *f, size_t i);
const qf_gguf_tensor *qf_gguf_tensor_find(const qf_gguf_file *f, const char *name);

/* Maps a ggml type id to a qforge dtype; -1 if qforge does not handle it. */
int qf_gguf_dtype_from_ggml(uint32_t ggml_type);
const char *qf_gguf_ggml_type_name(uint32_t ggml_type);

/* Dequantizes n elements (a multiple of the block size) of a ggml type (F32, F16, BF16,
 * Q8_0, Q4_0, Q4_1, Q4_K, Q6_K) to F32. Scalar reference versions. */
qf_status qf_gguf_dequant_ref(qf_dtype t, const void *src, size_t n, float *dst);

#endif
