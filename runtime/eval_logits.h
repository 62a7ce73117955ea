/* The saved-distribution file of `qforge eval --save-logits` / `--kl-base`:
 * a 128-byte header, then one zstd frame of per-position records
 * { f32 nll_of_target, u32 ids[k], f32 logprobs[k] } (top-k of the base model, most
 * likely first). The header records how the run was made so a comparison with a
 * different text or windowing is refused. Written atomically. */
#ifndef QF_EVAL_LOGITS_H
#define QF_EVAL_LOGITS_H

#include <stdint.h>

#include "core/status.h"

#define QF_LOGITS_MAX_TOPK 256

typedef struct qf_logits_header {
    uint32_t topk;
    uint64_t vocab;
    uint64_t n_positions; /* filled in when the writer finishes */
    int64_t ctx, stride, bos_id;
    char text_sha256[65];
} qf_logits_header;

typedef struct qf_logits_record {
    float nll;
    uint32_t ids[QF_LOGITS_MAX_TOPK];
    float logprobs[QF_LOGITS_MAX_TOPK];
} qf_logits_record;

typedef struct qf_logits_writer qf_logits_writer;
typedef struct qf_logits_reader qf_logits_reader;

qf_status qf_logits_writer_open(const char *path, const qf_logits_header *h, qf_logits_writer **out);
qf_status qf_logits_writer_add(qf_logits_writer *w, const qf_logits_record *r);
/* Flushes, writes the final position count, renames into place; frees w. */
qf_status qf_logits_writer_finish(qf_logits_writer *w);
/* Removes the temp file; frees w (NULL is fine). */
void qf_logits_writer_abort(qf_logits_writer *w);

/* Opens and checks the header (magic, version, sane sizes). */
qf_status qf_logits_reader_open(const char *path, qf_logits_reader **out);
const qf_logits_header *qf_logits_reader_header(const qf_logits_reader *r);
/* Next record; FORMAT error on truncation/corruption (ids >= vocab, non-finite values). */
qf_status qf_logits_reader_next(qf_logits_reader *r, qf_logits_record *rec);
/* Checks that every record was consumed and the stream ends there. */
qf_status qf_logits_reader_finish(qf_logits_reader *r);
void qf_logits_reader_free(qf_logits_reader *r);

#endif
