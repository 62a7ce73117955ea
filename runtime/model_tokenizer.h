/* The tokenizer that belongs to a checkpoint: tokenizer.json of an HF directory, or the
 * vocabulary of a GGUF file (exported as tokenizer.json in memory), checked against the
 * model's vocabulary size. */
#ifndef QF_MODEL_TOKENIZER_H
#define QF_MODEL_TOKENIZER_H

#include "core/status.h"
#include "formats/model.h"
#include "runtime/tokenizer.h"

qf_status qf_model_load_tokenizer(const qf_model *m, qf_tokenizer **out);

#endif
