/* The files of a Hugging Face checkpoint directory besides config.json and the weights,
 * shared by `qforge convert` and `qforge quantize`: the tokenizer (the known tokenizer
 * files copied from an HF source directory, or tokenizer.json + tokenizer_config.json
 * exported from a GGUF's metadata) and generation_config.json (copied with them, else
 * made from the config's bos / eos ids). */
#ifndef QF_FORMATS_CHECKPOINT_FILES_H
#define QF_FORMATS_CHECKPOINT_FILES_H

#include "core/status.h"
#include "formats/model.h"

/* Into dir: m's tokenizer files (nothing for a bare .safetensors source). */
qf_status qf_checkpoint_write_tokenizer(const qf_model *m, const char *dir);
/* dir/generation_config.json from c's bos / eos ids, unless it exists or c has neither. */
qf_status qf_checkpoint_write_generation_config(const qf_model_config *c, const char *dir);

#endif
