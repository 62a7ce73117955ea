/* Shared types of the tokenizer implementation (runtime/tokenizer*.c); not a public API.
 *
 * Encoding follows the Hugging Face `tokenizers` pipeline:
 *   text (invalid UTF-8 -> U+FFFD)
 *   -> split on added tokens that match the raw text      (tokenizer_added.c)
 *   -> normalize each remaining piece                      (tokenizer_normalize.c)
 *   -> split on added tokens that match normalized text   (tokenizer_added.c)
 *   -> pre-tokenize each remaining piece                   (tokenizer_pretok.c)
 *   -> BPE each pre-token                                  (tokenizer_bpe.c)
 *   -> post-processor template (BOS/EOS)                   (tokenizer_post.c)
 * and decoding maps ids to token strings and runs the decoder chain (tokenizer_decode.c).
 * Scratch state lives in a per-call qf_tok_scratch, so a loaded tokenizer is read-only
 * and may be shared between threads. */
#ifndef QF_TOKENIZER_INTERNAL_H
#define QF_TOKENIZER_INTERNAL_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/hashmap.h"
#include "core/status.h"
#include "runtime/tokenizer.h"

/* ---- hard limits (hostile files and inputs) ------------------------------------------ */
#define QF_TOK_MAX_JSON_BYTES ((size_t)1 << 30)    /* tokenizer.json, vocab.json, merges.txt */
#define QF_TOK_MAX_CONFIG_BYTES ((size_t)64 << 20) /* tokenizer_config.json */
#define QF_TOK_MAX_VOCAB ((size_t)1 << 22)         /* ids are < 2^22 (real files: < 2^18) */
#define QF_TOK_MAX_TOKEN_BYTES 4096                /* one vocabulary/added token string */
#define QF_TOK_MAX_DEPTH 8  /* nested Sequence normalizers/pre-tokenizers/decoders */
#define QF_TOK_MAX_STEPS 64 /* steps of one flattened Sequence */
#define QF_TOK_MAX_TEXT_BYTES ((size_t)1 << 30) /* one encode() input */
#define QF_TOK_MAX_TEMPLATE_IDS 64              /* special ids one template adds */

/* ---- small growable buffers ---------------------------------------------------------- */
typedef struct qf_tok_buf {
    char *p;
    size_t len, cap;
} qf_tok_buf;

qf_status qf_tok_buf_reserve(qf_tok_buf *b, size_t extra);
qf_status qf_tok_buf_append(qf_tok_buf *b, const void *data, size_t n);
void qf_tok_buf_free(qf_tok_buf *b);

typedef struct qf_tok_ids {
    int32_t *v;
    size_t n, cap;
} qf_tok_ids;

qf_status qf_tok_ids_push(qf_tok_ids *ids, int32_t id);

/* A list of strings stored as (off, len) in one buffer: pre-tokens, decoder tokens. */
typedef struct qf_tok_piece {
    size_t off, len;
    uint8_t at_start; /* starts at offset 0 of the original input (Metaspace "first") */
} qf_tok_piece;

typedef struct qf_tok_pieces {
    qf_tok_piece *v;
    size_t n, cap;
    qf_tok_buf text;
} qf_tok_pieces;

/* Appends a piece whose bytes are copied into p->text. */
qf_status qf_tok_pieces_add(qf_tok_pieces *p, const char *s, size_t len, int at_start);
void qf_tok_pieces_clear(qf_tok_pieces *p);
void qf_tok_pieces_free(qf_tok_pieces *p);

/* A cover of a string by ordered, contiguous spans, each flagged as a pattern match
 * or not (HF Pattern::find_matches). */
typedef struct qf_tok_span {
    size_t start, end;
    int match;
} qf_tok_span;

typedef struct qf_tok_spans {
    qf_tok_span *v;
    size_t n, cap;
} qf_tok_spans;

qf_status qf_tok_spans_push(qf_tok_spans *s, size_t start, size_t end, int match);

/* ---- UTF-8 and Unicode classes (tokenizer_utf8.c) ------------------------------------ */
/* Decodes the code point at s (valid UTF-8 assumed); returns its length in bytes. */
size_t qf_utf8_decode(const char *s, uint32_t *cp);
/* Encodes cp (< 0x110000) into out; returns the length. */
size_t qf_utf8_encode(uint32_t cp, char out[4]);
/* Length of the valid UTF-8 prefix of s. */
size_t qf_utf8_valid_prefix(const char *s, size_t len);
/* Appends s to out with every ill-formed subsequence replaced by U+FFFD, one per maximal
 * subpart (the Unicode practice used by Rust's from_utf8_lossy and Python's "replace"). */
qf_status qf_utf8_append_lossy(qf_tok_buf *out, const char *s, size_t len);
int qf_unicode_is_whitespace(uint32_t cp); /* White_Space: Rust char::is_whitespace */
int qf_unicode_is_numeric(uint32_t cp);    /* categories Nd Nl No: char::is_numeric */
int qf_unicode_is_word(uint32_t cp);       /* Rust regex \w */

/* ---- regular expressions (tokenizer_regex.c) ----------------------------------------- */
/* Per-call matching state (PCRE2 match data and JIT stack). */
typedef struct qf_tok_match_ctx {
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *jit;
} qf_tok_match_ctx;

qf_status qf_tok_match_ctx_init(qf_tok_match_ctx *c);
void qf_tok_match_ctx_free(qf_tok_match_ctx *c);

typedef struct qf_tok_regex {
    pcre2_code *code; /* NULL: the empty literal, which matches nothing */
} qf_tok_regex;

/* Compiles an Oniguruma-syntax pattern as the HF library uses it (Unicode classes for
 * \s \S \w \W), or a literal string when literal != 0. `what` names the field in errors. */
qf_status qf_tok_regex_compile(const char *name, const char *what, const char *pattern, size_t len,
                               int literal, qf_tok_regex *out);
void qf_tok_regex_free(qf_tok_regex *r);
/* Appends the spans of s (matches and the gaps between them) to out, with the
 * non-overlapping, leftmost-first iteration of onig's find_iter. */
qf_status qf_tok_regex_spans(const qf_tok_regex *r, qf_tok_match_ctx *c, const char *s, size_t len,
                             qf_tok_spans *out);

/* ---- JSON helpers (tokenizer.c) ------------------------------------------------------ */
/* Load context: the file name used in every message. */
typedef struct qf_tok_ctx {
    const char *name;
} qf_tok_ctx;

/* Parses JSON text, which must be valid UTF-8 with nothing but whitespace after the value
 * (serde_json's rules). */
qf_status qf_tok_json_parse(const char *text, size_t len, const char *name, cJSON **out);
/* obj[key] or NULL when absent or JSON null. */
const cJSON *qf_tok_json_get(const cJSON *obj, const char *key);
/* The "type" string of a component object, or an error naming `what`. */
qf_status qf_tok_json_type(const qf_tok_ctx *c, const cJSON *obj, const char *what,
                           const char **type);
/* Optional boolean (default when absent/null); error when present with another type. */
qf_status qf_tok_json_bool(const qf_tok_ctx *c, const cJSON *obj, const char *key, const char *what,
                           int dflt, int *out);
/* Required string field; error when absent or not a string. */
qf_status qf_tok_json_str(const qf_tok_ctx *c, const cJSON *obj, const char *key, const char *what,
                          const char **out);
/* Non-negative integer below `limit`. */
qf_status qf_tok_json_uint(const qf_tok_ctx *c, const cJSON *it, const char *what, double limit,
                           int64_t *out);
/* An HF pattern {"String": s} or {"Regex": r}: *literal tells which. */
qf_status qf_tok_json_pattern(const qf_tok_ctx *c, const cJSON *obj, const char *what,
                              const char **pattern, int *literal);

/* ---- normalizers (tokenizer_normalize.c) --------------------------------------------- */
typedef enum qf_tok_norm_kind {
    QF_TOK_NORM_NFC,
    QF_TOK_NORM_NFD,
    QF_TOK_NORM_NFKC,
    QF_TOK_NORM_NFKD,
    QF_TOK_NORM_PREPEND,
    QF_TOK_NORM_REPLACE,
    QF_TOK_NORM_LOWERCASE,
} qf_tok_norm_kind;

typedef struct qf_tok_norm_step {
    qf_tok_norm_kind kind;
    char *text; /* Prepend: the prefix; Replace: the replacement */
    size_t text_len;
    qf_tok_regex re; /* Replace: the pattern */
} qf_tok_norm_step;

typedef struct qf_tok_normalizer {
    qf_tok_norm_step *steps;
    size_t n; /* 0: no normalizer */
} qf_tok_normalizer;

qf_status qf_tok_normalizer_parse(const qf_tok_ctx *c, const cJSON *j, qf_tok_normalizer *out);
void qf_tok_normalizer_free(qf_tok_normalizer *n);
/* out receives the normalized s (out is cleared first). */
qf_status qf_tok_normalize(const qf_tok_normalizer *n, qf_tok_match_ctx *mc, const char *s,
                           size_t len, qf_tok_buf *out);

/* ---- pre-tokenizers (tokenizer_pretok.c) --------------------------------------------- */
typedef enum qf_tok_pretok_kind {
    QF_TOK_PRETOK_SPLIT,
    QF_TOK_PRETOK_BYTE_LEVEL,
    QF_TOK_PRETOK_DIGITS,
    QF_TOK_PRETOK_METASPACE,
} qf_tok_pretok_kind;

typedef enum qf_tok_split_behavior {
    QF_TOK_SPLIT_REMOVED,
    QF_TOK_SPLIT_ISOLATED,
    QF_TOK_SPLIT_MERGED_WITH_PREVIOUS,
    QF_TOK_SPLIT_MERGED_WITH_NEXT,
    QF_TOK_SPLIT_CONTIGUOUS,
} qf_tok_split_behavior;

typedef enum qf_tok_prepend_scheme {
    QF_TOK_PREPEND_ALWAYS,
    QF_TOK_PREPEND_NEVER,
    QF_TOK_PREPEND_FIRST,
} qf_tok_prepend_scheme;

typedef struct qf_tok_pretok_step {
    qf_tok_pretok_kind kind;
    qf_tok_regex re; /* Split: its pattern; ByteLevel with use_regex: the GPT-2 regex */
    qf_tok_split_behavior behavior;
    int invert;           /* Split */
    int add_prefix_space; /* ByteLevel */
    int use_regex;        /* ByteLevel */
    int individual;       /* Digits */
    char replacement[4];  /* Metaspace: the replacement character, UTF-8 */
    size_t replacement_len;
    uint32_t replacement_cp;
    qf_tok_prepend_scheme prepend_scheme; /* Metaspace */
    int split;                            /* Metaspace */
} qf_tok_pretok_step;

typedef struct qf_tok_pretok {
    qf_tok_pretok_step *steps;
    size_t n; /* 0: no pre-tokenizer (the whole piece is one word) */
} qf_tok_pretok;

qf_status qf_tok_pretok_parse(const qf_tok_ctx *c, const cJSON *j, qf_tok_pretok *out);
void qf_tok_pretok_free(qf_tok_pretok *p);
/* Applies the pre-tokenizer to one normalized piece: the pre-tokens are appended to out.
 * work is scratch space. */
qf_status qf_tok_pretokenize(const qf_tok_pretok *p, qf_tok_match_ctx *mc, const char *s,
                             size_t len, int at_start, qf_tok_pieces *work, qf_tok_pieces *out);
/* GPT-2's byte <-> printable character map of ByteLevel (bytes_char in byte_level.rs);
 * qf_tok_byte_level_byte returns -1 for characters outside the map. */
uint32_t qf_tok_byte_level_char(uint8_t b);
int qf_tok_byte_level_byte(uint32_t cp);

/* ---- BPE model (tokenizer_bpe.c) ----------------------------------------------------- */
typedef struct qf_tok_bpe {
    qf_strmap vocab; /* token string -> id; keys point into strings */
    qf_tok_buf strings;
    size_t *id_off; /* (max_id + 1) offsets into strings; SIZE_MAX: no token */
    uint32_t *id_len;
    int64_t n_ids;    /* max vocabulary id + 1 */
    qf_u64map merges; /* (left id << 32 | right id) -> (rank << 32 | merged id) */
    char *unk_token;  /* NULL: none */
    char *prefix;     /* continuing_subword_prefix, NULL when none or empty */
    char *suffix;     /* end_of_word_suffix, NULL when none or empty */
    int fuse_unk, byte_fallback, ignore_merges;
    int32_t byte_ids[256]; /* "<0xXX>" tokens for byte_fallback, -1 when absent */
    qf_u64map pairs;       /* code point pairs adjacent inside some token (cp << 32 | cp) */
    int has_pairs;
} qf_tok_bpe;

qf_status qf_tok_bpe_parse(const qf_tok_ctx *c, const cJSON *model, qf_tok_bpe *out);
/* Indexes the adjacent character pairs of the vocabulary so that long words can be cut
 * where no merge crosses (for tokenizers without a pre-tokenizer, whose words are long). */
qf_status qf_tok_bpe_index_pairs(qf_tok_bpe *b);
void qf_tok_bpe_free(qf_tok_bpe *b);

/* Per-call BPE state: symbol list, merge queue, and a cache of tokenized words. */
typedef struct qf_tok_bpe_scratch qf_tok_bpe_scratch;
qf_status qf_tok_bpe_scratch_init(qf_tok_bpe_scratch **out);
void qf_tok_bpe_scratch_free(qf_tok_bpe_scratch *s);
/* Appends the ids of one pre-token. */
qf_status qf_tok_bpe_encode(const qf_tok_bpe *b, qf_tok_bpe_scratch *sc, const char *s, size_t len,
                            qf_tok_ids *out);

/* ---- added tokens (tokenizer_added.c) ------------------------------------------------ */
typedef struct qf_tok_added_token {
    char *content;
    size_t len;
    int32_t id;
    uint8_t single_word, lstrip, rstrip, normalized;
} qf_tok_added_token;

/* Leftmost-longest matcher over a set of strings, sorted by first byte, second byte and
 * decreasing length. */
typedef struct qf_tok_matcher {
    const char **pat;
    size_t *pat_len;
    uint32_t *token; /* index into qf_tok_added.tokens */
    size_t n;
    uint32_t first[257]; /* patterns starting with byte b: [first[b], first[b+1]) */
} qf_tok_matcher;

typedef struct qf_tok_added {
    qf_tok_added_token *tokens;
    size_t n;
    qf_strmap index;     /* content -> index in tokens */
    char **norm_content; /* normalized content of tokens with normalized=true */
    size_t *norm_len;
    qf_tok_matcher raw;  /* tokens with normalized=false, matched on the input text */
    qf_tok_matcher norm; /* tokens with normalized=true, matched on normalized text */
} qf_tok_added;

/* A segment of a split: a run of text (id -1) or an added token. */
typedef struct qf_tok_seg {
    size_t start, end;
    int32_t id;
} qf_tok_seg;

typedef struct qf_tok_segs {
    qf_tok_seg *v;
    size_t n, cap;
} qf_tok_segs;

/* Loads "added_tokens" with the ids the HF library assigns (the vocabulary id of a token
 * already in it, else the next free id). Builds both matchers. */
qf_status qf_tok_added_parse(const qf_tok_ctx *c, const cJSON *arr, const qf_tok_normalizer *norm,
                             const qf_tok_bpe *b, qf_tok_added *out);
void qf_tok_added_free(qf_tok_added *a);
/* Splits s into segments with the raw (normalized == 0) or the normalized token set,
 * honouring single_word/lstrip/rstrip as HF does. out is cleared first. */
qf_status qf_tok_added_split(const qf_tok_added *a, int normalized, const char *s, size_t len,
                             qf_tok_segs *out);
/* Id of an added token with this content, or -1. */
int32_t qf_tok_added_find(const qf_tok_added *a, const char *content, size_t len);

/* ---- decoders (tokenizer_decode.c) --------------------------------------------------- */
typedef enum qf_tok_dec_kind {
    QF_TOK_DEC_BYTE_LEVEL,
    QF_TOK_DEC_REPLACE,
    QF_TOK_DEC_BYTE_FALLBACK,
    QF_TOK_DEC_FUSE,
    QF_TOK_DEC_STRIP,
    QF_TOK_DEC_METASPACE,
} qf_tok_dec_kind;

typedef struct qf_tok_dec_step {
    qf_tok_dec_kind kind;
    qf_tok_regex re; /* Replace */
    char *text;      /* Replace: the replacement */
    size_t text_len;
    uint32_t cp; /* Strip: content; Metaspace: replacement */
    int64_t start, stop;
    int prepend; /* Metaspace: prepend_scheme != never */
} qf_tok_dec_step;

typedef struct qf_tok_decoder {
    qf_tok_dec_step *steps;
    size_t n;
    int present; /* 0: no decoder, tokens are joined with " " */
} qf_tok_decoder;

qf_status qf_tok_decoder_parse(const qf_tok_ctx *c, const cJSON *j, qf_tok_decoder *out);
void qf_tok_decoder_free(qf_tok_decoder *d);
/* Runs the decoder chain on the token strings in `toks` (consumed) and appends the
 * joined result to out. */
qf_status qf_tok_decoder_run(const qf_tok_decoder *d, qf_tok_match_ctx *mc, qf_tok_pieces *toks,
                             qf_tok_buf *out);

/* ---- post-processor and BOS/EOS (tokenizer_post.c) ----------------------------------- */
typedef struct qf_tok_post {
    int32_t prefix[QF_TOK_MAX_TEMPLATE_IDS]; /* ids before the sequence */
    size_t n_prefix;
    int32_t suffix[QF_TOK_MAX_TEMPLATE_IDS]; /* ids after it */
    size_t n_suffix;
    int32_t bos_id, eos_id;
} qf_tok_post;

/* Resolves a token string to its id: added tokens first, then the model vocabulary. */
int32_t qf_tok_token_id(const qf_tok_added *a, const qf_tok_bpe *b, const char *s, size_t len);

qf_status qf_tok_post_parse(const qf_tok_ctx *c, const cJSON *post, const cJSON *config,
                            const qf_tok_added *a, const qf_tok_bpe *b, qf_tok_post *out);

/* ---- GPT-2 vocab.json + merges.txt (tokenizer_gpt2.c) -------------------------------- */
/* Builds the tokenizer.json and tokenizer_config.json equivalents of HF's GPT-2 fast
 * tokenizer for a directory holding vocab.json and merges.txt; the caller owns both. */
qf_status qf_tok_gpt2_build(const char *dir, cJSON **tokenizer, cJSON **config);

/* ---- the tokenizer ------------------------------------------------------------------- */
struct qf_tokenizer {
    char *name;
    qf_tok_normalizer norm;
    qf_tok_pretok pretok;
    qf_tok_bpe bpe;
    qf_tok_added added;
    qf_tok_decoder dec;
    qf_tok_post post;
    int64_t vocab_size;   /* max id over vocabulary and added tokens + 1 */
    int32_t *added_index; /* (vocab_size) id -> index in added.tokens, or -1 */
};

/* Loads from parsed JSON (root of tokenizer.json; config may be NULL). */
qf_status qf_tok_load_cjson(const cJSON *root, const cJSON *config, const char *name,
                            qf_tokenizer **out);

#endif
