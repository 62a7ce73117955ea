/* mmap reader, bounded reads and atomic writers. */
#include "core/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

qf_status qf_file_map(const char *path, qf_mapped_file *out) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    QF_RETURN_IF(fd < 0, QF_STATUS_IO, "'%s': cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return qf_error_set(QF_STATUS_IO, "'%s': cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return qf_error_set(QF_STATUS_IO, "'%s': not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return QF_STATUS_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    QF_RETURN_IF(p == MAP_FAILED, QF_STATUS_IO, "'%s': cannot mmap: %s", path, strerror(e));
    out->data = p;
    out->size = (size_t)st.st_size;
    return QF_STATUS_OK;
}

void qf_file_unmap(qf_mapped_file *f) {
    if (f && f->data) munmap((void *)f->data, f->size);
    if (f) memset(f, 0, sizeof *f);
}

qf_status qf_file_read_all(const char *path, size_t max_bytes, char **out, size_t *out_len) {
    *out = NULL;
    if (max_bytes > SIZE_MAX - 1) max_bytes = SIZE_MAX - 1; /* room for the NUL */
    FILE *fp = fopen(path, "rb");
    QF_RETURN_IF(!fp, QF_STATUS_IO, "'%s': cannot open: %s", path, strerror(errno));
    size_t cap = max_bytes < 4096 ? max_bytes : 4096, len = 0;
    char *buf = malloc(cap + 1);
    qf_status st = QF_STATUS_OK;
    if (!buf) {
        st = qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", path);
        goto done;
    }
    for (;;) {
        if (len == cap) {
            if (cap == max_bytes) {
                /* exactly max_bytes read: the file fits only if nothing follows */
                if (fgetc(fp) != EOF)
                    st = qf_error_set(QF_STATUS_FORMAT, "'%s': larger than the limit of %zu bytes",
                                      path, max_bytes);
                else if (ferror(fp))
                    st = qf_error_set(QF_STATUS_IO, "'%s': read error", path);
                break;
            }
            size_t ncap = cap > max_bytes / 2 ? max_bytes : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                st = qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", path);
                goto done;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0) {
            if (ferror(fp)) st = qf_error_set(QF_STATUS_IO, "'%s': read error", path);
            break;
        }
    }
done:
    fclose(fp);
    if (st != QF_STATUS_OK) {
        free(buf);
        return st;
    }
    buf[len] = '\0';
    *out = buf;
    if (out_len) *out_len = len;
    return QF_STATUS_OK;
}

int qf_path_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

void qf_path_basename(const char *path, char *out, size_t n) {
    if (n == 0) return;
    size_t end = strlen(path);
    while (end > 1 && path[end - 1] == '/') end--;
    size_t start = end;
    while (start > 0 && path[start - 1] != '/') start--;
    if (start == end && end > 0) start = end - 1; /* "/" */
    size_t len = end - start < n - 1 ? end - start : n - 1;
    memcpy(out, path + start, len);
    out[len] = '\0';
}

int qf_path_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

qf_status qf_atomic_open(const char *path, int overwrite, qf_atomic_file *out) {
    memset(out, 0, sizeof *out);
    out->fd = -1;
    out->overwrite = overwrite;
    QF_RETURN_IF(!overwrite && qf_path_exists(path), QF_STATUS_IO,
                 "'%s': already exists (refusing to overwrite)", path);
    size_t n = strlen(path);
    out->final_path = strdup(path);
    out->tmp_path = malloc(n + 16);
    if (!out->final_path || !out->tmp_path) {
        qf_atomic_abort(out);
        return qf_error_set(QF_STATUS_NOMEM, "out of memory");
    }
    snprintf(out->tmp_path, n + 16, "%s.tmp.XXXXXX", path);
    out->fd = mkostemp(out->tmp_path, O_CLOEXEC);
    if (out->fd < 0) {
        int e = errno;
        free(out->tmp_path);
        out->tmp_path = NULL; /* nothing to unlink */
        qf_atomic_abort(out);
        return qf_error_set(QF_STATUS_IO, "'%s': cannot create temporary file: %s", path,
                            strerror(e));
    }
    fchmod(out->fd, 0644);
    return QF_STATUS_OK;
}

qf_status qf_atomic_pwrite(qf_atomic_file *f, const void *buf, size_t n, uint64_t offset) {
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = pwrite(f->fd, p, n, (off_t)offset);
        if (w < 0 && errno == EINTR) continue;
        QF_RETURN_IF(w <= 0, QF_STATUS_IO, "'%s': write failed: %s", f->tmp_path,
                     w < 0 ? strerror(errno) : "no progress");
        p += w;
        n -= (size_t)w;
        offset += (uint64_t)w;
    }
    return QF_STATUS_OK;
}

qf_status qf_atomic_write(qf_atomic_file *f, const void *buf, size_t n) {
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = write(f->fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        QF_RETURN_IF(w <= 0, QF_STATUS_IO, "'%s': write failed: %s", f->tmp_path,
                     w < 0 ? strerror(errno) : "no progress");
        p += w;
        n -= (size_t)w;
    }
    return QF_STATUS_OK;
}

static void qf_fsync_parent_dir(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(copy);
}

/* rename(2); without overwrite, never replaces a file that appeared since open (falls
 * back to a check + rename on filesystems without RENAME_NOREPLACE). */
static int qf_rename(const char *from, const char *to, int overwrite) {
    if (overwrite) return rename(from, to);
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS) return -1;
    if (qf_path_exists(to)) {
        errno = EEXIST;
        return -1;
    }
    return rename(from, to);
}

qf_status qf_atomic_commit(qf_atomic_file *f) {
    qf_status st = QF_STATUS_OK;
    if (fsync(f->fd) != 0)
        st = qf_error_set(QF_STATUS_IO, "'%s': fsync failed: %s", f->tmp_path, strerror(errno));
    if (close(f->fd) != 0 && st == QF_STATUS_OK)
        st = qf_error_set(QF_STATUS_IO, "'%s': close failed: %s", f->tmp_path, strerror(errno));
    f->fd = -1;
    if (st == QF_STATUS_OK && qf_rename(f->tmp_path, f->final_path, f->overwrite) != 0)
        st = qf_error_set(QF_STATUS_IO, "'%s': rename into place failed: %s", f->final_path,
                          strerror(errno));
    if (st != QF_STATUS_OK) {
        qf_atomic_abort(f);
        return st;
    }
    qf_fsync_parent_dir(f->final_path);
    free(f->tmp_path);
    free(f->final_path);
    f->tmp_path = f->final_path = NULL;
    return QF_STATUS_OK;
}

void qf_atomic_abort(qf_atomic_file *f) {
    if (!f) return;
    /* tmp_path is non-NULL exactly while the temp file exists */
    if (f->tmp_path) {
        if (f->fd >= 0) close(f->fd);
        unlink(f->tmp_path);
    }
    free(f->tmp_path);
    free(f->final_path);
    f->fd = -1;
    f->tmp_path = f->final_path = NULL;
}

qf_status qf_file_write_atomic(const char *path, const void *buf, size_t n, int overwrite) {
    qf_atomic_file f;
    QF_FORWARD(qf_atomic_open(path, overwrite, &f));
    qf_status st = qf_atomic_write(&f, buf, n);
    if (st != QF_STATUS_OK) {
        qf_atomic_abort(&f);
        return st;
    }
    return qf_atomic_commit(&f);
}

static int qf_remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void qf_remove_tree(const char *dir) { nftw(dir, qf_remove_entry, 16, FTW_DEPTH | FTW_PHYS); }
