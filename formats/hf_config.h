/* Hugging Face config.json: parsing into qf_model_config with transformers' defaults
 * for each architecture, and writing a config.json that transformers 4 and 5 load. */
#ifndef QF_HF_CONFIG_H
#define QF_HF_CONFIG_H

#include <stddef.h>

#include "core/status.h"
#include "runtime/arch.h"

#define QF_HF_CONFIG_MAX_BYTES (16u << 20) /* config.json files are a few KB */
#define QF_HF_CONFIG_MAX_KEYS 4096         /* keys in one object that the parser reads */

/* Parses config.json text (`len` bytes; `name` names the file in messages).
 * Fields absent from the JSON take the defaults of transformers' config class for the
 * architecture (LlamaConfig, MistralConfig, Qwen2Config); legacy keys (top-level
 * rope_theta, rope_scaling with "type" or "rope_type", torch_dtype) and transformers 5
 * keys (rope_parameters, dtype, layer_types) are both understood. The result passes
 * qf_model_config_check.
 *   UNSUPPORTED: an architecture not in the table (the message lists the supported
 *                ones), or a feature qforge does not implement (rope type, per-layer
 *                sliding window, partial rotary).
 *   FORMAT:      invalid JSON, a field of the wrong type (the message names it), values
 *                that fail qf_model_config_check.
 * Notes: an eos_token_id list keeps its first id; negative token ids mean unset (-1);
 * attention_bias is 1 for Qwen2 (its q/k/v projections always have biases). */
qf_status qf_hf_config_parse(const char *json, size_t len, const char *name,
                             qf_model_config *out);
/* Reads (at most QF_HF_CONFIG_MAX_BYTES) and parses the file at `path`. */
qf_status qf_hf_config_load(const char *path, qf_model_config *out);

/* Renders `cfg` (checked first) as config.json text in the legacy key spelling that
 * transformers 4 and 5, vLLM and llama.cpp's converter all read: architectures,
 * model_type, every size, rope_theta, rope_scaling (null or a dict with "rope_type"),
 * the architecture's bias / sliding-window keys, token ids, torch_dtype.
 * `extra_json`, if not NULL, is a JSON object whose members are added to the output,
 * replacing same-named ones (e.g. {"quantization_config": {...}}).
 * *out is malloc'd and NUL-terminated; the caller frees it. Parsing the output with
 * qf_hf_config_parse gives back `cfg`. */
qf_status qf_hf_config_to_json(const qf_model_config *cfg, const char *extra_json, char **out);
/* qf_hf_config_to_json written atomically to `path` (core/fileio.h). */
qf_status qf_hf_config_write(const qf_model_config *cfg, const char *extra_json,
                             const char *path, int overwrite);

#endif
