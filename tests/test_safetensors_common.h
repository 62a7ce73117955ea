/* Helpers shared by the safetensors tests: in-memory files from a header string,
 * scratch directories, whole-file reads. */
#ifndef QF_TEST_SAFETENSORS_COMMON_H
#define QF_TEST_SAFETENSORS_COMMON_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/safetensors.h"

#define ST_FIXTURES QF_FIXTURES_DIR "/safetensors"

/* 8-byte length + header (space-padded to a multiple of 8 if pad) + data. */
static inline uint8_t *st_build(const char *header, size_t hlen, int pad, const void *data,
                         size_t dlen, size_t *out_len) {
    size_t n = hlen;
    if (pad) n += (8 - n % 8) % 8;
    uint8_t *buf = malloc(8 + n + dlen + 1);
    if (!buf) abort();
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, header, hlen);
    memset(buf + 8 + hlen, ' ', n - hlen);
    if (dlen) memcpy(buf + 8 + n, data, dlen);
    *out_len = 8 + n + dlen;
    return buf;
}

/* An in-memory file and the buffer it points into. */
typedef struct st_mem {
    qf_st_file *f;
    uint8_t *buf;
} st_mem;

/* Opens header (NUL-terminated, padded) + dlen data bytes 0,1,2,... from memory. */
static inline qf_status st_open_str(const char *header, size_t dlen, st_mem *m) {
    uint8_t data[256];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)i;
    if (dlen > sizeof data) abort();
    size_t len;
    m->f = NULL;
    m->buf = st_build(header, strlen(header), 1, data, dlen, &len);
    return qf_st_open_memory(m->buf, len, "mem.safetensors", &m->f);
}

static inline void st_mem_close(st_mem *m) {
    qf_st_close(m->f);
    free(m->buf);
    m->f = NULL;
    m->buf = NULL;
}

/* Expects the header to be rejected with `code` and a message containing `needle`. */
#define ST_REJECTS(header, dlen, code, needle)                 \
    do {                                                       \
        st_mem m_;                                             \
        CHECK_FAILS(st_open_str((header), (dlen), &m_), (code), (needle)); \
        CHECK(m_.f == NULL);                                   \
        st_mem_close(&m_);                                     \
    } while (0)

static inline char *st_read_file(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        fclose(fp);
        return NULL;
    }
    fclose(fp);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

/* Removes a flat scratch directory and its files. */
static inline void st_rm_dir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096 + 512];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d) closedir(d);
    rmdir(dir);
}

static inline void st_make_tmpdir(char *out, size_t n) {
    const char *base = getenv("TMPDIR");
    snprintf(out, n, "%s/qf_st_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(out)) {
        perror("mkdtemp");
        exit(1);
    }
}

#endif
