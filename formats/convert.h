/* Checkpoint conversion: any opened qf_model with a config -> a Hugging Face checkpoint
 * directory that transformers/vLLM load as it is. */
#ifndef QF_CONVERT_H
#define QF_CONVERT_H

#include "core/dtype.h"
#include "core/progress.h"
#include "core/status.h"
#include "formats/model.h"

typedef struct qf_convert_options {
    qf_dtype dtype;       /* F32, F16 or BF16 for every tensor */
    qf_progress progress; /* per tensor; a stop request aborts with INTERRUPTED */
} qf_convert_options;

/* Writes config.json, model.safetensors, generation_config.json and the tokenizer
 * (from a GGUF's vocabulary: tokenizer.json + tokenizer_config.json; from an HF
 * directory: its tokenizer files copied) into `outdir`, which must not exist.
 * Everything is written into "<outdir>.tmp.XXXXXX" and renamed into place at the end,
 * so `outdir` either appears complete or not at all. Same input -> identical bytes. */
qf_status qf_convert_to_hf(const qf_model *m, const char *outdir, const qf_convert_options *opt);

#endif
