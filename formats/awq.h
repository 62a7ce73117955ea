/* AutoAWQ "GEMM" checkpoints as AutoAWQ, transformers, GPTQModel and vLLM load them
 * (REFERENCE.md "AWQ checkpoint"): per quantized linear `P`, P.qweight int32 (in, out/8)
 * packed along the output dimension with nibble order [0,2,4,6,1,3,5,7] (nibble i of word
 * c holds column 8c + order[i]), P.qzeros int32 (in/g, out/8) in the same order, zero
 * points as they are (no minus one), P.scales fp16 (in/g, out), no g_idx; w = (q - z) s.
 * 4 bits only, in divisible by the group size (what the GEMM kernels require).
 * config.json quantization_config: {"quant_method":"awq","zero_point":true,
 * "group_size":g,"bits":4,"version":"gemm","modules_to_not_convert":[...] or null}.
 * Modules listed (as substrings of their names, AutoAWQ's rule) are stored as F16
 * P.weight. This file converts between those tensors and qf_qweight; it does not know
 * which method produced the codes. */
#ifndef QF_FORMATS_AWQ_H
#define QF_FORMATS_AWQ_H

#include <stddef.h>
#include <stdint.h>

#include "core/qweight.h"
#include "core/status.h"
#include "formats/model.h"
#include "formats/safetensors.h"

typedef struct qf_awq_config {
    int bits;                 /* 4 */
    int64_t group_size;
    int zero_point;           /* 1 (asymmetric codes with stored zero points) */
    size_t n_not_convert;
    char **not_convert;       /* modules_to_not_convert (substrings), or none */
} qf_awq_config;

/* The quantization_config object; *json is malloc'ed. */
qf_status qf_awq_config_to_json(const qf_awq_config *c, char **json);
/* Parses one (quant_method "awq", version "gemm", bits 4, positive group_size);
 * free with qf_awq_config_free. `what` names the file in errors. */
qf_status qf_awq_config_parse(const char *json, const char *what, qf_awq_config *c);
void qf_awq_config_free(qf_awq_config *c);

/* Whether a (bits, group, out, in, act-order) weight can be stored in this layout; the
 * error names `what` and the reason. */
qf_status qf_awq_check_shape(int bits, int64_t group_size, int64_t out, int64_t in,
                             int has_g_idx, const char *what);

/* Declares P.qweight, P.qzeros, P.scales (and P.bias) of a (out, in) linear. */
qf_status qf_awq_declare(qf_st_writer *w, const char *prefix, int64_t out, int64_t in,
                         int64_t group_size, int has_bias);
/* Packs q and writes the declared tensors (bias: (out) floats or NULL). */
qf_status qf_awq_write(qf_st_writer *w, const char *prefix, const qf_qweight *q,
                       const float *bias);

/* Pure packing: qweight (in, out/8), qzeros (in/g, out/8), scales fp16 (in/g, out). */
qf_status qf_awq_pack(const qf_qweight *q, int32_t *qweight, int32_t *qzeros,
                      uint16_t *scales);
/* The inverse into an initialised q (bits 4, group size, shape set); validates. */
qf_status qf_awq_unpack(const int32_t *qweight, const int32_t *qzeros, const uint16_t *scales,
                        qf_qweight *q, const char *what);

/* The AWQ config of an opened model: *is_awq = 0 when its quantization_config is absent
 * or not "awq". */
qf_status qf_awq_model_config(const qf_model *m, qf_awq_config *c, int *is_awq);
/* Checks the dtypes and shapes of linear `prefix` of a (out, in) weight. */
qf_status qf_awq_model_check(const qf_model *m, const qf_awq_config *c, const char *prefix,
                             int64_t out, int64_t in);
/* Reads linear `prefix` into dst (initialised here) and its bias as F32 (malloc'ed or
 * NULL). */
qf_status qf_awq_model_read(const qf_model *m, const char *prefix, qf_qweight *dst,
                            float **bias);

#endif
