/* Writing compressed-tensors W8A8 "int-quantized" checkpoints (compressed_tensors.h): the
 * quantization_config llm-compressor writes for its W8A8 preset, and per linear the int8
 * weight (code - 128 of a symmetric 8-bit per-channel qf_qweight) with its scales. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "formats/compressed_tensors.h"
#include "formats/packed_tensors.h"

static cJSON *ct_args(int dynamic, const char *strategy, const char *observer) {
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNullToObject(a, "actorder");
    cJSON_AddNullToObject(a, "block_structure");
    cJSON_AddBoolToObject(a, "dynamic", dynamic);
    cJSON_AddNullToObject(a, "group_size");
    cJSON_AddNumberToObject(a, "num_bits", 8);
    if (observer) cJSON_AddStringToObject(a, "observer", observer);
    else cJSON_AddNullToObject(a, "observer");
    cJSON_AddItemToObject(a, "observer_kwargs", cJSON_CreateObject());
    cJSON_AddStringToObject(a, "strategy", strategy);
    cJSON_AddBoolToObject(a, "symmetric", 1);
    cJSON_AddStringToObject(a, "type", "int");
    return a;
}

qf_status qf_ct_config_to_json(const char *const *ignore, size_t n_ignore, int act_static,
                               char **json) {
    cJSON *o = cJSON_CreateObject(), *groups = cJSON_CreateObject(), *g = cJSON_CreateObject();
    QF_RETURN_IF(!o || !groups || !g, QF_STATUS_NOMEM, "compressed-tensors config: out of memory");
    cJSON_AddStringToObject(g, "format", "int-quantized");
    cJSON_AddItemToObject(g, "input_activations", act_static ? ct_args(0, "tensor", "static_minmax")
                                                             : ct_args(1, "token", NULL));
    cJSON_AddNullToObject(g, "output_activations");
    cJSON *t = cJSON_AddArrayToObject(g, "targets");
    cJSON_AddItemToArray(t, cJSON_CreateString("Linear"));
    cJSON_AddItemToObject(g, "weights", ct_args(0, "channel", "minmax"));
    cJSON_AddItemToObject(groups, "group_0", g);
    cJSON_AddItemToObject(o, "config_groups", groups);
    cJSON_AddStringToObject(o, "format", "int-quantized");
    cJSON_AddNullToObject(o, "global_compression_ratio");
    cJSON *ig = cJSON_AddArrayToObject(o, "ignore");
    cJSON_AddItemToArray(ig, cJSON_CreateString("lm_head"));
    for (size_t i = 0; i < n_ignore; i++) cJSON_AddItemToArray(ig, cJSON_CreateString(ignore[i]));
    cJSON_AddNullToObject(o, "kv_cache_scheme");
    cJSON_AddStringToObject(o, "quant_method", "compressed-tensors");
    cJSON_AddStringToObject(o, "quantization_status", "compressed");
    *json = cJSON_Print(o);
    cJSON_Delete(o);
    QF_RETURN_IF(!*json, QF_STATUS_NOMEM, "compressed-tensors config: out of memory");
    return QF_STATUS_OK;
}

qf_status qf_ct_declare(qf_st_writer *w, const char *prefix, int64_t out, int64_t in, int has_bias,
                        int act_static) {
    char name[QF_PACKED_NAME_MAX];
    const int64_t ws[2] = {out, in}, ss[2] = {out, 1}, bs[1] = {out}, one[1] = {1};
    QF_FORWARD(qf_packed_name(name, prefix, "weight"));
    QF_FORWARD(qf_st_writer_declare(w, name, QF_DTYPE_I8, 2, ws));
    QF_FORWARD(qf_packed_name(name, prefix, "weight_scale"));
    QF_FORWARD(qf_st_writer_declare(w, name, QF_DTYPE_F16, 2, ss));
    if (act_static) {
        QF_FORWARD(qf_packed_name(name, prefix, "input_scale"));
        QF_FORWARD(qf_st_writer_declare(w, name, QF_DTYPE_F32, 1, one));
    }
    if (!has_bias) return QF_STATUS_OK;
    QF_FORWARD(qf_packed_name(name, prefix, "bias"));
    return qf_st_writer_declare(w, name, QF_DTYPE_F16, 1, bs);
}

qf_status qf_ct_write(qf_st_writer *w, const char *prefix, const qf_qweight *q, const float *bias,
                      float in_scale) {
    QF_RETURN_IF(q->bits != 8 || !q->sym || q->n_groups != 1 || q->g_idx, QF_STATUS_INVALID_ARG,
                 "'%s': W8A8 needs 8-bit symmetric per-channel weights", prefix);
    QF_FORWARD(qf_qweight_validate(q, prefix));
    const size_t n = (size_t)(q->out * q->in);
    int8_t *wi = malloc(n);
    uint16_t *s = malloc((size_t)q->out * 2), *b = bias ? malloc((size_t)q->out * 2) : NULL;
    qf_status st = wi && s && (!bias || b) ? QF_STATUS_OK
                                           : qf_error_set(QF_STATUS_NOMEM, "'%s': out of memory", prefix);
    char name[QF_PACKED_NAME_MAX];
    if (st == QF_STATUS_OK) {
        for (size_t k = 0; k < n; k++) wi[k] = (int8_t)((int)q->q[k] - 128);
        for (int64_t o = 0; o < q->out; o++) s[o] = qf_fp32_to_fp16(q->scales[o]);
        st = qf_packed_name(name, prefix, "weight");
    }
    if (st == QF_STATUS_OK) st = qf_st_writer_write(w, name, wi, n);
    if (st == QF_STATUS_OK) st = qf_packed_name(name, prefix, "weight_scale");
    if (st == QF_STATUS_OK) st = qf_st_writer_write(w, name, s, (size_t)q->out * 2);
    if (st == QF_STATUS_OK && in_scale > 0.0f) {
        st = qf_packed_name(name, prefix, "input_scale");
        if (st == QF_STATUS_OK) st = qf_st_writer_write(w, name, &in_scale, sizeof in_scale);
    }
    if (st == QF_STATUS_OK && bias) {
        for (int64_t o = 0; o < q->out; o++) b[o] = qf_fp32_to_fp16(bias[o]);
        st = qf_packed_name(name, prefix, "bias");
        if (st == QF_STATUS_OK) st = qf_st_writer_write(w, name, b, (size_t)q->out * 2);
    }
    free(wi), free(s), free(b);
    return st;
}
