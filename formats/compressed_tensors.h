/* compressed-tensors checkpoints (llm-compressor, vLLM; REFERENCE.md "compressed-tensors"),
 * the W8A8 "int-quantized" form: per quantized linear `P`, P.weight int8 (out, in) and
 * P.weight_scale (out, 1) (F32 / F16 / BF16); weights per-channel symmetric int8,
 * activations symmetric int8, per-token dynamic (llm-compressor's W8A8 / INT8 preset) or
 * per-tensor static with P.input_scale (1) (F32 / F16 / BF16; scale = max|x| / 127.5
 * over the calibration data, what llm-compressor writes for strategy "tensor",
 * dynamic false);
 * config.json quantization_config {"quant_method":"compressed-tensors",
 * "format":"int-quantized","config_groups":{...},"ignore":[...]}. Modules listed in
 * `ignore` (exact names, or "re:REGEX" matched against the whole name) stay F16/F32.
 * Other compressed-tensors schemes are refused with what they are. */
#ifndef QF_FORMATS_COMPRESSED_TENSORS_H
#define QF_FORMATS_COMPRESSED_TENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/qweight.h"
#include "core/status.h"
#include "formats/model.h"
#include "formats/safetensors.h"

typedef struct qf_ct_config {
    size_t n_ignore;
    char **ignore;   /* names or "re:REGEX" */
    int act_static;  /* 1: static per-tensor input scales; 0: dynamic per token */
} qf_ct_config;

/* Parses quantization_config (must be the W8A8 int-quantized scheme described above);
 * `what` names the file in errors. Free with qf_ct_config_free. */
qf_status qf_ct_config_parse(const char *json, const char *what, qf_ct_config *c);
void qf_ct_config_free(qf_ct_config *c);
/* Whether module `name` ("model.layers.0.mlp.up_proj") is listed in ignore. */
int qf_ct_ignored(const qf_ct_config *c, const char *name);

/* The config of an opened model: *is_ct = 0 when it has no compressed-tensors config. */
qf_status qf_ct_model_config(const qf_model *m, qf_ct_config *c, int *is_ct);
/* 1 if linear `prefix` is stored int8 (P.weight I8 with a P.weight_scale). */
int qf_ct_model_has(const qf_model *m, const char *prefix);
/* Checks P.weight I8 (out, in) and P.weight_scale (out, 1) float (and P.input_scale
 * when c->act_static). */
qf_status qf_ct_model_check(const qf_model *m, const qf_ct_config *c, const char *prefix,
                             int64_t out, int64_t in);
/* Reads P.weight into *w (malloc'ed, (out, in)), P.weight_scale as F32 into *scale
 * (malloc'ed, (out)) and, for a static scheme, P.input_scale into *in_scale (else 0);
 * every scale must be finite and > 0. */
qf_status qf_ct_model_read(const qf_model *m, const char *prefix, int64_t out, int64_t in,
                           int8_t **w, float **scale, float *in_scale);

/* ---- writing (compressed_tensors_write.c) ---- */
/* The quantization_config object for W8A8 with these ignored modules ("lm_head" is
 * always listed), activations per token (act_static 0) or static per tensor (1);
 * *json malloc'ed. */
qf_status qf_ct_config_to_json(const char *const *ignore, size_t n_ignore, int act_static,
                               char **json);
/* Declares P.weight I8 (out, in), P.weight_scale F16 (out, 1) (and P.bias F16, and
 * P.input_scale F32 (1) when act_static). */
qf_status qf_ct_declare(qf_st_writer *w, const char *prefix, int64_t out, int64_t in, int has_bias,
                        int act_static);
/* Writes them from q: 8-bit, symmetric, per-channel (zero 128, stored as code - 128);
 * in_scale > 0 is written as P.input_scale (static), 0 writes none. */
qf_status qf_ct_write(qf_st_writer *w, const char *prefix, const qf_qweight *q, const float *bias,
                      float in_scale);

#endif
