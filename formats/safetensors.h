/* safetensors reader (over mmap) and streaming atomic writer, in one header.
 *
 * Define QF_SAFETENSORS_IMPLEMENTATION in exactly one .c file (formats/safetensors.c)
 * before including it. No third-party dependency: the header JSON is parsed here.
 *
 * Every rule of the official parser (huggingface/safetensors src/tensor.rs) is
 * enforced inside qf_st_open: a file that opens is fully valid. */
#ifndef QF_SAFETENSORS_H
#define QF_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"
#include "core/fileio.h"
#include "core/status.h"

#define QF_ST_MAX_HEADER 100000000ull /* official limit on the JSON header size */
#define QF_ST_MAX_DIMS 8              /* qforge limit on tensor rank */
#define QF_ST_MAX_JSON_DEPTH 4        /* deeper nesting than the format uses is rejected */

typedef struct qf_st_tensor {
    const char *name; /* NUL-terminated copy owned by the file */
    size_t name_len;
    qf_dtype dtype;
    int ndim;
    int64_t shape[QF_ST_MAX_DIMS]; /* outermost first, as written */
    uint64_t numel;
    uint64_t begin, end; /* data_offsets, relative to the data buffer */
    const void *data;    /* points into the mapping; NULL when end == begin */
} qf_st_tensor;

typedef struct qf_st_meta {
    const char *key;
    const char *value;
} qf_st_meta;

typedef struct qf_st_file qf_st_file;

/* Maps and fully validates `path`. Errors name the file and the problem. */
qf_status qf_st_open(const char *path, qf_st_file **out);
/* Same over a caller-owned buffer (tests, fuzzing); `name` is used in messages.
 * The buffer must outlive the file handle. */
qf_status qf_st_open_memory(const void *buf, size_t size, const char *name, qf_st_file **out);
void qf_st_close(qf_st_file *f);

size_t qf_st_count(const qf_st_file *f);
/* Tensors in file order of data offsets. */
const qf_st_tensor *qf_st_get(const qf_st_file *f, size_t i);
/* Exact-length lookup: "a.weight" does not match "a.weight2" or "a.weigh". */
const qf_st_tensor *qf_st_find(const qf_st_file *f, const char *name, size_t name_len);

size_t qf_st_meta_count(const qf_st_file *f);
const qf_st_meta *qf_st_meta_get(const qf_st_file *f, size_t i);
/* NULL if absent. */
const char *qf_st_meta_find(const qf_st_file *f, const char *key);

/* Streaming writer:
 *   qf_st_writer_open(path) -> declare every tensor (+ metadata) -> write header
 *   -> write each tensor's bytes (any order, one at a time) -> finish (fsync+rename).
 * Tensors are laid out sorted by descending dtype alignment then name, header padded
 * to a multiple of 8 with spaces, __metadata__.format = "pt" always present.
 * Any failure, or qf_st_writer_abort, removes the temp file: no partial output. */
typedef struct qf_st_writer qf_st_writer;

qf_status qf_st_writer_open(const char *path, int overwrite, qf_st_writer **out);
qf_status qf_st_writer_add_meta(qf_st_writer *w, const char *key, const char *value);
qf_status qf_st_writer_declare(qf_st_writer *w, const char *name, qf_dtype dtype, int ndim,
                               const int64_t *shape);
qf_status qf_st_writer_write_header(qf_st_writer *w);
/* Writes the data of a declared tensor; nbytes must equal its size. */
qf_status qf_st_writer_write(qf_st_writer *w, const char *name, const void *data, size_t nbytes);
/* Fails (and removes the temp file) if a declared tensor was never written. */
qf_status qf_st_writer_finish(qf_st_writer *w);
void qf_st_writer_abort(qf_st_writer *w);

#ifdef QF_SAFETENSORS_IMPLEMENTATION
/* implementation below */
#endif

#endif
