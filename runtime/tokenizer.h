/* Tokenizer of the verification runtime: Hugging Face tokenizer.json (byte-level BPE:
 * GPT-2/SmolLM/Llama-3/Qwen; SentencePiece-style BPE: Llama-2/Mistral), added/special
 * tokens, NFC normalization, BOS/EOS from the post-processor / tokenizer_config.json,
 * decoding. Token ids equal the HF `tokenizers` library's. */
#ifndef QF_TOKENIZER_H
#define QF_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct qf_tokenizer qf_tokenizer;

/* Loads `path`: a tokenizer.json file, or a directory holding tokenizer.json (and
 * optionally tokenizer_config.json, which decides add_bos/add_eos when present). */
qf_status qf_tokenizer_load(const char *path, qf_tokenizer **out);
/* Same from memory (e.g. the JSON exported from a GGUF vocabulary); config_json may be
 * NULL; `name` is used in error messages. */
qf_status qf_tokenizer_load_json(const char *tokenizer_json, size_t len, const char *config_json,
                                 const char *name, qf_tokenizer **out);
void qf_tokenizer_free(qf_tokenizer *t);

/* Encodes UTF-8 text (invalid UTF-8 handled like the HF library: replaced by U+FFFD
 * before tokenization). add_special: apply the post-processor (BOS/EOS) as HF's
 * encode(add_special_tokens=True) does. *ids is malloc'd. */
qf_status qf_tokenizer_encode(const qf_tokenizer *t, const char *text, size_t len, int add_special,
                              int32_t **ids, size_t *n_ids);
/* Decodes ids to UTF-8 (HF decode with skip_special_tokens=False). *out is malloc'd and
 * NUL-terminated. */
qf_status qf_tokenizer_decode(const qf_tokenizer *t, const int32_t *ids, size_t n, char **out,
                              size_t *out_len);

/* Number of ids (model vocab + added tokens): every id < this is valid. */
int64_t qf_tokenizer_vocab_size(const qf_tokenizer *t);
int32_t qf_tokenizer_bos_id(const qf_tokenizer *t); /* -1 if none */
int32_t qf_tokenizer_eos_id(const qf_tokenizer *t); /* -1 if none */

#endif
