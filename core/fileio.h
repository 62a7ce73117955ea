/* Read-only file mapping, bounded whole-file reads, and atomic output files
 * (temp file in the same directory, fsync, rename; never a half-written file). */
#ifndef QF_FILEIO_H
#define QF_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct qf_mapped_file {
    const uint8_t *data; /* NULL when size == 0 */
    size_t size;
} qf_mapped_file;

/* Maps `path` read-only. Errors name the file. */
qf_status qf_file_map(const char *path, qf_mapped_file *out);
void qf_file_unmap(qf_mapped_file *f);

/* Reads a whole (small) file into a NUL-terminated malloc'd buffer; fails if the
 * file is larger than max_bytes. */
qf_status qf_file_read_all(const char *path, size_t max_bytes, char **out, size_t *out_len);

typedef struct qf_atomic_file {
    int fd;
    char *final_path;
    char *tmp_path;
    int overwrite; /* 0: the commit fails rather than replace a file that appeared meanwhile */
} qf_atomic_file;

/* Creates "<path>.tmp.XXXXXX" next to `path`. Refuses if `path` exists and
 * overwrite is 0. */
qf_status qf_atomic_open(const char *path, int overwrite, qf_atomic_file *out);
qf_status qf_atomic_write(qf_atomic_file *f, const void *buf, size_t n);
qf_status qf_atomic_pwrite(qf_atomic_file *f, const void *buf, size_t n, uint64_t offset);
/* fsync + rename into place + fsync of the directory; frees f. */
qf_status qf_atomic_commit(qf_atomic_file *f);
/* Removes the temp file and frees f; safe on a zeroed or committed struct. */
void qf_atomic_abort(qf_atomic_file *f);

/* Whole-file convenience: writes buf atomically to path. */
qf_status qf_file_write_atomic(const char *path, const void *buf, size_t n, int overwrite);

/* The last component of path ("a/b/" -> "b", "/" -> "/") into out (n bytes, truncated,
 * NUL-terminated): what artifacts record of a local path, so the machine's directory
 * layout never reaches a shared file and the same input gives the same bytes. */
void qf_path_basename(const char *path, char *out, size_t n);

/* 1 if path exists (any type), 0 otherwise. */
int qf_path_exists(const char *path);
/* Removes a directory tree we created, without following symlinks (best effort). */
void qf_remove_tree(const char *dir);
/* 1 if path is a directory. */
int qf_path_is_dir(const char *path);

#endif
