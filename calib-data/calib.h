/* Calibration data: the embedded default corpus (calib-data/corpus/, written by us,
 * stored zstd-compressed inside the binary) or user files (plain text, or JSON lines
 * with a "text" field), tokenized with the model's tokenizer and cut into
 * deterministic windows of seqlen tokens. */
#ifndef QF_CALIB_H
#define QF_CALIB_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "runtime/tokenizer.h"

#define QF_CALIB_DEFAULT_SAMPLES 128
#define QF_CALIB_DEFAULT_SEQLEN 2048

typedef struct qf_calib_options {
    int64_t n_samples; /* windows; 128 */
    int64_t seqlen;    /* tokens per window; 2048 (the caller caps it by the context) */
    uint64_t seed;     /* window choice; 0 is a valid seed */
} qf_calib_options;

typedef struct qf_calib {
    int64_t n_samples, seqlen;
    int32_t *tokens;       /* (n_samples, seqlen) */
    int64_t corpus_tokens; /* tokens in the whole tokenized corpus */
    uint8_t sha256[32];    /* of the corpus bytes, sources concatenated in order */
    char *source;          /* "default" or the file paths joined with ", " */
} qf_calib;

/* The embedded default corpus, decompressed (malloc'ed, NUL-terminated). */
qf_status qf_calib_default_text(char **text, size_t *len);

/* Loads the sources (paths; n_paths == 0: the default corpus), joins their documents
 * with "\n\n", tokenizes without special tokens, and picks the windows: n_samples
 * windows drawn from the token stream with a PRNG seeded by opt->seed (the same inputs
 * and seed give the same windows on every machine). Fails with a message naming the file
 * for unreadable files, invalid UTF-8, JSON lines without a string "text", or a corpus
 * shorter than one window. */
qf_status qf_calib_load(const char *const *paths, size_t n_paths, const qf_tokenizer *tok,
                        const qf_calib_options *opt, qf_calib *out);
void qf_calib_free(qf_calib *c);

#endif
