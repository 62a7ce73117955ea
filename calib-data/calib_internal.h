/* Private parts of calib-data/: the joined corpus text being built, the user-file
 * reader and the window sampler. */
#ifndef QF_CALIB_INTERNAL_H
#define QF_CALIB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "calib-data/calib.h"
#include "core/status.h"

#define QF_CALIB_MAX_FILE_BYTES ((size_t)1 << 30)   /* one user file */
#define QF_CALIB_MAX_TEXT_BYTES ((size_t)2 << 30)   /* all sources joined */
#define QF_CALIB_MAX_SAMPLE_TOKENS ((int64_t)1 << 31) /* n_samples * seqlen */
#define QF_CALIB_DOC_SEPARATOR "\n\n"

/* The corpus: documents joined with QF_CALIB_DOC_SEPARATOR. */
typedef struct qf_calib_text {
    char *data; /* NUL-terminated once anything was added */
    size_t len, cap;
    size_t n_docs;
} qf_calib_text;

/* Appends one document (after the separator unless it is the first). */
qf_status qf_calib_text_add(qf_calib_text *t, const char *doc, size_t len);
void qf_calib_text_free(qf_calib_text *t);

/* Adds the documents of a user file: JSON lines (name ends in .jsonl, .ndjson or .json,
 * any case; one document per non-blank line, an object with a string "text"; records
 * whose text is "" are skipped) or plain text (any other name; the whole file is one
 * document, byte for byte). Errors name the file and the line or byte offset. */
qf_status qf_calib_add_file(qf_calib_text *t, const char *path);

/* Fills windows (n_samples, seqlen) from ids (n_ids >= seqlen) with a splitmix64 stream
 * seeded by opt->seed; see calib_windows.c for the rule. */
qf_status qf_calib_pick_windows(const int32_t *ids, int64_t n_ids, const qf_calib_options *opt,
                                int32_t *windows);

#endif
