/* SHA-256 block functions (private to core/sha256*.c and their tests): the portable one
 * and the SHA-NI one, which core/sha256.c picks at run time. */
#ifndef QF_SHA256_INTERNAL_H
#define QF_SHA256_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

extern const uint32_t qf_sha256_k[64];

/* Runs nblocks 64-byte blocks at p through the compression function on state h. */
void qf_sha256_blocks_portable(uint32_t h[8], const uint8_t *p, size_t nblocks);
void qf_sha256_blocks_ni(uint32_t h[8], const uint8_t *p, size_t nblocks);
/* 1 if this CPU has the SHA extensions (and SSE4.1) that qf_sha256_blocks_ni needs. */
int qf_sha256_ni_supported(void);

#endif
