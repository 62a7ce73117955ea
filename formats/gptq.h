/* GPTQ checkpoints as transformers / GPTQModel / vLLM load them (REFERENCE.md "GPTQ
 * checkpoint"): per quantized linear `P` the tensors P.qweight int32 (in*bits/32, out),
 * P.qzeros int32 (n_groups, out*bits/32), P.scales fp16 (n_groups, out), P.g_idx int32
 * (in), optional P.bias fp16 (out); checkpoint_format "gptq" (v1: zero points stored
 * minus one) or "gptq_v2"; quantize_config.json and config.json "quantization_config".
 * Packing is LSB first along the packed dimension; 3-bit values straddle words as
 * GPTQModel packs them. This file converts between those tensors and qf_qweight; it does
 * not know which method produced the codes. */
#ifndef QF_FORMATS_GPTQ_H
#define QF_FORMATS_GPTQ_H

#include <stdint.h>

#include "core/qweight.h"
#include "core/status.h"
#include "formats/model.h"
#include "formats/safetensors.h"

typedef enum qf_gptq_format {
    QF_GPTQ_FORMAT_V1, /* checkpoint_format "gptq" */
    QF_GPTQ_FORMAT_V2, /* checkpoint_format "gptq_v2" */
} qf_gptq_format;

/* A per-module override, GPTQModel's `dynamic`: modules whose name (without ".weight")
 * matches `pattern` get these bits / group size; skip = 1 ("-:" prefix) leaves them
 * unquantized. */
typedef struct qf_gptq_dynamic {
    char *pattern; /* PCRE2, matched against "model.layers.0.mlp.up_proj" */
    int skip;
    int bits;
    int64_t group_size;
} qf_gptq_dynamic;

typedef struct qf_gptq_config {
    int bits;
    int64_t group_size; /* -1: per-channel */
    int desc_act, sym, true_sequential, static_groups;
    double damp_percent;
    qf_gptq_format format;
    size_t n_dynamic;
    qf_gptq_dynamic *dynamic;
    /* provenance written into quantize_config.json "meta" (quantizer, tool version);
       NULL: omitted */
    const char *quantizer;
} qf_gptq_config;

/* The quantization_config JSON object (the same text goes into quantize_config.json and
 * under config.json "quantization_config"). *json is malloc'ed. */
qf_status qf_gptq_config_to_json(const qf_gptq_config *c, char **json);
/* Parses a quantization_config object (quant_method "gptq"); frees with
 * qf_gptq_config_free. `what` names the file in errors. */
qf_status qf_gptq_config_parse(const char *json, const char *what, qf_gptq_config *c);
void qf_gptq_config_free(qf_gptq_config *c);
/* The bits / group size / skip that apply to module `name` under c (dynamic first
 * match wins, else the global ones). */
qf_status qf_gptq_config_for_module(const qf_gptq_config *c, const char *name, int *skip,
                                    int *bits, int64_t *group_size);

/* Declares P.qweight, P.qzeros, P.scales, P.g_idx (and P.bias if has_bias) for a
 * (out, in) linear in a safetensors writer, before its header is written. */
qf_status qf_gptq_declare(qf_st_writer *w, const char *prefix, int bits, int64_t out,
                          int64_t in, int64_t group_size, int has_bias);
/* Packs q and writes the declared tensors of `prefix` (bias: (out) floats or NULL). */
qf_status qf_gptq_write(qf_st_writer *w, const char *prefix, const qf_qweight *q,
                        const float *bias, qf_gptq_format fmt);

/* Pure packing (used by qf_gptq_write and the tests). qweight (in*bits/32, out),
 * qzeros (n_groups, out*bits/32), scales fp16 (n_groups, out), g_idx (in) – the g_idx
 * of q, or i / group_size when q has none. */
qf_status qf_gptq_pack(const qf_qweight *q, qf_gptq_format fmt, int32_t *qweight,
                       int32_t *qzeros, uint16_t *scales, int32_t *g_idx);
/* The inverse: fills an initialised q (bits, group size, shape set) from the tensors;
 * keeps g_idx only when it differs from i / group_size. Validates every value. */
qf_status qf_gptq_unpack(const int32_t *qweight, const int32_t *qzeros, const uint16_t *scales,
                         const int32_t *g_idx, qf_gptq_format fmt, qf_qweight *q,
                         const char *what);

/* The GPTQ config of an opened model: *is_gptq = 0 (and c zeroed) when the checkpoint has
 * no quantization_config or an "awq" one (formats/awq.h); UNSUPPORTED when its
 * quant_method is anything else ("quant_method 'fp8' is not supported yet"); parse errors name the checkpoint. Free c with
 * qf_gptq_config_free. */
qf_status qf_gptq_model_config(const qf_model *m, qf_gptq_config *c, int *is_gptq);
/* Checks that linear `prefix` of an (out, in) weight is stored as P.qweight / P.qzeros /
 * P.scales / P.g_idx with the dtypes and shapes that c gives for it (dynamic included),
 * without reading any data (used by qf_model_validate). */
qf_status qf_gptq_model_check(const qf_model *m, const qf_gptq_config *c, const char *prefix,
                              int64_t out, int64_t in);

/* For a model opened from a GPTQ checkpoint (m->quant_config_json with quant_method
 * "gptq"): 1 if linear `prefix` ("model.layers.0.self_attn.q_proj") is stored quantized.
 */
int qf_gptq_model_has(const qf_model *m, const char *prefix);
/* Reads linear `prefix` of such a model into dst (initialised here) and its bias as F32
 * into *bias (malloc'ed; NULL when absent). Shapes are checked against the config
 * (bits / group size per module, dynamic overrides included). */
qf_status qf_gptq_model_read(const qf_model *m, const char *prefix, qf_qweight *dst,
                             float **bias);

#endif
