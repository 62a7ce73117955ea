/* Exports a GGUF file's vocabulary (tokenizer.ggml.*) as Hugging Face tokenizer.json
 * and tokenizer_config.json, so a converted checkpoint tokenizes as llama.cpp does. */
#ifndef QF_GGUF_TOKENIZER_H
#define QF_GGUF_TOKENIZER_H

#include "core/status.h"
#include "formats/gguf.h"

/* Builds both JSON documents (malloc'd, caller frees). Supports tokenizer.ggml.model
 * "gpt2" (byte-level BPE) with the pre-tokenizers listed in the .c file; others give
 * QF_STATUS_UNSUPPORTED naming what was found. */
qf_status qf_gguf_tokenizer_export(const qf_gguf_file *g, char **tokenizer_json,
                                   char **tokenizer_config_json);

/* qf_gguf_tokenizer_export on the GGUF file at `path`; errors name the file. */
qf_status qf_gguf_tokenizer_export_file(const char *path, char **tokenizer_json,
                                        char **tokenizer_config_json);

/* The Hugging Face pre_tokenizer JSON for a GGUF tokenizer.ggml.pre value; NULL if
 * unknown. The returned cJSON-free string is static. */
const char *qf_gguf_tokenizer_pre_json(const char *pre);

#endif
