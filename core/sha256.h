/* SHA-256 (FIPS 180-4) for provenance records and file verification. */
#ifndef QF_SHA256_H
#define QF_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct qf_sha256 {
    uint32_t h[8];
    uint64_t len; /* bytes hashed so far */
    uint8_t buf[64];
    size_t nbuf;
} qf_sha256;

void qf_sha256_init(qf_sha256 *s);
void qf_sha256_update(qf_sha256 *s, const void *data, size_t n);
void qf_sha256_final(qf_sha256 *s, uint8_t out[32]);
/* One-shot digest as 64 lowercase hex chars + NUL. */
void qf_sha256_hex(const void *data, size_t n, char out[65]);
void qf_sha256_to_hex(const uint8_t digest[32], char out[65]);
/* Digest of a whole file (mapped). */
qf_status qf_sha256_file(const char *path, char out[65]);
/* Chooses the block function: on = 1 the SHA-NI one where the CPU has it (the default),
 * 0 the portable one; returns whether SHA-NI was in use. For tests and benchmarks; not
 * thread-safe against concurrent hashing. */
int qf_sha256_use_ni(int on);

#endif
