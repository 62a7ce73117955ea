/* Test helper: a qf_runtime logits callback that copies each block of rows into a
 * caller-owned (tokens, vocab) buffer. */
#ifndef QF_TEST_LOGITS_UTIL_H
#define QF_TEST_LOGITS_UTIL_H

#include <stdint.h>
#include <string.h>

#include "core/status.h"

typedef struct logits_buf {
    float *v;      /* (tokens, vocab) */
    int64_t vocab;
} logits_buf;

static qf_status keep(void *user, int64_t first, int64_t count, const float *logits) {
    logits_buf *b = user;
    memcpy(b->v + first * b->vocab, logits, (size_t)(count * b->vocab) * sizeof(float));
    return QF_STATUS_OK;
}

#endif
