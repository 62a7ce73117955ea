/* Tensor lookup shared by the packed-checkpoint adapters (see packed_tensors.h). */
#include "formats/packed_tensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "formats/awq.h"
#include "formats/gptq.h"

qf_status qf_packed_name(char *buf, const char *prefix, const char *suffix) {
    int n = snprintf(buf, QF_PACKED_NAME_MAX, "%s.%s", prefix, suffix);
    QF_RETURN_IF(n < 0 || n >= QF_PACKED_NAME_MAX, QF_STATUS_INVALID_ARG,
                 "tensor name '%.200s.%s' too long", prefix, suffix);
    return QF_STATUS_OK;
}

qf_status qf_packed_find(const qf_model *m, const char *kind, const char *prefix,
                         const char *suffix, qf_dtype dtype, int ndim, const int64_t *shape,
                         const qf_model_tensor **out) {
    char name[QF_PACKED_NAME_MAX];
    QF_FORWARD(qf_packed_name(name, prefix, suffix));
    const qf_model_tensor *t = qf_model_find_tensor(m, name);
    QF_RETURN_IF(!t, QF_STATUS_NOT_FOUND, "'%s': %s tensor '%s' is missing", m->path, kind, name);
    const char *file = t->file ? t->file : m->path;
    QF_RETURN_IF(t->dtype != dtype, QF_STATUS_FORMAT, "tensor '%s' in '%s': dtype %s, expected %s",
                 name, file, qf_dtype_name(t->dtype), qf_dtype_name(dtype));
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same)
        return qf_error_set(QF_STATUS_FORMAT,
                            "tensor '%s' in '%s': shape [%lld%s%lld], expected [%lld%s%lld]",
                            name, file, (long long)(t->ndim > 0 ? t->shape[0] : -1),
                            t->ndim > 1 ? ", " : " ndim ", (long long)(t->ndim > 1 ? t->shape[1] : t->ndim),
                            (long long)shape[0], ndim > 1 ? ", " : " ndim ",
                            (long long)(ndim > 1 ? shape[1] : ndim));
    uint64_t want = 0;
    QF_RETURN_IF(!t->data || qf_dtype_nbytes(dtype, t->numel, &want) != QF_STATUS_OK ||
                     t->nbytes != want,
                 QF_STATUS_FORMAT, "tensor '%s' in '%s': %llu bytes for %llu elements", name,
                 file, (unsigned long long)t->nbytes, (unsigned long long)t->numel);
    *out = t;
    return QF_STATUS_OK;
}

void *qf_packed_copy(const qf_model_tensor *t) {
    void *p = malloc(t->nbytes ? (size_t)t->nbytes : 1);
    if (p) memcpy(p, t->data, (size_t)t->nbytes);
    return p;
}

qf_status qf_packed_read_bias(const qf_model *m, const char *prefix, int64_t out, float **bias) {
    char name[QF_PACKED_NAME_MAX];
    QF_FORWARD(qf_packed_name(name, prefix, "bias"));
    const qf_model_tensor *t = qf_model_find_tensor(m, name);
    if (!t) return QF_STATUS_OK;
    QF_RETURN_IF(t->ndim != 1 || t->shape[0] != out, QF_STATUS_FORMAT,
                 "tensor '%s' in '%s': expected shape [%lld]", name,
                 t->file ? t->file : m->path, (long long)out);
    QF_RETURN_IF(t->dtype != QF_DTYPE_F16 && t->dtype != QF_DTYPE_BF16 && t->dtype != QF_DTYPE_F32,
                 QF_STATUS_FORMAT, "tensor '%s': dtype %s is not F16, BF16 or F32", name,
                 qf_dtype_name(t->dtype));
    *bias = malloc((size_t)out * sizeof **bias);
    QF_RETURN_IF(!*bias, QF_STATUS_NOMEM, "'%s': out of memory", name);
    return qf_model_tensor_read_f32(t, *bias);
}

int qf_packed_model_has(const qf_model *m, const char *prefix) {
    char name[QF_PACKED_NAME_MAX];
    if (!m || !prefix || !m->quant_config_json) return 0;
    if (qf_packed_name(name, prefix, "qweight") != QF_STATUS_OK) return 0;
    return qf_model_find_tensor(m, name) != NULL;
}

qf_status qf_packed_model_read(const qf_model *m, const char *prefix, qf_qweight *dst,
                               float **bias) {
    qf_awq_config c;
    int is_awq = 0;
    QF_FORWARD(qf_awq_model_config(m, &c, &is_awq));
    qf_awq_config_free(&c);
    return is_awq ? qf_awq_model_read(m, prefix, dst, bias) : qf_gptq_model_read(m, prefix, dst, bias);
}

qf_status qf_packed_quant_method_is(const qf_model *m, const char *method, int *is) {
    *is = 0;
    if (!m->quant_config_json) return QF_STATUS_OK;
    cJSON *o = cJSON_Parse(m->quant_config_json);
    QF_RETURN_IF(!o, QF_STATUS_FORMAT, "'%s': quantization_config is not valid JSON", m->path);
    const cJSON *qm = cJSON_GetObjectItemCaseSensitive(o, "quant_method");
    *is = cJSON_IsString(qm) && !strcasecmp(qm->valuestring, method);
    cJSON_Delete(o);
    return QF_STATUS_OK;
}
